"""Results of runs and evaluations: JSON records, tables, PNG plots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from placement.model.simulate import StepRecord

# The figures of a step, in table and file order (issue 2's results.json keys).
KEYS = (
    "hour",
    "acceptance_ratio",
    "cost_it",
    "cost_bw",
    "cost_rc",
    "cost_total",
    "on_server",
    "on_lm",
    "on_em",
    "decision_ms",
    "reward",
)
# Per-hour figures that also get a standard error over days (suffix `_se`).
SE_KEYS = ("acceptance_ratio", "cost_total", "reward")
# Whole-day figures of the summary table: (key, label, format).
DAY_KEYS = (
    ("day_reward", "day reward", "{:.3f}"),
    ("ar_working", "AR working hours", "{:.3f}"),
    ("ar_evening", "AR evening", "{:.3f}"),
    ("cost_day", "cost per day", "{:.3f}"),
    ("decision_ms", "decision ms", "{:.2f}"),
)


def records_json(records: Sequence[StepRecord]) -> list[dict]:
    return [{k: getattr(r, k) for k in KEYS} for r in records]


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def write_csv(path: Path, by_agent: dict[str, list[dict]]) -> None:
    """One row per agent and hour, the figures in KEYS order, then the standard errors."""
    path.parent.mkdir(parents=True, exist_ok=True)
    se = [f"{k}_se" for k in SE_KEYS]
    lines = [",".join(("agent", *KEYS, *se))]
    for name, rows in by_agent.items():
        lines += [",".join((name, *(f"{r.get(k, float('nan')):.6g}" for k in (*KEYS, *se)))) for r in rows]
    path.write_text("\n".join(lines) + "\n")


def _mean_se(x: Sequence[float]) -> dict:
    a = np.asarray(x, dtype=float)
    se = float(a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else float("nan")
    return {"mean": float(a.mean()), "se": se, "n": len(a)}


def day_figures(day: Sequence[StepRecord], working_until: int) -> dict[str, float]:
    """One day's whole-day figures: summed reward and cost, acceptance by phase."""
    work = [r.acceptance_ratio for r in day if r.hour < working_until]
    eve = [r.acceptance_ratio for r in day if r.hour >= working_until]
    return {
        "day_reward": float(sum(r.reward for r in day)),
        "ar_working": float(np.mean(work)) if work else float("nan"),
        "ar_evening": float(np.mean(eve)) if eve else float("nan"),
        "cost_day": float(sum(r.cost_total for r in day)),
        "decision_ms": float(np.mean([r.decision_ms for r in day])),
    }


def summarise(days: Sequence[Sequence[StepRecord]], working_until: int) -> dict[str, dict]:
    """Mean and standard error over days of every whole-day figure."""
    per_day = [day_figures(d, working_until) for d in days]
    return {k: _mean_se([f[k] for f in per_day]) for k, _, _ in DAY_KEYS}


def summary_markdown(
    summary: dict[str, dict[str, dict]], notes: dict[str, str] | None = None, gaps: dict | None = None
) -> list[str]:
    """Agents x whole-day figures, `mean ± standard error (n days)`; with `gaps`, the
    gap of each agent's day reward to the day MILP's bound."""
    extra = [f"gap to day bound ({next(iter(gaps.values()))['n']} days)"] if gaps else []
    out = ["| agent | days | " + " | ".join([lbl for _, lbl, _ in DAY_KEYS] + extra) + " |"]
    out.append("|---" * (len(DAY_KEYS) + 2 + len(extra)) + "|")
    for name, figs in summary.items():
        n = next(iter(figs.values()))["n"]
        cells = []
        for k, _, fmt in DAY_KEYS:
            m, se = figs[k]["mean"], figs[k]["se"]
            cells.append(fmt.format(m) + ("" if np.isnan(se) else " ± " + fmt.format(se)))
        if gaps:
            g = gaps.get(name)
            cells.append(f"{g['mean']:.3f} ± {g['se']:.3f}" if g else "-")
        out.append(f"| {name} | {n} | " + " | ".join(cells) + " |")
    for name, note in (notes or {}).items():
        out += ["", f"- {name}: {note}"]
    return out


