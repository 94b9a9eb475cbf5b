"""The differential harness (issue 23 part 3): the same BMv2 JSON, the same P4Runtime
writes and the same packets on srem's switch and on real `simple_switch_grpc`, then the
output packets per port, counters and registers compared.

BMv2 (the reference) runs in a network namespace the harness makes, one veth pair per
port; its P4Runtime server listens on a Unix socket, so the harness's gRPC client needs
no route into the namespace. srem's switch runs in this process with queue ports behind
its own P4Runtime server. Both get the pipeline and every write through P4Runtime, so
P4Info names, encodings and the loader are exercised on both sides.

Packets are sent one at a time and what each produces is collected until the ports stay
quiet for a moment: a difference is tied to the packet that caused it.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from p4target.switch.ports import wire_sized

P4REAL = Path(os.environ.get("SREM_P4REAL", Path(__file__).resolve().parents[2] / "shared" / "p4real"))
ETH_P_ALL = 0x0003


def real_tool(name: str) -> str | None:
    """The real tool on PATH or in ../shared/p4real/bin, or None."""
    return shutil.which(name) or (str(P4REAL / "bin" / name) if (P4REAL / "bin" / name).exists() else None)


def why_no_bmv2() -> str | None:
    """None where the harness can run BMv2 here, else the reason (for a skip)."""
    if real_tool("simple_switch_grpc") is None:
        return "simple_switch_grpc is not installed (run ../shared/p4real/setup)"
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return "BMv2's ports are veths in a namespace the harness makes: needs root and iproute2"
    return None


def p4c_include() -> list[Path]:
    """The include folder real p4c needs (the shared build has no default search path)."""
    exe = real_tool("p4c-bm2-ss")
    if exe is None:
        return []
    inc = Path(exe).resolve().parent.parent / "share" / "p4c" / "p4include"
    return [inc] if inc.is_dir() else []


@dataclass
class Run:
    """What one target did with one test: per input packet, the packets per port."""

    outputs: list[dict[int, list[bytes]]] = field(default_factory=list)
    counters: dict[str, dict[int, tuple[int, int]]] = field(default_factory=dict)
    registers: dict[str, list[int]] = field(default_factory=dict)


def _sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


class Bmv2:
    """Real simple_switch_grpc on veth pairs in a namespace of its own."""

    def __init__(self, ports: list[int], device_id: int = 1, log: bool = False) -> None:
        from tests.netns import in_netns

        self.ns = f"diff-{os.getpid()}-{device_id}"
        self.dir = Path(tempfile.mkdtemp(prefix="srem-diff-"))
        self.addr = f"unix://{self.dir}/p4rt.sock"
        self.ports = ports
        _sh("ip", "netns", "add", self.ns)
        self.proc = None
        try:
            _sh("ip", "netns", "exec", self.ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
            _sh("ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up")  # BMv2's Thrift server
            for p in ports:
                _sh("ip", "netns", "exec", self.ns, "ip", "link", "add", f"s{p}", "type", "veth",
                    "peer", "name", f"h{p}")  # fmt: skip
                for dev in (f"s{p}", f"h{p}"):
                    _sh("ip", "netns", "exec", self.ns, "ip", "link", "set", dev, "up", "mtu", "9000")
                wire_sized(f"s{p}", self.ns)  # BMv2's receive ring: MTU-sized slots
            self.socks = in_netns(self.ns, self._open_sockets)
            cmd = ["ip", "netns", "exec", self.ns, real_tool("simple_switch_grpc"), "--device-id", str(device_id),
                   "--thrift-port", "9090", "--no-p4"]  # fmt: skip
            for p in ports:
                cmd += ["-i", f"{p}@s{p}"]
            if log:
                cmd += ["--log-file", str(self.dir / "bmv2"), "--log-flush", "--log-level", "debug"]
            cmd += ["--", "--grpc-server-addr", self.addr]
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 20
            while not (self.dir / "p4rt.sock").exists():
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"simple_switch_grpc did not start: {self.proc.stderr.read().decode()[-500:]}"
                    )
                time.sleep(0.05)
        except BaseException:
            self.close()
            raise

    def _open_sockets(self) -> dict[int, socket.socket]:
        out = {}
        for p in self.ports:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.bind((f"h{p}", 0))
            s.setblocking(False)
            out[p] = s
        return out

    def send(self, port: int, data: bytes) -> None:
        self.socks[port].send(data)

    def recv_all(self) -> dict[int, list[bytes]]:
        out: dict[int, list[bytes]] = {}
        for p, s in self.socks.items():
            while True:
                try:
                    out.setdefault(p, []).append(s.recv(65535))
                except BlockingIOError:
                    break
        return {p: v for p, v in out.items() if v}

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for s in getattr(self, "socks", {}).values():
            s.close()
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        keep = os.environ.get("SREM_DIFF_KEEP_LOG")  # where to keep BMv2's whole log (debugging)
        if keep and (self.dir / "bmv2.txt").exists():
            shutil.copy(self.dir / "bmv2.txt", keep)
        shutil.rmtree(self.dir, ignore_errors=True)

    def register_write(self, name: str, index: int, value: int) -> None:
        """Through BMv2's Thrift runtime (its P4Runtime server answers UNIMPLEMENTED)."""
        cli = real_tool("simple_switch_CLI")
        p = subprocess.run(["ip", "netns", "exec", self.ns, cli, "--thrift-port", "9090"],
                           input=f"register_write {name} {index} {value}\n", capture_output=True, text=True,
                           timeout=30)  # fmt: skip
        if p.returncode != 0 or "Error" in p.stdout:
            raise RuntimeError(f"register_write {name}[{index}] on BMv2: {p.stdout[-300:]} {p.stderr[-300:]}")

    def log_text(self) -> str:
        p = self.dir / "bmv2.txt"
        return p.read_text(errors="replace") if p.exists() else ""


