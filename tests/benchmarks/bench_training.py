"""Training throughput: environment steps per second of DAgger's rollouts (`srem gnn
train`: every visited state labelled by mpc), serial against a local Ray with 2 workers,
in the same run.

    python -m tests.benchmarks.bench_training     # BENCH_TRAINING_DAYS=8 (days per rollout)

Both runs roll out the same drawn days (a Ray run collects exactly what a serial one
does; tests/test_gnn_policy.py checks it), so the ratio is the parallel speed-up on this
machine. Ray is started (and its workers warmed by one day) before the clock runs: a
training run pays that once, not per iteration; its seconds are printed apart.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import time

import numpy as np
import torch

from placement.evaluation.parallel import ray_session
from placement.gnn.policy import GnnConfig, GnnPolicy
from placement.gnn.train import TrainConfig, draw_days, roll_out_all, training_scenarios
from placement.model.workload import build_problem
from tests.benchmarks.report import report


def main() -> None:
    torch.set_num_threads(1)
    days = int(os.environ.get("BENCH_TRAINING_DAYS", "8"))
    cfg = TrainConfig(scenarios=6)  # the paper tree and k=2 / k=4 fat-trees, two loads each
    problems = [build_problem(s) for s in training_scenarios(cfg)]
    torch.manual_seed(0)
    policy = GnnPolicy(GnnConfig()).eval()
    draws = draw_days(days, problems, np.random.default_rng(0))
    steps = sum(len(d.coins) for d in draws)
    t0 = time.perf_counter()
    ray_session(2, None)
    roll_out_all(problems, draws[:2], policy, "mpc", 0.5, workers=2)  # two workers' first tasks
    print(f"Ray start and warm-up: {time.perf_counter() - t0:.1f} s (not counted below)")
    rows = {}
    for name, workers in (("serial", 1), ("ray, 2 workers", 2)):
        t0 = time.perf_counter()
        got = roll_out_all(problems, draws, policy, "mpc", 0.5, workers=workers)
        rows[name] = steps / (time.perf_counter() - t0)
        assert len(got) == steps
    report(f"DAgger rollouts, {days} days ({steps} steps), labelled by mpc", rows, "serial",
           "env steps/s", "results/bench/training.json")  # fmt: skip


if __name__ == "__main__":
    main()
