"""`srem migrate eval-loop`: the methods on problems the size of an orchestration loop's.

The loop (controller/orchestration/deepmigration.py) asks DeepMigration about one NF's few
instances (1-8 running, a few spare slots) with a few to a few dozen flows each, and
overloads that can be far past the threshold; the paper's evaluation (experiments.py) has
10-200 instances. This runs every method on held-out seeded problems of the loop's size,
with the loop's cost of an overload (ω = 5000 per unit of utilisation, so an overload the
analyzer raised costs more than starting an instance), and writes `loop.md` / `loop.json`:
J (mean ± SE), the instances left above Th_high, moves, decision time, the MILP's gap.

Two policies: the shipped one (trained on 8-30 instances) and the loop's fine-tune
(migration/models/deepmigration-loop.pt); `planner` is what the loop runs, the fine-tune
with the adapter's top-up in scale-out (`translator.top_up`: a source the policy leaves above
Th_high sheds more flows where they fit).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from rich.progress import Progress

from migration import baselines, milp, workload
from migration.agent import DEFAULT_MODEL, LOOP_MODEL, deepmigration, load_model
from migration.experiments import EVAL_SEED, _fmt, _stats
from migration.model import Move, Problem
from migration.outcome import evaluate
from migration.translator import top_up

OMEGA = 5000.0
METHODS = (
    "planner",
    "deepmigration-loop",
    "deepmigration",
    "ofm",
    "size-greedy",
    "pairwise",
    "random",
    "optimal",
)


@dataclass
class LoopRow:
    config: str
    method: str
    seed: int
    total: float
    overloaded_after: int
    added: int
    removed: int
    moves: int
    ms: float
    gap: float | None = None
    proven: bool | None = None


def configs(flows: int) -> list[tuple[str, Callable[[int], Problem]]]:
    """(label, problem from a seed): loop-sized scale-out, scale-in and balancing."""

    def so(n: int, k: int) -> Callable[[int], Problem]:
        return lambda s: workload.scale_out(n, k, 0.6, flows, s, over=(0.05, 0.5))

    out = [
        ("scale-out, 1 running, 1 over", so(1, 1)),
        ("scale-out, 2 running, 1 over", so(2, 1)),
        ("scale-out, 4 running, 2 over", so(4, 2)),
        ("scale-in, 3 running, 1 under", lambda s: workload.scale_in(3, 1, 0.1, flows, s)),
        ("scale-in, 6 running, 2 under", lambda s: workload.scale_in(6, 2, 0.1, flows, s)),
        ("balance, 2 running", lambda s: workload.balance(2, flows, s)),
        ("balance, 4 running", lambda s: workload.balance(4, flows, s)),
    ]
    return [(c, lambda s, m=m: _loop_costs(m(s))) for c, m in out]


def _loop_costs(p: Problem) -> Problem:
    return replace(p, costs=replace(p.costs, omega=OMEGA))


def run(instances: int = 20, flows: int = 8, time_limit: float = 2.0, progress: bool = True,
        seed_base: int = EVAL_SEED + 7000) -> list[LoopRow]:  # fmt: skip
    models = {"deepmigration-loop": load_model(LOOP_MODEL), "deepmigration": load_model(DEFAULT_MODEL)}
    methods: dict[str, Callable[[Problem], list[Move]]] = {
        "planner": lambda p: (
            top_up(p, deepmigration(p, models["deepmigration-loop"]))[0]
            if p.scenario == "scale-out"
            else deepmigration(p, models["deepmigration-loop"])
        ),
        **{name: (lambda p, m=m: deepmigration(p, m)) for name, m in models.items()},
        "ofm": lambda p: baselines.ofm(p, time_limit),
        "size-greedy": baselines.size_greedy,
        "pairwise": baselines.pairwise,
        "random": lambda p: baselines.random_plan(p, seed=p.seed or 0),
    }
    rows: list[LoopRow] = []
    cfgs = configs(flows)
    with Progress(disable=not progress) as bar:
        task = bar.add_task("loop-sized problems", total=len(cfgs) * instances)
        for label, make in cfgs:
            for k in range(instances):
                p = make(seed_base + k)  # held out: training draws seeds at random below 2³⁰
                for name, fn in methods.items():
                    t0 = time.perf_counter()
                    moves = fn(p)
                    rows.append(_row(label, name, p, moves, (time.perf_counter() - t0) * 1e3))
                opt = milp.solve(p, time_limit)
                rows.append(_row(label, "optimal", p, opt.moves, opt.seconds * 1e3, opt.gap, opt.proven))
                bar.advance(task)
    return rows


def _row(label: str, name: str, p: Problem, moves: list[Move], ms: float, gap=None, proven=None) -> LoopRow:
    o = evaluate(p, moves)
    return LoopRow(label, name, p.seed or 0, o.total, o.overloaded_after, o.added, o.removed, o.moves, ms,
                   gap, proven)  # fmt: skip


def table(rows: list[LoopRow]) -> str:
    labels = list(dict.fromkeys(r.config for r in rows))
    head = "| problem | " + " | ".join(METHODS) + " |\n|---|" + "---|" * len(METHODS)
    out = ["**J** (mean ± SE; lower is better), with the instances left above Th_high in brackets "
           "(mean per problem)", "", head]  # fmt: skip
    for c in labels:
        cells = []
        for m in METHODS:
            mine = [r for r in rows if r.config == c and r.method == m]
            cells.append(
                f"{_fmt(_stats([r.total for r in mine]))} [{np.mean([r.overloaded_after for r in mine]):.2f}]"
            )
        out.append(f"| {c} | " + " | ".join(cells) + " |")
    out += ["", "**Decision time**, ms (median)", "", head]
    for c in labels:
        cells = [f"{np.median([r.ms for r in rows if r.config == c and r.method == m]):.1f}" for m in METHODS]
        out.append(f"| {c} | " + " | ".join(cells) + " |")
    opt = [r for r in rows if r.method == "optimal"]
    proven = sum(bool(r.proven) for r in opt)
    gaps = [r.gap for r in opt if r.gap is not None and not r.proven]
    out += [
        "",
        f"The MILP proved {proven} of {len(opt)} optima"
        + (f"; largest gap otherwise {max(gaps):.1%}." if gaps else "."),
    ]
    return "\n".join(out)


def write(rows: list[LoopRow], out: Path, seconds: float, command: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "loop.json").write_text(json.dumps([asdict(r) for r in rows], indent=0))
    n = len({(r.config, r.seed) for r in rows}) // max(1, len({r.config for r in rows}))
    md = (f"# DeepMigration on loop-sized problems\n\n`{command}`: {seconds / 60:.1f} min, {n} held-out "
          f"problems per row, ω = {OMEGA:g}.\n\n{table(rows)}\n")  # fmt: skip
    path = out / "loop.md"
    path.write_text(md)
    return path