def write_markdown(
    path: Path,
    by_agent: dict[str, list[dict]],
    title: str,
    summary: dict[str, dict[str, dict]] | None = None,
    notes: dict[str, str] | None = None,
    gaps: dict | None = None,
) -> None:
    """The whole-day summary (with standard errors), then per-hour tables (agents x hours)."""
    hours = [int(r["hour"]) for r in next(iter(by_agent.values()))]
    out = [f"# {title}", ""]
    if summary:
        out += [
            "## Whole day (mean ± standard error over days)",
            "",
            *summary_markdown(summary, notes, gaps),
            "",
        ]
    for key, label, fmt in (
        ("acceptance_ratio", "Acceptance ratio", "{:.3f}"),
        ("cost_total", "Total cost", "{:.3f}"),
        ("on_server", "Instances on servers", "{:.1f}"),
        ("on_lm", "Instances in LM", "{:.1f}"),
        ("on_em", "Instances in EM", "{:.1f}"),
        ("decision_ms", "Decision time (ms)", "{:.2f}"),
    ):
        out += [f"## {label}", "", "| agent | " + " | ".join(f"{h:02d}:00" for h in hours) + " |"]
        out.append("|---" * (len(hours) + 1) + "|")
        for name, rows in by_agent.items():
            cells = [
                fmt.format(r[key]) + (f" ± {fmt.format(r[key + '_se'])}" if key + "_se" in r else "")
                for r in rows
            ]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out))


def mean_by_hour(days: Sequence[Sequence[StepRecord]]) -> list[dict]:
    """Average every figure over days, per hour; SE_KEYS also get their standard error."""
    out = []
    for t in range(len(days[0])):
        row = {k: float(np.mean([getattr(day[t], k) for day in days])) for k in KEYS}
        for k in SE_KEYS:
            if len(days) > 1:
                row[f"{k}_se"] = _mean_se([getattr(day[t], k) for day in days])["se"]
        out.append(row)
    return out


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path, title: str) -> None:
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_day(records: Sequence[dict], path: Path, title: str) -> None:
    """Acceptance, cost split and host usage per hour of one day."""
    plt = _plt()
    hours = [r["hour"] for r in records]
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
    ax[0].plot(hours, [r["acceptance_ratio"] for r in records], marker="o")
    ax[0].set(title="acceptance ratio", xlabel="hour", ylim=(0, 1.05))
    bottom = np.zeros(len(hours))
    for key in ("cost_it", "cost_bw", "cost_rc"):
        vals = np.array([r[key] for r in records])
        ax[1].bar(hours, vals, bottom=bottom, label=key[5:].upper(), width=1.2)
        bottom += vals
    ax[1].set(title="cost", xlabel="hour")
    ax[1].legend()
    for key in ("on_server", "on_lm", "on_em"):
        ax[2].plot(hours, [r[key] for r in records], marker="o", label=key[3:].upper())
    ax[2].set(title="instances hosted", xlabel="hour")
    ax[2].legend()
    _save(plt, fig, path, title)


def plot_comparison(by_agent: dict[str, list[dict]], path: Path, title: str) -> None:
    """The paper's Fig. 6 layout: acceptance, total cost, and server/LM/EM use per hour."""
    plt = _plt()
    panels = [
        ("acceptance_ratio", "acceptance ratio"),
        ("cost_total", "total cost"),
        ("on_server", "instances on servers"),
        ("on_lm", "instances in LM"),
        ("on_em", "instances in EM"),
    ]
    fig, ax = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.6))
    # Up to 20 agents, each its own colour (the default cycle repeats after 10); the MILPs,
    # which ran on fewer days, dashed.
    colours = plt.get_cmap("tab20").colors
    for (key, label), a in zip(panels, ax, strict=True):
        for k, (name, rows) in enumerate(by_agent.items()):
            style = "--" if name.startswith("milp") else "-"
            a.plot([r["hour"] for r in rows], [r[key] for r in rows], style, marker="o", label=name,
                   color=colours[(2 * k) % 20 + (2 * k) // 20 % 2])  # fmt: skip
        a.set(title=label, xlabel="hour")
    ax[0].set_ylim(0, 1.05)
    ax[0].legend()
    _save(plt, fig, path, title)
