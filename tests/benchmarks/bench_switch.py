"""`make bench`, switch part: packets per second through the reference switch, one core,
for a three-table program with 1,000 entries per table, against trivial forwarding."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import random
import time
from pathlib import Path

from scapy.all import IP, UDP, Ether, raw

from p4target.compiler.driver import compile_p4
from p4target.switch import load
from p4target.switch.tables import Match
from tests.benchmarks.report import report

P4 = Path(__file__).resolve().parent.parent / "p4"


def packets(n: int, rng: random.Random, macs: list[int]) -> list[bytes]:
    out = []
    for _ in range(n):
        mac = rng.choice(macs)
        dst = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
        eth = ":".join(f"{mac >> s & 255:02x}" for s in range(40, -8, -8))
        out.append(
            raw(
                Ether(dst=eth, src="02:00:00:00:00:01")
                / IP(src="192.168.1.1", dst=dst)
                / UDP(sport=1000, dport=rng.randrange(65536))
                / (b"x" * 64)
            )
        )
    return out


def three_tables(rng: random.Random):
    sw = load(compile_p4(P4 / "three_tables.p4").json)
    macs = [rng.getrandbits(48) for _ in range(1000)]
    t = sw.tables["I.macs"]
    for k, m in enumerate(macs):
        t.add([Match(value=m)], t.actions["I.set_class"], [k % 256])
    t = sw.tables["I.routes"]
    seen = set()
    while len(seen) < 1000:
        plen = rng.choice([16, 20, 24, 28, 32])
        net = (10 << 24 | rng.getrandbits(24)) >> (32 - plen) << (32 - plen)
        if (net, plen) not in seen:
            seen.add((net, plen))
            t.add(
                [Match(value=net, prefix=plen)],
                t.actions["I.route"],
                [rng.randrange(1, 64), rng.getrandbits(48)],
            )
    t = sw.tables["I.acl"]
    for k in range(1000):
        t.add(
            [Match(value=rng.getrandbits(32), mask=0xFFFFFF00), Match(value=k, mask=0xFFFF)],
            t.actions["I.deny"],
            [],
            priority=k + 1,
        )
    return sw, macs


def rate(sw, pkts: list[bytes], seconds: float = 3.0) -> float:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for p in pkts:
            sw.process(1, p)
        n += len(pkts)
    return n / (time.perf_counter() - t0)


def main() -> None:
    rng = random.Random(0)
    trivial = load(compile_p4(P4 / "trivial.p4").json)
    sw, macs = three_tables(rng)
    pkts = packets(500, rng, macs)
    rows = {"trivial forwarding": rate(trivial, pkts), "three tables x 1,000 entries": rate(sw, pkts)}
    report(
        "reference switch, packets per second, one core (higher is better)",
        rows,
        "trivial forwarding",
        "packets/s",
        "results/bench/switch.json",
    )


if __name__ == "__main__":
    main()
