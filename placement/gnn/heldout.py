"""docs/agent21.md's held-out table, from `srem figures` / `srem eval` outputs.

    python -m placement.gnn.heldout results/agent21/heldout/*/eval.json

One row per (scenario, agent): mean day reward ± SE over the test days, the
per-day difference to `mpc` (paired: every agent plays the same days; mean ± SE
and that mean in SEs), and the mean decision time with its ratio to `mpc`'s and
greedy's in the same run.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path


def paired(a: list[float], b: list[float]) -> tuple[float, float]:
    d = [x - y for x, y in zip(a, b, strict=True)]
    m = sum(d) / len(d)
    se = math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1) / len(d)) if len(d) > 1 else math.nan
    return m, se


def rows(ev: dict) -> list[str]:
    summ, days = ev["summary"], ev["day_rewards"]
    ms = {a: s["decision_ms"]["mean"] for a, s in summ.items()}
    out = []
    for agent, s in summ.items():
        r = s["day_reward"]
        if agent == "mpc" or "mpc" not in days:
            diff = "—"
        else:
            m, se = paired(days[agent], days["mpc"])
            diff = f"{m:+.3f} ± {se:.3f} ({m / se:+.1f} SE)" if se > 0 else f"{m:+.3f}"
        vs = lambda b, a=agent: f"{ms[a] / ms[b]:.2f}×" if b in ms else "-"
        out.append(f"| {ev['scenario']} | {agent} | {r['n']} | {r['mean']:.3f} ± {r['se']:.3f} | {diff} | "
                   f"{ms[agent]:.1f} | {vs('mpc')} | {vs('greedy')} |")  # fmt: skip
    return out


def main(paths: list[str]) -> None:
    print("| scenario | agent | days | day reward (mean ± SE) | minus mpc, paired | decision ms (mean) "
          "| vs mpc | vs greedy |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for p in paths:
        print("\n".join(rows(json.loads(Path(p).read_text()))))


if __name__ == "__main__":
    main(sys.argv[1:])