class Srem:
    """srem's switch in this process, queue ports, its own P4Runtime server."""

    def __init__(self, ports: list[int], device_id: int = 1) -> None:
        from p4target.runtime.server import serve
        from p4target.switch.ports import QueuePort
        from p4target.switch.runner import Runner

        self.runner = Runner(device_id)
        self.qports = {p: QueuePort(p) for p in ports}
        for q in self.qports.values():
            self.runner.add_port(q)
        self.server, _svc, port = serve(self.runner, "127.0.0.1:0")
        self.runner.start()
        self.addr = f"127.0.0.1:{port}"

    def send(self, port: int, data: bytes) -> None:
        self.qports[port].rx.put(data)

    def recv_all(self) -> dict[int, list[bytes]]:
        out: dict[int, list[bytes]] = {}
        for p, q in self.qports.items():
            while True:
                try:
                    out.setdefault(p, []).append(q.tx.get_nowait())
                except queue.Empty:
                    break
        return {p: v for p, v in out.items() if v}

    def close(self) -> None:
        self.server.stop(grace=0)
        self.runner.stop()


@dataclass
class Case:
    """One differential test: a program, writes by P4Info name, packets in."""

    name: str
    json: bytes
    p4info: object
    writes: list = field(default_factory=list)  # p4rt TableWrite, or callables (client) -> None
    packets: list[tuple[int, bytes]] = field(default_factory=list)
    ports: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    counters: list[str] = field(default_factory=list)
    registers: list[str] = field(default_factory=list)
    # Ports with something attached (a memory server, a loopback cable): what leaves on such a
    # port goes to the handler and what it answers comes back in. A write callable may return
    # {port: handler}; handlers are made per switch, so each has its own memory server.
    # Ports whose traffic is not compared: a loopback cable carries the switch's timestamps,
    # which count from its start (BMv2) or its first packet (srem).
    unobserved: set[int] = field(default_factory=set)


