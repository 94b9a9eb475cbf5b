"""Heuristic baselines: RANDOM, a cheapest-feasible greedy, greedy-hold, and LAG (Li & Zhu).

Each decides one host per instance, instance by instance, re-checking storage
after every choice so that the placement it returns always fits. Greedy and LAG
count the reconfiguration delay of their own moves (model.md, Delays): a move
whose delay would make a chain miss a deadline it could otherwise meet is pruned,
as LAG prunes hosts that cannot meet a chain's latency demand.
"""

from __future__ import annotations

import numpy as np

from placement.model import delay as D
from placement.model.constraints import EPS
from placement.model.cost import it_cost, migration_cost, programming_cost, volume_mb
from placement.model.domain import HostKind
from placement.model.simulate import DayRun


def _move_routes(run: DayRun) -> np.ndarray:
    """[I, H] path ids from each instance's current node to each host's node."""
    p, sub = run.problem, run.problem.sub
    cur = sub.host_node[run.placement]
    pairs = cur[:, None] * sub.n_nodes + sub.host_node[None, :]
    return p.paths.route(pairs, p.paths.arc_weight(run.arc_util))


def move_cost(run: DayRun) -> np.ndarray:
    """[I, H] storage plus reconfiguration cost of putting each instance on each host."""
    p, sub, cat = run.problem, run.problem.sub, run.problem.cat
    t = cat.inst_type
    route = _move_routes(run)
    server = (sub.host_kind == HostKind.SERVER)[None, :]
    rc = np.where(
        server,
        migration_cost(cat.server_mb[t][:, None], p.paths.path_cost[route]),
        programming_cost(cat.switch_mb[t][:, None], sub.controller_cost),
    )
    rc[np.arange(cat.n_instances), run.placement] = 0.0
    return it_cost(cat.need[t], sub.host_unit_cost[None, :]) + rc


def migration_ms(run: DayRun) -> np.ndarray:
    """[I, H] migration delay of moving each instance to each server host (0 elsewhere,
    and 0 where it stays); programming delay depends on what else goes to the switch."""
    p, sub, cat = run.problem, run.problem.sub, run.problem.cat
    route = _move_routes(run)
    ms = D.transfer_ms(cat.server_mb[cat.inst_type][:, None], p.paths.path_bottleneck[route])
    ms = np.where((sub.host_kind == HostKind.SERVER)[None, :], ms, 0.0)
    ms[np.arange(cat.n_instances), run.placement] = 0.0
    return ms


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
        ctx["placement"] = placement
        for i in self.order(run):
            allowed = run.mask(placement)[i]
            placement[i] = self.pick(run, int(i), allowed, ctx)
            self.picked(run, int(i), int(placement[i]), ctx)
        return placement

    def picked(self, run: DayRun, i: int, h: int, ctx: dict) -> None:
        """Called after each choice (delay-aware agents book the programming traffic)."""


class _DelayAware(_Sequential):
    """Tracks the reconfiguration delay each candidate move would cause.

    The programming delay of a switch grows with everything installed in it this
    step (the controller channel is shared), so it is booked as choices are made.
    """

    def context(self, run):
        sub = run.problem.sub
        return {
            "cost": move_cost(run),
            "demand": run.demand(),
            "mig_ms": migration_ms(run),
            "prog_mb": np.zeros(sub.n_switches),
        }

    def reconfig_ms(self, run: DayRun, i: int, ctx: dict) -> np.ndarray:
        """[H] reconfiguration delay of instance i's chains if it goes to each host."""
        sub, cat = run.problem.sub, run.problem.cat
        sw = sub.host_kind != HostKind.SERVER
        node = np.where(sw, sub.host_node, 0)
        prog = D.transfer_ms(ctx["prog_mb"][node] + cat.switch_mb[cat.inst_type[i]], sub.controller_bw)
        out = np.where(sw, prog, ctx["mig_ms"][i])
        out[run.placement[i]] = 0.0
        return out

    def picked(self, run, i, h, ctx):
        sub, cat = run.problem.sub, run.problem.cat
        if h != run.placement[i] and sub.host_kind[h] != HostKind.SERVER:
            ctx["prog_mb"][sub.host_node[h]] += cat.switch_mb[cat.inst_type[i]]

    def chain_slack(self, run: DayRun, i: int, ctx: dict) -> tuple[np.ndarray, np.ndarray]:
        """For the chains using instance i: [U, H] deadline minus a lower bound of their
        delay without reconfiguration (processing, with i on each host and the others
        where they are now), and [U] the users' volumes."""
        cat, d = run.problem.cat, run.day
        users = np.nonzero((d.assign == i).any(1))[0]
        vol = volume_mb(d.rate[run.t][users])
        a = d.assign[users]
        valid = (a >= 0) & (a != i)
        here = ctx["placement"][np.where(valid, a, 0)]
        others = np.where(valid, cat.ms_per_mb[np.where(valid, d.chain_types[users], 0), here], 0.0).sum(1)
        own = cat.ms_per_mb[cat.inst_type[i]][None, :]
        slack = d.deadline[run.t][users][:, None] - vol[:, None] * (others[:, None] + own)
        return slack, vol


