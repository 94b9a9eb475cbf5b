"""Decision time of the GNN policy (and gnn-refine) against greedy, LAG and mpc, one thread, same run.

    python -m tests.benchmarks.bench_gnn          # BENCH_GNN_DAYS=2 (days per scenario)

Median ms per decision over every step of the first test days of a held-out paper
seed, the k=4 fat-tree and the bundled k=8 fat-tree, and each median as a ratio to
greedy's in the same run (absolute times on a shared machine mean little).
`BENCH_GNN_MPC_K8=0` leaves mpc out on k=8 (it takes seconds a step there).
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from placement.agents import agent_or_error
from placement.gnn.cli import DEFAULT_MODEL
from placement.model import scenario as sc
from placement.model.simulate import DayRun
from placement.model.workload import build_problem

DATA = DEFAULT_MODEL.parent.parent / "data"
SCENARIOS = {"paper-seed11": DATA / "paper-seed11.yaml", "fattree-k4": DATA / "fattree-k4.yaml",
             "fattree-k8": "fattree-k8"}  # fmt: skip
AGENTS = ("gnn", "gnn-refine", "greedy", "lag", "mpc")


def decision_ms(problem, agent, days: int) -> list[float]:
    out = []
    for d in range(days):
        run = DayRun(problem, problem.day("test", d))
        while not run.done:
            t0 = time.perf_counter()
            p = agent.decide(run)
            out.append((time.perf_counter() - t0) * 1000.0)
            run.apply(p)
    return out


def main() -> None:
    torch.set_num_threads(1)
    days = int(os.environ.get("BENCH_GNN_DAYS", "2"))
    mpc_k8 = os.environ.get("BENCH_GNN_MPC_K8", "1") != "0"
    table = Table(title=f"median decision ms (ratio to greedy), {days} test days, 1 thread")
    table.add_column("scenario")
    for a in AGENTS:
        table.add_column(a, justify="right")
    for label, spec in SCENARIOS.items():
        problem = build_problem(sc.load(spec))
        med = {}
        for name in AGENTS:
            if name == "mpc" and label == "fattree-k8" and not mpc_k8:
                continue
            agent = agent_or_error(name, problem, 0, 30.0)
            decision_ms(problem, agent, 1 if days > 1 else 0)  # warm-up: path tables, imports
            med[name] = float(np.median(decision_ms(problem, agent, days)))
        g = med["greedy"]
        cells = [f"{med[a]:.2f} ({med[a] / g:.1f}×)" if a in med else "not run" for a in AGENTS]
        table.add_row(label, *cells)
    Console().print(table)


if __name__ == "__main__":
    main()
