"""Results of runs and evaluations: JSON records, tables, PNG plots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .simulate import StepRecord

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
)


def records_json(records: Sequence[StepRecord]) -> list[dict]:
    return [{k: getattr(r, k) for k in KEYS} for r in records]


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def write_csv(path: Path, by_agent: dict[str, list[dict]]) -> None:
    """One row per agent and hour, the figures in KEYS order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(("agent", *KEYS))]
    for name, rows in by_agent.items():
        lines += [",".join((name, *(f"{r[k]:.6g}" for k in KEYS))) for r in rows]
    path.write_text("\n".join(lines) + "\n")


def write_markdown(path: Path, by_agent: dict[str, list[dict]], title: str) -> None:
    """Per-hour tables (agents x hours) of the figures a reader compares first."""
    hours = [int(r["hour"]) for r in next(iter(by_agent.values()))]
    out = [f"# {title}", ""]
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
            out.append(f"| {name} | " + " | ".join(fmt.format(r[key]) for r in rows) + " |")
        out.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out))


def mean_by_hour(days: Sequence[Sequence[StepRecord]]) -> list[dict]:
    """Average every figure over days, per hour."""
    return [
        {k: float(np.mean([getattr(day[t], k) for day in days])) for k in KEYS} for t in range(len(days[0]))
    ]


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
    for (key, label), a in zip(panels, ax, strict=True):
        for name, rows in by_agent.items():
            a.plot([r["hour"] for r in rows], [r[key] for r in rows], marker="o", label=name)
        a.set(title=label, xlabel="hour")
    ax[0].set_ylim(0, 1.05)
    ax[0].legend()
    _save(plt, fig, path, title)
