"""Tables across scenarios for `srem figures`' summary: every agent's day reward with its
standard error, the learned agents against `mpc` paired per test day, the gap to the day
MILP's bound, and decision times as ratios to greedy in the same run."""

from __future__ import annotations

import numpy as np

from placement.evaluation.days import Evaluation
from placement.evaluation.results import _mean_se

# Agents with something learned in them: a policy, or (mpc-forecast, gnn-refine) a forecast
# fitted on training days and a policy's ranking under mpc's search.
LEARNED = ("mpc-forecast", "gnn-refine", "gnn", "mfg", "srem")


def _cell(d: dict, fmt: str = "{:.3f}") -> str:
    se = d.get("se", float("nan"))
    return fmt.format(d["mean"]) + ("" if se is None or not np.isfinite(se) else " ± " + fmt.format(se))


def _agents(runs: list[Evaluation]) -> list[str]:
    """Agents in first-seen order, the training-seed variants and the MILPs last."""
    seen: list[str] = []
    for ev in runs:
        seen += [a for a in ev.summary if a not in seen]
    return sorted(seen, key=lambda a: (a.startswith("milp"), "(seed" in a))


def paired(ev: Evaluation, a: str, b: str) -> dict | None:
    """Mean ± SE over the test days both played of a's day reward minus b's."""
    ra, rb = ev.day_rewards.get(a), ev.day_rewards.get(b)
    if not ra or not rb:
        return None
    k = min(len(ra), len(rb))
    return _mean_se(np.subtract(ra[:k], rb[:k]))


def cross_tables(runs: list[Evaluation]) -> list[str]:
    if not runs:
        return []
    agents = [a for a in _agents(runs) if "(seed" not in a]
    out = ["## Day reward on every scenario (mean ± standard error over test days; max 6)", ""]
    out += ["| agent | " + " | ".join(f"{ev.scenario} ({ev.instances} d)" for ev in runs) + " |"]
    out += ["|---" * (len(runs) + 1) + "|"]
    for a in agents:
        cells = [_cell(ev.summary[a]["day_reward"]) if a in ev.summary else "not run" for ev in runs]
        out.append(f"| {a} | " + " | ".join(cells) + " |")
    out += ["", "(MILP rows: only the days named in the label; compare them on those days, below.)", ""]

    out += ["## The agents with learned parts against mpc and greedy, paired per test day", ""]
    out += [
        "| scenario | agent | minus mpc | minus greedy | minus best online agent |",
        "|---|---|---|---|---|",
    ]
    for ev in runs:
        online = {a: v for a, v in ev.summary.items() if not a.startswith("milp") and "(seed" not in a}
        best = max(online, key=lambda a: online[a]["day_reward"]["mean"]) if online else None
        for a in LEARNED:
            if a not in ev.summary:
                continue
            cells = []
            for b in ("mpc", "greedy", best):
                d = paired(ev, a, b) if b and b != a else None
                cells.append("(it is the best)" if b == best and b == a else (_cell(d) if d else "-"))
            last = cells[2] if a == best else f"{cells[2]} ({best})"
            out.append(f"| {ev.scenario} | {a} | " + " | ".join(cells[:2]) + f" | {last} |")
    out.append("")

    bounded = [ev for ev in runs if ev.day_bound and any(np.isfinite(ev.day_bound))]
    if bounded:
        out += ["## Gap to the day MILP's bound (bound minus day reward, on the days it ran)", ""]
        out += ["| agent | " + " | ".join(f"{ev.scenario} ({len(ev.day_bound)} d)" for ev in bounded) + " |"]
        out += ["|---" * (len(bounded) + 1) + "|"]
        gaps = [ev.gap_to_bound() for ev in bounded]
        for a in agents:
            if a.startswith("milp-day"):
                continue
            out.append(f"| {a} | " + " | ".join(_cell(g[a]) if a in g else "-" for g in gaps) + " |")
        out.append("")
    tried = [ev for ev in runs if ev.day_bound]
    if tried:  # every scenario the day MILP ran on, also where it gave no bound in time
        out += ["| scenario | day MILP bound per day | notes |", "|---|---|---|"]
        for ev in tried:
            note = next((v for k, v in ev.notes.items() if k.startswith("milp-day")), "")
            bounds = ", ".join(f"{b:.3f}" if np.isfinite(b) else "none" for b in ev.day_bound)
            out.append(f"| {ev.scenario} | {bounds} | {note} |")
        out.append("")

    out += ["## Decision time per step (ms, mean over test days, one thread) and its ratio to greedy", ""]
    out += ["| agent | " + " | ".join(ev.scenario for ev in runs) + " |", "|---" * (len(runs) + 1) + "|"]
    for a in agents:
        cells = []
        for ev in runs:
            if a not in ev.summary:
                cells.append("-")
                continue
            ms = ev.summary[a]["decision_ms"]["mean"]
            g = ev.summary.get("greedy", {}).get("decision_ms", {}).get("mean")
            cells.append(f"{ms:.1f} ({ms / g:.1f}×)" if g else f"{ms:.1f}")
        out.append(f"| {a} | " + " | ".join(cells) + " |")
    out.append("")
    return out
