"""Baselines: a genetic algorithm (pymoo), greedy, random; and the repair they share.

Every method returns a placement (node of each VNF). All of them see the same inputs:
the scenario's model and the request set's MB per SFC.
"""

from __future__ import annotations

import numpy as np
from pymoo.algorithms.soo.nonconvex.ga import GA
from pymoo.core.mutation import Mutation
from pymoo.core.problem import Problem
from pymoo.operators.crossover.ux import UniformCrossover
from pymoo.operators.sampling.rnd import IntegerRandomSampling
from pymoo.optimize import minimize

from . import delay as D
from .env import vnf_volumes


def repair(m: D.Model, x: np.ndarray, vol: np.ndarray) -> np.ndarray:
    """Move VNFs off overloaded nodes, each time the move that adds least delay, until all fit.

    Returns x unchanged if it fits; may return an infeasible x when no move helps."""
    x = x.copy()
    for _ in range(4 * m.n_vnfs):
        over = D.overload(m, x).any(1)
        if not over.any():
            return x
        used = np.zeros_like(m.cap)
        np.add.at(used, x, m.need)
        best = None
        for j in np.nonzero(over[x])[0]:
            for i in np.nonzero(((used + m.need[j]) <= m.cap + 1e-9).all(1))[0]:
                y = x.copy()
                y[j] = i
                c = D.total_delay(m, y, vol)
                if best is None or c < best[0]:
                    best = (c, j, i)
        if best is None:
            return x
        x[best[1]] = best[2]
    return x


def greedy(m: D.Model, vol: np.ndarray) -> np.ndarray:
    """Heaviest VNF first (volume x work), each on the node with room where it adds least delay:
    its processing plus transmission to its already-placed SFC neighbours at the current OFDMA load."""
    vv = vnf_volumes(m, vol)
    x = _greedy(m, vol, np.argsort(-(vv * m.proc.mean(1)), kind="stable"))
    if not D.feasible(m, x):  # packing first: largest relative need first (first-fit-decreasing order)
        x = _greedy(m, vol, np.argsort(-(m.need / m.cap.mean(0)).sum(1), kind="stable"))
    return x


def _greedy(m: D.Model, vol: np.ndarray, order: np.ndarray) -> np.ndarray:
    vv = vnf_volumes(m, vol)
    x = np.full(m.n_vnfs, -1)
    used = np.zeros_like(m.cap)
    tx = m.need[m.hop_src, 2]
    hv = vol[m.hop_sfc]
    for j in order:
        room = ((used + m.need[j]) <= m.cap + 1e-9).all(1)
        cand = np.nonzero(room)[0] if room.any() else np.arange(m.n_nodes)
        placed = (x[m.hop_src] >= 0) & (x[m.hop_dst] >= 0)
        load = (tx * placed) @ D.hop_links(m, np.maximum(x, 0)) if placed.any() else np.zeros(m.n_links)
        cost = vv[j] * m.proc[j, cand]
        for h in np.nonzero((m.hop_src == j) | (m.hop_dst == j))[0]:
            o = x[m.hop_dst[h]] if m.hop_src[h] == j else x[m.hop_src[h]]
            if o < 0:
                continue
            r = m.route[cand * m.n_nodes + o]  # (C, E)
            cost = cost + hv[h] * (r * D.MS * D.BITS * (load + tx[h]) / (m.link_cap * tx[h])).sum(1)
        x[j] = cand[int(np.argmin(cost))]
        used[x[j]] += m.need[j]
    return repair(m, x, vol)


def random_placement(m: D.Model, vol: np.ndarray, seed: int) -> np.ndarray:
    """Each VNF, in random order, on a uniformly drawn node that still has room (then repair)."""
    rng = np.random.default_rng(seed)
    x = np.zeros(m.n_vnfs, dtype=int)
    used = np.zeros_like(m.cap)
    for j in rng.permutation(m.n_vnfs):
        room = np.nonzero(((used + m.need[j]) <= m.cap + 1e-9).all(1))[0]
        x[j] = rng.choice(room) if len(room) else rng.integers(m.n_nodes)
        used[x[j]] += m.need[j]
    return repair(m, x, vol)


class _Placement(Problem):
    """Chromosome = placement (one integer gene per VNF: its node); fitness = total E2E delay;
    one inequality constraint: total relative overload of the nodes <= 0."""

    def __init__(self, m: D.Model, vol: np.ndarray) -> None:
        super().__init__(n_var=m.n_vnfs, n_obj=1, n_ieq_constr=1, xl=0, xu=m.n_nodes - 1, vtype=int)
        self.m, self.vol = m, vol

    def _evaluate(self, X, out, *args, **kwargs) -> None:
        xs = np.asarray(X).astype(int)
        out["F"] = np.array([D.total_delay(self.m, x, self.vol) for x in xs])
        out["G"] = np.array([(D.overload(self.m, x) / self.m.cap).sum() for x in xs])


class _ResetMutation(Mutation):
    """Random-reset mutation: each gene moves to a uniformly drawn node with probability prob_var."""

    def _do(self, problem, X, random_state=None, **kwargs):
        X = np.asarray(X).astype(int).copy()
        hit = random_state.random(X.shape) < self.get_prob_var(problem, size=(len(X), 1))
        X[hit] = random_state.integers(problem.xl[0], problem.xu[0] + 1, size=int(hit.sum()))
        return X


def genetic(m: D.Model, vol: np.ndarray, seed: int, pop: int = 50, generations: int = 150) -> np.ndarray:
    """pymoo's GA: integer random sampling, uniform crossover, random-reset mutation."""
    algo = GA(
        pop_size=pop,
        sampling=IntegerRandomSampling(),
        crossover=UniformCrossover(prob=0.9),
        mutation=_ResetMutation(prob=1.0, prob_var=min(0.5, 2.0 / m.n_vnfs)),
        eliminate_duplicates=True,
    )
    res = minimize(_Placement(m, vol), algo, ("n_gen", generations), seed=seed, verbose=False)
    if res.X is None:  # no individual met the constraint: repair the least-overloaded one
        best = min(res.pop, key=lambda ind: (ind.G[0], ind.F[0]))
        return repair(m, np.asarray(best.X).astype(int), vol)
    return np.asarray(res.X).astype(int)
