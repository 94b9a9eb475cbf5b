"""The exact optimum of one step's problem, as a MILP solved by HiGHS.

The step's problem is the one `step.evaluate` scores: choose a host for every
instance (requests keep their instances, routes follow the controller's
load-aware shortest paths of the step) and which requests to serve, to maximise
the reward ω1·AR − ω2·Cost/ref under storage, RDMA-table, instance-capacity,
link-capacity and deadline constraints. Unlike the environment's in-order
admission, the MILP chooses the served set optimally, so its objective bounds
what any agent can score at that step.

Linearisation: `u[i,n]` (instance i at node n) is a sum of placement binaries;
a segment between two instances uses `q[i,j,a,b]`, constrained to have the
marginals `u[i,·]` and `u[j,·]`, which for one-hot marginals is exactly their
product. Deadlines and bandwidth cost of rejected requests are switched off
with big-M terms. Link capacity is added lazily: solve, find arcs the served
requests overload, add rows for those arcs, solve again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from placement.milp import highs
from placement.model import cost as C
from placement.model import delay as D
from placement.model.domain import HostKind
from placement.model.simulate import DayRun
from placement.model.step import cost_reference
from placement.model.workload import Day, Problem


@dataclass(frozen=True)
class MilpResult:
    placement: np.ndarray
    accepted: np.ndarray
    objective: float  # best reward found
    bound: float  # proven upper bound of the reward
    gap: float  # (bound - objective) / max(|objective|, 1e-9)
    optimal: bool
    seconds: float
    status: str
    rounds: int
    kept: bool = False  # no solution in time: the previous placement is kept


class _Model:
    def __init__(self) -> None:
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.obj: list[float] = []
        self.integer: list[int] = []
        self.rows: list[tuple[dict[int, float], float, float]] = []

    def var(self, lb=0.0, ub=np.inf, integer=False, obj=0.0) -> int:
        self.lb.append(lb)
        self.ub.append(ub)
        self.obj.append(obj)
        self.integer.append(int(integer))
        return len(self.lb) - 1

    def row(self, terms: dict[int, float], lo=-np.inf, hi=np.inf) -> None:
        self.rows.append((terms, lo, hi))

    def solve(self, time_limit: float, gap: float, start: dict[int, float] | None = None) -> highs.MipSolve:
        """HiGHS on the rows so far; `start`: values of some integer columns (a MIP start
        HiGHS completes)."""
        data, ri, ci, lo, hi = [], [], [], [], []
        for k, (terms, a, b) in enumerate(self.rows):
            for c, v in terms.items():
                if v != 0.0:
                    ri.append(k)
                    ci.append(c)
                    data.append(v)
            lo.append(a)
            hi.append(b)
        A = sparse.csc_array((data, (ri, ci)), shape=(len(self.rows), len(self.lb)))
        return highs.solve(
            np.array(self.obj),
            np.array(self.integer),
            np.array(self.lb),
            np.array(self.ub),
            A,
            np.array(lo),
            np.array(hi),
            time_limit,
            gap,
            start,
        )


def _add(terms: dict[int, float], col: int, coef: float) -> None:
    terms[col] = terms.get(col, 0.0) + coef


def solve_step(
    problem: Problem,
    day: Day,
    t: int,
    previous: np.ndarray,
    arc_util: np.ndarray,
    time_limit: float = 30.0,
    gap: float = 1e-6,
    max_rounds: int = 6,
) -> MilpResult:
    t0 = time.perf_counter()
    sub, cat, paths = problem.sub, problem.cat, problem.paths
    obj = problem.scenario.objective
    N, W, I, H = sub.n_nodes, sub.n_switches, cat.n_instances, sub.n_hosts
    R = day.n_chains
    rate, deadline = day.rate[t], day.deadline[t]
    vol = C.volume_mb(rate)
    itype = cat.inst_type
    allowed = cat.static_mask[itype]  # [I, H]
    prev_node = sub.host_node[previous]

    # Routes of the step for every node pair, as the evaluator will choose them.
    all_pairs = np.arange(N * N)
    route = paths.route(all_pairs, paths.arc_weight(arc_util)).reshape(N, N)
    p_cost, p_tx, p_prop = paths.path_cost[route], paths.path_tx[route], paths.path_prop[route]
    p_arcs = paths.parcs[route]  # [N, N, hops]
    ref = cost_reference(problem, day, t)
    wc = obj.omega_cost / ref

    inc_round: set[int] = set()
    rounds = 0
    while True:
        rounds += 1
        m = _Model()
        x = -np.ones((I, H), dtype=np.int64)
        for i in range(I):
            for h in np.flatnonzero(allowed[i]):
                v = itype[i]
                it = C.it_cost(cat.need[v, h], sub.host_unit_cost[h])
                if h == previous[i]:
                    rc = 0.0
                elif sub.host_kind[h] == HostKind.SERVER:
                    rc = C.migration_cost(cat.server_mb[v], p_cost[prev_node[i], sub.host_node[h]])
                else:
                    rc = C.programming_cost(cat.switch_mb[v], sub.controller_cost)
                x[i, h] = m.var(0, 1, True, wc * (obj.alpha_it * it + obj.alpha_rc * rc))
        nodes_of = [np.unique(sub.host_node[np.flatnonzero(allowed[i])]) for i in range(I)]

        def u(i: int, n: int, x=x) -> dict[int, float]:
            return {int(x[i, h]): 1.0 for h in np.flatnonzero((sub.host_node == n) & (x[i] >= 0))}

        for i in range(I):
            m.row({int(c): 1.0 for c in x[i][x[i] >= 0]}, 1.0, 1.0)
        # Storage and RDMA table.
        for h in range(H):
            terms = {int(x[i, h]): float(cat.need[itype[i], h]) for i in range(I) if x[i, h] >= 0}
            if terms:
                m.row(terms, hi=float(sub.host_capacity[h]))
        em = np.flatnonzero(sub.host_kind == HostKind.EM)
        for h in em:
            terms = {int(x[i, h]): float(cat.rt_mb[itype[i]]) for i in range(I) if x[i, h] >= 0}
            if terms:
                m.row(terms, hi=float(sub.rt_capacity[sub.host_node[h]]))

        # Segment variables between consecutive instances of chains.
        q = segment_vars(m, day, nodes_of, u)

        def segment_terms(r: int, table: np.ndarray, x=x, q=q) -> dict[int, float]:
            """Σ over the request's segments of a per-pair quantity, as a linear expression."""
            terms: dict[int, float] = {}
            n = int(day.chain_len[r])
            first, last = int(day.assign[r, 0]), int(day.assign[r, n - 1])
            for h in np.flatnonzero(x[first] >= 0):
                _add(terms, int(x[first, h]), float(table[day.src[r], sub.host_node[h]]))
            for h in np.flatnonzero(x[last] >= 0):
                _add(terms, int(x[last, h]), float(table[sub.host_node[h], day.dst[r]]))
            for k in range(n - 1):
                for (a, b), c in q[(int(day.assign[r, k]), int(day.assign[r, k + 1]))].items():
                    _add(terms, c, float(table[a, b]))
            return terms

        # Reconfiguration delay of every instance: migration or programming.
        prog_unit = D.transfer_ms(cat.switch_mb[itype], sub.controller_bw)  # [I]
        mp = float(prog_unit.sum())
        rcv = []
        for i in range(I):
            rc_i = m.var(0, np.inf)
            rcv.append(rc_i)
            terms = {rc_i: 1.0}
            for h in np.flatnonzero(x[i] >= 0):
                if sub.host_kind[h] == HostKind.SERVER and h != previous[i]:
                    bott = paths.path_bottleneck[route[prev_node[i], sub.host_node[h]]]
                    _add(terms, int(x[i, h]), -float(D.transfer_ms(cat.server_mb[itype[i]], bott)))
            m.row(terms, lo=0.0)
            for w in range(W):
                mine = [h for h in np.flatnonzero(x[i] >= 0) if sub.host_node[h] == w and h != previous[i]]
                if not mine:
                    continue
                # rc_i >= prog_w - mp * (1 - [i newly installed in w])
                terms = {rc_i: 1.0}
                for h in mine:
                    _add(terms, int(x[i, h]), -mp)
                for i2 in range(I):
                    for h in np.flatnonzero(x[i2] >= 0):
                        if (
                            sub.host_node[h] == w
                            and sub.host_kind[h] != HostKind.SERVER
                            and h != previous[i2]
                        ):
                            _add(terms, int(x[i2, h]), -float(prog_unit[i2]))
                m.row(terms, lo=-mp)
        rc_max = max(mp, float(D.transfer_ms(cat.server_mb.max(), sub.arc_bw.min())))

        a_col = [m.var(0, 1, True, -obj.omega_ar / R) for _ in range(R)]
        max_cost_pm = float(p_cost.max()) * (day.chain_len + 1)
        for r in range(R):
            n = int(day.chain_len[r])
            insts = [int(i) for i in day.assign[r, :n]]
            # d_r = vol·(processing + transmission per MB) + propagation
            d_r = m.var(0, np.inf)
            terms = {d_r: -1.0}
            for i in insts:
                for h in np.flatnonzero(x[i] >= 0):
                    _add(terms, int(x[i, h]), float(vol[r] * cat.ms_per_mb[itype[i], h]))
            for c, v in segment_terms(r, vol[r] * p_tx + p_prop).items():
                _add(terms, c, v)
            m.row(terms, 0.0, 0.0)
            d_max = float(vol[r] * (cat.ms_per_mb.max() * n + p_tx.max() * (n + 1)) + p_prop.max() * (n + 1))
            big = rc_max + d_max
            for i in insts:
                m.row({rcv[i]: 1.0, d_r: 1.0, a_col[r]: big}, hi=float(deadline[r]) + big)
            # Bandwidth cost of a served request.
            w_r = m.var(0, np.inf, False, wc * obj.alpha_bw)
            mw = float(vol[r] * max_cost_pm[r])
            terms = {w_r: -1.0, a_col[r]: mw}
            for c, v in segment_terms(r, vol[r] * p_cost).items():
                _add(terms, c, v)
            m.row(terms, hi=mw)
        # Instance capacity of served requests.
        for i in range(I):
            users = np.nonzero((day.assign == i).any(1))[0]
            terms = {a_col[r]: float(rate[r]) for r in users}
            for h in np.flatnonzero(x[i] >= 0):
                _add(terms, int(x[i, h]), -float(cat.capacity[itype[i], h]))
            m.row(terms, hi=0.0)
        # Link capacity, for the arcs found overloaded in earlier rounds.
        for arc in sorted(inc_round):
            cap_terms: dict[int, float] = {}
            table = (p_arcs == arc).sum(-1).astype(float)
            for r in range(R):
                use = segment_terms(r, table)
                if not any(use.values()):
                    continue
                nseg = float(day.chain_len[r] + 1)
                v = m.var(0, np.inf)
                terms = {v: -1.0, a_col[r]: nseg}
                for c, val in use.items():
                    _add(terms, c, val)
                m.row(terms, hi=nseg)
                cap_terms[v] = float(rate[r])
            m.row(cap_terms, hi=float(sub.arc_bw[arc]))

        res = m.solve(max(time_limit - (time.perf_counter() - t0), 1e-6), gap)
        if res.x is None:
            # No incumbent in time: keep the previous placement rather than fail the day.
            bound = -res.mip_dual_bound  # +inf when HiGHS proved no bound either
            return MilpResult(
                placement=np.asarray(previous).copy(),
                accepted=np.zeros(R, dtype=bool),
                objective=float("nan"),
                bound=bound,
                gap=float("inf"),
                optimal=False,
                seconds=time.perf_counter() - t0,
                status=str(res.message),
                rounds=rounds,
                kept=True,
            )
        sol = res.x
        placement = np.array(
            [int(np.flatnonzero(x[i] >= 0)[np.argmax(sol[x[i][x[i] >= 0]])]) for i in range(I)]
        )
        accepted = np.array([sol[c] > 0.5 for c in a_col])
        # Arcs the served set overloads under this placement: add them and solve again.
        node = sub.host_node[placement]
        seq = np.concatenate(
            [
                day.src[:, None],
                np.where(day.assign >= 0, node[np.maximum(day.assign, 0)], day.dst[:, None]),
                day.dst[:, None],
            ],
            axis=1,
        )
        seg_arcs = p_arcs[seq[:, :-1], seq[:, 1:]].reshape(R, -1)
        load = np.bincount(
            seg_arcs[accepted].ravel(),
            weights=np.repeat(rate[accepted], seg_arcs.shape[1]),
            minlength=paths.dummy_arc + 1,
        )[: sub.n_arcs]
        over = set(np.flatnonzero(load > sub.arc_bw * (1 + 1e-9)).tolist()) - inc_round
        if not over or rounds >= max_rounds:
            break
        inc_round |= over

    objective = -float(res.fun)
    bound = -res.mip_dual_bound
    g = (bound - objective) / max(abs(objective), 1e-9)
    return MilpResult(
        placement=placement,
        accepted=accepted,
        objective=objective,
        bound=bound,
        gap=max(g, 0.0),
        optimal=res.status == 0 and not over,
        seconds=time.perf_counter() - t0,
        status=str(res.message),
        rounds=rounds,
    )