def _settle(target, quiet: float, limit: float, handlers: dict | None = None) -> dict[int, list[bytes]]:
    """Everything the target sends until it stays quiet for `quiet` seconds."""
    got: dict[int, list[bytes]] = {}
    t_end, last = time.monotonic() + limit, time.monotonic()
    while time.monotonic() < t_end:
        new = target.recv_all()
        if new:
            for p, v in new.items():
                got.setdefault(p, []).extend(v)
                for frame in v if handlers and p in handlers else []:
                    for answer in handlers[p](frame):
                        target.send(p, answer)
            last = time.monotonic()
        elif time.monotonic() - last > quiet:
            break
        time.sleep(0.002)
    return got


def run_case(target, case: Case, device_id: int = 1, quiet: float = 0.1) -> Run:
    from p4rt.client import SwitchConnection
    from p4rt.entities import TableWrite

    run = Run()
    handlers: dict = {}
    with SwitchConnection(target.addr, device_id) as c:
        c.set_pipeline(case.p4info, case.json)
        if hasattr(target, "register_write"):
            _registers_by_thrift(c, target)
        for w in case.writes:
            if isinstance(w, TableWrite):
                c.insert([w])
            else:
                handlers.update(w(c) or {})
        _settle(target, quiet, 5.0, handlers)  # what the writes set off (none counts)
        for port, data in case.packets:
            target.send(port, data)
            out = _settle(target, quiet, 10.0, handlers)
            run.outputs.append({p: v for p, v in out.items() if p not in case.unobserved})
        for name in case.counters:
            run.counters[name] = c.counter_read(name)
        index = c.index()
        for name in case.registers:
            size = index.registers[name].size
            run.registers[name] = [c.register_read(name, i) for i in range(size)]
    return run


def differences(case: Case, ours: Run, ref: Run) -> list[str]:
    """Every way srem's run differs from BMv2's, per packet and port, counters, registers."""
    out = []
    for k, ((port, data), a, b) in enumerate(zip(case.packets, ours.outputs, ref.outputs, strict=True)):
        for p in sorted(set(a) | set(b)):
            pa, pb = a.get(p, []), b.get(p, [])
            if pa != pb:
                out.append(
                    f"{case.name}: packet {k} (in on {port}, {data[:64].hex()}…): port {p}: "
                    f"srem sent {[x.hex() for x in pa]}, BMv2 sent {[x.hex() for x in pb]}"
                )
    for name in case.counters:
        if ours.counters[name] != ref.counters[name]:
            out.append(f"{case.name}: counter {name}: srem {ours.counters[name]}, BMv2 {ref.counters[name]}")
    for name in case.registers:
        if ours.registers[name] != ref.registers[name]:
            out.append(
                f"{case.name}: register {name}: srem {ours.registers[name]}, BMv2 {ref.registers[name]}"
            )
    return out


@contextlib.contextmanager
def targets(ports: list[int], log: bool = False) -> Iterator[tuple[Srem, Bmv2]]:
    ours, ref = Srem(ports), None
    try:
        ref = Bmv2(ports, log=log)
        yield ours, ref
    finally:
        ours.close()
        if ref is not None:
            ref.close()


def compare(case: Case, log: bool = False) -> list[str]:
    """Run `case` on both switches; the differences (empty: they agree)."""
    with targets(case.ports, log=log) as (ours, ref):
        a = run_case(ours, case)
        b = run_case(ref, case)
        diffs = differences(case, a, b)
        if diffs and log:
            diffs.append("BMv2 log tail:\n" + ref.log_text()[-4000:])
        return diffs


# -- STF files as differential cases ---------------------------------------------------------


class _Recorder:
    """A table as StfRunner sees it, recording the entries and default actions it is given."""

    def __init__(self, table, sink: list) -> None:
        self._t, self._sink = table, sink

    def __getattr__(self, name: str):
        return getattr(self._t, name)

    def add(self, match, aid: int, data: list[int], priority: int = 0) -> None:
        self._sink.append(("add", self._t, match, aid, data, priority))

    def __setattr__(self, name: str, value) -> None:
        if name == "default_action":
            self._sink.append(("default", self._t, None, value[0], value[1], 0))
        else:
            object.__setattr__(self, name, value)


