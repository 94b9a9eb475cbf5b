"""`make bench`: decision time of each flow-migration method against instance count, on one core.

Load balancing (the paper's Fig. 7 setting), 40 flows per instance on average, instance
counts 10, 20, 40, 100, 200; each method's median over `REPEATS` seeded problems, reported
as a ratio to OFM measured in the same run (lower is faster), next to the absolute
milliseconds. The MILP runs up to 40 instances (its time limit would dominate above).
Writes results/bench/migration.json.
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


if __name__ == "__main__":
    main()
