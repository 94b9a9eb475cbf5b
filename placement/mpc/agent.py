"""A model-predictive placement agent: local search on the step model, with a
persistence forecast of the rest of the day.

At every step it scores a candidate placement `p` as

    V(p) = r_t(p | previous)  +  beta * (T - t - 1) * r_t(p | p)

the reward of the step when moving to `p` now (reconfiguration delay and cost
included), plus the reward of keeping `p` for every remaining step under the
step's own traffic (the persistence forecast: it knows no future rates, only
that a placement kept costs no further moves). A move that loses requests now
but pays off for the rest of the day is taken; one whose delay or cost is never
paid back is not. Both terms come from `step.evaluate`, the same model every
agent is scored by, on the state the agent sees (placement, link load, the
step's rates and deadlines, as greedy and LAG see them).

Search: start from the best of holding the current placement, greedy's and
LAG's answers; then move one instance at a time to the host that most improves
V (only hosts whose storage holds it), sweeping until no move improves or the
sweep budget is spent. Deterministic; no training, so nothing depends on a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from placement.baselines.heuristics import GreedyAgent, LagAgent
from placement.model.simulate import DayRun
from placement.model.step import evaluate


@dataclass
class MpcAgent:
    beta: float = 1.0  # weight of the persistence forecast (1: each remaining step counts fully)
    sweeps: int = 2
    name: str = "mpc"

    def value(self, run: DayRun, p: np.ndarray) -> float:
        now = evaluate(run.problem, run.day, run.t, p, run.placement, run.arc_util)
        if not now.feasible:
            return -np.inf
        left = run.day.n_steps - run.t - 1
        if left == 0 or self.beta == 0.0:
            return now.reward
        util = now.arc_load / run.problem.sub.arc_bw
        kept = evaluate(run.problem, run.day, run.t, p, p, util)
        return now.reward + self.beta * left * kept.reward

    def decide(self, run: DayRun) -> np.ndarray:
        starts = [run.placement.copy(), GreedyAgent().decide(run), LagAgent().decide(run)]
        scored = [(self.value(run, p), k) for k, p in enumerate(starts)]
        best_v, k = max(scored)
        best = starts[k].copy()
        order = np.argsort(-run.demand(), kind="stable")
        for _ in range(self.sweeps):
            improved = False
            for i in order:
                hosts = np.flatnonzero(run.mask(best)[i])
                cur = best[i]
                for h in hosts:
                    if h == cur:
                        continue
                    best[i] = h
                    v = self.value(run, best)
                    if v > best_v + 1e-12:
                        best_v, cur, improved = v, h, True
                best[i] = cur
            if not improved:
                break
        return best
