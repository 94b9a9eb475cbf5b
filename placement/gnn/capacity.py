"""docs/agent21/capacity.md: decision time of policies of several sizes, and the
table of their frontier runs.

    python -m placement.gnn.capacity speed --policy A.pt --policy B.pt ...   # ratios to A
    python -m placement.gnn.capacity table --ref gnn.json LABEL=frontier.json ...
    python -m placement.gnn.capacity fit --data runs/X/data.pkl --size 3x64x2 --size 3x128x2 ...

`speed` times every policy's decision (`GnnAgent.decide`, encoding and filters included)
on the same states: the states `mpc` visits on the paper tree's test days (`seed:41`, a
validation scenario), each state timed for every policy in turn, so the machine's load
falls on all alike; the median and its ratio to the first policy's.

`table` reads `python -m placement.mpc.frontier --row ...` JSONs (their per-day rewards)
and prints each policy's rows minus `mpc` (mean ± SE over the days), its "gnn alone" minus
the reference file's, paired per day, and per variant (label `VARIANT/sN`) the mean of its
seeds with their SD.

`fit` asks whether a policy's size limits how well it fits the teacher at all: each size
is trained, with the soft value loss, on the same fixed states (a training run's
`data.pkl`: its first 16 iterations; no DAgger), and scored on those and on the last 4:
loss, agreement with the teacher, and the regret of its best host (reward per step).
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


def target_entropy(samples: list, tau: float) -> float:
    """Mean over (state, instance) of the soft target's entropy: the soft loss's floor."""
    import math

    from placement.gnn.train import regrets

    out = []
    for s in samples:
        logt = torch.log_softmax((-regrets(s) / tau).masked_fill(~s.allowed, -math.inf), dim=1)
        out.extend((-(logt.exp() * logt.masked_fill(~s.allowed, 0.0)).sum(1)).tolist())
    return float(np.mean(out))


def fit_sizes(data_path: Path, sizes: list[str], updates: int, seed: int = 0, lr: float = 2e-3) -> str:
    import pickle
    import random

    from placement.gnn.policy import GnnConfig, GnnPolicy
    from placement.gnn.train import TrainConfig, agreement, fit, loss_and_agreement, mean_regret

    torch.set_num_threads(1)
    data = pickle.loads(data_path.read_bytes())
    cut = len(data) * 4 // 5  # stored in collection order: the last fifth is the last 4 iterations
    train_s, val_s = data[:cut], data[cut:]
    cfg = TrainConfig(value_loss="soft", value_tau=0.02, seed=seed, lr=lr)

    def loss(pol: GnnPolicy, ss: list) -> float:
        with torch.no_grad():
            return float(np.mean([loss_and_agreement(pol, s, cfg.value_loss, cfg.value_weight, cfg.value_tau)[0].item()
                                  for s in ss]))  # fmt: skip

    lines = [
        "| size (layers × hidden × heads) | weights | train loss | train agree | train regret | "
        "other days' loss | agree | regret | s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        layers, hidden, heads = (int(x) for x in size.split("x"))
        torch.manual_seed(seed)
        pol = GnnPolicy(GnnConfig(hidden=hidden, layers=layers, heads=heads))
        t0 = time.perf_counter()
        fit(pol, torch.optim.Adam(pol.parameters(), lr=cfg.lr), train_s, updates, random.Random(seed), cfg)
        secs = time.perf_counter() - t0
        n = sum(t.numel() for t in pol.parameters())
        cells = [
            f"{loss(pol, ss):.3f} | {agreement(pol, ss):.3f} | {mean_regret(pol, ss):.4f}"
            for ss in (train_s, val_s)
        ]
        lines.append(f"| {layers} × {hidden} × {heads} | {n:,} | {cells[0]} | {cells[1]} | {secs:.0f} |")
    floor = [target_entropy(ss, cfg.value_tau) for ss in (train_s, val_s)]
    note = f"The soft loss can go no lower than its targets' own entropy: {floor[0]:.3f} / {floor[1]:.3f}. "
    note += f"{len(train_s)} training states, {len(val_s)} other, from {data_path}; {updates} updates, lr {cfg.lr}."
    return "\n".join(lines) + "\n\n" + note


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("speed")
    sp.add_argument("--policy", type=Path, action="append", required=True)
    sp.add_argument("--repeats", type=int, default=3)
    tp = sub.add_parser("table")
    tp.add_argument("--ref", type=Path, required=True, help="the reference policy's frontier JSON")
    tp.add_argument("runs", nargs="+", help="LABEL=frontier.json (LABEL as VARIANT/sN)")
    fp = sub.add_parser("fit")
    fp.add_argument("--data", type=Path, required=True, help="a training run's data.pkl (value-labelled)")
    fp.add_argument("--size", action="append", required=True, help="LAYERSxHIDDENxHEADS, e.g. 3x64x2")
    fp.add_argument("--updates", type=int, default=3000)
    fp.add_argument("--lr", type=float, default=2e-3, help="Adam's step (training's is 2e-3)")
    a = ap.parse_args(argv)
    if a.cmd == "speed":
        print(speed(a.policy, a.repeats))
    elif a.cmd == "table":
        print(table(a.ref, a.runs))
    else:
        print(fit_sizes(a.data, a.size, a.updates, lr=a.lr))


if __name__ == "__main__":
    main()
