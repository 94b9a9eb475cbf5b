"""`gnn-refine`'s speed/quality frontier on validation scenarios (issue 21).

    python -m placement.mpc.frontier --days 3 --out docs/agent21/frontier.md

Every setting of `GuidedAgent`'s knobs (`top`, `per_kind`, `baseline_starts`,
`sweeps`, `max_scored`, the value's forecast) plays the same validation days as
`mpc`; each row gives the day reward (mean ± SE), its difference to `mpc` paired per
day (mean ± SE), and the median decision time with its ratio to `mpc`'s median in the
same run (batched search, one thread). `mpc` with the serial search is played too: its
day rewards must equal the batched one's exactly (checked), and its time is the
reference the issue's numbers were measured with.

Validation scenarios only: paper-range draws with seeds 41-43, a k=4 fat-tree with seed
41, and the TEA calibration redrawn with seeds 1000-1001. None is a held-out scenario of
`docs/results.md` (refused if one were).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from placement.gnn.heldout import paired

VALIDATION = ("seed:41", "seed:42", "seed:43", "fattree-k4:41", "tea:1000", "tea:1001")
HELD_OUT = ("seed:31", "seed:32", "fattree-k4:31", "tea", "fattree-k8:31")

# name -> GuidedAgent settings changed from the shipped gnn-refine's (top 3, best host of
# each kind, greedy/LAG starts, 2 sweeps, 3000 placements, whole-day forecast).
LEAN = {"top": 1, "per_kind": 0, "baseline_starts": False, "sweeps": 1}
# Best-improvement rounds from the policy's answer, holding among the rows (refine.py).
STEEP = {"search": "steepest", "baseline_starts": False, "sweeps": 1}
SETTINGS: dict[str, dict] = {
    "gnn-refine (shipped)": {},
    "top 2": {"top": 2},
    "top 1": {"top": 1},
    "no best-per-kind": {"per_kind": 0},
    "no greedy/LAG starts": {"baseline_starts": False},
    "1 sweep": {"sweeps": 1},
    "max 24 scored": {"max_scored": 24},
    "max 8 scored": {"max_scored": 8},
    "top 2, no greedy/LAG starts, 1 sweep": {"top": 2, "baseline_starts": False, "sweeps": 1},
    "lean: top 1, no per-kind, no starts, 1 sweep": LEAN,
    "lean, max 8 scored": {**LEAN, "max_scored": 8},
    "lean, persistence value (no forecast)": {**LEAN, "forecast": None},
    "steepest, top 2, no starts, 2 rounds": {**STEEP, "top": 2, "sweeps": 2},
    "steepest, top 2, no starts, 1 round": {**STEEP, "top": 2},
    "steepest, top 2, no per-kind, no starts, 1 round": {**STEEP, "top": 2, "per_kind": 0},
    "steepest, top 2, no per-kind, no starts, 2 rounds": {**STEEP, "top": 2, "per_kind": 0, "sweeps": 2},
    "steepest, top 3, no per-kind, no starts, 1 round": {**STEEP, "top": 3, "per_kind": 0},
    "steepest, top 1, no per-kind, no starts, 1 round": {**STEEP, "top": 1, "per_kind": 0},
    "steepest, top 1, no per-kind, no starts, 1 round, persistence value": {
        **STEEP,
        "top": 1,
        "per_kind": 0,
        "forecast": None,
    },
}


def problems(specs: tuple[str, ...]) -> list:
    from placement.evaluation.figures import scenario_of
    from placement.model.workload import build_problem

    held = {scenario_of(s).name for s in HELD_OUT}
    out = []
    for spec in specs:
        s = scenario_of(spec)
        if s.name in held:
            raise SystemExit(f"{spec} is a held-out scenario: the frontier is measured on validation ones")
        out.append(build_problem(s))
    return out


def agents(policy_path: Path | None = None, rows: list[str] | None = None) -> dict:
    """Every row, or `mpc` and the named ones (names as in the table)."""
    from placement.agents import DEFAULT_MODELS
    from placement.gnn.policy import GnnAgent, load
    from placement.gnn.refine import GuidedAgent
    from placement.mpc.agent import MpcAgent
    from placement.mpc.forecast import load as load_forecast

    policy, fc = load(policy_path or DEFAULT_MODELS["gnn-refine"]), load_forecast()
    out = {"mpc": MpcAgent(), "mpc, serial search": MpcAgent(batched=False)}
    for name, knobs in SETTINGS.items():
        out[name] = dataclasses.replace(GuidedAgent(policy=policy, forecast=fc, horizon=0), **knobs)
    out["gnn (policy alone)"] = GnnAgent(policy)
    if rows:
        unknown = sorted(set(rows) - set(out))
        if unknown:
            raise SystemExit(f"unknown rows {unknown}; known: {sorted(out)}")
        out = {k: v for k, v in out.items() if k == "mpc" or k in rows}
    return out


def play(probs: list, days: int, agents: dict) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Every agent on the same test days: day rewards, and the ms of every decision."""
    from placement.model.simulate import DayRun

    rewards: dict[str, list[float]] = {k: [] for k in agents}
    ms: dict[str, list[float]] = {k: [] for k in agents}
    with tqdm(total=len(probs) * days, desc="validation days", mininterval=2.0) as bar:
        for p in probs:
            for d in range(days):
                day = p.day("test", d)
                for name, agent in agents.items():
                    run, total = DayRun(p, day), 0.0
                    while not run.done:
                        t0 = time.perf_counter()
                        want = agent.decide(run)
                        ms[name].append(1000 * (time.perf_counter() - t0))
                        total += run.apply(want).reward
                    rewards[name].append(total)
                bar.update()
    return rewards, ms


