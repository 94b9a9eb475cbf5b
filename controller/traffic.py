"""Chain traffic on the emulated fabric: senders that stamp, receivers that count.

Every datagram carries `MAGIC | flow | seq | sent_ns` (big-endian), so a receiver
tells delivered, lost, duplicated and reordered packets and one-way latency apart
per flow. Sender and receiver run in namespaces of one machine and share its clock,
so the latency is real. Run inside a host namespace as

    python -m controller.traffic send --dst 10.1.1.1 --port 9000 --flow 3 --pps 200 --seconds 5
    python -m controller.traffic recv --port 9000 --seconds 7

each prints one JSON object when done.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import sys
import time
from dataclasses import dataclass, field

import numpy as np

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

    def add(self, seq: int, latency_us: float) -> None:
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
        return {
            "flow": self.flow,
            "received": self.received,
            "lost": max(0, expected - self.received),
            "duplicates": self.duplicates,
            "reordered": self.reordered,
            "latency_p50_us": float(np.percentile(lat, 50)),
            "latency_p99_us": float(np.percentile(lat, 99)),
        }


def send(dst: str, port: int, flow: int, pps: float, seconds: float, size: int = 128) -> dict:
    """Send `pps` stamped datagrams per second for `seconds`; return what was sent."""
    size = max(size, HEADER.size)
    pad = bytes(size - HEADER.size)
    n = int(pps * seconds)
    gap = 1.0 / pps if pps > 0 else 0.0
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        start = time.monotonic()
        for seq in range(n):
            # Paced on an absolute schedule so that a slow iteration does not slow the rate.
            delay = start + seq * gap - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            s.sendto(HEADER.pack(MAGIC, flow, seq, time.time_ns()) + pad, (dst, port))
            sent += 1
    return {"flow": flow, "sent": sent, "dst": dst, "port": port, "pps": pps, "seconds": seconds}


def receive(port: int, seconds: float, bind: str = "0.0.0.0") -> dict:
    """Count stamped datagrams on a UDP port for `seconds`; per-flow figures."""
    flows: dict[int, FlowStats] = {}
    junk = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind((bind, port))
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            s.settimeout(min(left, 0.5))
            try:
                data = s.recv(65535)
            except TimeoutError:
                continue
            now = time.time_ns()
            if len(data) < HEADER.size:
                junk += 1
                continue
            magic, flow, seq, sent_ns = HEADER.unpack_from(data)
            if magic != MAGIC:
                junk += 1
                continue
            flows.setdefault(flow, FlowStats(flow)).add(seq, (now - sent_ns) / 1e3)
    return {"port": port, "junk": junk, "flows": {f: st.summary() for f, st in sorted(flows.items())}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m controller.traffic")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("--dst", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--flow", type=int, required=True)
    s.add_argument("--pps", type=float, required=True)
    s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--size", type=int, default=128)
    r = sub.add_parser("recv")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--seconds", type=float, required=True)
    a = ap.parse_args(argv)
    if a.cmd == "send":
        out = send(a.dst, a.port, a.flow, a.pps, a.seconds, a.size)
    else:
        out = receive(a.port, a.seconds)
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