def _entry_writer(prog_json: dict, step: tuple):
    """A callable (client) -> None making one STF table write over P4Runtime."""
    from p4rt.entities import update

    kind, t, match, aid, data, priority = step
    aname = next(a["name"] for a in prog_json["actions"] if a["id"] == aid)

    def write(c) -> None:
        index = c.index()
        info = index.table(t.name)
        fields = {}
        for f, k, m in zip(info.match_fields, t.keys, match or [], strict=False):
            fields[f.name] = {
                "lpm": lambda m=m, k=k: (m.value, m.prefix if m.prefix is not None else k.width),
                "ternary": lambda m=m, k=k: (m.value, m.mask & ((1 << k.width) - 1)),
                "range": lambda m=m, k=k: (m.lo, m.hi if m.hi >= 0 else (1 << k.width) - 1),
            }.get(k.match_type, lambda m=m: m.value)()
        params = {p.name: v for p, v in zip(index.action(aname).params, data, strict=True)}
        if kind == "default":
            e = index.table_entry(t.name, {})
            e.is_default_action = True
            e.action.action.CopyFrom(index.action_call(aname, params))
            c.write([update("MODIFY", e)])
            return
        needs_priority = any(k.match_type in ("ternary", "range", "optional") for k in t.keys)
        prio = priority if priority else (1 if needs_priority else 0)
        e = index.table_entry(t.name, fields, aname, params, priority=prio)
        c.write([update("INSERT", e)])

    return write


def _pre_writer(kind: str, args: list[int]):
    from p4.v1 import p4runtime_pb2 as R

    from p4rt.entities import update

    def write(c) -> None:
        e = R.Entity()
        if kind == "clone":
            s = e.packet_replication_engine_entry.clone_session_entry
            s.session_id = args[0]
            s.replicas.add(egress_port=args[1], instance=0)
        else:
            g = e.packet_replication_engine_entry.multicast_group_entry
            g.multicast_group_id = args[0]
            for rid, port in args[1]:
                g.replicas.add(egress_port=port, instance=rid)
        c.write([update("INSERT", e)])

    return write


class StfUnsupported(Exception):
    """An STF command the harness cannot give both switches the same way."""


def stf_case(name: str, json_dict: dict, p4info, stf_text: str) -> Case:
    """A differential case from an STF file: its table writes and packets (its expect lines
    are left to the STF runner: here BMv2 is the expectation)."""
    import re

    from p4target.stf import StfRunner
    from p4target.switch import load

    runner = StfRunner(load(json_dict))
    steps: list = []
    tables = runner.table
    runner.table = lambda n: _Recorder(tables(n), steps)  # type: ignore[method-assign]
    case = Case(name, json.dumps(json_dict).encode(), p4info)
    groups: dict[int, list[tuple[int, int]]] = {}
    nodes: dict[int, tuple[int, list[int]]] = {}
    ports = set()
    for raw_line in stf_text.splitlines():
        text = raw_line.split("#", 1)[0].strip()
        if not text:
            continue
        cmd, _, rest = text.partition(" ")
        if cmd in ("add", "setdefault"):
            runner.line(text)
            case.writes.append(_entry_writer(json_dict, steps.pop()))
        elif cmd == "packet":
            port, _, data = rest.strip().partition(" ")
            # A veth carries whole Ethernet headers: shorter STF packets get zeros, on both switches.
            case.packets.append((int(port), bytes.fromhex("".join(data.split())).ljust(14, b"\0")))
        elif cmd == "mirroring_add":
            session, port = (int(x) for x in rest.split()[:2])
            case.writes.append(_pre_writer("clone", [session, port]))
            ports.add(port)
        elif cmd == "mc_mgrp_create":
            groups[int(rest.split()[0])] = []
        elif cmd == "mc_node_create":
            parts = [int(x) for x in rest.split()]
            nodes[len(nodes)] = (parts[0], parts[1:])
        elif cmd == "mc_node_associate":
            grp, node = (int(x) for x in rest.split()[:2])
            rid, nports = nodes[node]
            groups[grp].extend((rid, p) for p in nports)
            ports.update(nports)
        elif cmd == "check_counter":
            case.counters.append(runner._counter(re.match(r"([\w.$]+)", rest).group(1)).name)
        elif cmd in ("expect", "wait"):
            pass
        else:
            raise StfUnsupported(f"{name}: '{cmd}' (BMv2's P4Runtime server has no way to do it)")
    for grp, members in groups.items():
        case.writes.append(_pre_writer("mcast", [grp, members]))
    ports |= {p for p, _ in case.packets}
    ports |= {int(m) for m in re.findall(r"^\s*expect\s+(\d+)", stf_text, re.MULTILINE)}
    case.ports = sorted(ports)
    case.counters = sorted(set(case.counters))
    return case


