"""`gnn-refine`: the GNN policy proposes, a small step-model search picks.

What is learned and what is search, plainly:
- learned (the GNN policy file): for every instance, a ranking of its hosts; the
  policy's own joint answer (its argmax under the dynamic filter) is one start;
- search (`mpc`'s local search, unchanged in kind): starting from the best of
  holding, greedy's, LAG's and the policy's answer, move one instance at a time
  to the host that most improves the value (the step model), but each instance is
  tried only on its `top` best-ranked hosts that storage allows, its best-ranked
  host of each kind and its host in every start, not on all ~24-220 of them;
- learned, optionally (`forecast`): the value's persistence forecast replaced by
  `mpc-forecast`'s regression of the next step's rates and deadlines;
- search, optionally (`search="steepest"`): instead of `mpc`'s instance-by-instance
  sweeps, the policy's answer and its every single-instance move to a candidate host
  scored as one batch, the best row taken, `sweeps` rounds at most (fewer, larger
  batches; the speed/quality frontier of these knobs is in docs/agent21.md).

So every decision costs about (top / feasible hosts) of `mpc`'s step-model
evaluations plus one policy forward pass. It sees what `mpc` sees (state, the
step's rates and deadlines), no future; deterministic for a policy file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from placement.gnn.graph import encode
from placement.gnn.policy import GnnPolicy, choose
from placement.model.simulate import DayRun
from placement.mpc.forecast import ForecastMpcAgent


@dataclass
class GuidedAgent(ForecastMpcAgent):
    policy: GnnPolicy | None = None
    top: int = 3  # hosts per instance the search may try, by the policy's ranking
    # Also start from greedy's and LAG's answers, as mpc does (their hosts join the
    # candidates), and try the policy's best host of each kind (server, LM, EM): on
    # TEA-calibrated substrates the policy's ranking misleads, and these two bring the
    # loss to mpc there from 0.84 to 0.07 per day (docs/agent21.md).
    baseline_starts: bool = True
    per_kind: int = 1  # the policy's best `per_kind` hosts of each kind are always tried
    # "sweep": mpc's search (instance by instance, first improvement, `sweeps` passes).
    # "steepest": every instance's candidate moves scored as one batch, the best one taken;
    # `sweeps` such rounds at most (fewer, larger batches: cheaper with the batched value).
    search: str = "sweep"
    name: str = "gnn-refine"

    def decide(self, run: DayRun) -> np.ndarray:
        assert self.policy is not None, "GuidedAgent needs a policy"
        with torch.no_grad():
            self._logits = self.policy(encode(run)).numpy()
        order = np.argsort(-run.demand(), kind="stable")
        self._proposal = choose(self._logits, run, order)
        if self.search == "steepest":
            return self._steepest(run)
        return super().decide(run)

    def _steepest(self, run: DayRun) -> np.ndarray:
        """Best-improvement search from the policy's answer: one batch holds the other
        starts, the answer itself and its every single-instance move to a candidate host;
        the best row is taken, and from it `sweeps - 1` more rounds of moves while one
        improves the value; at most `max_scored` moves scored."""
        starts = self.starts(run)
        best, best_v, budget = starts[-1], -np.inf, self.max_scored
        head = [p for p in starts[:-1] if not np.array_equal(p, best)] + [best]
        for _ in range(self.sweeps):
            moves = [
                (i, h)
                for i in range(len(best))
                for h in self.candidates(run, best, i, starts).tolist()
                if h != best[i]
            ][:budget]
            budget -= len(moves)
            batch = np.repeat(best[None, :], len(head) + len(moves), axis=0)
            if head:
                batch[: len(head)] = head
            batch[len(head) + np.arange(len(moves)), [i for i, _ in moves]] = [h for _, h in moves]
            values = self.values(run, batch)
            j = int(np.argmax(values))  # the first best: deterministic
            if not values[j] > best_v + 1e-12:
                break
            best, best_v, head = batch[j].copy(), float(values[j]), []
            if not moves:
                break
        return best

    def starts(self, run: DayRun) -> list[np.ndarray]:
        base = super().starts(run) if self.baseline_starts else [run.placement.copy()]
        return [*base, self._proposal.copy()]

    def candidates(self, run: DayRun, placement: np.ndarray, i: int, starts: list[np.ndarray]) -> np.ndarray:
        hosts = np.flatnonzero((self.mask(run, placement) if self.batched else run.mask(placement))[i])
        score = self._logits[i, hosts]
        keep = np.zeros(len(hosts), dtype=bool)
        keep[np.argsort(-score, kind="stable")[: self.top]] = True
        if self.per_kind:
            # A policy biased against a whole kind (e.g. on a substrate whose EM is priced
            # or timed outside its training ranges) still leaves the search each kind's best.
            kinds = run.problem.sub.host_kind[hosts]
            for k in np.unique(kinds):
                of = np.flatnonzero(kinds == k)
                keep[of[np.argsort(-score[of], kind="stable")[: self.per_kind]]] = True
        keep |= np.isin(hosts, [int(p[i]) for p in starts])
        return hosts[keep]
