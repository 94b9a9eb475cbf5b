"""docs/agent21.md, "Policy capacity": decision time of policies of several sizes, and the
table of their frontier runs.

    python -m placement.gnn.capacity speed --policy A.pt --policy B.pt ...   # ratios to A
    python -m placement.gnn.capacity table --ref gnn.json LABEL=frontier.json ...

`speed` times every policy's decision (`GnnAgent.decide`, encoding and filters included)
on the same states: the states `mpc` visits on the paper tree's test days (`seed:41`, a
validation scenario), each state timed for every policy in turn, so the machine's load
falls on all alike; the median and its ratio to the first policy's.

`table` reads `python -m placement.mpc.frontier --row ...` JSONs (their per-day rewards)
and prints each policy's rows minus `mpc` (mean ± SE over the days), its "gnn alone" minus
the reference file's, paired per day, and per variant (label `VARIANT/sN`) the mean of its
seeds with their SD.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from placement.gnn.heldout import paired

ROWS = (
    ("gnn (policy alone)", "gnn alone"),
    ("steepest, top 1, no per-kind, no starts, 1 round", "top 1"),
    ("steepest, top 2, no per-kind, no starts, 1 round", "top 2"),
    ("steepest, top 3, no per-kind, no starts, 1 round", "top 3"),
    ("steepest, top 2, no starts, 1 round", "top 2 + per-kind"),
)


def states(spec: str = "seed:41", days: int = 2) -> list:
    """The states `mpc` visits on `days` test days of a validation scenario."""
    from placement.evaluation.figures import scenario_of
    from placement.model.simulate import DayRun
    from placement.model.workload import build_problem
    from placement.mpc.agent import MpcAgent

    p, mpc, out = build_problem(scenario_of(spec)), MpcAgent(), []
    for d in range(days):
        run = DayRun(p, p.day("test", d))
        while not run.done:
            out.append(copy.deepcopy(run))
            run.apply(mpc.decide(run))
    return out


def speed(paths: list[Path], repeats: int = 3) -> str:
    from placement.gnn.policy import GnnAgent, load

    torch.set_num_threads(1)
    agents = [GnnAgent(load(p)) for p in paths]
    runs = states()
    ms: list[list[float]] = [[] for _ in agents]
    for _ in range(repeats):
        for run in runs:
            for k, a in enumerate(agents):  # interleaved: the same load on every policy
                t0 = time.perf_counter()
                a.decide(run)
                ms[k].append(1000 * (time.perf_counter() - t0))
    base = float(np.median(ms[0]))
    lines = [
        "| policy | size (layers × hidden, heads) | weights | median ms | vs first |",
        "|---|---|---|---|---|",
    ]
    for p, a, m in zip(paths, agents, ms, strict=True):
        c, n = a.policy.cfg, sum(t.numel() for t in a.policy.parameters())
        med = float(np.median(m))
        lines.append(f"| {p} | {c.layers} × {c.hidden}, {c.heads} | {n:,} | {med:.2f} | {med / base:.2f}× |")
    return (
        "\n".join(lines) + f"\n\n{len(runs)} states (seed:41, 2 test days, mpc acting) × {repeats} repeats."
    )


def table(ref: Path, runs: list[str]) -> str:
    r0 = json.loads(ref.read_text())["day_rewards"]
    head = "| policy | " + " | ".join(s for _, s in ROWS) + " | alone minus ref, paired |"
    lines = [head, "|" + "---|" * (len(ROWS) + 2)]
    per: dict[str, list[list[float]]] = {}
    for label_path in [f"reference={ref}", *runs]:
        label, _, path = label_path.partition("=")
        d = json.loads(Path(path).read_text())["day_rewards"]
        cells, means = [], []
        for row, _ in ROWS:
            m, se = paired(d[row], d["mpc"]) if row in d else (float("nan"), float("nan"))
            cells.append(f"{m:+.3f} ± {se:.3f}")
            means.append(m)
        if label == "reference":
            vs = "—"
        else:
            assert d["mpc"] == r0["mpc"], f"{path}: not the reference's days"
            m, se = paired(d[ROWS[0][0]], r0[ROWS[0][0]])
            vs = f"{m:+.3f} ± {se:.3f}"
            per.setdefault(label.split("/")[0], []).append(means)
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {vs} |")
    for v, seeds in per.items():
        if len(seeds) > 1:
            cols = list(zip(*seeds, strict=True))
            cells = [f"{statistics.mean(c):+.3f} ({statistics.stdev(c):.3f})" for c in cols]
            lines.append(f"| **{v}: mean of {len(seeds)} seeds** (seed SD) | " + " | ".join(cells) + " | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("speed")
    sp.add_argument("--policy", type=Path, action="append", required=True)
    sp.add_argument("--repeats", type=int, default=3)
    tp = sub.add_parser("table")
    tp.add_argument("--ref", type=Path, required=True, help="the reference policy's frontier JSON")
    tp.add_argument("runs", nargs="+", help="LABEL=frontier.json (LABEL as VARIANT/sN)")
    a = ap.parse_args(argv)
    print(speed(a.policy, a.repeats) if a.cmd == "speed" else table(a.ref, a.runs))


if __name__ == "__main__":
    main()
