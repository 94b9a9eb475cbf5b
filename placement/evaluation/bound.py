"""The day MILP's proven bound per test day, and each strong agent's gap to it in %.

Read from the evaluations `srem figures` writes (eval.json's `day_milp`, `day_rewards`):
one row per scenario and day the day MILP solved. The gap is (bound − day reward) / bound;
a negative gap means the agent's environment reward exceeds the MILP's bound, which can
happen as the MILP fixes routes to an empty network's (placement/milp/day.py) while the
environment routes on the previous step's load: it is reported, never clipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The agents issue 21 measures against the bound, in column order.
STRONG = ("mpc-forecast", "mpc", "gnn-refine", "gnn")
GOAL_PCT = 3.0  # issue 21: within 3 % of the day MILP's bound


def _fmt(v: float | None, f: str = "{:.3f}") -> str:
    return "-" if v is None or not np.isfinite(v) else f.format(v)


def gap_pct(bound: float, reward: float) -> float:
    return 100.0 * (bound - reward) / abs(bound)


def bound_rows(ev) -> list[dict]:
    """Per day the day MILP solved: its bound, its plan, its start and each agent's gap."""
    milp_key = next((k for k in ev.day_rewards if k.startswith("milp-day")), None)
    rows = []
    for k, m in enumerate(ev.day_milp):
        bound = m.get("bound")
        row = {"scenario": ev.scenario, "day": k, **m, "agents": {}}
        row["plan_reward"] = ev.day_rewards[milp_key][k] if milp_key else None
        for a in STRONG:
            r = ev.day_rewards.get(a, [])
            if len(r) > k and bound is not None:
                row["agents"][a] = {"reward": r[k], "gap_pct": gap_pct(bound, r[k])}
        rows.append(row)
    return rows


def bound_markdown(evs: Sequence) -> list[str]:
    """The per-day table, then which agents are within GOAL_PCT % of a proven bound."""
    rows = [r for ev in evs for r in bound_rows(ev)]
    if not rows:
        return []
    agents = [a for a in STRONG if any(a in r["agents"] for r in rows)]
    out = [
        "| scenario | test day | bound | proven optimal | MILP objective of its plan | its plan in the environment "
        "| start: MILP objective / environment | "
        + " | ".join(f"{a}: reward (gap)" for a in agents)
        + " | seconds (rounds) |",
        "|---" * (8 + len(agents)) + "|",
    ]
    for r in rows:
        start = "none"
        if r.get("start"):
            start = f"{_fmt(r.get('start_objective'))} / {_fmt(r.get('start_reward'))} ({r['start']})"
        cells = [
            r["scenario"],
            str(r["day"]),
            _fmt(r.get("bound")),
            "yes" if r.get("optimal") else "no",
            _fmt(r.get("objective")),
            _fmt(r.get("plan_reward")),
            start,
        ]
        for a in agents:
            g = r["agents"].get(a)
            cells.append(f"{g['reward']:.3f} ({g['gap_pct']:.1f} %)" if g else "-")
        cells.append(f"{r['seconds']:.0f} ({r.get('rounds', 1)})")
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    for a in agents:
        gaps = [(r["scenario"], r["day"], r["agents"][a]["gap_pct"]) for r in rows if a in r["agents"]]
        within = [g for g in gaps if g[2] <= GOAL_PCT]
        above = [g for g in gaps if g[2] < 0]
        line = (
            f"- {a}: within {GOAL_PCT:.0f} % of the bound on {len(within)} of {len(gaps)} days "
            f"(gap {min(g[2] for g in gaps):.1f} to {max(g[2] for g in gaps):.1f} %)"
        )
        if above:
            line += "; **above the bound** on " + ", ".join(f"{s} day {d} ({-g:.1f} %)" for s, d, g in above)
        out.append(line)
    return out
