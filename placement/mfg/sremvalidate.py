"""What the learning adds to `--agent mfg`: the shipped policy against an untrained one (the
same network with its initial weights, under the same search) and greedy, on validation
days: *test* days of the training scenarios, never an evaluation scenario. The agent's
settings (payoff, rounds, rollouts) were chosen on these days.

    python -m placement.mfg.sremvalidate [--days 8] [--model PT]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from placement.agents import make_agent
from placement.mfg.sremgame import DEFAULT_MODEL, FEATURES, MfgAgent, load
from placement.mfg.sremtrain import SremTrainConfig, training_scenarios
from placement.mfg.train import MeanFieldActorCritic
from placement.model.simulate import run_days
from placement.model.workload import build_problem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=8)
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    untrained = MeanFieldActorCritic(len(FEATURES), 64).eval()
    agents = {
        "mfg (shipped)": lambda p: MfgAgent(load(args.model)),
        "mfg (untrained)": lambda p: MfgAgent(untrained),
        "greedy": lambda p: make_agent("greedy", p),
    }
    print("| scenario | agent | day reward (mean ± SE) | ms per step |")
    print("|---|---|---|---|")
    for s in training_scenarios(SremTrainConfig())[::3]:  # one in three of them
        p = build_problem(s)
        for name, make in agents.items():
            t0 = time.perf_counter()
            days = run_days(p, make(p), "test", list(range(args.days)))
            ms = (time.perf_counter() - t0) / (len(days) * len(days[0])) * 1000
            r = [sum(x.reward for x in d) for d in days]
            se = np.std(r, ddof=1) / np.sqrt(len(r))
            print(f"| {s.name} | {name} | {np.mean(r):.3f} ± {se:.3f} | {ms:.0f} |", flush=True)


if __name__ == "__main__":
    main()
