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
  `mpc-forecast`'s regression of the next step's rates and deadlines.

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
    name: str = "gnn-refine"

    def decide(self, run: DayRun) -> np.ndarray:
        assert self.policy is not None, "GuidedAgent needs a policy"
        with torch.no_grad():
            self._logits = self.policy(encode(run)).numpy()
        order = np.argsort(-run.demand(), kind="stable")
        self._proposal = choose(self._logits, run, order)
        return super().decide(run)

    def starts(self, run: DayRun) -> list[np.ndarray]:
        base = super().starts(run) if self.baseline_starts else [run.placement.copy()]
        return [*base, self._proposal.copy()]

    def candidates(self, run: DayRun, placement: np.ndarray, i: int, starts: list[np.ndarray]) -> np.ndarray:
        hosts = np.flatnonzero(run.mask(placement)[i])
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
