"""`srem mfg eval`: every method on seeded request sets; Fig. 3, Fig. 4, decision time, gaps.

Writes results.json, results.md (every table) and the figures into one folder. Request
sets use seeds FIRST_SEED.. (1000 on); the agent trained on request seeds drawn from its
own stream and on generated scenarios of 4–8 nodes (seeds 1000+), and its decision
settings were chosen on request seeds 0–5, so none of these instances was seen before.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import Progress

from . import baselines as B
from . import delay as D
from . import milp
from .scenario import Scenario, load, sample_requests
from .train import MeanFieldActorCritic, decide

METHODS = ("mfg-ac", "ga", "greedy", "random", "optimum")
FIRST_SEED = 1000
# The paper's Fig. 4, as its text reports it (ms, about flat over packet size)
PAPER_FIG4 = {"ga": (250.0, 250.0, 375.0), "mfg-rl": (200.0, 200.0, 225.0)}
SIZE_BINS = np.linspace(0.1, 2.0, 6)


@dataclass
class Outcome:
    method: str
    seed: int
    placement: list[int]
    seconds: float
    total_ms: float
    feasible: bool
    sfc_ms_per_mb: list[float]
    timeouts: float  # share of requests over their T_out
    bound: float | None = None
    proven: bool | None = None
    found: bool | None = None


def placers(net: MeanFieldActorCritic, milp_limit: float) -> dict[str, Callable]:
    """method -> f(model, volumes, seed) returning (placement, extra)."""

    def opt(m, vol, seed):
        o = milp.solve(m, vol, milp_limit)
        # no placement from HiGHS in time: greedy's stands in, and the tables say how often
        x = o.placement if o.placement is not None else B.greedy(m, vol)
        return x, {"bound": o.bound, "proven": o.proven, "found": o.placement is not None}

    return {
        "mfg-ac": lambda m, vol, seed: (decide(net, m, vol, seed), {}),
        "ga": lambda m, vol, seed: (B.genetic(m, vol, seed), {}),
        "greedy": lambda m, vol, seed: (B.greedy(m, vol), {}),
        "random": lambda m, vol, seed: (B.random_placement(m, vol, seed), {}),
        "optimum": opt,
    }


def run(
    s: Scenario, net, seeds: list[int], methods: tuple[str, ...], milp_limit: float, progress=None, task=None
):
    m = D.compile_model(s)
    fns = placers(net, milp_limit)
    out: list[Outcome] = []
    for seed in seeds:
        req = sample_requests(s, seed)
        vol = req.volumes(m.n_sfcs)
        for name in methods:
            t0 = time.perf_counter()
            x, extra = fns[name](m, vol, seed)
            secs = time.perf_counter() - t0
            d = D.request_delays(m, x, req)
            out.append(
                Outcome(
                    name,
                    seed,
                    [int(v) for v in x],
                    secs,
                    D.total_delay(m, x, vol),
                    D.feasible(m, x),
                    D.sfc_ms_per_mb(m, x).tolist(),
                    float((d > req.timeout).mean()) if len(d) else 0.0,
                    **extra,
                )
            )
            if progress is not None:
                progress.advance(task)
    return out


def _se(a) -> float:
    a = np.asarray(a, dtype=float)
    return float(a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else 0.0


def fig4_table(s: Scenario, rows: list[Outcome]) -> dict:
    """method -> SFC -> size bin -> (mean, se) of the mean E2E delay of that bin's requests over seeds."""
    m = D.compile_model(s)
    res: dict = {}
    for meth in dict.fromkeys(r.method for r in rows):
        res[meth] = {}
        for k, f in enumerate(s.sfcs):
            per_bin = [[] for _ in range(len(SIZE_BINS) - 1)]
            allm = []
            for r in (r for r in rows if r.method == meth):
                req = sample_requests(s, r.seed)
                d = D.request_delays(m, np.array(r.placement), req)
                sel = req.sfc == k
                allm.append(d[sel].mean())
                b = np.clip(np.digitize(req.size_mb[sel], SIZE_BINS) - 1, 0, len(per_bin) - 1)
                for i in range(len(per_bin)):
                    if (b == i).any():
                        per_bin[i].append(d[sel][b == i].mean())
            res[meth][f.name] = {
                "bins": [(float(np.mean(v)), _se(v)) for v in per_bin],
                "all": (float(np.mean(allm)), _se(allm)),
            }
    return res


