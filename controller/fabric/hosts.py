"""Processes on a fabric's hosts: srem's own commands started in a host's network
namespace (entered with `mnexec -a PID`), and stopped again. The controller starts NF
hosts and memory servers this way, on the emulation or on a deployed fabric alike."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SREM = [sys.executable, "-c", "from srem.cli import main; main()"]  # the srem CLI, this Python


def missing() -> str | None:
    """Why processes cannot be started in hosts' namespaces here (None when they can)."""
    if os.geteuid() != 0:
        return "entering the hosts' network namespaces needs root"
    if shutil.which("mnexec") is None:
        return "mnexec is not installed (Debian: apt-get install --no-install-recommends mininet)"
    return None


def start_memserver(
    ns_pid: int,
    intfs: list[str],
    args: tuple[str, ...] | list[str],
    log: Path,
    timeout: float = 60.0,
    own_session: bool = False,
) -> subprocess.Popen:
    """`srem memserver` in the network namespace of process `ns_pid`, on `intfs`, returned
    once it answers frames. `own_session`: a terminal's Ctrl-C does not reach it (it
    outlives the controller that started it, for the next one to take over)."""
    argv = [*SREM, "memserver"]
    for intf in intfs:
        argv += ["--iface", intf]
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = open(log, "w")  # noqa: SIM115 - the process owns it for its life
    p = subprocess.Popen(
        ["mnexec", "-a", str(ns_pid), *argv, *args], stdout=subprocess.PIPE, stderr=out, text=True, env=env,
        start_new_session=own_session,
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    assert p.stdout is not None
    while time.monotonic() < deadline:
        line = p.stdout.readline()  # the ready line, or EOF when it failed
        if line.startswith("memory server on"):
            return p
        if not line and p.poll() is not None:
            break
    p.kill()
    out.close()
    raise RuntimeError(
        f"memory server in {ns_pid}'s namespace did not start: {log.read_text(errors='replace')[-500:]}"
    )


def _net_ns(pid: int | str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def kill_in_namespaces(ns_pids: list[int]) -> int:
    """Kill every process that lives in the network namespace of one of `ns_pids` (but
    not those processes themselves: Mininet stops its hosts' shells). How many were killed."""
    spaces = {ns for pid in ns_pids if (ns := _net_ns(pid)) is not None}
    if not spaces or _net_ns("self") in spaces:
        return 0  # never the namespace this process runs in
    killed = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in ns_pids and _net_ns(entry) in spaces:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
    return killed


def stop_all(procs) -> None:
    """Terminate processes, then kill the ones still there after 5 s."""
    procs = list(procs)
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()


@dataclasses.dataclass
class PidHosts:
    """The deployed servers' namespaces, entered with `mnexec -a PID` (what `Emulation`
    offers the replay, from another process)."""

    pids: dict[str, int]

    def host_popen(self, server: str, *argv: str, **kw):
        # Their own session: the terminal's Ctrl-C stops the replay after the step, not them mid-step.
        return subprocess.Popen(["mnexec", "-a", str(self.pids[server]), *argv], start_new_session=True, **kw)
