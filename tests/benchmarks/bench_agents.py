"""`make bench`: how long each placement agent takes to decide one step, on the paper's
tree, a k=4 and a k=8 fat-tree, one thread, as ratios to greedy in the same run.

Every agent decides the same steps of test day 0 (the run follows mpc's placements,
so every agent sees the states the default agent meets). Median over the steps.
`BENCH_AGENT_STEPS` (default 3) sets how many steps per scenario.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from placement.agents import DEFAULT_MODELS, agent_or_error, make_agent
from placement.model import scenario as sc
from placement.model.simulate import DayRun
from placement.model.workload import build_problem

AGENTS = ("greedy", "lag", "random", "greedy-hold", "mpc", "gnn", "srem", "ddqn-cm")


def scenarios() -> dict[str, sc.Scenario]:
    s = sc.default()
    k4 = dataclasses.replace(
        s, name="fattree-k4", topology=dataclasses.replace(s.topology, builder="fattree", k=4)
    )
    return {"paper": s, "fattree-k4": k4, "fattree-k8": sc.load("fattree-k8")}


def agent(name: str, problem):
    if name in DEFAULT_MODELS:
        try:  # a shipped policy serves only the scenario it was trained on
            return agent_or_error(name, problem, 0, 30.0)
        except Exception as e:
            return str(e).splitlines()[0]
    return make_agent(name, problem)


def main() -> None:
    torch.set_num_threads(1)
    console = Console()
    steps = int(os.environ.get("BENCH_AGENT_STEPS", "3"))
    out: dict = {}
    for label, s in scenarios().items():
        problem = build_problem(s)
        run = DayRun(problem, problem.day("test", 0))
        agents = {name: agent(name, problem) for name in AGENTS}
        times: dict[str, list[float]] = {n: [] for n, a in agents.items() if not isinstance(a, str)}
        for _ in range(min(steps, run.day.n_steps)):
            for name in times:
                t0 = time.perf_counter()
                agents[name].decide(run)
                times[name].append(time.perf_counter() - t0)
            run.apply(agents["mpc"].decide(run))
        base = float(np.median(times["greedy"]))
        t = Table(
            title=f"{label}: {problem.sub.n_hosts} hosts, {problem.cat.n_instances} instances; decision time"
        )
        for h in ("agent", "median ms", "max ms", "× greedy"):
            t.add_column(h, justify="right")
        rows = {}
        for name, a in agents.items():
            if isinstance(a, str):
                t.add_row(name, "-", "-", f"not run: {a}")
                continue
            med = float(np.median(times[name]))
            rows[name] = {"median_ms": 1000 * med, "max_ms": 1000 * max(times[name]), "x_greedy": med / base}
            t.add_row(name, f"{1000 * med:.1f}", f"{1000 * max(times[name]):.1f}", f"{med / base:.2f}")
        console.print(t)
        out[label] = rows
    path = Path("results/bench/agents.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