class RandomAgent(_Sequential):
    """Each instance to a random host that can hold it."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def start_day(self, split: str, day: int) -> None:
        """Each day's draws come from (seed, split, day) alone, so days can run in any
        order or in parallel and give the same placements."""
        self.rng = np.random.default_rng([self.seed, ("train", "test").index(split), day])

    def order(self, run: DayRun) -> np.ndarray:
        return self.rng.permutation(run.problem.cat.n_instances)

    def pick(self, run, i, allowed, ctx):
        return int(self.rng.choice(np.flatnonzero(allowed)))


class GreedyAgent(_DelayAware):
    """Cheapest host (storage + reconfiguration cost) whose capacity carries the
    instance's demand, among hosts that, move delay included, keep at least as many
    of its chains on time as staying; if none carries the demand, the one that
    carries most."""

    name = "greedy"

    def pick(self, run, i, allowed, ctx):
        cat = run.problem.cat
        slack, _ = self.chain_slack(run, i, ctx)
        rc = self.reconfig_ms(run, i, ctx)
        # A move is pruned when its delay leaves fewer of the instance's chains on
        # time (processing bound) than staying does.
        stay = int(run.placement[i])
        on_time = (slack >= rc[None, :] - EPS).sum(0)
        allowed = allowed & (on_time >= on_time[stay])
        allowed[run.placement[i]] = True  # staying costs no delay
        cap = cat.capacity[cat.inst_type[i]]
        ok = allowed & (cap >= ctx["demand"][i] - EPS)
        if not ok.any():
            ok = allowed & (cap == cap[allowed].max())
        return int(np.flatnonzero(ok)[np.argmin(ctx["cost"][i, ok])])


class GreedyHoldAgent(GreedyAgent):
    """Greedy's placement at the first step, then never moved (a static placement)."""

    name = "greedy-hold"

    def decide(self, run):
        return super().decide(run) if run.t == 0 else run.placement.copy()


class LagAgent(_DelayAware):
    """LAG, after Li & Zhu, on servers and switch LM only (no EM).

    Each VNF's share of a chain's deadline is deadline / (length + 1) (one share
    per VNF and one for the links joining the segments). Hosts where the VNF's
    processing plus the delay of moving it there exceeds the share of a chain using
    the instance, or that cannot carry its demand, are pruned; the instance goes to
    the cheapest host left. Where none is left it goes to the host meeting most
    chains' shares, cheapest first.
    """

    name = "lag"

    def context(self, run):
        d, t = run.day, run.t
        return {**super().context(run), "budget": d.deadline[t] / (d.chain_len + 1)}

    def pick(self, run, i, allowed, ctx):
        sub, cat, d = run.problem.sub, run.problem.cat, run.day
        allowed = allowed & (sub.host_kind != HostKind.EM)
        allowed[run.placement[i]] |= sub.host_kind[run.placement[i]] != HostKind.EM
        if not allowed.any():
            return int(run.placement[i])
        v = cat.inst_type[i]
        users = np.nonzero((d.assign == i).any(1))[0]
        vol = volume_mb(d.rate[run.t][users])
        rc = self.reconfig_ms(run, i, ctx)
        need = vol[:, None] * cat.ms_per_mb[v][None, :] + rc[None, :]
        meets = need <= ctx["budget"][users][:, None] + EPS
        score = meets.sum(0) + (cat.capacity[v] >= ctx["demand"][i] - EPS) * (len(users) + 1)
        score = np.where(allowed, score, -1)
        best = np.flatnonzero(score == score.max())
        return int(best[np.argmin(ctx["cost"][i, best])])


AGENTS = {"random": RandomAgent, "greedy": GreedyAgent, "greedy-hold": GreedyHoldAgent, "lag": LagAgent}