def _registers_by_thrift(c, target) -> None:
    """Make `c.write` send register updates through `target.register_write` (BMv2's Thrift)
    and the rest over P4Runtime, so one setup drives both switches."""
    plain = c.write
    names = {r.preamble.id: r.preamble.name for r in c.index().p4info.registers}

    def write(updates, *args, **kwargs):
        rest = []
        for u in updates:
            if u.entity.WhichOneof("entity") == "register_entry":
                e = u.entity.register_entry
                target.register_write(
                    names[e.register_id], e.index.index, int.from_bytes(e.data.bitstring, "big")
                )
            else:
                rest.append(u)
        if rest:
            plain(rest, *args, **kwargs)

    c.write = write


# -- a switch on two veths: queues behind a slow link (ECN), bursts while it is stopped -----------

# Runs inside the namespace: frames of `size` bytes from h1 (into the switch's port 1),
# counted as they come out of port 2 at h2. Modes: "flood" sends n ECN-capable frames at pps
# (0: back to back) and reports each frame's ECN bits; "stall" stops the switch process
# (SIGSTOP) while n frames arrive, lets it go on and reports how many came through.
TRAFFIC = r"""
import json, os, signal, socket, struct, sys, time
mode, n, size, pps, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)); tx.bind(("h1", 0))
rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
rx.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE: all that comes out fits
rx.bind(("h2", 0)); rx.settimeout(0.2)

def csum(b):
    s = sum(struct.unpack("!10H", b)); s = (s & 0xFFFF) + (s >> 16); s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF

def frame(seq, ecn):
    body = struct.pack("!HHHH", 5000, 6000, size - 42, 0) + struct.pack("!II", 0x45434E31, seq)
    body += bytes(size - 14 - 20 - len(body))
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, ecn, 20 + len(body), seq & 0xFFFF, 0, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return bytes.fromhex("020000000002020000000001") + b"\x08\x00" + ip + body

def take(quiet, limit):
    got, last, end = [], time.monotonic(), time.monotonic() + limit
    while time.monotonic() < end and time.monotonic() - last < quiet:
        try:
            d = rx.recv(65535)
        except TimeoutError:
            continue
        if len(d) >= 50 and d[42:46] == b"ECN1":
            got.append((struct.unpack("!I", d[46:50])[0], d[15] & 3)); last = time.monotonic()
    return got

deadline = time.monotonic() + 30
while not take(0.3, 0.3):  # the switch is up once a probe comes through
    if time.monotonic() > deadline:
        sys.exit("no probe came through the switch in 30 s")
    tx.send(frame(0xFFFFFFFF, 0))
take(0.5, 5)
if mode == "stall":
    os.kill(pid, signal.SIGSTOP)
t0 = time.monotonic()
for seq in range(n):
    if pps > 0 and (wait := t0 + seq / pps - time.monotonic()) > 0:
        time.sleep(wait)
    tx.send(frame(seq, 2))  # ECT(0)
sent_s = time.monotonic() - t0
if mode == "stall":
    time.sleep(0.3)
    os.kill(pid, signal.SIGCONT)
print(json.dumps({"sent": n, "sent_s": sent_s, "got": take(1.5, 60)}))
"""


