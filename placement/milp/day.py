"""The day's optimum: one MILP over every step of a day, linked by reconfiguration.

The per-step MILP (`milp.py`) is myopic: it cannot pay a move now to gain later,
nor see that a move's delay costs the next step's deadlines. This model holds the
whole day (six steps by default): a placement per step, the reconfiguration cost
and delay of going from step t-1's placement to step t's (from the day's initial
configuration at the first step), and per step the served set, deadlines,
instance and link capacity, exactly as `milp.py` writes them for one step.

It knows the whole day in advance (an oracle with hindsight), so its objective
is what no online agent can exceed, with one caveat said in every table: routes
are fixed per step to the least-loaded minimum-hop paths of an *empty* network,
and migrations are timed on the slowest minimum-hop path (the environment routes
on the previous step's load, which the MILP cannot know before choosing the
placements). So its objective is the optimum of that slightly different problem,
not a strict bound of the environment's; the plan it finds is replayed through
the environment, and that reward is what the tables compare.

A start (`solve_day(start=plan)`, `srem eval --milp-day-start AGENT`): an online
agent's day, replayed through the environment, is given to HiGHS as the values of the
placement binaries x[t,i,h]; HiGHS completes the rest (served chains, delays, costs)
by a sub-MIP with x fixed, says whether that gave a feasible solution, and then spends
its time on the bound from that incumbent (`highs.py`). Without one, HiGHS alone found
poor incumbents at 120 s (-0.25..-0.33 a day) or none (k=4).

Linearisation, beyond the per-step model: a switch host newly used at step t has
`new[t,i,h] >= x[t,i,h] - x[t-1,i,h]`; a migration between servers g -> h is
`x[t-1,i,g] + x[t,i,h] - 1`, bounding both its cost and its delay from below.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from placement.milp.step import _add, _Model, segment_vars
from placement.model import cost as C
from placement.model import delay as D
from placement.model.domain import HostKind
from placement.model.simulate import Agent, DayRun
from placement.model.step import cost_reference
from placement.model.workload import Day, Problem
from topologies import InputError


@dataclass(frozen=True)
class DayMilpResult:
    plan: np.ndarray  # [T, I] placement per step
    objective: float  # the MILP's day reward of the plan (its own accounting)
    bound: float  # proven upper bound of the day reward (fixed-routing caveat)
    gap: float
    optimal: bool
    seconds: float
    status: str
    found: bool  # False: no solution in time (plan = initial placement kept)
    rounds: int = 1  # solves, as link-capacity rows were added
    start: str | None = None  # a MIP start given: "feasible" / "infeasible" / "unconfirmed" (highs.py)
    start_objective: float = float("nan")  # the start's day reward in the MILP's accounting
    start_reward: float = float("nan")  # the start's day reward replayed in the environment


def _plan(sol: np.ndarray, x: np.ndarray, hosts: list[np.ndarray]) -> np.ndarray:
    T, I = x.shape[:2]
    return np.array([[int(hosts[i][np.argmax(sol[x[t, i, hosts[i]]])]) for i in range(I)] for t in range(T)])


def _build(problem: Problem, day: Day, link_rows: list[set[int]]):
    sub, cat, paths = problem.sub, problem.cat, problem.paths
    obj = problem.scenario.objective
    N, W, I, H = sub.n_nodes, sub.n_switches, cat.n_instances, sub.n_hosts
    R, T = day.n_chains, day.n_steps
    itype = cat.inst_type
    allowed = cat.static_mask[itype]
    route = paths.route(np.arange(N * N), paths.arc_weight(np.zeros(sub.n_arcs))).reshape(N, N)
    p_cost, p_tx, p_prop = paths.path_cost[route], paths.path_tx[route], paths.path_prop[route]
    p_arcs = paths.parcs[route]
    # Migration delay on the slowest of the minimum-hop paths: the environment routes
    # on the previous step's load, which may send a migration over any of them.
    slow = np.append(-((sub.arc_bw.max() / sub.arc_bw) ** 8), 0.0)
    p_bott = paths.path_bottleneck[paths.route(np.arange(N * N), slow).reshape(N, N)]
    server = sub.host_kind == HostKind.SERVER
    prog_unit = D.transfer_ms(cat.switch_mb[itype], sub.controller_bw)  # [I] ms
    mp = float(prog_unit.sum())
    rc_max = max(mp, float(D.transfer_ms(cat.server_mb.max(), sub.arc_bw.min())))

    m = _Model()
    x = -np.ones((T, I, H), dtype=np.int64)
    new = -np.ones((T, I, H), dtype=np.int64)  # newly installed in a switch memory
    rcv = np.zeros((T, I), dtype=np.int64)  # reconfiguration delay of an instance
    a_col = np.zeros((T, R), dtype=np.int64)
    segs: list[dict] = []
    hosts = [np.flatnonzero(allowed[i]) for i in range(I)]
    for t in range(T):
        wc = obj.omega_cost / cost_reference(problem, day, t)
        for i in range(I):
            for h in hosts[i]:
                it = C.it_cost(cat.need[itype[i], h], sub.host_unit_cost[h])
                x[t, i, h] = m.var(0, 1, True, wc * obj.alpha_it * it)
            m.row({int(c): 1.0 for c in x[t, i][x[t, i] >= 0]}, 1.0, 1.0)
        for h in range(H):
            terms = {int(x[t, i, h]): float(cat.need[itype[i], h]) for i in range(I) if x[t, i, h] >= 0}
            if terms:
                m.row(terms, hi=float(sub.host_capacity[h]))
            if sub.host_kind[h] == HostKind.EM:
                terms = {int(x[t, i, h]): float(cat.rt_mb[itype[i]]) for i in range(I) if x[t, i, h] >= 0}
                if terms:
                    m.row(terms, hi=float(sub.rt_capacity[sub.host_node[h]]))

        def prev(i: int, h: int, t=t) -> tuple[dict[int, float], float]:
            """[i at h at step t-1] as (terms, constant)."""
            if t == 0:
                return {}, float(day.initial[i] == h)
            return ({int(x[t - 1, i, h]): 1.0}, 0.0) if x[t - 1, i, h] >= 0 else ({}, 0.0)

        # Reconfiguration: cost (in the objective) and delay of every instance.
        for i in range(I):
            v = itype[i]
            rcost = m.var(0, np.inf, False, wc * obj.alpha_rc)
            rcv[t, i] = m.var(0, np.inf)
            for h in hosts[i]:
                if server[h]:
                    for g in hosts[i]:
                        if g == h:
                            continue
                        pt, pc = prev(i, int(g))
                        if not pt and pc == 0.0:
                            continue
                        n_g, n_h = sub.host_node[g], sub.host_node[h]
                        mc = float(C.migration_cost(cat.server_mb[v], p_cost[n_g, n_h]))
                        md = float(D.transfer_ms(cat.server_mb[v], p_bott[n_g, n_h]))
                        for col, coef in ((rcost, mc), (int(rcv[t, i]), md)):
                            # col >= coef * (prev_g + x_h - 1)
                            terms = {col: 1.0, int(x[t, i, h]): -coef}
                            for c2, v2 in pt.items():
                                _add(terms, c2, -coef * v2)
                            m.row(terms, lo=coef * (pc - 1.0))
                else:
                    new[t, i, h] = m.var(0, 1)
                    pt, pc = prev(i, int(h))
                    terms = {int(new[t, i, h]): 1.0, int(x[t, i, h]): -1.0}
                    for c2, v2 in pt.items():
                        _add(terms, c2, v2)
                    m.row(terms, lo=-pc)
                    pc_cost = float(C.programming_cost(cat.switch_mb[v], sub.controller_cost))
                    m.row({rcost: 1.0, int(new[t, i, h]): -pc_cost}, lo=0.0)
        # Programming delay of a switch: everything newly installed in it, in parallel
        # over switches; an instance waits for its own switch's.
        for i in range(I):
            for w in range(W):
                mine = [h for h in hosts[i] if sub.host_node[h] == w and not server[h]]
                if not mine:
                    continue
                terms = {int(rcv[t, i]): 1.0}
                for h in mine:
                    _add(terms, int(new[t, i, h]), -mp)
                for i2 in range(I):
                    for h in hosts[i2]:
                        if sub.host_node[h] == w and not server[h]:
                            _add(terms, int(new[t, i2, h]), -float(prog_unit[i2]))
                m.row(terms, lo=-mp)

        # Requests of the step (as in milp.py, with this step's placement).
        rate, deadline, vol = day.rate[t], day.deadline[t], C.volume_mb(day.rate[t])
        nodes_of = [np.unique(sub.host_node[hosts[i]]) for i in range(I)]

        def u(i: int, n: int, t=t) -> dict[int, float]:
            return {int(x[t, i, h]): 1.0 for h in hosts[i] if sub.host_node[h] == n}

        q = segment_vars(m, day, nodes_of, u)

        def seg_terms(r: int, table: np.ndarray, t=t, q=q) -> dict[int, float]:
            terms: dict[int, float] = {}
            n = int(day.chain_len[r])
            first, last = int(day.assign[r, 0]), int(day.assign[r, n - 1])
            for h in hosts[first]:
                _add(terms, int(x[t, first, h]), float(table[day.src[r], sub.host_node[h]]))
            for h in hosts[last]:
                _add(terms, int(x[t, last, h]), float(table[sub.host_node[h], day.dst[r]]))
            for k in range(n - 1):
                for (a, b), c in q[(int(day.assign[r, k]), int(day.assign[r, k + 1]))].items():
                    _add(terms, c, float(table[a, b]))
            return terms

        max_cost_pm = float(p_cost.max()) * (day.chain_len + 1)
        for r in range(R):
            a_col[t, r] = m.var(0, 1, True, -obj.omega_ar / R)
            n = int(day.chain_len[r])
            insts = [int(i) for i in day.assign[r, :n]]
            d_r = m.var(0, np.inf)
            terms = {d_r: -1.0}
            for i in insts:
                for h in hosts[i]:
                    _add(terms, int(x[t, i, h]), float(vol[r] * cat.ms_per_mb[itype[i], h]))
            for c, v in seg_terms(r, vol[r] * p_tx + p_prop).items():
                _add(terms, c, v)
            m.row(terms, 0.0, 0.0)
            d_max = float(vol[r] * (cat.ms_per_mb.max() * n + p_tx.max() * (n + 1)) + p_prop.max() * (n + 1))
            big = rc_max + d_max
            for i in insts:
                m.row({int(rcv[t, i]): 1.0, d_r: 1.0, int(a_col[t, r]): big}, hi=float(deadline[r]) + big)
            w_r = m.var(0, np.inf, False, wc * obj.alpha_bw)
            mw = float(vol[r] * max_cost_pm[r])
            terms = {w_r: -1.0, int(a_col[t, r]): mw}
            for c, v in seg_terms(r, vol[r] * p_cost).items():
                _add(terms, c, v)
            m.row(terms, hi=mw)
        for i in range(I):
            users = np.nonzero((day.assign == i).any(1))[0]
            terms = {int(a_col[t, r]): float(rate[r]) for r in users}
            for h in hosts[i]:
                _add(terms, int(x[t, i, h]), -float(cat.capacity[itype[i], h]))
            m.row(terms, hi=0.0)
        segs.append(seg_terms)
    # Link capacity, for the arcs found overloaded in earlier rounds (added lazily).
    for t, arcs in enumerate(link_rows):
        rate = day.rate[t]
        for arc in sorted(arcs):
            table = (p_arcs == arc).sum(-1).astype(float)
            cap_terms: dict[int, float] = {}
            for r in range(R):
                use = segs[t](r, table)
                if not any(use.values()):
                    continue
                nseg = float(day.chain_len[r] + 1)
                v = m.var(0, np.inf)
                terms = {v: -1.0, int(a_col[t, r]): nseg}
                for c, val in use.items():
                    _add(terms, c, val)
                m.row(terms, hi=nseg)
                cap_terms[v] = float(rate[r])
            if cap_terms:
                m.row(cap_terms, hi=float(sub.arc_bw[arc]))
    return m, x, a_col, hosts


def _overloaded(problem: Problem, day: Day, plan: np.ndarray, served: np.ndarray, p_arcs) -> list[set[int]]:
    """Per step, the arcs the served requests overload under the plan (fixed routes)."""
    sub = problem.sub
    out = []
    for t in range(day.n_steps):
        node = sub.host_node[plan[t]]
        seq = np.concatenate(
            [
                day.src[:, None],
                np.where(day.assign >= 0, node[np.maximum(day.assign, 0)], day.dst[:, None]),
                day.dst[:, None],
            ],
            axis=1,
        )
        arcs = p_arcs[seq[:, :-1], seq[:, 1:]].reshape(day.n_chains, -1)
        ok = served[t]
        load = np.bincount(
            arcs[ok].ravel(), weights=np.repeat(day.rate[t][ok], arcs.shape[1]), minlength=sub.n_arcs + 1
        )[: sub.n_arcs]
        out.append(set(np.flatnonzero(load > sub.arc_bw * (1 + 1e-9)).tolist()))
    return out


def check_start(problem: Problem, day: Day, start: np.ndarray) -> np.ndarray:
    """A day plan [T, I] of allowed hosts, or an InputError in one line."""
    a = np.asarray(start)
    want = (day.n_steps, problem.cat.n_instances)
    if a.shape != want or not np.issubdtype(a.dtype, np.integer):
        raise InputError(
            "day MILP start",
            f"shape {a.shape} ({a.dtype})",
            f"must be integer hosts of shape {want} (steps x instances)",
        )
    allowed = problem.cat.static_mask[problem.cat.inst_type]  # [I, H]
    bad = [
        (t, i)
        for t in range(a.shape[0])
        for i in range(a.shape[1])
        if not (0 <= a[t, i] < allowed.shape[1] and allowed[i, a[t, i]])
    ]
    if bad:
        t, i = bad[0]
        raise InputError(
            "day MILP start",
            f"step {t}, instance {i}",
            f"host {a[t, i]} is not one it may use ({len(bad)} such)",
        )
    return a


def _start_values(start: np.ndarray, x: np.ndarray, hosts: list[np.ndarray]) -> dict[int, float]:
    """The start as values of the placement binaries only: HiGHS completes the rest."""
    T, I = start.shape
    return {int(x[t, i, h]): float(start[t, i] == h) for t in range(T) for i in range(I) for h in hosts[i]}


def solve_day(
    problem: Problem,
    day: Day,
    time_limit: float = 120.0,
    gap: float = 1e-4,
    max_rounds: int = 4,
    lp_bound: bool = True,
    lp_time_limit: float | None = None,
    start: np.ndarray | None = None,
    probe: float = 0.1,
) -> DayMilpResult:
    """The day's MILP within `time_limit` seconds (all rounds together); `start`, a day
    plan [T, I] (e.g. an online agent's), is given to HiGHS as a MIP start.

    Link capacity is added in rounds. A round that is not the last gets at most
    `probe` of the time limit (5 s at least): enough to see which arcs its incumbent
    overloads; when it stops at that limit with none new, the same model is solved once
    more with all the time left. Every round's model is a relaxation of the last (it
    has fewer link rows), so the best of their proven bounds bounds the last one."""
    t0 = time.perf_counter()
    if start is not None:
        start = check_start(problem, day, start)
    paths, N = problem.paths, problem.sub.n_nodes
    route = paths.route(np.arange(N * N), paths.arc_weight(np.zeros(problem.sub.n_arcs))).reshape(N, N)
    p_arcs = paths.parcs[route]
    link_rows: list[set[int]] = [set() for _ in range(day.n_steps)]
    bound = float("inf")
    said_start = None  # what HiGHS said of the start in the latest round (the most link rows)
    rounds, final = 0, False
    while True:
        rounds += 1
        final = final or rounds >= max_rounds
        m, x, a_col, hosts = _build(problem, day, link_rows)
        left = time_limit - (time.perf_counter() - t0)
        # A probe leaves half the time at least, so that the last round has some.
        budget = left if final else min(left / 2, max(probe * time_limit, 5.0))
        res = m.solve(max(budget, 1e-6), gap, None if start is None else _start_values(start, x, hosts))
        if res.start is not None:
            said_start = res
        if np.isfinite(res.mip_dual_bound):
            bound = min(bound, -res.mip_dual_bound)
        if res.x is None:
            if final:
                break
            final = True  # nothing found in the probe's time: all the time left, once
            continue
        plan = _plan(res.x, x, hosts)
        over = _overloaded(problem, day, plan, res.x[a_col] > 0.5, p_arcs)
        over = [o - done for o, done in zip(over, link_rows, strict=True)]
        if final or (res.status == 0 and not any(over)):
            break
        if not any(over):
            final = True  # stopped at the probe's limit with nothing new: the rest of the time
            continue
        link_rows = [o | done for o, done in zip(over, link_rows, strict=True)]
    seconds = time.perf_counter() - t0
    said = (
        {}
        if said_start is None
        else {"start": said_start.start, "start_objective": -said_start.start_objective}
    )
    if res.x is None:
        # No incumbent in time (HiGHS then seldom has a bound): the LP relaxation
        # still bounds the day, weakly; the initial placement is kept as the plan.
        status = str(res.message)
        if lp_bound:
            m.integer = [0] * len(m.integer)
            lp = m.solve(time_limit if lp_time_limit is None else lp_time_limit, gap)
            if lp.status == 0:
                bound = min(bound, -float(lp.fun))
                status += "; bound from the LP relaxation"
        seconds = time.perf_counter() - t0
        plan = np.repeat(day.initial[None, :], day.n_steps, axis=0)
        return DayMilpResult(
            plan, float("nan"), bound, float("inf"), False, seconds, status, False, rounds, **said
        )
    objective = -float(res.fun)
    g = (bound - objective) / max(abs(objective), 1e-9)
    proven = res.status == 0 and not any(over)
    return DayMilpResult(
        plan, objective, bound, max(g, 0.0), proven, seconds, str(res.message), True, rounds, **said
    )


def agent_plan(problem: Problem, day: Day, agent: Agent) -> tuple[np.ndarray, float]:
    """An online agent's day, replayed through the environment as `run_days` plays it:
    the placements it applied per step [T, I] and its day reward."""
    if hasattr(agent, "start_day"):  # an agent whose randomness is drawn per day
        agent.start_day(day.split, day.index)
    run, plan, reward = DayRun(problem, day), [], 0.0
    while not run.done:
        o = run.apply(agent.decide(run))
        plan.append(o.placement.copy())
        reward += o.reward
    return np.array(plan), reward


@dataclass
class MilpDayAgent:
    """Solves the whole day's MILP at its first step (with hindsight of every step's
    rates and deadlines) and then applies the plan: the day's optimum to compare to.
    With `start_agent`, that agent's day (replayed through the environment first) is
    the MILP's start, so HiGHS begins from a good incumbent and spends its time on the
    bound."""

    time_limit: float = 120.0
    gap: float = 1e-4
    name: str = "milp-day"
    day_results: list[DayMilpResult] = field(default_factory=list)
    start_agent: Agent | None = None
    start_name: str = ""

    def decide(self, run: DayRun) -> np.ndarray:
        if run.t == 0:
            start, start_reward = None, float("nan")
            if self.start_agent is not None:
                start, start_reward = agent_plan(run.problem, run.day, self.start_agent)
            res = solve_day(run.problem, run.day, self.time_limit, self.gap, start=start)
            self.day_results.append(replace(res, start_reward=start_reward))
        return self.day_results[-1].plan[run.t]

    def note(self) -> str:
        res = self.day_results
        proven = sum(r.optimal for r in res)
        txt = f"{proven} of {len(res)} days proven optimal (routes fixed to an empty network's)"
        started = [r for r in res if r.start is not None]
        if started:
            ok = sum(r.start == "feasible" for r in started)
            txt += f"; started from {self.start_name or 'an agent'}'s day ({ok} of {len(started)} starts feasible)"
        found = [r for r in res if r.found]
        if found:
            txt += f"; MILP day reward {np.mean([r.objective for r in found]):.3f}"
            txt += f", bound {np.mean([r.bound for r in res]):.3f}"
            gaps = [r.gap for r in res if not r.optimal]
            if gaps:
                txt += f", gap of the unproven {min(gaps):.2e}..{max(gaps):.2e}"
        if len(found) < len(res):
            lost = [r for r in res if not r.found]
            txt += f"; {len(lost)} days found no solution in time (initial placement kept"
            lp = [r.bound for r in lost if np.isfinite(r.bound)]
            txt += f"; LP-relaxation bound {np.mean(lp):.3f})" if lp else "; no bound)"
        return txt
