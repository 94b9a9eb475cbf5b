"""`make bench`: decision time of each flow-migration method against instance count, on one core.

Load balancing (the paper's Fig. 7 setting), 40 flows per instance on average, instance
counts 10, 20, 40, 100, 200; each method's median over `REPEATS` seeded problems, reported
as a ratio to OFM measured in the same run (lower is faster), next to the absolute
milliseconds. The MILP runs up to 40 instances (its time limit would dominate above).
Writes results/bench/migration.json.

`python -m tests.benchmarks.bench_migration --meters`: instead, the per-flow meters' cost
per packet in a NAT (what the loop's planner reads): 20,000 packets of 100 flows with the
meters on, as a ratio to the same with them off, best of 15 interleaved runs.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from migration import baselines, milp, workload
from migration.agent import deepmigration, load_model

SIZES = (10, 20, 40, 100, 200)
REPEATS = 3
MILP_LIMIT_S = 10.0


def main() -> None:
    torch.set_num_threads(1)
    model = load_model()
    methods = {
        "ofm": baselines.ofm,
        "deepmigration": lambda p: deepmigration(p, model),
        "size-greedy": baselines.size_greedy,
        "pairwise": baselines.pairwise,
        "random": baselines.random_plan,
        "optimal": lambda p: milp.solve(p, MILP_LIMIT_S).moves,
    }
    deepmigration(workload.balance(10, 40, 0), model)  # warm-up: first-call imports and allocations
    rows = []
    for n in SIZES:
        times: dict[str, list[float]] = {m: [] for m in methods}
        for k in range(REPEATS):
            p = workload.balance(n, 40, 7000 + k)
            for m, fn in methods.items():
                if m == "optimal" and n > 40:
                    continue
                t0 = time.perf_counter()
                fn(p)
                times[m].append((time.perf_counter() - t0) * 1e3)
        med = {m: float(np.median(v)) for m, v in times.items() if v}
        rows.append({"instances": n, "ms": med, "ratio_to_ofm": {m: v / med["ofm"] for m, v in med.items()}})
    t = Table(title="flow-migration decision time (load balancing, 40 flows/instance): ms (× OFM)")
    t.add_column("instances", justify="right")
    for m in methods:
        t.add_column(m, justify="right")
    for r in rows:
        t.add_row(str(r["instances"]), *(f"{r['ms'][m]:.1f} ({r['ratio_to_ofm'][m]:.2f}×)" if m in r["ms"] else "–"
                                         for m in methods))  # fmt: skip
    Console().print(t)
    out = Path("results/bench/migration.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")


def meters(runs: int = 15) -> float:
    """Per-packet time with the flow meters on / off (ratio), printed with the microseconds."""
    import sys

    from scapy.all import IP, UDP, Ether, raw
    from scapy.contrib.nsh import NSH

    from nfs.stateful import make_stateful

    nat = {
        "id": 7,
        "kind": "snat",
        "inside": "10.0.1.0/24",
        "public": "198.51.100.1",
        "ports": [40000, 49999],
    }
    frames = [raw(Ether(src="02:00:00:00:aa:01", dst="02:00:00:00:cc:01", type=0x894F)
                  / NSH(mdtype=2, length=2, nextproto=1, spi=5, si=255) / IP(src="10.0.1.1", dst="10.0.2.2")
                  / UDP(sport=3000 + k, dport=9000) / (b"x" * 64)) for k in range(100)]  # fmt: skip

    def once(on: bool) -> float:
        nf = make_stateful(nat, b"\0" * 6)
        if not on:
            nf.has = lambda key: False  # no meter is made, none updated
        t0 = time.perf_counter()
        for _ in range(200):
            for f in frames:
                nf.process(f)
        return (time.perf_counter() - t0) / (200 * len(frames)) * 1e6

    best = {False: float("inf"), True: float("inf")}
    for _ in range(runs):
        for on in (False, True):
            best[on] = min(best[on], once(on))
    ratio = best[True] / best[False]
    print(f"per packet: meters off {best[False]:.2f} us, on {best[True]:.2f} us, ratio {ratio:.3f} "
          f"(load average {os.getloadavg()[0]:.1f})", file=sys.stdout)  # fmt: skip
    return ratio


if __name__ == "__main__":
    import sys

    meters() if "--meters" in sys.argv[1:] else main()