def gap_table(rows: list[Outcome]) -> dict:
    """method -> mean/se of total delay, gap to the optimum (or to its bound where not proven)."""
    opt = {r.seed: r for r in rows if r.method == "optimum"}
    best: dict[int, float] = {}  # best placement any method found, per request set
    for r in rows:
        if r.feasible:
            best[r.seed] = min(best.get(r.seed, np.inf), r.total_ms)
    res = {}
    for meth in dict.fromkeys(r.method for r in rows):
        rs = [r for r in rows if r.method == meth]
        gaps = [
            (r.total_ms - opt[r.seed].bound) / opt[r.seed].bound
            for r in rs
            if r.seed in opt and opt[r.seed].bound > 0
        ]
        res[meth] = {
            "total_ms": (float(np.mean([r.total_ms for r in rs])), _se([r.total_ms for r in rs])),
            "gap": (float(np.mean(gaps)), _se(gaps)) if gaps else None,
            "gap_best": (
                float(np.mean([(r.total_ms - best[r.seed]) / best[r.seed] for r in rs])),
                _se([(r.total_ms - best[r.seed]) / best[r.seed] for r in rs]),
            ),
            "feasible": sum(r.feasible for r in rs),
            "n": len(rs),
            "seconds": (float(np.mean([r.seconds for r in rs])), _se([r.seconds for r in rs])),
            "timeouts": float(np.mean([r.timeouts for r in rs])),
            "proven": sum(bool(opt[r.seed].proven) for r in rs if r.seed in opt),
            "found": sum(bool(opt[r.seed].found) for r in rs if r.seed in opt),
        }
    return res


# ---------------------------------------------------------------- figures


