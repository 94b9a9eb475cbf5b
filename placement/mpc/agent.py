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

On large substrates (more feasible hosts per instance than `max_candidates`, e.g.
the k=8 fat-tree's ~220) an instance is tried only on the hosts where its chains
already pass: the LM and EM of every switch its requests enter or leave by (source,
destination, the switches of the chain's other instances), the servers cabled to
those switches, the hosts the three starting answers give it, and the `cheap`
hosts of lowest storage price. And the search stops after `max_scored` candidate
placements (a count, not a clock, so that the answer stays deterministic). The
paper's tree (24 feasible hosts per instance) is searched in full as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from placement.baselines.heuristics import GreedyAgent, LagAgent
from placement.model.paths import hop_matrix
from placement.model.simulate import DayRun
from placement.model.step import evaluate


@dataclass
class MpcAgent:
    beta: float = 1.0  # weight of the persistence forecast (1: each remaining step counts fully)
    sweeps: int = 2
    max_candidates: int = 32  # feasible hosts per instance above which only nearby hosts are tried
    cheap: int = 4  # lowest-priced hosts always tried when pruning
    max_scored: int = 3000  # candidate placements scored per decision at most
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

    def starts(self, run: DayRun) -> list[np.ndarray]:
        """Where the search starts: holding, greedy's and LAG's answers (a subclass may add)."""
        return [run.placement.copy(), GreedyAgent().decide(run), LagAgent().decide(run)]

    def decide(self, run: DayRun) -> np.ndarray:
        starts = self.starts(run)
        scored = [(self.value(run, p), k) for k, p in enumerate(starts)]
        best_v, k = max(scored)
        best = starts[k].copy()
        order = np.argsort(-run.demand(), kind="stable")
        budget = self.max_scored
        for _ in range(self.sweeps):
            improved = False
            for i in order:
                hosts = self.candidates(run, best, int(i), starts)
                cur = best[i]
                for h in hosts:
                    if h == cur:
                        continue
                    if budget <= 0:
                        return best
                    budget -= 1
                    best[i] = h
                    v = self.value(run, best)
                    if v > best_v + 1e-12:
                        best_v, cur, improved = v, h, True
                best[i] = cur
            if not improved:
                break
        return best

    def candidates(self, run: DayRun, placement: np.ndarray, i: int, starts: list[np.ndarray]) -> np.ndarray:
        """Hosts instance i is tried on: every feasible one, or on large substrates the
        `max_candidates` nearest to where its requests come from and go to (see the
        module's docstring)."""
        hosts = np.flatnonzero(run.mask(placement)[i])
        if len(hosts) <= self.max_candidates:
            return hosts
        sub, day = run.problem.sub, run.day
        hops = hop_matrix(run.problem)
        r, k = np.nonzero(day.assign == i)
        node = sub.host_node[placement]
        walk = np.concatenate([day.src[:, None], np.where(day.assign >= 0, node[day.assign], day.dst[:, None]),
                               day.dst[:, None]], axis=1)  # fmt: skip
        prev, nxt = walk[r, k], walk[r, k + 2]
        rate = day.rate[run.t][r]
        where = sub.host_node[hosts]
        # Rate-weighted detour through each host: a proxy of the bandwidth and delay it costs.
        detour = (rate[:, None] * (hops[prev][:, where] + hops[where][:, nxt].T)).sum(0)
        keep = np.zeros(len(hosts), dtype=bool)
        keep[np.argsort(detour, kind="stable")[: self.max_candidates - self.cheap]] = True
        keep[np.argsort(sub.host_unit_cost[hosts], kind="stable")[: self.cheap]] = True
        keep |= np.isin(hosts, [int(p[i]) for p in starts])
        return hosts[keep]
