"""`srem predict simulate`: run every agent x policy x day, then the table, plot and page.

Writes docs/prediction/simulate.md (the page), simulate.png and simulate.json.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .policy import Policy
from .sim_config import SimConfig
from .simulate import PolicyDay, World, make_world, reference_day, run_policy_day


@dataclass(frozen=True)
class Cell:
    """One agent x policy over the days: mean and standard error of each figure."""

    agent: str
    policy: str
    lost: tuple[float, float]  # acceptance against the same day without failures, percentage points
    down_lost: tuple[float, float]  # requests dropped by failed servers, percentage points
    ar: tuple[float, float]
    migrations: tuple[float, float]  # per day
    wasted: tuple[float, float]
    early: tuple[float, float]
    failures_hit: tuple[float, float]


def _ms(x: list[float]) -> tuple[float, float]:
    a = np.asarray(x, dtype=float)
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else 0.0


def simulate(cfg: SimConfig, problem, library, predictor, progress: Callable[[str], None] | None = None):
    """Every (agent, policy, day) and every agent's day without failures; the raw records."""
    policies = [Policy.parse(p) for p in cfg.policies]
    rows: list[PolicyDay] = []
    refs: list[PolicyDay] = []
    worlds: list[World] = []
    for d in range(cfg.days):
        day = problem.day("test", d)
        world = make_world(problem, cfg, d, library, predictor)
        worlds.append(world)
        for agent in cfg.agents:
            refs.append(reference_day(problem, day, agent, cfg, world))
            for pol in policies:
                rows.append(run_policy_day(problem, day, agent, pol, world, cfg))
            if progress:
                progress(f"day {d} {agent}")
    return rows, refs, worlds


def cells(cfg: SimConfig, rows: list[PolicyDay], refs: list[PolicyDay]) -> list[Cell]:
    ref = {(r.agent, r.day): r.ar for r in refs}
    out = []
    for agent in cfg.agents:
        for pol in cfg.policies:
            rs = [r for r in rows if r.agent == agent and r.policy == pol]
            out.append(
                Cell(
                    agent,
                    pol,
                    _ms([100.0 * (ref[(agent, r.day)] - r.ar) for r in rs]),
                    _ms([100.0 * r.down_lost for r in rs]),
                    _ms([r.ar for r in rs]),
                    _ms([r.migrations for r in rs]),
                    _ms([r.wasted for r in rs]),
                    _ms([r.early for r in rs]),
                    _ms([r.failures_hit for r in rs]),
                )
            )
    return out


def _f(x: tuple[float, float], digits: int = 2) -> str:
    return f"{x[0]:.{digits}f} ± {x[1]:.{digits}f}"


