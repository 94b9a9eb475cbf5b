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

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from placement.baselines.heuristics import GreedyAgent, LagAgent
from placement.model import cost as C
from placement.model.paths import hop_matrix
from placement.model.simulate import DayRun
from placement.model.step import cost_reference, evaluate
from placement.model.workload import Day
from placement.mpc.batch import route, score, storage_ok


@dataclass
class MpcAgent:
    beta: float = 1.0  # weight of the persistence forecast (1: each remaining step counts fully)
    sweeps: int = 2
    max_candidates: int = 32  # feasible hosts per instance above which only nearby hosts are tried
    cheap: int = 4  # lowest-priced hosts always tried when pruning
    max_scored: int = 3000  # candidate placements scored per decision at most
    batched: bool = True  # score an instance's candidates as one batch (same answers, faster)
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

    def values(self, run: DayRun, placements: np.ndarray, floor: float = -np.inf) -> np.ndarray:
        """`value` of every row of `placements` [K, I], bit for bit, in one batch; except
        that a row whose value cannot exceed `floor` may come back as -inf.

        That bound spares the kept placement's routing and scoring: a kept step's reward is
        at most its acceptance at 1 and its cost at the storage cost alone (no bandwidth, no
        move), and each float operation of the value is monotone in it, so the value with
        that reward in its place is at least the value itself."""
        placements = np.asarray(placements, dtype=np.int64)
        out = np.full(len(placements), -np.inf)
        ok = storage_ok(run.problem, placements)
        if not ok.any():
            return out
        p = placements[ok]
        routed = route(run.problem, run.day, p, run.placement, run.arc_util)
        now = score(run.problem, run.day, run.t, routed)
        util = now.arc_load / run.problem.sub.arc_bw
        live = np.ones(len(p), dtype=bool)
        obj = run.problem.scenario.objective
        signs = (obj.omega_ar, obj.omega_cost, obj.alpha_it, obj.alpha_bw, obj.alpha_rc)
        if floor > -np.inf and min(signs) >= 0 and routed.fixed is not None:
            it = routed.fixed.it

            def best_kept(day: Day, s: int) -> np.ndarray:
                norm = C.total_cost(it, 0.0, 0.0, obj) / cost_reference(run.problem, day, s)
                return obj.omega_ar * 1.0 - obj.omega_cost * norm

            live = self.rest(run, p, now.reward, util, kept=best_kept) > floor
        if live.any():
            rows = np.flatnonzero(ok)
            out[rows[live]] = self.rest(run, p[live], now.reward[live], util[live])
        return out

    def rest(self, run: DayRun, p: np.ndarray, now: np.ndarray, util: np.ndarray, kept=None) -> np.ndarray:
        """Batched value of feasible placements p [K, I] given the reward of moving to them
        now and the link utilisation that leaves [K, A]: persistence, as `value`.
        `kept(day, s)`: the kept placements' reward at step s (default: routed and scored)."""
        left = run.day.n_steps - run.t - 1
        if left == 0 or self.beta == 0.0:
            return now
        kept = kept or kept_rewards(run, p, util)
        return now + self.beta * left * kept(run.day, run.t)

    def starts(self, run: DayRun) -> list[np.ndarray]:
        """Where the search starts: holding, greedy's and LAG's answers (a subclass may add)."""
        return [run.placement.copy(), GreedyAgent().decide(run), LagAgent().decide(run)]

    def decide(self, run: DayRun) -> np.ndarray:
        starts = self.starts(run)
        if self.batched:
            scored = list(zip(self.values(run, np.array(starts)).tolist(), range(len(starts)), strict=True))
        else:
            scored = [(self.value(run, p), k) for k, p in enumerate(starts)]
        best_v, k = max(scored)
        best = starts[k].copy()
        order = np.argsort(-run.demand(), kind="stable")
        if self.batched:
            known = {p.tobytes(): v for v, p in zip((v for v, _ in scored), starts, strict=True)}
            return self._sweep_batched(run, best, best_v, order, starts, known)
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

    def _sweep_batched(
        self,
        run: DayRun,
        best: np.ndarray,
        best_v: float,
        order: np.ndarray,
        starts: list[np.ndarray],
        known: dict[bytes, float],
    ) -> np.ndarray:
        """`decide`'s sweeps with each instance's candidates scored in one batch; the accept
        rule and the budget are replayed on the values exactly as the serial loop applies them.

        A placement's value is a function of the placement alone within a decision, so the
        values already computed (`known`: the starts', then every batch's) are looked up,
        not computed again: a second sweep meets many of the first one's placements."""
        budget = self.max_scored
        for _ in range(self.sweeps):
            improved = False
            for i in order:
                hosts = self.candidates(run, best, int(i), starts)
                # At most budget + 1 of them can be reached (one may be the host in place).
                batch = np.repeat(best[None, :], min(len(hosts), max(budget, 0) + 1), axis=0)
                batch[:, i] = hosts[: len(batch)]
                keys = [row.tobytes() for row in batch]
                todo = [j for j, key in enumerate(keys) if key not in known]
                if todo:
                    # Rows that cannot beat the best are not accepted whatever their exact value,
                    # now or later in the decision (the best only rises): -inf stands for them.
                    got = self.values(run, batch[todo], floor=best_v + 1e-12)
                    for j, v in zip(todo, got.tolist(), strict=True):
                        known[keys[j]] = v
                values = [known[key] for key in keys]
                cur = placed = best[i]
                for h, v in zip(hosts[: len(batch)].tolist(), values, strict=True):
                    if h == cur:  # the host in place, until another is accepted: not scored
                        continue
                    if budget <= 0:
                        best[i] = placed  # the serial loop returns with the last host it tried
                        return best
                    budget -= 1
                    placed = h
                    if v > best_v + 1e-12:
                        best_v, cur, improved = v, h, True
                if len(batch) < len(hosts):  # the next host is not in place: out of budget
                    best[i] = placed
                    return best
                best[i] = cur
            if not improved:
                break
        return best

    def mask(self, run: DayRun, placement: np.ndarray) -> np.ndarray:
        """`run.mask(placement)`, kept for the last placement asked: the instances of one
        sweep ask it for the same placement until a move is accepted. It depends on the
        problem and the placement only (the problem is held, so `is` is safe)."""
        key = placement.tobytes()
        if getattr(self, "_mask_of", None) is not run.problem or self._mask_key != key:
            self._mask_of, self._mask_key, self._mask = run.problem, key, run.mask(placement)
        return self._mask

    def candidates(self, run: DayRun, placement: np.ndarray, i: int, starts: list[np.ndarray]) -> np.ndarray:
        """Hosts instance i is tried on: every feasible one, or on large substrates the
        `max_candidates` nearest to where its requests come from and go to (see the
        module's docstring)."""
        # (The serial search, the benchmark's baseline, recomputes it as it always did.)
        hosts = np.flatnonzero((self.mask(run, placement) if self.batched else run.mask(placement))[i])
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


def kept_rewards(run: DayRun, p: np.ndarray, util: np.ndarray) -> Callable[[Day, int], np.ndarray]:
    """The reward at step s of `day` [K] of placements p [K, I] kept (moved from themselves),
    routed once on their own link utilisation [K, A]: the same routes for every later step."""
    routed = route(run.problem, run.day, p, p, util)
    return lambda day, s: score(run.problem, day, s, routed).reward
