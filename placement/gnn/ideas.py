"""Cheap measurements of issue 21's ideas on *validation* days: test days of the
training scenarios (seeds >= 1000), never an evaluation scenario. Each table shows
every agent's mean day reward ± SE, its paired difference to `mpc` ± SE, and its
decision time (ms per step, one thread, this machine under its load).

    python -m placement.gnn.ideas oracle  --out docs/agent21/oracle.md
    python -m placement.gnn.ideas forecast --out docs/agent21/forecast.md
    python -m placement.gnn.ideas refine  --policy P.pt --out docs/agent21/refine.md
    python -m placement.gnn.ideas variants --out docs/agent21/variants.md
    python -m placement.gnn.ideas tea --scenarios 6 --policy A.pt --out docs/agent21/tea.md
    python -m placement.gnn.ideas students --policy A.pt --policy B.pt --out docs/agent21/students.md
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import time
from pathlib import Path

import numpy as np
import torch

from placement.gnn.policy import GnnAgent, load
from placement.gnn.refine import GuidedAgent
from placement.gnn.train import FIRST_DISTRIBUTION, training_scenarios
from placement.model import scenario as sc
from placement.model.workload import build_problem
from placement.mpc.agent import MpcAgent
from placement.mpc.forecast import ForecastMpcAgent
from placement.mpc.forecast import load as load_forecast
from placement.mpc.oracle import OracleMpcAgent

# gnn-refine as first built (before the TEA validation): top 3 only, no greedy/LAG starts.
# Every row below says what it adds to these settings, so the tables stay reproducible.
V1 = functools.partial(GuidedAgent, baseline_starts=False, per_kind=0)
DEFAULT_POLICY = Path(__file__).resolve().parent / "models" / "gnn.pt"


def validation_problems(n: int) -> list:
    """n training scenarios spread over kinds and loads (every other one of the default 24)."""
    scs = training_scenarios(FIRST_DISTRIBUTION)
    return [build_problem(s) for s in (scs[::2] + scs[1::2])[:n]]


def tea_problems(n: int) -> list:
    """The bundled TEA calibration (EM cheap but slow) redrawn with training seeds
    1000.. (the held-out `tea` is seed 7)."""
    tea = sc.load("tea")
    return [
        build_problem(dataclasses.replace(tea, seed=1000 + j, name=f"tea-seed{1000 + j}")) for j in range(n)
    ]


def play(problems: list, days: int, agents: dict) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Every agent on the same days: day rewards per agent, mean ms per decision."""
    from placement.mpc.frontier import play as play_days

    rewards, ms = play_days(problems, days, agents)
    return rewards, {k: float(np.mean(v)) for k, v in ms.items()}


