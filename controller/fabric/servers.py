"""The software NFs of the emulated servers: one `srem nf-host` process per server,
configured with the NFs it runs and the (SPI, SI) hops each serves.

`configure` writes each server's config and makes its process load it (started on first
use, SIGHUP after), waiting for the process to say so in its log: when it returns, every
server serves exactly the hops given. The controller calls it with the union of the old
and new hops before it steers packets to a new server hop, and with the new hops alone
after (make-before-break on servers too).

The processes may belong to another process: `srem deploy` starts them and publishes
each one's pid, config file and log (`NFHost`); `srem control` attaches to them
(`ServerNFs.attach`) and reconfigures them by rewriting the config and signalling the pid.
Their output goes to a log file rather than a pipe for that reason: whoever signalled
reads the "loaded" line from the file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from controller.fabric.hosts import SREM as CLI
from controller.fabric.hosts import stop_all
from nfs.entries import NF, software_config

Hops = dict[tuple[int, int], int]  # (SPI, SI) -> NF id


@dataclass(frozen=True)
class NFHost:
    """One server's running `srem nf-host`: its pid, the config it reloads, its log."""

    pid: int
    config: Path
    log: Path


def read_hops(config: Path) -> Hops:
    """The hops a config file names (empty when it names none)."""
    data = yaml.safe_load(config.read_text()) or {}
    return {(int(spi), int(si)): int(n) for spi, si, n in data.get("hops") or []}


def _running_nf_host(pid: int) -> bool:
    """True when `pid` is a live `srem nf-host` (not a process that reused its pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"nf-host" in cmdline


class ServerNFs:
    """The nf-host of every server. With `emu`, processes are started on first use;
    attached (`attach`), only the published ones are reconfigured."""

    def __init__(self, emu, log_dir: Path, timeout: float = 20.0) -> None:
        self.emu, self.log_dir, self.timeout = emu, log_dir, timeout
        self.procs: dict[str, subprocess.Popen] = {}  # the ones this object started
        self.hosts: dict[str, NFHost] = {}
        self.current: dict[str, Hops] = {}

    @classmethod
    def attach(cls, hosts: Mapping[str, NFHost], timeout: float = 20.0) -> ServerNFs:
        """The running nf-hosts of another process; what they serve now is read from their configs."""
        s = cls(None, Path("."), timeout)
        s.hosts = dict(hosts)
        s.current = {name: read_hops(h.config) for name, h in hosts.items()}
        return s

    def configure(self, hops: Mapping[str, Mapping[tuple[int, int], int]], nfs: Mapping[int, NF]) -> None:
        """Make every server serve exactly `hops` (server -> {(spi, si): NF id})."""
        for server in sorted(set(hops) | set(self.current)):
            want = dict(hops.get(server, {}))
            if want == self.current.get(server, {}) and server in self.hosts:
                continue
            path = self.hosts[server].config if server in self.hosts else self.log_dir / f"nf-{server}.yaml"
            used = sorted(set(want.values()))
            text = yaml.safe_dump(
                {
                    "nfs": [software_config(nfs[n]) for n in used],
                    "hops": [[spi, si, n] for (spi, si), n in sorted(want.items())],
                }
            )
            # Whole or not at all: the process may reload at any time.
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(path)
            if server not in self.hosts:
                self._start(server, path)
                offset = 0
            else:
                host = self.hosts[server]
                if not _running_nf_host(host.pid):
                    raise RuntimeError(f"the NFs of {server} (pid {host.pid}) are not running")
                offset = host.log.stat().st_size if host.log.exists() else 0
                os.kill(host.pid, signal.SIGHUP)
            self._expect(server, offset)
            self.current[server] = want

    def _start(self, server: str, path: Path) -> None:
        if self.emu is None:
            raise RuntimeError(f"{server} runs no nf-host to reconfigure (srem deploy starts one per server)")
        log = self.log_dir / f"nf-{server}.log"
        with open(log, "wb") as f:
            p = self.emu.host_popen(
                server, *CLI, "nf-host", "--iface", self.emu.intf(server), "--config", str(path),
                stdout=f, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.procs[server] = p
        self.hosts[server] = NFHost(p.pid, path.resolve(), log.resolve())

    def _expect(self, server: str, offset: int) -> None:
        """Wait for a "loaded" line after `offset` in the server's log."""
        host = self.hosts[server]
        deadline = time.monotonic() + self.timeout
        while True:
            with open(host.log, "rb") as f:
                f.seek(offset)
                text = f.read().decode(errors="replace")
            for line in text.splitlines(keepends=True):
                if not line.endswith("\n"):
                    break  # still being written
                if line.startswith("loaded"):
                    return
                if line.startswith("error"):
                    raise RuntimeError(f"the NFs of {server}: {line.strip()}")
            # A process of ours is asked directly (right after the fork its command line is
            # still ours); one of another process's by its command line.
            p = self.procs.get(server)
            if (p.poll() is not None) if p is not None else not _running_nf_host(host.pid):
                raise RuntimeError(f"the NFs of {server} exited: {text.strip()[-300:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the NFs of {server} did not load their config in {self.timeout:.0f} s")
            time.sleep(0.05)

    def close(self) -> None:
        """Stop the processes this object started (attached ones belong to their starter)."""
        stop_all(self.procs.values())
        self.procs.clear()