class MilpAgent:
    """Solves every step's MILP and applies its placement."""

    name = "milp"

    def __init__(self, time_limit: float = 30.0, gap: float = 1e-6) -> None:
        self.time_limit, self.gap = time_limit, gap
        self.results: list[MilpResult] = []

    def decide(self, run: DayRun) -> np.ndarray:
        r = solve_step(run.problem, run.day, run.t, run.placement, run.arc_util, self.time_limit, self.gap)
        self.results.append(r)
        return r.placement


def segment_vars(m: _Model, day, nodes_of, u) -> dict[tuple[int, int], dict[tuple[int, int], int]]:
    """One variable per (node of i, node of j) for every consecutive instance pair (i, j)
    of a chain: the linearised product of their placements, tied to each side's
    placement by rows Σ_b q[a, b] = u_i(a) and Σ_a q[a, b] = u_j(b)."""
    q: dict[tuple[int, int], dict[tuple[int, int], int]] = {}
    for r in range(day.n_chains):
        for k in range(day.chain_len[r] - 1):
            i, j = int(day.assign[r, k]), int(day.assign[r, k + 1])
            if (i, j) in q:
                continue
            cols = {(int(a), int(b)): m.var(0, 1) for a in nodes_of[i] for b in nodes_of[j]}
            q[(i, j)] = cols
            for side, inst in ((0, i), (1, j)):
                for n in nodes_of[inst]:
                    terms = {c: 1.0 for ab, c in cols.items() if ab[side] == n}
                    for c2, v2 in u(inst, int(n)).items():
                        _add(terms, c2, -v2)
                    m.row(terms, 0.0, 0.0)
    return q
