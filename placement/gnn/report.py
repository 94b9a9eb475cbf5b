"""The held-out comparison table of docs/gnn.md, from `srem eval` outputs.

    python -m placement.gnn.report results/gnn-eval/*/eval.json

First, per scenario, gnn's per-day difference to mpc, greedy and LAG (paired).\nThen one row per (scenario, agent): mean day reward ± standard error over the test
days, the per-day difference to the best agent (mean ± SE, paired: every agent plays
the same test days), and
the mean decision time with its ratio to greedy's in the same run.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path


def _paired(a: list[float], b: list[float]) -> str:
    """Mean ± SE of the per-day difference a - b (the same test days for every agent)."""
    d = [x - y for x, y in zip(a, b, strict=True)]
    m = sum(d) / len(d)
    se = math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1) / len(d)) if len(d) > 1 else math.nan
    return f"{m:+.3f} ± {se:.3f}"


def rows(path: Path) -> list[str]:
    ev = json.loads(path.read_text())
    summ = ev["summary"]
    best = max(summ, key=lambda a: summ[a]["day_reward"]["mean"])
    days = ev["day_rewards"]
    g = summ.get("greedy", {}).get("decision_ms", {}).get("mean")
    out = []
    for agent, s in summ.items():
        r, ms = s["day_reward"], s["decision_ms"]["mean"]
        gap = "best" if agent == best else _paired(days[agent], days[best])
        ratio = f"{ms / g:.1f}×" if g else "-"
        out.append(f"| {ev['scenario']} | {agent} | {r['n']} | {r['mean']:.3f} ± {r['se']:.3f} | {gap} | "
                   f"{ms:.1f} | {ratio} |")  # fmt: skip
    return out


def main(paths: list[str]) -> None:
    evs = [json.loads(Path(p).read_text()) for p in paths]
    print("| scenario | gnn minus mpc | gnn minus greedy | gnn minus lag |")
    print("|---|---|---|---|")
    for ev in evs:
        d = ev["day_rewards"]
        if "gnn" in d:
            cells = [_paired(d["gnn"], d[a]) if a in d else "-" for a in ("mpc", "greedy", "lag")]
            print(f"| {ev['scenario']} | " + " | ".join(cells) + " |")
    print()
    print(
        "| scenario | agent | days | day reward (mean ± SE) | minus best, paired | decision ms (mean) | vs greedy |"
    )
    print("|---|---|---|---|---|---|---|")
    for p in paths:
        print("\n".join(rows(Path(p))))


if __name__ == "__main__":
    main(sys.argv[1:])