def table(rewards: dict[str, list[float]], ms: dict[str, list[float]]) -> tuple[str, list[dict]]:
    base, base_ms = rewards["mpc"], float(np.median(ms["mpc"]))
    serial_ms = float(np.median(ms["mpc, serial search"])) if "mpc, serial search" in ms else math.nan
    n = len(base)
    head = (
        "| agent | days | day reward (mean ± SE) | minus mpc, paired (SEs) | median ms | vs mpc | "
        "vs mpc serial | within 1 SE, ≤ 1/10 mpc |\n|---|---|---|---|---|---|---|---|"
    )
    lines, rows = [head], []
    for name, r in rewards.items():
        m, se = paired(r, base)
        med = float(np.median(ms[name]))
        row = {
            "agent": name,
            "knobs": SETTINGS.get(name, {}),
            "days": n,
            "mean": float(np.mean(r)),
            "se": float(np.std(r, ddof=1) / math.sqrt(n)),
            "minus_mpc": m,
            "minus_mpc_se": se,
            "median_ms": med,
            "vs_mpc": med / base_ms,
            "vs_mpc_serial": med / serial_ms,
        }
        row["meets"] = name != "mpc" and not name.startswith("mpc,") and m >= -se and med <= base_ms / 10
        row["knobs"] = {
            k: (v if v is None or isinstance(v, (int, float, bool)) else str(v))
            for k, v in row["knobs"].items()
        }
        rows.append(row)
        diff = "—" if name == "mpc" else f"{m:+.3f} ± {se:.3f} ({m / se:+.1f})" if se > 0 else f"{m:+.3f} ± 0"
        lines.append(
            f"| {name} | {n} | {row['mean']:.3f} ± {row['se']:.3f} | {diff} | {med:.1f} | "
            f"{row['vs_mpc']:.2f}× | {row['vs_mpc_serial']:.3f}× | {'yes' if row['meets'] else 'no'} |"
        )
    return "\n".join(lines), rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=3, help="test days per validation scenario")
    ap.add_argument("--policy", type=Path, default=None, help="gnn policy (default: the shipped one)")
    ap.add_argument("--out", type=Path, default=None, help="markdown file (a .json beside it)")
    ap.add_argument(
        "--row", action="append", default=None, help="play only mpc and this row (repeatable; default: all)"
    )
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    probs = problems(VALIDATION)
    rewards, ms = play(probs, a.days, agents(a.policy, a.row))
    if "mpc, serial search" in rewards and rewards["mpc"] != rewards["mpc, serial search"]:
        raise SystemExit("the batched and serial mpc searches disagree: the speed-up is not exact")
    md, rows = table(rewards, ms)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    note = (
        f"{len(probs)} validation scenarios ({', '.join(p.scenario.name for p in probs)}) × {a.days} test days; "
        f"one thread; load average at the end {load}; {time.perf_counter() - t0:.0f} s."
    )
    print(md + "\n\n" + note)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(f"# gnn-refine's frontier on validation days\n\n{md}\n\n{note}\n")
        a.out.with_suffix(".json").write_text(
            json.dumps({"note": note, "rows": rows, "day_rewards": rewards}, indent=1)
        )


if __name__ == "__main__":
    main()
