"""Chain traffic on the emulated fabric: senders that stamp, receivers that count.

Every datagram carries `MAGIC | flow | seq | sent_ns` (big-endian), so a receiver
tells delivered, lost, duplicated and reordered packets and one-way latency apart
per flow. Sender and receiver run in namespaces of one machine and share its clock,
so the latency is real. Run inside a host namespace as

    python -m emulation.traffic send --flow 3:10.1.1.1:9000:10003:200 --seconds 5
    python -m emulation.traffic recv --port 9000 --seconds 7

each prints one JSON object when done.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from p4target.switch.ports import set_rcvbuf

MAGIC = 0x5352454D  # "SREM"
HEADER = struct.Struct("!IIQQ")


@dataclass
class FlowStats:
    flow: int
    received: int = 0
    duplicates: int = 0
    reordered: int = 0  # arrived after a higher sequence number
    highest: int = -1
    latencies_us: list[float] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    # The (address, port) the flow's packets came from: a NAT on the path that keeps its
    # per-flow state (also across a move) shows one.
    sources: set[str] = field(default_factory=set)

    def add(self, seq: int, latency_us: float, source: str = "") -> None:
        if source:
            self.sources.add(source)
        if seq in self.seen:
            self.duplicates += 1
            return
        self.seen.add(seq)
        self.received += 1
        if seq < self.highest:
            self.reordered += 1
        self.highest = max(self.highest, seq)
        self.latencies_us.append(latency_us)

    def summary(self, sent: int | None = None) -> dict:
        lat = np.array(self.latencies_us) if self.latencies_us else np.zeros(1)
        expected = sent if sent is not None else self.highest + 1
        # Sequence numbers below the highest that never came (capped): when they were sent
        # tells what lost them (a move, a reconfiguration).
        missing = [k for k in range(self.highest + 1) if k not in self.seen][:1000]
        return {
            "flow": self.flow,
            "received": self.received,
            "lost": max(0, expected - self.received),
            "duplicates": self.duplicates,
            "reordered": self.reordered,
            "latency_p50_us": float(np.percentile(lat, 50)),
            "latency_p99_us": float(np.percentile(lat, 99)),
            "sources": sorted(self.sources)[:16],
            "n_sources": len(self.sources),
            "highest": self.highest,
            "missing": missing,
        }


@dataclass(frozen=True)
class Flow:
    """One chain's packets from a sender: its own source port, so the edge switch's
    classifier tells chains apart by 5-tuple."""

    flow: int
    dst: str
    dport: int
    sport: int
    pps: float


def send(flows: list[Flow], seconds: float, size: int = 128, stop: threading.Event | None = None) -> dict:
    """Send every flow at its rate for `seconds` (or until `stop` is set), interleaved on
    one absolute schedule (a slow iteration does not slow the rates); return how many each
    sent and for how long."""
    size = max(size, HEADER.size)
    pad = bytes(size - HEADER.size)
    events = [(0.0, k, 0) for k, f in enumerate(flows) if f.pps > 0]
    heapq.heapify(events)
    socks = []
    sent = [0] * len(flows)
    try:
        for f in flows:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", f.sport))
            socks.append(s)
        start, wall = time.monotonic(), time.time()
        while events:
            if stop is not None and stop.is_set():
                seconds = time.monotonic() - start
                break
            at, k, seq = heapq.heappop(events)
            if at >= seconds - 1e-9:
                continue
            delay = start + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            f = flows[k]
            with contextlib.suppress(OSError):  # a full socket buffer is a loss, not a crash
                socks[k].sendto(HEADER.pack(MAGIC, f.flow, seq, time.time_ns()) + pad, (f.dst, f.dport))
                sent[k] += 1
            # From the sequence number, not by accumulation: n packets in n / pps seconds exactly.
            heapq.heappush(events, ((seq + 1) / f.pps, k, seq + 1))
    finally:
        for s in socks:
            s.close()
    return {
        "seconds": seconds,
        "start_time": wall,
        "sent": {str(f.flow): n for f, n in zip(flows, sent, strict=True)},
    }


def receive(
    port: int,
    seconds: float,
    bind: str = "0.0.0.0",
    ready: threading.Event | Callable[[], object] | None = None,
    stop: threading.Event | None = None,
) -> dict:
    """Count stamped datagrams on a UDP port for `seconds`, or until `stop` is set if that
    comes first; per-flow figures. `ready` (an event to set or a function to call) says
    when the socket is bound."""
    flows: dict[int, FlowStats] = {}
    junk = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        # Past net.core.rmem_max when root: a receiver starved of CPU for a moment must not
        # drop what the network delivered (its own drops are reported apart, below).
        set_rcvbuf(s, 8 << 20)
        s.bind((bind, port))
        if isinstance(ready, threading.Event):
            ready.set()
        elif ready is not None:
            ready()
        end = time.monotonic() + seconds
        stopped = False
        while (left := end - time.monotonic()) > 0:
            # Once stopped, what the socket already holds is still counted, without waiting.
            stopped = stopped or (stop is not None and stop.is_set())
            s.settimeout(0 if stopped else min(left, 0.1))
            try:
                data, addr = s.recvfrom(65535)
            except (TimeoutError, BlockingIOError):
                if stopped:
                    break
                continue
            now = time.time_ns()
            if len(data) < HEADER.size:
                junk += 1
                continue
            magic, flow, seq, sent_ns = HEADER.unpack_from(data)
            if magic != MAGIC:
                junk += 1
                continue
            flows.setdefault(flow, FlowStats(flow)).add(seq, (now - sent_ns) / 1e3, f"{addr[0]}:{addr[1]}")
        drops = udp_drops(s)
    return {"port": port, "junk": junk, "socket_drops": drops,
            "flows": {f: st.summary() for f, st in sorted(flows.items())}}  # fmt: skip


def udp_drops(sock: socket.socket) -> int:
    """Datagrams the kernel dropped at this socket (its buffer full): the receiver's loss,
    not the network's. From /proc/net/udp's row of the socket's inode (-1: not found)."""
    inode = str(os.fstat(sock.fileno()).st_ino)
    for table in ("/proc/self/net/udp", "/proc/self/net/udp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                cols = row.split()
                if len(cols) > 12 and cols[9] == inode:
                    return int(cols[-1])
    return -1


READY = "receiving"


def start_receivers(
    emu, servers: list[str], port: int, seconds: float, timeout: float = 30.0, stoppable: bool = True
) -> dict[str, subprocess.Popen]:
    """A receiver on each emulated server, all started at once and returned once every
    socket is bound (a sender started after this loses nothing to a receiver still
    starting). Each listens `seconds`, or, if `stoppable`, until `stop_receivers` if that
    comes first."""
    procs: dict[str, subprocess.Popen] = {}
    ready = {s: threading.Event() for s in servers}

    def wait(server: str, p: subprocess.Popen) -> None:
        assert p.stderr is not None
        if p.stderr.readline().strip() == READY:
            ready[server].set()

    try:
        for server in servers:
            procs[server] = p = emu.host_popen(
                server, sys.executable, "-m", "emulation.traffic", "recv", "--port", str(port),
                "--seconds", str(seconds), *(["--until-eof"] if stoppable else []),
                stdin=subprocess.PIPE if stoppable else subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            threading.Thread(target=wait, args=(server, p), daemon=True).start()
        deadline = time.monotonic() + timeout
        for server in servers:
            if not ready[server].wait(max(0.0, deadline - time.monotonic())):
                raise RuntimeError(f"the receiver on {server} did not start within {timeout:.0f} s")
    except BaseException:
        for p in procs.values():
            p.kill()
        raise
    return procs


def start_receiver(emu, server: str, port: int, seconds: float, timeout: float = 30.0) -> subprocess.Popen:
    """One receiver that listens `seconds` (see `start_receivers`)."""
    return start_receivers(emu, [server], port, seconds, timeout, stoppable=False)[server]


def stop_receivers(procs: dict[str, subprocess.Popen], timeout: float) -> dict[str, str]:
    """Tell receivers to stop (`communicate` closes their stdin), all at once, and
    collect what each printed."""

    def stop(p: subprocess.Popen) -> tuple[str, str]:
        return p.communicate(timeout=timeout)

    with ThreadPoolExecutor(max_workers=max(1, len(procs))) as pool:
        done = dict(zip(procs, pool.map(stop, procs.values()), strict=True))
    for server, p in procs.items():
        if p.returncode != 0:
            raise RuntimeError(f"receiver on {server} failed: {done[server][1].strip()[-500:]}")
    return {server: out for server, (out, _) in done.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m emulation.traffic")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument(
        "--flow", action="append", required=True, metavar="FLOW:DST:DPORT:SPORT:PPS", help="repeatable"
    )
    s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--size", type=int, default=128)
    s.add_argument("--until-eof", action="store_true", help="also stop when standard input closes")
    r = sub.add_parser("recv")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--seconds", type=float, required=True, help="at most this long")
    r.add_argument("--until-eof", action="store_true", help="stop when standard input closes")
    a = ap.parse_args(argv)
    if a.cmd == "send":
        flows = []
        for spec in a.flow:
            try:
                flow, dst, dport, sport, pps = spec.split(":")
                flows.append(Flow(int(flow), dst, int(dport), int(sport), float(pps)))
            except ValueError:
                ap.error(f"--flow {spec!r}: expected FLOW:DST:DPORT:SPORT:PPS")
        stop = threading.Event()
        if a.until_eof:
            threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
        out = send(flows, a.seconds, a.size, stop)
    else:
        stop = threading.Event()
        if a.until_eof:
            # The supervisor closes our stdin once the senders are done and the drain is over.
            threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
        out = receive(a.port, a.seconds, ready=lambda: print(READY, file=sys.stderr, flush=True), stop=stop)
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