def markdown(cfg: SimConfig, cs: list[Cell], refs: list[PolicyDay]) -> str:
    lines = [
        "| agent | policy | dropped by failed servers (pp) | net loss vs no failure (pp) | acceptance "
        "| moves / day | wasted / day | early / day | failures met / day |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for agent in cfg.agents:
        ar = _ms([r.ar for r in refs if r.agent == agent])
        lines.append(f"| {agent} | (no failure) | 0 | 0 | {_f(ar, 4)} | | | | |")
        for c in cs:
            if c.agent == agent:
                lines.append(
                    f"| {agent} | {c.policy} | {_f(c.down_lost)} | {_f(c.lost)} | {_f(c.ar, 4)} | {_f(c.migrations, 1)} | "
                    f"{_f(c.wasted, 1)} | {_f(c.early, 1)} | {_f(c.failures_hit, 1)} |"
                )
    return "\n".join(lines)


def plot(cfg: SimConfig, cs: list[Cell], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    width = 0.8 / len(cfg.agents)
    x = np.arange(len(cfg.policies))
    for ax, field_, label in (
        (axes[0], "down_lost", "dropped by failed servers (pp)"),
        (axes[1], "lost", "net loss vs the day without failures (pp)"),
    ):
        for j, agent in enumerate(cfg.agents):
            c = [
                getattr(next(c for c in cs if c.agent == agent and c.policy == p), field_)
                for p in cfg.policies
            ]
            ax.bar(x + (j - (len(cfg.agents) - 1) / 2) * width, [v[0] for v in c], width,
                   yerr=[v[1] for v in c], capsize=3, label=agent)  # fmt: skip
        ax.set_xticks(x, cfg.policies, rotation=20)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_ylabel(label)
    axes[0].legend()
    fig.suptitle(f"{cfg.scenario} scenario under server failures: {cfg.days} test days, mean ± SE over days")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _versus(a: tuple[float, float], b: tuple[float, float]) -> tuple[str, float, float]:
    diff, se = a[0] - b[0], math.hypot(a[1], b[1])
    word = "more than" if diff > 2 * se else "less than" if diff < -2 * se else "level with"
    return word, diff, se


def verdicts(cfg: SimConfig, cs: list[Cell]) -> list[str]:
    """Plain sentences: which policy loses least per agent, and where proactive loses to reactive."""
    out = []
    for agent in cfg.agents:
        mine = {c.policy: c for c in cs if c.agent == agent}
        real = {p: c for p, c in mine.items() if p != "oracle"}
        best = min(real.values(), key=lambda c: c.down_lost[0])
        line = (
            f"{agent}: failed servers drop the fewest requests under {best.policy} ({_f(best.down_lost)} pp; "
            f"net {_f(best.lost)} pp against the day without failures)"
        )
        if "oracle" in mine:
            o = mine["oracle"]
            line += f"; the oracle: {_f(o.down_lost)} pp dropped, net {_f(o.lost)} pp"
        out.append(line)
        if "reactive" in mine:
            r = mine["reactive"]
            for p, c in mine.items():
                if p.startswith("proactive"):
                    w1, d1, s1 = _versus(c.down_lost, r.down_lost)
                    w2, d2, s2 = _versus(c.lost, r.lost)
                    out.append(
                        f"{agent}: {p} drops {w1} reactive ({d1:+.2f} pp, SE {s1:.2f}), net loss {w2} reactive "
                        f"({d2:+.2f} pp, SE {s2:.2f}), {c.migrations[0]:.1f} moves a day of which "
                        f"{c.wasted[0]:.1f} wasted (reactive: {r.migrations[0]:.1f})"
                    )
    return out


def write(cfg: SimConfig, rows, refs, worlds, out: Path, command: str, took: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    cs = cells(cfg, rows, refs)
    plot(cfg, cs, out / "simulate.png")
    n_fail = [sum(len(f) for f in w.schedule) for w in worlds]
    down_share = float(np.mean([w.down.mean() for w in worlds]))
    alarm = {t: float(np.mean([(w.scores >= t).mean() for w in worlds])) for t in (0.5, 0.7, 0.9)}
    (out / "simulate.json").write_text(
        json.dumps(
            {
                "config": cfg.as_dict(),
                "command": command,
                "took": took,
                "cells": [c.__dict__ for c in cs],
                "days": [r.as_dict() for r in rows],
                "no_failure": [r.as_dict() for r in refs],
                "failures_per_day": n_fail,
            },
            indent=1,
        )
        + "\n"
    )
    page = out / "simulate.md"
    page.write_text(
        PAGE.format(
            command=command,
            took=took,
            days=cfg.days,
            days_1=cfg.days - 1,
            rate=cfg.failures_per_server_day,
            fails=np.mean(n_fail),
            servers=worlds[0].down.shape[0],
            down=100 * down_share,
            a5=100 * alarm[0.5],
            a7=100 * alarm[0.7],
            a9=100 * alarm[0.9],
            detect=cfg.detect_intervals,
            move=cfg.move_intervals,
            interval=cfg.interval_s,
            scenario=cfg.scenario,
            per_step=worlds[0].down.shape[1] // len(rows[0].ar_steps),
            model=cfg.model,
            agents=", ".join(cfg.agents),
            table=markdown(cfg, cs, refs),
            verdicts="\n".join(f"- {v}" for v in verdicts(cfg, cs)),
        )
    )
    return page


PAGE = """# Failure policies in the simulator (`srem predict simulate`)

Written by `{command}` ({took}); do not edit by hand.

The SR-EM scenario `{scenario}` (`placement/`), test days 0..{days_1}, agents {agents}, with server
failures. Two measures, in percentage points of the day's requests: **dropped by failed
servers**, the requests the placement in force would serve but that pass through an
instance on a failed server (what the failures cost directly), and **net loss**, the day's
acceptance without failures (same agent, same day) minus its acceptance under failures,
which also counts what the policy's moves change: a move chosen by the step model's
expected reward can place an instance better than the agent did, so the net loss can be
negative. Every figure is the mean ± standard error over the {days} days (each day has its
own traffic and failures).

**Time.** Each step is cut into monitoring intervals of {interval:g} s ({per_step:,} per step). The
agent places at each step's start, as in `srem run`; the failure policy acts at any interval.
A seen failure needs {detect} intervals down (the analyzer's raise_after); a move takes {move}
intervals. While a server is failed, every request through an instance on it is lost. A
move's reconfiguration delay counts while it is under way, not for the whole step.

**Failures.** Per server, a renewal process: {rate:g} failures per day on average (a choice: the
data set's own rate, a failure every two minutes or so, is an injection experiment's), each
lasting 30-100 intervals (95 %) or 500-2,000 (5 %), the data set's injector periods. Here
{fails:.0f} failures a day over {servers} servers, {down:.1f} % of server-time down. Only servers fail
(switch memories do not).

**What the predictor sees.** Each server's monitor replays records of the data set's **test
part** (the last 20 %, never trained on): before each simulated failure, the real records
that led up to a real test failure, ending where the simulated one starts; during it, that
failure's records; elsewhere, test records that are neither failed nor within 12 intervals
of a failure start, in contiguous runs from random offsets. The shipped `{model}` LSTM scores
the window ending at every interval; a proactive policy acts on the score of the previous
interval. Its scores were >= 0.5 in {a5:.2f} % of server-intervals, >= 0.7 in {a7:.2f} %, >= 0.9
in {a9:.2f} %.

**Columns.** moves: VNF moves the failure policy made (not the agent's); wasted: moves off a
server that did not fail within 60 intervals; early: moves that landed before the failure
that followed; failures met: intervals in which a server fell while holding an instance.

## Results

{verdicts}

{table}

![requests dropped and net loss per policy](simulate.png)
"""
