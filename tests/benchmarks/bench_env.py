"""`make bench`: environment speed on the paper's scenario, on one core.

Reported as ratios against the plain reference evaluation (tests/reference_step.py)
measured in the same run, next to the absolute figures.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from placement.model import scenario as sc
from placement.model.env import SremEnv
from placement.model.simulate import DayRun
from placement.model.workload import build_problem
from tests.reference_step import reference_evaluate


def actions(problem, n, seed=0):
    """Masked random actions, drawn before timing starts."""
    rng = np.random.default_rng(seed)
    run = DayRun(problem, problem.day("train", 0))
    mask = run.mask()
    return [np.array([rng.choice(np.flatnonzero(m)) for m in mask]) for _ in range(n)]


def env_rate(problem, acts, steps):
    env = SremEnv(problem)
    env.reset(seed=0)
    t0 = time.perf_counter()
    for k in range(steps):
        _, _, done, _, _ = env.step(acts[k % len(acts)])
        if done:
            env.reset()
    return steps / (time.perf_counter() - t0)


def reference_rate(problem, acts, steps):
    run = DayRun(problem, problem.day("train", 0))
    t0 = time.perf_counter()
    for k in range(steps):
        if run.done:
            run = DayRun(problem, problem.day("train", k))
        reference_evaluate(problem, run.day, run.t, acts[k % len(acts)], run.placement, run.arc_util)
        run.apply(acts[k % len(acts)])
    return steps / (time.perf_counter() - t0)


def main() -> None:
    console = Console()
    rows = []
    # The reference is slow on large trees: fewer of its steps there.
    for name, s, ref_steps in [
        ("paper (10 sw, 12 srv)", sc.default(), 60),
        ("fat-tree k=8 (80 sw, 128 srv)", sc.from_dict({"topology": {"builder": "fattree", "k": 8}}), 12),
    ]:
        problem = build_problem(s)
        acts = actions(problem, 64)
        # Steady state: every node pair's shortest paths registered first (the table fills
        # lazily, and random initial placements touch new pairs for many days).
        problem.paths.ensure(np.arange(problem.sub.n_nodes**2))
        env_rate(problem, acts, 300)  # and the day cache
        ref = reference_rate(problem, acts, ref_steps)
        env = max(env_rate(problem, acts, 3000) for _ in range(3))
        rows.append(
            {"scenario": name, "env_steps_per_s": env, "reference_steps_per_s": ref, "ratio": env / ref}
        )
    t = Table(title="environment steps per second, one core (higher is better)")
    for h in ("scenario", "srem env", "reference", "ratio"):
        t.add_column(h, justify="right")
    for r in rows:
        t.add_row(
            r["scenario"],
            f"{r['env_steps_per_s']:,.0f}",
            f"{r['reference_steps_per_s']:,.0f}",
            f"{r['ratio']:.1f}x",
        )
    console.print(t)
    out = Path("results/bench/env.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