def plot_fig4(s: Scenario, f4: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mids = (SIZE_BINS[:-1] + SIZE_BINS[1:]) / 2
    fig, axes = plt.subplots(1, len(s.sfcs[:3]), figsize=(13, 3.8), sharey=True)
    for k, ax in enumerate(np.atleast_1d(axes)):
        name = s.sfcs[k].name
        for meth, per in f4.items():
            mu = np.array([b[0] for b in per[name]["bins"]])
            se = np.array([b[1] for b in per[name]["bins"]])
            ax.errorbar(mids, mu, yerr=se, marker="o", ms=3, capsize=2, label=meth)
        for lab, vals, ls in (
            ("paper GA", PAPER_FIG4["ga"], "--"),
            ("paper MFG-RL", PAPER_FIG4["mfg-rl"], ":"),
        ):
            ax.axhline(vals[k], color="k", ls=ls, lw=1, label=f"{lab} (reported, ~{vals[k]:.0f} ms)")
        ax.set_title(f"{name} {{{', '.join(s.vnfs[j].name.split('-')[-1] for j in s.sfcs[k].vnfs)}}}")
        ax.set_xlabel("packet size (MB)")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("mean E2E delay (ms), ± SE over request sets")
    np.atleast_1d(axes)[-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_fig3(history: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = np.array(history["reward"])
    ep = np.array(history["episode"])
    w = max(1, len(r) // 40)
    fig, ax = plt.subplots(figsize=(7, 4))
    for j, name in enumerate(history["agents"]):
        sm = np.convolve(r[:, j], np.ones(w) / w, mode="valid")
        ax.plot(ep[w - 1 :], sm, label=name)
    ax.set_xlabel("training episode")
    ax.set_ylabel("mean reward per step")
    ax.text(0.01, 0.01, f"moving average over {w} paper-case episodes", transform=ax.transAxes, fontsize=7)
    ax.set_title("Reward per VNF on the paper's case (Fig. 3)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_scaling(scale: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    names = list(scale)
    for meth in METHODS:
        pts = [(scale[n]["vnfs"], scale[n]["methods"][meth]) for n in names if meth in scale[n]["methods"]]
        if not pts:
            continue
        x = [p[0] for p in pts]
        axes[0].errorbar(x, [p[1]["seconds"][0] for p in pts], yerr=[p[1]["seconds"][1] for p in pts],
                         marker="o", capsize=2, label=meth)  # fmt: skip
        line = axes[1].plot(x, [p[1]["rel"] for p in pts], marker="o", label=meth)[0]
        bad = [(p[0], p[1]["rel"]) for p in pts if p[1]["feasible"] < p[1]["n"]]
        if bad:  # some placements do not fit the nodes: circled in black
            axes[1].scatter(*zip(*bad, strict=True), s=120, facecolors="none", edgecolors="k", zorder=3)
            line.set_label(f"{meth} (circled: not all placements fit)")
    axes[0].set_yscale("log")
    axes[0].set_xscale("log")
    axes[1].set_xscale("log")
    for ax in axes:
        ax.set_xlabel(
            "VNFs (" + ", ".join(f"{scale[n]['vnfs']} on {scale[n]['nodes']} nodes" for n in names) + ")"
        )
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("decision time (s), ± SE")
    axes[1].set_ylabel("total delay / greedy's")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- the command


def evaluate(
    net: MeanFieldActorCritic, history: dict | None, out: Path, seeds: int = 20, quick: bool = False,
    milp_limit: float = 20.0, scales: tuple[str, ...] = ("paper", "mec-10", "mec-30", "mec-100"),
    gap_scenarios: tuple[str, ...] = ("paper", "mec-10"),
) -> dict:  # fmt: skip
    """Runs everything; returns and writes the results. `quick` cuts mec-10 to 5 request sets,
    the scaling runs to 2 and caps the MILP at 5 s."""
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    if quick:
        milp_limit = min(milp_limit, 5.0)
    paper = load("paper")
    results: dict = {
        "seeds": seeds,
        "quick": quick,
        "milp_time_limit_s": milp_limit,
        "gap": {},
        "scaling": {},
    }
    gap_runs = [
        (n, [FIRST_SEED + i for i in range(seeds if n == "paper" or not quick else min(seeds, 5))])
        for n in gap_scenarios
    ]
    scale_seeds = [FIRST_SEED + i for i in range(2 if quick else 3)]
    total = sum(len(sd) * len(METHODS) for _, sd in gap_runs)
    total += sum(len(scale_seeds) * (len(METHODS) - (0 if sc in gap_scenarios else 1)) for sc in scales)
    with Progress(transient=True) as prog:
        task = prog.add_task("mfg eval", total=total)
        for name, sd in gap_runs:
            s = load(name)
            rows = run(s, net, sd, METHODS, milp_limit, prog, task)
            results["gap"][name] = {"table": gap_table(rows), "rows": [r.__dict__ for r in rows]}
            if name == "paper":
                results["fig4"] = fig4_table(s, rows)
                plot_fig4(s, results["fig4"], out / "fig4_delay_vs_size.png")
        for name in scales:
            s = load(name)
            meths = METHODS if name in gap_scenarios else tuple(m for m in METHODS if m != "optimum")
            rows = run(s, net, scale_seeds, meths, milp_limit, prog, task)
            g = {r.seed: r.total_ms for r in rows if r.method == "greedy"}
            results["scaling"][name] = {
                "nodes": len(s.nodes), "vnfs": len(s.vnfs), "sfcs": len(s.sfcs),
                "methods": {
                    meth: {
                        "seconds": (float(np.mean([r.seconds for r in rows if r.method == meth])),
                                    _se([r.seconds for r in rows if r.method == meth])),
                        "rel": float(np.mean([r.total_ms / g[r.seed] for r in rows if r.method == meth])),
                        "feasible": sum(r.feasible for r in rows if r.method == meth),
                        "n": sum(r.method == meth for r in rows),
                    }
                    for meth in meths
                },
            }  # fmt: skip
        plot_scaling(results["scaling"], out / "decision_time.png")
    if history:
        plot_fig3(history, out / "fig3_reward.png")
        results["training"] = {"episodes": int(history["episode"][-1]) + 1 if history["episode"] else 0}
    results["seconds"] = time.perf_counter() - t0
    (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    (out / "results.md").write_text(markdown(results, paper))
    return results


def _pm(t) -> str:
    return f"{t[0]:,.1f} ± {t[1]:,.1f}"


def markdown(res: dict, paper: Scenario) -> str:
    q = " --quick" if res["quick"] else ""
    lines = [
        "# srem mfg: results",
        "",
        f"Made by `srem mfg eval{q}` in {res['seconds']:.0f} s on the machine that ran it "
        f"({res['seeds']} request sets on the paper's case; MILP time limit {res['milp_time_limit_s']:g} s).",
        f"Request sets use seeds {FIRST_SEED}..; the agent was trained on other request seeds and other "
        "scenarios, and its decision settings were chosen on request seeds 0–5.",
        "",
        "## Fig. 4: mean E2E delay per SFC (ms, mean ± SE over request sets)",
        "",
        "![fig4](fig4_delay_vs_size.png)",
        "",
    ]
    f4 = res["fig4"]
    head = "| method | " + " | ".join(f.name for f in paper.sfcs) + " |"
    lines += [head, "|" + " --- |" * (len(paper.sfcs) + 1)]
    for meth, per in f4.items():
        lines.append(f"| {meth} | " + " | ".join(_pm(per[f.name]["all"]) for f in paper.sfcs) + " |")
    for lab, vals in (
        ("paper's GA (reported)", PAPER_FIG4["ga"]),
        ("paper's MFG-RL (reported)", PAPER_FIG4["mfg-rl"]),
    ):
        lines.append(f"| {lab} | " + " | ".join(f"≈ {v:.0f}" for v in vals) + " |")
    lines += ["", "Per packet-size bin (MB):", ""]
    bins = [f"{a:.2f}–{b:.2f}" for a, b in itertools.pairwise(SIZE_BINS)]
    lines += ["| SFC | method | " + " | ".join(bins) + " |", "|" + " --- |" * (len(bins) + 2)]
    for f in paper.sfcs:
        for meth, per in f4.items():
            lines.append(f"| {f.name} | {meth} | " + " | ".join(_pm(b) for b in per[f.name]["bins"]) + " |")
    for name, g in res["gap"].items():
        t = g["table"]
        n_opt = t["optimum"]["n"]
        proven = t["optimum"]["proven"]
        lines += [
            "",
            f"## Gap to the optimum: `{name}` ({n_opt} request sets; optimum proven on {proven} of {n_opt}, "
            f"a HiGHS placement found on {t['optimum']['found']} of {n_opt})",
            "",
            "Gap = (method's total delay − optimum) / optimum; where HiGHS did not prove the optimum "
            "in time, against its lower bound (so the gap is an upper bound of the true gap), and the "
            "`optimum` row is then only HiGHS's best placement at the time limit. 'vs best' compares with the "
            "best placement any method found for the same request set.",
            "",
            "| method | total delay (ms) | gap to optimum/bound | vs best | placements that fit | "
            "requests over timeout | decision time (s) |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for meth, r in t.items():
            gap = f"{100 * r['gap'][0]:.1f} % ± {100 * r['gap'][1]:.1f}" if r["gap"] else "–"
            gb = f"{100 * r['gap_best'][0]:.1f} % ± {100 * r['gap_best'][1]:.1f}"
            lines.append(
                f"| {meth} | {_pm(r['total_ms'])} | {gap} | {gb} | {r['feasible']}/{r['n']} | "
                f"{100 * r['timeouts']:.1f} % | {r['seconds'][0]:.4f} ± {r['seconds'][1]:.4f} |"
            )
    lines += [
        "",
        "## Decision time against nodes and VNFs",
        "",
        "![scaling](decision_time.png)",
        "",
        "| scenario | nodes | VNFs | SFCs | method | decision time (s) | total delay / greedy's | fit |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, sc in res["scaling"].items():
        for meth, r in sc["methods"].items():
            lines.append(
                f"| {name} | {sc['nodes']} | {sc['vnfs']} | {sc['sfcs']} | {meth} | "
                f"{r['seconds'][0]:.4f} ± {r['seconds'][1]:.4f} | {r['rel']:.3f} | {r['feasible']}/{r['n']} |"
            )
    lines += [
        "",
        "The optimum (HiGHS) runs only where its model is small enough to build (paper, mec-10); "
        "elsewhere it is left out, not estimated.",
    ]
    if "training" in res:
        lines += ["", "## Fig. 3: reward per VNF during training", "", "![fig3](fig3_reward.png)", ""]
    return "\n".join(lines) + "\n"
