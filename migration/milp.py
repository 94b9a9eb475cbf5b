"""The exact optimum: problem (3)–(6) with the scenario's terms, as a MILP for HiGHS.

Variables: x[f, j] ∈ {0, 1} for each movable flow and each instance it may end on (its
own included); y[j] ∈ {0, 1} for each spare (started) and each scale-in candidate
(kept); s[j] ≥ 0 load above Th_high (priced at ω, so the model is always feasible); in
load balancing d[j] ≥ |u_j − ū|. It minimises exactly `outcome.evaluate`'s J, so the
MILP's objective and bound are comparable with every method's J. A time limit returns
the best plan found with HiGHS's dual bound and gap; `proven` says when it is optimal.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from migration.model import Move, Problem
from migration.outcome import moves_from_assignment


@dataclass(frozen=True)
class MilpResult:
    moves: list[Move]
    objective: float  # J of the plan returned (inf if none found)
    bound: float  # a lower bound on every plan's J
    proven: bool
    seconds: float

    @property
    def gap(self) -> float:
        if not np.isfinite(self.objective):
            return float("inf")
        return (self.objective - self.bound) / max(abs(self.objective), 1e-9)


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """HiGHS (through SciPy) prints a debug line from C for some incumbents; keep it off the CLI's stdout."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def solve(p: Problem, time_limit: float = 10.0) -> MilpResult:
    t0 = time.perf_counter()
    n = len(p.instances)
    mov = np.flatnonzero(p.movable)
    dest = p.destinations
    pairs: list[tuple[int, int]] = []
    for f in mov:
        for j in range(n):
            if j == p.src[f] or dest[j]:
                pairs.append((int(f), j))
    nx = len(pairs)
    ycand = (
        list(np.flatnonzero(~p.active)) if p.scenario == "scale-out" else list(np.flatnonzero(p.candidates))
    )
    yidx = {int(j): nx + k for k, j in enumerate(ycand)}
    ny = len(ycand)
    sbase = nx + ny
    balance = p.scenario == "balance"
    dbase = sbase + n
    nvar = dbase + (n if balance else 0)

    c = np.zeros(nvar)
    fixed = p.src.copy()
    fixed_load = np.bincount(fixed[~p.movable], weights=p.rate[~p.movable], minlength=n)
    for k, (f, j) in enumerate(pairs):
        c[k] = p.cost[f, j]
    const = 0.0
    for j in ycand:
        c[yidx[int(j)]] = p.costs.resource  # spare started (+R) / candidate kept (+R, i.e. −R saved forgone)
    if p.scenario == "scale-in":
        const -= p.costs.resource * ny
    c[sbase : sbase + n] = p.costs.omega / p.cap
    if balance:
        c[dbase : dbase + n] = p.costs.omega_balance * p.active

    rows, cols, vals, lo, hi = [], [], [], [], []
    r = 0

    def add(entries: list[tuple[int, float]], lb: float, ub: float) -> None:
        nonlocal r
        for col, v in entries:
            rows.append(r)
            cols.append(col)
            vals.append(v)
        lo.append(lb)
        hi.append(ub)
        r += 1

    by_flow: dict[int, list[int]] = {}
    by_dest: dict[int, list[int]] = {}
    for k, (f, j) in enumerate(pairs):
        by_flow.setdefault(f, []).append(k)
        by_dest.setdefault(j, []).append(k)
    for ks in by_flow.values():  # (4): each flow on exactly one instance
        add([(k, 1.0) for k in ks], 1.0, 1.0)
    for j in range(n):
        ks = by_dest.get(j, [])
        # load: fixed + moved-in − s_j ≤ Th_high·cap (s_j priced at ω: the soft threshold of J)
        add([(k, p.rate[pairs[k][0]]) for k in ks] + [(sbase + j, -1.0)], -np.inf,
            p.thresholds.high * p.cap[j] - fixed_load[j])  # fmt: skip
        inn = [(k, p.size[pairs[k][0]]) for k in ks if pairs[k][0] >= 0 and p.src[pairs[k][0]] != j]
        if inn:  # (5): migrated state fits the destination's buffer
            add(inn, -np.inf, p.instances[j].buffer_mb)
        if j in yidx:  # a flow may sit on a spare only if it is started / on a candidate only if kept
            for k in ks:
                add([(k, 1.0), (yidx[j], -1.0)], -np.inf, 0.0)
        if balance and p.active[j]:  # d_j ≥ |u_j − ū|
            terms = [(k, p.rate[pairs[k][0]] / p.cap[j]) for k in ks]
            base = fixed_load[j] / p.cap[j] - p.target
            add([*terms, (dbase + j, -1.0)], -np.inf, -base)
            add([(col, -v) for col, v in terms] + [(dbase + j, -1.0)], -np.inf, base)
    if p.scenario == "scale-in":
        # a candidate's non-movable flows would keep it (none exist: all of a candidate's flows are movable)
        pass

    integrality = np.zeros(nvar)
    integrality[: nx + ny] = 1
    ub = np.full(nvar, np.inf)
    ub[: nx + ny] = 1.0
    bounds = Bounds(np.zeros(nvar), ub)
    if nx + ny == 0 and not balance:
        return MilpResult([], _j_of(p, fixed), _j_of(p, fixed), True, time.perf_counter() - t0)
    A = coo_matrix((vals, (rows, cols)), shape=(r, nvar)).tocsr()
    with _quiet_stdout():
        res = milp(c, constraints=LinearConstraint(A, lo, hi), integrality=integrality, bounds=bounds,
                   options={"time_limit": float(time_limit), "disp": False, "mip_rel_gap": 1e-6})  # fmt: skip
    dt = time.perf_counter() - t0
    bound = getattr(res, "mip_dual_bound", None)
    bound = (float(bound) + const) if bound is not None and np.isfinite(bound) else -np.inf
    if res.x is None:
        return MilpResult([], float("inf"), bound, False, dt)
    a = fixed.copy()
    for k, (f, j) in enumerate(pairs):
        if res.x[k] > 0.5:
            a[f] = j
    moves = moves_from_assignment(p, a)
    obj = _j_of(p, a)
    proven = res.status == 0
    if proven:
        bound = min(bound, obj) if np.isfinite(bound) else obj
    return MilpResult(moves, obj, bound, proven, dt)


def _j_of(p: Problem, a: np.ndarray) -> float:
    from migration.outcome import evaluate

    return evaluate(p, moves_from_assignment(p, a)).total