@contextlib.contextmanager
def switch_on_veths(
    target: str,
    program: Path,
    rate: str | None = None,
    log_dir: Path | None = None,
    wire: bool = True,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[str, int]]:
    """`target` ("srem": `srem switch`, or "simple_switch_grpc") running `program` in a
    namespace of its own, port 1 on veth s1 (peer h1), port 2 on s2 (peer h2), both
    wire-sized; with `rate`, s2 sends through a tc token bucket of that rate whose own
    queue (3 MB) is longer than the switch's socket send buffer, so that the switch is the
    one left holding the backlog (as behind a Mininet TCLink). Yields (namespace, pid of
    the switch process). `wire=False` leaves the veths' offloads on; `env` is added to the
    switch's environment (SREM_RCVBUF=0: srem's sockets with the kernel's default buffer)."""
    import sys

    from tests.netns import sh

    ns = f"sw-{os.getpid()}-{target[:4]}"
    tmp = Path(tempfile.mkdtemp(prefix="srem-sw-"))
    sh("ip", "netns", "add", ns)
    proc = None
    try:
        ex = ("ip", "netns", "exec", ns)
        sh(*ex, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        sh(*ex, "ip", "link", "set", "lo", "up")
        for p in (1, 2):
            sh(*ex, "ip", "link", "add", f"s{p}", "type", "veth", "peer", "name", f"h{p}")
            for dev in (f"s{p}", f"h{p}"):
                sh(*ex, "ip", "link", "set", dev, "up")
            if wire:
                wire_sized(f"s{p}", ns)
        if rate:
            sh(
                *ex,
                "tc",
                "qdisc",
                "add",
                "dev",
                "s2",
                "root",
                "tbf",
                "rate",
                rate,
                "burst",
                "2000",
                "limit",
                "3000000",
            )
        addr = f"unix://{tmp}/p4rt.sock"
        if target == "srem":
            srem = str(Path(sys.executable).parent / "srem")
            cmd = [srem, "switch", str(program), "-i", "1@s1", "-i", "2@s2", "--grpc-server-addr", addr,
                   "--log-level", "warning"]  # fmt: skip
        else:
            cmd = [real_tool("simple_switch_grpc") or "simple_switch_grpc", "--device-id", "0", "--thrift-port",
                   "9090", "-i", "1@s1", "-i", "2@s2", str(program), "--", "--grpc-server-addr", addr]  # fmt: skip
        log = open(log_dir / f"switch-{target}.log", "wb") if log_dir else subprocess.DEVNULL  # noqa: SIM115
        # `ip netns exec` execs the switch: the pid is the switch's own
        proc = subprocess.Popen(
            [*ex, *cmd], stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        yield ns, proc.pid
    finally:
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, 18)  # SIGCONT: a stopped switch would not see the SIGTERM
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def traffic(ns: str, mode: str, n: int, size: int, pps: float, pid: int) -> dict:
    import sys

    p = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", TRAFFIC, mode, str(n), str(size), str(pps),
                        str(pid)], capture_output=True, text=True, timeout=120)  # fmt: skip
    if p.returncode != 0:
        raise RuntimeError(f"traffic ({mode}) through the switch failed: {p.stderr.strip()[-500:]}")
    return json.loads(p.stdout)


def ecn_flood(target: str, program: Path, n: int = 600, pps: float = 800, size: int = 1000,
              rate: str = "2mbit", log_dir: Path | None = None) -> dict:  # fmt: skip
    """`n` ECN-capable frames of `size` bytes sent at `pps` into port 1 of a switch running
    `program` (tests/p4/ecn_mark.p4: port 1 to port 2), port 2 behind a tc token bucket of
    `rate` (the P4 tutorials' ECN exercise behind a TCLink). {"sent", "sent_s", "got":
    [(seq, ECN bits), ...] in arrival order}."""
    with switch_on_veths(target, program, rate, log_dir) as (ns, pid):
        return traffic(ns, "flood", n, size, 0 if pps <= 0 else pps, pid)


