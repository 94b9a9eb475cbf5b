"""The paper's Fig. 5: reward per episode of the four filter settings, and when
each converges. (Fig. 6 is `srem eval`: results.plot_comparison.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from placement.dqn.network import FILTERS, DqnConfig
from placement.dqn.train import train
from placement.model.workload import Problem


def moving_average(x: list[float], window: int) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if len(a) < window:
        return np.array([a.mean()]) if len(a) else a
    c = np.cumsum(np.r_[0.0, a])
    return (c[window:] - c[:-window]) / window


def episodes_to_converge(rewards: list[float], window: int = 200, share: float = 0.95) -> int | None:
    """First episode at which the moving average reaches `share` of the gap between
    its start and its final plateau (mean of the last window); None if never."""
    ma = moving_average(rewards, window)
    if len(ma) < 2:
        return None
    start, final = ma[0], ma[-1]
    if final <= start:
        return None
    hit = np.flatnonzero(ma >= start + share * (final - start))
    return int(hit[0] + window) if len(hit) else None


def episodes_to_reach(rewards: list[float], level: float, window: int = 200) -> int | None:
    """First episode at which the moving average reaches `level` (a level common to
    all settings compares their speed fairly; a run's own plateau does not)."""
    ma = moving_average(rewards, window)
    hit = np.flatnonzero(ma >= level)
    return int(hit[0] + window) if len(hit) else None


def convergence(
    problem: Problem,
    episodes: int,
    seed: int = 0,
    filters: tuple[str, ...] = FILTERS,
    base: DqnConfig | None = None,
    on_episode: Callable[[str], None] | None = None,
) -> dict[str, list[float]]:
    """Train one agent per filter setting, same seed, same days; reward per episode."""
    base = base or DqnConfig()
    out = {}
    for f in filters:
        cfg = DqnConfig(**{**base.__dict__, "filter": f})
        cb = (lambda st, total, f=f: on_episode(f)) if on_episode else None
        out[f] = train(problem, cfg, episodes, seed, on_episode=cb).episode_rewards
    return out


def plot_convergence(curves: dict[str, list[float]], path: Path, title: str, window: int = 200) -> None:
    from placement.evaluation.results import _plt, _save

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    styles = ["-", "--", ":", "-."]  # identical curves (dynamic = hybrid here) stay visible
    for k, (name, r) in enumerate(curves.items()):
        ma = moving_average(r, window)
        ax.plot(
            np.arange(len(ma)) + window,
            ma,
            styles[k % len(styles)],
            label=name,
            linewidth=2 if k % 2 else 1.5,
        )
    ax.set(xlabel="episode", ylabel=f"reward per episode (moving mean of {window})")
    ax.legend()
    _save(plt, fig, path, title)
