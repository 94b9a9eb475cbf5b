"""Heuristic baselines: RANDOM, a cheapest-feasible greedy, and LAG (Li & Zhu).

Each decides one host per instance, instance by instance, re-checking storage
after every choice so that the placement it returns always fits.
"""

from __future__ import annotations

import numpy as np

from .constraints import EPS
from .cost import it_cost, migration_cost, programming_cost
from .model import HostKind
from .simulate import DayRun


def move_cost(run: DayRun) -> np.ndarray:
    """[I, H] storage plus reconfiguration cost of putting each instance on each host."""
    p, sub, cat = run.problem, run.problem.sub, run.problem.cat
    t = cat.inst_type
    cur = sub.host_node[run.placement]
    pairs = cur[:, None] * sub.n_nodes + sub.host_node[None, :]
    route = p.paths.route(pairs, p.paths.arc_weight(run.arc_util))
    server = (sub.host_kind == HostKind.SERVER)[None, :]
    rc = np.where(
        server,
        migration_cost(cat.server_mb[t][:, None], p.paths.path_cost[route]),
        programming_cost(cat.switch_mb[t][:, None], sub.controller_cost),
    )
    rc[np.arange(cat.n_instances), run.placement] = 0.0
    return it_cost(cat.need[t], sub.host_unit_cost[None, :]) + rc


class _Sequential:
    """Place instances one at a time, most loaded first, on `pick`'s host."""

    name = "base"

    def pick(self, run: DayRun, i: int, allowed: np.ndarray, ctx: dict) -> int:
        raise NotImplementedError

    def context(self, run: DayRun) -> dict:
        return {}

    def order(self, run: DayRun) -> np.ndarray:
        return np.argsort(-run.demand(), kind="stable")

    def decide(self, run: DayRun) -> np.ndarray:
        placement = run.placement.copy()
        ctx = self.context(run)
        for i in self.order(run):
            allowed = run.mask(placement)[i]
            placement[i] = self.pick(run, int(i), allowed, ctx)
        return placement


class RandomAgent(_Sequential):
    """Each instance to a random host that can hold it."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def order(self, run: DayRun) -> np.ndarray:
        return self.rng.permutation(run.problem.cat.n_instances)

    def pick(self, run, i, allowed, ctx):
        return int(self.rng.choice(np.flatnonzero(allowed)))


class GreedyAgent(_Sequential):
    """Cheapest host (storage + reconfiguration cost) whose capacity carries the
    instance's demand; if none can, the one that carries most."""

    name = "greedy"

    def context(self, run):
        return {"cost": move_cost(run), "demand": run.demand()}

    def pick(self, run, i, allowed, ctx):
        cat = run.problem.cat
        cap = cat.capacity[cat.inst_type[i]]
        ok = allowed & (cap >= ctx["demand"][i] - EPS)
        if not ok.any():
            ok = allowed & (cap == cap[allowed].max())
        return int(np.flatnonzero(ok)[np.argmin(ctx["cost"][i, ok])])


class LagAgent(_Sequential):
    """LAG, after Li & Zhu, on servers and switch LM only (no EM).

    Each VNF's share of a chain's deadline is deadline / (length + 1) (one share
    per VNF and one for the links joining the segments). Hosts that cannot meet
    the share of every chain using the instance, or carry its demand, are pruned;
    the instance goes to the cheapest host left. Where none is left it goes to
    the host meeting most chains' shares, cheapest first.
    """

    name = "lag"

    def context(self, run):
        d, t = run.day, run.t
        budget = d.deadline[t] / (d.chain_len + 1)
        return {"cost": move_cost(run), "demand": run.demand(), "budget": budget}

    def pick(self, run, i, allowed, ctx):
        sub, cat, d = run.problem.sub, run.problem.cat, run.day
        allowed = allowed & (sub.host_kind != HostKind.EM)
        if not allowed.any():
            return int(run.placement[i])
        v = cat.inst_type[i]
        users = np.nonzero((d.assign == i).any(1))[0]
        vol = d.rate[run.t][users] / 8.0
        meets = vol[:, None] * cat.ms_per_mb[v][None, :] <= ctx["budget"][users][:, None] + EPS
        score = meets.sum(0) + (cat.capacity[v] >= ctx["demand"][i] - EPS) * (len(users) + 1)
        score = np.where(allowed, score, -1)
        best = np.flatnonzero(score == score.max())
        return int(best[np.argmin(ctx["cost"][i, best])])


AGENTS = {"random": RandomAgent, "greedy": GreedyAgent, "lag": LagAgent}