def table(rewards: dict[str, list[float]], ms: dict[str, float], baseline: str = "mpc") -> str:
    base = np.array(rewards[baseline])
    n = len(base)
    rows = ["| agent | days | day reward (mean ± SE) | minus mpc, paired | ms per decision | vs mpc |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    for name, r in rewards.items():
        r = np.array(r)
        diff = r - base
        se = lambda x: x.std(ddof=1) / np.sqrt(n) if n > 1 else float("nan")
        paired = "—" if name == baseline else f"{diff.mean():+.3f} ± {se(diff):.3f}"
        rows.append(f"| {name} | {n} | {r.mean():.3f} ± {se(r):.3f} | {paired} | {ms[name]:.1f} | "
                    f"{ms[name] / ms[baseline]:.2f}× |")  # fmt: skip
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("oracle", "forecast", "refine", "variants", "students", "tea"))
    ap.add_argument("--scenarios", type=int, default=12)
    ap.add_argument("--days", type=int, default=3, help="test days per scenario")
    ap.add_argument("--policy", type=Path, action="append", help="gnn policy file(s) (refine)")
    ap.add_argument("--out", type=Path)
    ap.add_argument(
        "--robust", action="store_true", help="students: also the per-kind + greedy/LAG starts search"
    )
    a = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    problems = validation_problems(a.scenarios) if a.what != "tea" else []
    agents: dict = {"mpc": MpcAgent()}
    if a.what == "oracle":
        agents["mpc-oracle (privileged)"] = OracleMpcAgent()
        agents["mpc-oracle, next step only (privileged)"] = OracleMpcAgent(horizon=1)
    elif a.what == "forecast":
        fc = load_forecast()
        agents["mpc-oracle, next step only (privileged)"] = OracleMpcAgent(horizon=1)
        agents["mpc-forecast"] = ForecastMpcAgent(forecast=fc)
        agents["mpc-forecast, whole day chained"] = ForecastMpcAgent(forecast=fc, horizon=0)
    elif a.what == "students":  # which policy file: plain, and under gnn-refine's search
        fc = load_forecast()
        for path in a.policy or [DEFAULT_POLICY]:
            pol, tag = load(path), path.stem
            agents[f"gnn [{tag}]"] = GnnAgent(pol)
            agents[f"gnn-refine [{tag}]"] = V1(policy=pol, forecast=fc, horizon=0)
            if a.robust:
                agents[f"gnn-refine + best per kind, greedy/LAG starts [{tag}]"] = GuidedAgent(
                    policy=pol, forecast=fc, horizon=0, per_kind=1, baseline_starts=True
                )
    elif a.what == "tea":  # gnn-refine's candidate sets, on TEA-calibrated validation scenarios
        fc = load_forecast()
        for path in a.policy or [DEFAULT_POLICY]:
            pol, tag = load(path), path.stem
            g = lambda pol=pol, **kw: V1(policy=pol, forecast=fc, horizon=0, **kw)
            agents[f"gnn [{tag}]"] = GnnAgent(pol)
            agents[f"top-3 [{tag}]"] = g()
            agents[f"top-3, greedy/LAG starts [{tag}]"] = g(baseline_starts=True)
            agents[f"top-3 + best per kind [{tag}]"] = g(per_kind=1)
            agents[f"top-3 + best per kind, greedy/LAG starts [{tag}]"] = g(per_kind=1, baseline_starts=True)
    elif a.what == "variants":  # gnn-refine's settings, on the shipped gnn policy
        fc, pol = load_forecast(), load(a.policy[0] if a.policy else DEFAULT_POLICY)
        g = lambda **kw: V1(policy=pol, forecast=fc, **kw)
        agents["top-3, whole day forecast, greedy/LAG starts"] = g(top=3, horizon=0, baseline_starts=True)
        agents["top-3, whole day forecast (gnn-refine as first built)"] = g(top=3, horizon=0)
        agents["top-3, next-step forecast, greedy/LAG starts"] = g(top=3, horizon=1, baseline_starts=True)
        agents["top-2, whole day forecast, greedy/LAG starts"] = g(top=2, horizon=0, baseline_starts=True)
        agents["top-3, whole day forecast, greedy/LAG starts, 1 sweep"] = g(
            top=3, horizon=0, baseline_starts=True, sweeps=1
        )
    else:
        fc = load_forecast()
        for path in a.policy or [DEFAULT_POLICY]:
            pol, tag = load(path), path.stem
            agents[f"gnn [{tag}]"] = GnnAgent(pol)
            for top in (3, 5):
                # As first measured: greedy's and LAG's answers among the starts, as mpc.
                agents[f"policy top-{top} + mpc search [{tag}]"] = V1(
                    policy=pol, top=top, baseline_starts=True
                )
                agents[f"policy top-{top} + mpc-forecast search [{tag}]"] = V1(
                    policy=pol, top=top, forecast=fc, horizon=0, baseline_starts=True
                )
    if a.what == "tea":
        problems = tea_problems(a.scenarios)
    rewards, ms = play(problems, a.days, agents)
    load_avg = os.getloadavg()[0]
    kind = "TEA-calibrated validation" if a.what == "tea" else "training"
    text = (f"{len(problems)} {kind} scenarios × {a.days} test days, "
            f"{time.perf_counter() - t0:.0f} s, load average {load_avg:.1f}\n\n{table(rewards, ms)}\n")  # fmt: skip
    print(text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text)


if __name__ == "__main__":
    main()
