"""`srem migrate eval`: the paper's Figs. 4–7 as figures and tables, every method on the same
seeded instances, means ± standard errors, the optimum's bound and gap, the paper's numbers beside.

* Fig. 4, scale-out: 10 instances, 4 / 6 / 8 overloaded, Th_high 55 % and 60 %: J (migration
  cost + R·ΔN + overload penalty) per method.
* Fig. 5, scale-in: 50 instances, 5 / 10 / 15 underloaded, Th_low 10 % and 15 %: J (R·ΔN < 0 is
  the instances saved).
* Fig. 6, load balancing: 10–40 instances (and 100, 200: one policy for every size): variance
  ratio var_before / var_after, and J.
* Fig. 7, decision time against instance count (load balancing, `flows` flows per instance).

Evaluation instances use seeds 10⁹ + k; training draws its seeds at random below 2³⁰, so
the policy was not tuned on them.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from rich.progress import Progress

from migration import baselines, milp, workload
from migration.agent import deepmigration, load_model
from migration.gnn import MigrationGN
from migration.model import Move, Problem
from migration.outcome import evaluate

EVAL_SEED = 1_000_000_000
METHODS = ("deepmigration", "ofm", "size-greedy", "pairwise", "random", "optimal")
LABEL = {"deepmigration": "DeepMigration", "ofm": "OFM", "size-greedy": "size-greedy", "pairwise": "pairwise",
         "random": "random", "optimal": "optimal (MILP)"}  # fmt: skip

# The paper's published figures (text of Sec. VI.C; the plots themselves give no other numbers).
PAPER = {
    "scale-out": "Th_high 60 %: DeepMigration 2.2×10⁵ vs OFM 6.0×10⁵ migration cost (63.3 % less)",
    "scale-in": "DeepMigration close to optimal; DeepMigration and OFM far better than random (no numbers given)",
    "balance": {10: {"deepmigration": 2.23, "ofm": 1.63, "pairwise": 1.02, "optimal": 2.75},
                20: {"deepmigration": 2.42, "ofm": 1.76, "pairwise": 1.21, "optimal": 2.82},
                30: {"deepmigration": 2.87, "ofm": 2.15, "pairwise": 1.22, "optimal": 3.21},
                40: {"deepmigration": 3.36, "ofm": 2.32, "pairwise": 1.23, "optimal": 3.57}},
    "time_ms": {"deepmigration": {10: 24, 40: 49}, "note": "at 40 instances DeepMigration takes 28.4 % of OFM's time "
                "and 41 % of pairwise's; from 10 to 40 instances DeepMigration +104 %, pairwise +277 %, OFM +312 %"},
}  # fmt: skip


@dataclass
class Settings:
    instances: int = 20  # seeded instances per configuration
    flows: int = 40  # flows per instance (on average)
    time_limit: float = 10.0  # MILP seconds per instance
    balance_sizes: tuple[int, ...] = (10, 20, 30, 40, 100, 200)
    milp_max_size: int = 40  # no optimum above this many instances (the MILP would not finish)
    time_sizes: tuple[int, ...] = (10, 20, 40, 100, 200)
    time_repeats: int = 3
    quick: bool = False

    @classmethod
    def quick_settings(cls) -> Settings:
        return cls(
            instances=20, flows=20, time_limit=2.0, balance_sizes=(10, 20, 30, 40, 100, 200), quick=True
        )


@dataclass
class Row:
    figure: str
    config: str
    x: float
    method: str
    seed: int
    total: float
    migration: float
    resource: float
    overload: float
    ratio: float
    moves: int
    sla: int
    ms: float
    extra: dict = field(default_factory=dict)


def _methods(model: MigrationGN, time_limit: float) -> dict[str, Callable[[Problem], list[Move]]]:
    return {
        "deepmigration": lambda p: deepmigration(p, model),
        "ofm": lambda p: baselines.ofm(p, time_limit),
        "size-greedy": baselines.size_greedy,
        "pairwise": baselines.pairwise,
        "random": lambda p: baselines.random_plan(p, seed=p.seed or 0),
    }


def run_instance(p: Problem, figure: str, config: str, x: float, model: MigrationGN, st: Settings,
                 with_optimum: bool = True) -> list[Row]:  # fmt: skip
    rows = []
    opt = None
    for name, fn in _methods(model, st.time_limit).items():
        if name == "ofm" and p.scenario == "scale-in" and with_optimum:
            opt = milp.solve(p, st.time_limit)  # OFM solves scale-in exactly: the same solve serves both
            moves, ms = opt.moves, opt.seconds * 1e3
        else:
            t0 = time.perf_counter()
            moves = fn(p)
            ms = (time.perf_counter() - t0) * 1e3
        o = evaluate(p, moves)
        rows.append(Row(figure, config, x, name, p.seed or 0, o.total, o.migration, o.resource, o.overload,
                        o.ratio, o.moves, o.sla_violations, ms))  # fmt: skip
    if with_optimum:
        opt = opt or milp.solve(p, st.time_limit)
        o = evaluate(p, opt.moves)
        rows.append(Row(figure, config, x, "optimal", p.seed or 0, o.total, o.migration, o.resource, o.overload,
                        o.ratio, o.moves, o.sla_violations, opt.seconds * 1e3,
                        {"bound": opt.bound, "proven": opt.proven, "gap": opt.gap}))  # fmt: skip
    return rows


def run(st: Settings, model: MigrationGN | None = None, progress: bool = True) -> list[Row]:
    model = model or load_model()
    jobs: list[tuple[str, str, float, Callable[[int], Problem], bool]] = []
    for th in (0.55, 0.6):
        for k in (4, 6, 8):
            jobs.append(("scale-out", f"Th_high {th:.0%}, {k} overloaded", k,
                         lambda s, k=k, th=th: workload.scale_out(10, k, th, st.flows, s), True))  # fmt: skip
    for tl in (0.1, 0.15):
        for k in (5, 10, 15):
            jobs.append(("scale-in", f"Th_low {tl:.0%}, {k} underloaded", k,
                         lambda s, k=k, tl=tl: workload.scale_in(50, k, tl, st.flows, s), True))  # fmt: skip
    for n in st.balance_sizes:
        jobs.append(("balance", f"{n} instances", n, lambda s, n=n: workload.balance(n, st.flows, s),
                     n <= st.milp_max_size))  # fmt: skip
    rows: list[Row] = []
    total = len(jobs) * st.instances + len(st.time_sizes) * st.time_repeats
    with Progress(disable=not progress) as bar:
        task = bar.add_task("migration eval", total=total)
        for fig, config, x, make, with_opt in jobs:
            for k in range(st.instances):
                p = make(EVAL_SEED + k)
                rows += run_instance(p, fig, config, x, model, st, with_opt)
                bar.advance(task)
        for n in st.time_sizes:  # Fig. 7: decision time, 40 flows per instance as in the paper
            for k in range(st.time_repeats):
                p = workload.balance(n, 40, EVAL_SEED + 500 + k)
                for name, fn in _methods(model, st.time_limit).items():
                    t0 = time.perf_counter()
                    fn(p)
                    rows.append(Row("time", f"{n} instances", n, name, p.seed or 0, math.nan, math.nan, math.nan,
                                    math.nan, math.nan, 0, 0, (time.perf_counter() - t0) * 1e3))  # fmt: skip
                bar.advance(task)
    return rows


# ---- tables and figures -------------------------------------------------------------------------------
def _stats(values: list[float]) -> tuple[float, float]:
    a = np.array([v for v in values if np.isfinite(v)], dtype=float)
    if not len(a):
        return math.nan, math.nan
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else 0.0


def summarise(rows: list[Row]) -> dict:
    out: dict = {}
    for r in rows:
        out.setdefault(r.figure, {}).setdefault(r.config, {"x": r.x}).setdefault(r.method, []).append(r)
    summary: dict = {}
    for fig, configs in out.items():
        summary[fig] = {}
        for config, by in configs.items():
            x = by.pop("x")
            entry = {"x": x}
            for m, rs in by.items():
                e = {
                    k: _stats([getattr(r, k) for r in rs])
                    for k in ("total", "migration", "resource", "ratio", "ms")
                }
                e["n"] = len(rs)
                if m == "optimal":
                    e["proven"] = sum(bool(r.extra.get("proven")) for r in rs)
                    e["gap"] = _stats([r.extra["gap"] for r in rs])
                    e["bound"] = _stats([r.extra["bound"] for r in rs])
                entry[m] = e
            summary[fig][config] = entry
    return summary


def _fmt(ms: tuple[float, float], digits: int = 1) -> str:
    m, s = ms
    return "–" if not np.isfinite(m) else f"{m:.{digits}f} ± {s:.{digits}f}"


def tables(summary: dict, st: Settings, seconds: float, command: str) -> str:
    lines = [
        "# Flow migration: every method on the same instances",
        "",
        f"Generated by `{command}` in {seconds / 60:.1f} min on this machine ({st.instances} seeded instances per "
        f"configuration, {st.flows} flows per instance on average, MILP time limit {st.time_limit:g} s). "
        "Means ± standard errors over instances. J = migration cost + R·ΔN + overload penalty "
        "(+ the balance term in load balancing); lower is better. `optimal` is the MILP's plan; "
        "'proven' counts the instances where HiGHS proved it optimal, the gap is (J − bound)/|J| elsewhere.",
        "",
    ]
    for fig, metric, title in (("scale-out", "total", "Fig. 4 — scale-out: J"), ("scale-in", "total", "Fig. 5 — scale-in: J"),
                               ("balance", "ratio", "Fig. 6 — load balancing: variance ratio (higher is better)"),
                               ("balance", "total", "Fig. 6b — load balancing: J")):  # fmt: skip
        if fig not in summary:
            continue
        lines += [f"## {title}", "", "| configuration | " + " | ".join(LABEL[m] for m in METHODS) + " | optimum proven / gap |",
                  "|---" * (len(METHODS) + 2) + "|"]  # fmt: skip
        for config, e in summary[fig].items():
            cells = [_fmt(e[m][metric], 2 if metric == "ratio" else 1) if m in e else "–" for m in METHODS]
            o = e.get("optimal")
            proof = f"{o['proven']}/{o['n']}, gap {100 * o['gap'][0]:.2f} %" if o else "not run (too large)"
            lines.append(f"| {config} | " + " | ".join(cells) + f" | {proof} |")
        lines.append("")
    if "time" in summary:
        lines += ["## Fig. 7 — decision time (ms, load balancing, 40 flows per instance)", "",
                  "| instances | " + " | ".join(LABEL[m] for m in METHODS[:-1]) + " |", "|---" * len(METHODS) + "|"]  # fmt: skip
        for e in summary["time"].values():
            lines.append(f"| {int(e['x'])} | " + " | ".join(_fmt(e[m]["ms"], 1) for m in METHODS[:-1]) + " |")
        lines.append("")
    lines += ["## The paper's published figures", "", f"- scale-out: {PAPER['scale-out']}", f"- scale-in: {PAPER['scale-in']}",
              "- load balancing, variance ratio (DeepMigration / OFM / pairwise / optimal): "
              + "; ".join(f"{n}: {v['deepmigration']} / {v['ofm']} / {v['pairwise']} / {v['optimal']}"
                          for n, v in PAPER["balance"].items()),
              f"- decision time: DeepMigration 24 ms at 10 instances, 49 ms at 40; {PAPER['time_ms']['note']}", ""]  # fmt: skip
    return "\n".join(lines)


def figures(summary: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    specs = [("scale-out", "total", "fig4_scale_out.png", "J (lower is better)"),
             ("scale-in", "total", "fig5_scale_in.png", "J (lower is better)"),
             ("balance", "ratio", "fig6_balance.png", "variance ratio (higher is better)"),
             ("time", "ms", "fig7_time.png", "decision time (ms)")]  # fmt: skip
    for fig, metric, name, ylabel in specs:
        if fig not in summary:
            continue
        configs = list(summary[fig])
        methods = [m for m in METHODS if any(m in summary[fig][c] for c in configs)]
        f, ax = plt.subplots(figsize=(max(6, 1.3 * len(configs)), 3.6))
        if fig == "time":
            for m in methods:
                xs = [summary[fig][c]["x"] for c in configs]
                ys = [summary[fig][c][m][metric] for c in configs]
                ax.errorbar(
                    xs, [y[0] for y in ys], yerr=[y[1] for y in ys], marker="o", label=LABEL[m], capsize=3
                )
            ax.plot([10, 40], [24, 49], "k--", marker="x", label="DeepMigration (paper)")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("instances")
        else:
            w = 0.8 / len(methods)
            for k, m in enumerate(methods):
                ys = [summary[fig][c].get(m, {}).get(metric, (math.nan, math.nan)) for c in configs]
                ax.bar(np.arange(len(configs)) + k * w, [y[0] for y in ys], w, yerr=[y[1] for y in ys],
                       label=LABEL[m], capsize=2)  # fmt: skip
            if fig == "balance":
                for k, m in enumerate(methods):
                    xs = [i + k * w for i, c in enumerate(configs) if int(summary[fig][c]["x"]) in PAPER["balance"]
                          and m in PAPER["balance"][10]]  # fmt: skip
                    ys = [PAPER["balance"][int(summary[fig][c]["x"])][m] for c in configs
                          if int(summary[fig][c]["x"]) in PAPER["balance"] and m in PAPER["balance"][10]]  # fmt: skip
                    ax.scatter(xs, ys, marker="_", s=200, color="k", zorder=5,
                               label="paper" if k == 0 else None)  # fmt: skip
                ax.set_yscale("log")
            ax.set_xticks(np.arange(len(configs)) + 0.4 - w / 2)
            ax.set_xticklabels(configs, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7, ncol=2)
        ax.set_title(f"{fig}: means ± SE")
        f.tight_layout()
        path = out / name
        f.savefig(path, dpi=110)
        plt.close(f)
        paths.append(path)
    return paths


def write(rows: list[Row], st: Settings, out: Path, seconds: float, command: str) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(rows)
    (out / "results.md").write_text(tables(summary, st, seconds, command))
    (out / "results.json").write_text(json.dumps({"settings": asdict(st), "seconds": seconds, "command": command,
                                                  "summary": summary}, indent=1, default=float))  # fmt: skip
    figures(summary, out)
    return summary
