"""The software NFs of the emulated servers: one `srem nf-host` process per server,
configured with the NFs it runs and the (SPI, SI) hops each serves.

`configure` writes each server's config and makes its process load it (started on first
use, SIGHUP after), waiting for the process to say so: when it returns, every server
serves exactly the hops given. The controller calls it with the union of the old and
new hops before it steers packets to a new server hop, and with the new hops alone
after (make-before-break on servers too).
"""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

import yaml

from nfs.entries import NF, software_config
from topologies.emulation import stop_all

CLI = [sys.executable, "-c", "from controller.cli import main; main()"]


class ServerNFs:
    def __init__(self, emu, log_dir: Path, timeout: float = 20.0) -> None:
        self.emu, self.log_dir, self.timeout = emu, log_dir, timeout
        self.procs: dict[str, subprocess.Popen] = {}
        self.lines: dict[str, queue.Queue] = {}
        self.current: dict[str, dict[tuple[int, int], int]] = {}

    def configure(self, hops: Mapping[str, Mapping[tuple[int, int], int]], nfs: Mapping[int, NF]) -> None:
        """Make every server serve exactly `hops` (server -> {(spi, si): NF id})."""
        for server in sorted(set(hops) | set(self.current)):
            want = dict(hops.get(server, {}))
            if want == self.current.get(server, {}) and server in self.procs:
                continue
            path = self.log_dir / f"nf-{server}.yaml"
            used = sorted(set(want.values()))
            path.write_text(
                yaml.safe_dump(
                    {
                        "nfs": [software_config(nfs[n]) for n in used],
                        "hops": [[spi, si, n] for (spi, si), n in sorted(want.items())],
                    }
                )
            )
            if server not in self.procs:
                self._start(server, path)
            else:
                self.procs[server].send_signal(signal.SIGHUP)
            self._expect(server, "loaded")
            self.current[server] = want

    def _start(self, server: str, path: Path) -> None:
        p = self.emu.host_popen(
            server, *CLI, "nf-host", "--iface", self.emu.intf(server), "--config", str(path),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        q: queue.Queue = queue.Queue()

        def pump() -> None:
            for line in p.stdout:
                q.put(line.strip())
            q.put(None)

        threading.Thread(target=pump, daemon=True).start()
        self.procs[server], self.lines[server] = p, q

    def _expect(self, server: str, word: str) -> None:
        try:
            while True:
                line = self.lines[server].get(timeout=self.timeout)
                if line is None:
                    raise RuntimeError(f"the NFs of {server} exited")
                if line.startswith(word):
                    return
                if line.startswith("error"):
                    raise RuntimeError(f"the NFs of {server}: {line}")
        except queue.Empty:
            raise RuntimeError(
                f"the NFs of {server} did not load their config in {self.timeout:.0f} s"
            ) from None

    def close(self) -> None:
        stop_all(self.procs.values())
        self.procs.clear()
