"""The switch targets a fabric runs, behind one interface: how a switch process is
started, and the settings that are not P4Runtime (egress queues) given to it.

- `srem`: srem's reference switch (`srem switch`); queues are command-line options.
- `simple_switch_grpc`: BMv2 with PI's P4Runtime server. Every BMv2 opens a Thrift server
  (9090 unless told otherwise), so each switch gets its own free port; egress queues are
  set through that Thrift server (`simple_switch_CLI`), the only interface BMv2 has for
  them. Nothing else goes through Thrift: the controller and the EMAC use only what PI's
  P4Runtime server implements (no register writes, CONTINUE_ON_ERROR batches).

Where the real tools are: on PATH, or in `P4REAL_BIN` (a directory; `../shared/p4real/bin`
beside the checkout is taken too), see `tool()`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from topologies.errors import InputError

REPO = Path(__file__).resolve().parents[2]
TARGETS = ("srem", "simple_switch_grpc")
COMPILERS = ("srem", "p4c-bm2-ss")


def tool_dirs() -> list[Path]:
    """Where real P4 tools are looked for after PATH: $P4REAL_BIN, then ../shared/p4real/bin."""
    dirs = [Path(d) for d in os.environ.get("P4REAL_BIN", "").split(os.pathsep) if d]
    return [*dirs, REPO.parent / "shared" / "p4real" / "bin"]


def tool(name: str) -> str | None:
    """The path of a real P4 tool (p4c-bm2-ss, simple_switch_grpc, simple_switch_CLI), or None."""
    found = shutil.which(name)
    if found:
        return found
    for d in tool_dirs():
        p = d / name
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return None


def use_tools() -> None:
    """Put the directory of the real tools on PATH (for child processes and for
    p4target's compiler driver, which looks p4c-bm2-ss up there), and tell p4c where its
    own includes are when they sit in ../share/p4c/p4include (a relocated install: p4c
    looks beside its binary and in its build prefix only)."""
    for name in ("simple_switch_grpc", "p4c-bm2-ss"):
        p = tool(name)
        if p and shutil.which(name) is None:
            os.environ["PATH"] = f"{Path(p).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    p4c = tool("p4c-bm2-ss")
    if p4c and "P4C_16_INCLUDE_PATH" not in os.environ:
        inc = Path(p4c).resolve().parent.parent / "share" / "p4c" / "p4include"
        if (inc / "core.p4").is_file():
            os.environ["P4C_16_INCLUDE_PATH"] = str(inc)


def default_compiler(target: str) -> str:
    """The real compiler for the real switch where it is installed; srem's otherwise."""
    return "p4c-bm2-ss" if target == "simple_switch_grpc" and tool("p4c-bm2-ss") else "srem"


def check(target: str, compiler: str | None) -> str:
    """Validate --target/--compiler (one-line errors); the compiler to use."""
    if target not in TARGETS:
        raise InputError("--target", target, f"must be one of {', '.join(TARGETS)}")
    if target == "simple_switch_grpc" and tool("simple_switch_grpc") is None:
        raise InputError("--target", target, "simple_switch_grpc is not on PATH (nor in $P4REAL_BIN)")
    compiler = compiler or default_compiler(target)
    if compiler not in COMPILERS:
        raise InputError("--compiler", compiler, f"must be one of {', '.join(COMPILERS)}")
    if compiler == "p4c-bm2-ss" and tool("p4c-bm2-ss") is None:
        raise InputError("--compiler", compiler, "p4c-bm2-ss is not on PATH (nor in $P4REAL_BIN)")
    use_tools()
    return compiler


@dataclass
class SwitchSpec:
    """One switch process: its ids, ports and where it logs."""

    device_id: int
    grpc_port: int
    thrift_port: int
    interfaces: list[tuple[int, str]]  # (port, Linux interface)
    cpu_port: int
    log: Path
    # port -> (packets/s, depth): egress queues paced (a loopback a waiting packet circles)
    queues: dict[int, tuple[int, int]] = field(default_factory=dict)
    trace: bool = False  # BMv2: every packet's path in the log, every port in a pcap


def argv(target: str, spec: SwitchSpec, srem_cmd: list[str]) -> list[str]:
    """The command line that starts one switch of `target`."""
    if target == "srem":
        args = ["switch", "--device-id", str(spec.device_id), "--cpu-port", str(spec.cpu_port)]
        args += ["--grpc-server-addr", f"127.0.0.1:{spec.grpc_port}"]
        for port, iface in spec.interfaces:
            args += ["-i", f"{port}@{iface}"]
        for port, (pps, depth) in sorted(spec.queues.items()):
            args += ["--queue-rate", f"{port}:{pps}", "--queue-depth", f"{port}:{depth}"]
        return [*srem_cmd, *args]
    exe = tool("simple_switch_grpc")
    if exe is None:
        raise InputError("--target", target, "simple_switch_grpc is not on PATH (nor in $P4REAL_BIN)")
    args = [exe, "--device-id", str(spec.device_id), "--thrift-port", str(spec.thrift_port)]
    for port, iface in spec.interfaces:
        args += ["-i", f"{port}@{iface}"]
    if spec.trace:
        pcap = spec.log.with_suffix(".pcap.d")
        pcap.mkdir(parents=True, exist_ok=True)
        args += ["--log-console", "--log-level", "debug", "--pcap", str(pcap)]
    args += ["--no-p4", "--", "--grpc-server-addr", f"127.0.0.1:{spec.grpc_port}"]
    return [*args, "--cpu-port", str(spec.cpu_port)]


# Packets every BMv2 egress queue holds (BMv2's default is 64): its egress threads share two
# cores with everything else in the emulation, and a descheduled one must not drop a burst
# (srem's switch, one Python process, leaves that backlog in its sockets' kernel buffers).
# The paper day at 600 packets/s lost 100 packets with 64, 65 with 1024 (one run each).
BMV2_QUEUE_DEPTH = 1024


def configure(target: str, spec: SwitchSpec, timeout: float = 30.0) -> None:
    """What a started switch needs beyond its command line: BMv2's queues, by Thrift."""
    if target == "srem":
        return
    cmds = [f"set_queue_depth {BMV2_QUEUE_DEPTH}"]  # every port; the paced ones below
    for port, (pps, depth) in sorted(spec.queues.items()):
        cmds += [f"set_queue_rate {pps} {port}", f"set_queue_depth {depth} {port}"]
    thrift_cli(spec.thrift_port, cmds, timeout)


def thrift_cli(port: int, commands: list[str], timeout: float = 30.0) -> str:
    """Commands for BMv2's Thrift runtime (simple_switch_CLI); its output. An error it
    prints (it exits 0 after most) raises RuntimeError naming the command."""
    exe = tool("simple_switch_CLI")
    if exe is None:
        raise RuntimeError("simple_switch_CLI is not on PATH (nor in $P4REAL_BIN)")
    p = subprocess.run(
        [exe, "--thrift-port", str(port)], input="\n".join(commands) + "\n", capture_output=True,
        text=True, timeout=timeout,
    )  # fmt: skip
    out = p.stdout + p.stderr
    bad = [ln for ln in out.splitlines() if "Error" in ln or "Invalid" in ln or "Could not" in ln]
    if p.returncode != 0 or bad:
        raise RuntimeError(f"simple_switch_CLI on port {port}: {(bad or [out.strip()])[0][:200]}")
    return out
