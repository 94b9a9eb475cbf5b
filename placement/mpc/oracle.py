"""A privileged teacher: `mpc` that sees the true rates of the rest of the day.

It scores a candidate placement `p` at step t as

    V(p) = r_t(p | previous)  +  sum over s > t of  r_s(p | p)

where r_s uses the day's *actual* rates and deadlines of step s (mpc uses step t's
for every s: its persistence forecast). The day's traffic is generated, so these
rates exist while training; a deployed agent never has them. It is therefore a
teacher for imitation only: `srem run/eval --agent mpc-oracle` is refused
(`placement/agents.py`), and every table that shows it labels it privileged.

The search (starts, sweeps, candidate pruning, budget) is `mpc`'s, unchanged;
only the value differs. Future steps are routed on the link load of step t
(as `mpc` does), so the forecast is exact in rates and deadlines, not in routing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from placement.model.simulate import DayRun
from placement.model.step import evaluate
from placement.model.workload import Day
from placement.mpc.agent import MpcAgent, kept_rewards


@dataclass
class OracleMpcAgent(MpcAgent):
    horizon: int = 0  # future steps seen (0: the rest of the day)
    name: str = "mpc-oracle"

    def value(self, run: DayRun, p: np.ndarray) -> float:
        return lookahead_value(run, run.day, p, self.horizon, self.beta)

    def rest(self, run: DayRun, p: np.ndarray, now: np.ndarray, util: np.ndarray, kept=None) -> np.ndarray:
        return lookahead_rest(run, run.day, p, now, util, self.horizon, self.beta, kept)


def lookahead_value(run: DayRun, future: Day, p: np.ndarray, horizon: int, beta: float = 1.0) -> float:
    """Reward of moving to p now (the state's own step) plus keeping p for the rest of
    the day, the next `horizon` steps (0: all) scored on `future`'s rates and deadlines
    and the steps beyond the horizon repeating the last one scored (persistence)."""
    now = evaluate(run.problem, run.day, run.t, p, run.placement, run.arc_util)
    if not now.feasible:
        return -np.inf
    T = run.day.n_steps
    last = T if horizon <= 0 else min(T, run.t + 1 + horizon)
    if run.t + 1 >= last:
        return now.reward
    util = now.arc_load / run.problem.sub.arc_bw
    rest = T - last
    v = now.reward
    for s in range(run.t + 1, last):
        kept = evaluate(run.problem, future, s, p, p, util)
        v += beta * kept.reward * (1 + (rest if s == last - 1 else 0))
    return v


def lookahead_rest(
    run: DayRun,
    future: Day,
    p: np.ndarray,
    now: np.ndarray,
    util: np.ndarray,
    horizon: int,
    beta: float = 1.0,
    kept=None,
) -> np.ndarray:
    """`lookahead_value` of feasible placements p [K, I], batched, given the reward of
    moving to them now and the utilisation that leaves [K, A]. The kept placements are
    routed once: every future step is scored on the same routes, as `evaluate` routes them.
    `kept(day, s)`: the kept placements' reward at step s (default: routed and scored)."""
    T = run.day.n_steps
    last = T if horizon <= 0 else min(T, run.t + 1 + horizon)
    if run.t + 1 >= last:
        return now
    rest = T - last
    kept = kept or kept_rewards(run, p, util)
    v = now
    for s in range(run.t + 1, last):
        v = v + beta * kept(future, s) * (1 + (rest if s == last - 1 else 0))
    return v