def stall_burst(
    target: str, program: Path, n: int = 1000, size: int = 128, wire: bool = True, env: dict | None = None
) -> int:
    """How many of `n` frames sent back to back into port 1 while the switch process is
    stopped (SIGSTOP, as a descheduled process on a loaded machine) come out of port 2
    once it goes on: what its receive buffers hold. BMv2's egress queues are made deep
    enough (4,096) that only its receive path is measured."""
    with switch_on_veths(target, program, wire=wire, env=env) as (ns, pid):
        if target != "srem":
            _wait_thrift(ns)
        r = traffic(ns, "stall", n, size, 0, pid)
        return len({seq for seq, _ in r["got"]})


def _wait_thrift(ns: str) -> None:
    cli = real_tool("simple_switch_CLI") or "simple_switch_CLI"
    deadline = time.monotonic() + 30
    while True:
        p = subprocess.run(["ip", "netns", "exec", ns, cli, "--thrift-port", "9090"], input="set_queue_depth 4096\n",
                           capture_output=True, text=True, timeout=30)  # fmt: skip
        if p.returncode == 0 and "Error" not in p.stdout and "Could not" not in p.stdout + p.stderr:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"BMv2's Thrift server did not answer: {p.stdout[-300:]} {p.stderr[-300:]}")
        time.sleep(0.3)


# -- the tables of docs/bmv2.md ------------------------------------------------------------------


def _mean_se(xs: list[float]) -> str:
    import statistics

    m = statistics.fmean(xs)
    se = statistics.stdev(xs) / len(xs) ** 0.5 if len(xs) > 1 else 0.0
    return f"{m:.0f} ± {se:.0f}"


def tables(out: Path, reps: int = 3) -> str:
    """docs/bmv2/queues.md: the ECN flood and the stalled-switch burst on both switches,
    `reps` runs each (mean ± standard error)."""
    import sys

    from p4target.compiler.driver import compile_p4

    here = Path(__file__).resolve().parent
    tmp = Path(tempfile.mkdtemp(prefix="srem-tables-"))
    program = tmp / "ecn.json"
    program.write_text(json.dumps(compile_p4(here / "p4" / "ecn_mark.p4").json))
    rows = [
        "| switch | delivered of 600 | marked CE | first CE at (delivered) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for target in ("simple_switch_grpc", "srem"):
        got, ce, first = [], [], []
        for _ in range(reps):
            marks = [e for _, e in ecn_flood(target, program)["got"]]
            got.append(len(marks))
            ce.append(marks.count(3))
            first.append(marks.index(3) if 3 in marks else len(marks))
            print(target, got[-1], ce[-1], first[-1], file=sys.stderr, flush=True)
        rows.append(f"| {target} | {_mean_se(got)} | {_mean_se(ce)} | {_mean_se(first)} |")
    rows += [
        "",
        "| switch | its ports | came through, of 1,000 sent while it was stopped |",
        "| --- | --- | ---: |",
    ]
    cases = [
        ("simple_switch_grpc", "veths as created (offloads on)", False, {}),
        ("simple_switch_grpc", "wire-sized (`wire_sized`)", True, {}),
        ("srem", "kernel's default receive buffer (SREM_RCVBUF=0)", True, {"SREM_RCVBUF": "0"}),
        ("srem", "8 MB receive buffer (default)", True, {}),
    ]
    for target, what, wire, env in cases:
        kept = [stall_burst(target, program, n=1000, wire=wire, env=env) for _ in range(reps)]
        print(target, what, kept, file=sys.stderr, flush=True)
        rows.append(f"| {target} | {what} | {_mean_se(kept)} |")
    shutil.rmtree(tmp, ignore_errors=True)
    text = "\n".join(rows) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / "queues.md").write_text(text)
    return text


if __name__ == "__main__":
    import sys

    print(tables(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/bmv2")))
