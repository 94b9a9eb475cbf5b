"""The exact optimum of the paper's problem (II-C) by scipy.optimize.milp (HiGHS).

min sum_k V_k * (E2E ms per MB of SFC k) over placements that respect every node's cpu,
storage and tx. Transmission is bilinear (a hop's OFDMA share depends on which other
hops cross the same link), so it is linearised: y[h] is a transport plan between
x[src] and x[dst] (y[h,a,b] = 1 when hop h runs a->b; tight, RLT form), u[h,e] sums y over
the pairs whose route uses link e, U[e] = sum_h tx_h u[h,e] is the link's OFDMA load, and
w[h,e] >= U[e] - M (1 - u[h,e]), w[h,e] >= tx_h u[h,e] stands for u[h,e] * U[e]: a hop pays
V_h / tx_h * U[e] ms-per-MB units on each link it crosses. All costs are positive, so in
any optimum y, u, w sit at their products; only x is integral. The LP relaxation is weak
beyond a few nodes (fractional x spreads y over many routes), so on mec-10 HiGHS returns
an incumbent and a bound, not a proof, within a minute.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from .delay import BITS, MS, Model, total_delay


@dataclass(frozen=True)
class Optimum:
    placement: np.ndarray | None  # None when HiGHS found no placement in time
    objective: float  # total delay of `placement`, ms (inf if none)
    bound: float  # proven lower bound, ms
    proven: bool  # True only when HiGHS proved optimality
    seconds: float

    @property
    def gap(self) -> float:
        """Relative gap between the placement found and the bound (0 when proven)."""
        if self.placement is None:
            return float("inf")
        return 0.0 if self.proven else max(0.0, (self.objective - self.bound) / max(self.objective, 1e-9))


class _Rows:
    def __init__(self) -> None:
        self.r: list[int] = []
        self.c: list[int] = []
        self.v: list[float] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def add(self, cols: list[int], vals: list[float], lo: float, hi: float) -> None:
        i = len(self.lo)
        self.r += [i] * len(cols)
        self.c += cols
        self.v += vals
        self.lo.append(lo)
        self.hi.append(hi)


def solve(m: Model, volumes: np.ndarray, time_limit: float = 60.0) -> Optimum:
    t0 = time.perf_counter()
    n, v, h_n, e_n = m.n_nodes, m.n_vnfs, len(m.hop_src), m.n_links
    xi = np.arange(v * n).reshape(v, n)
    pairs = [(a, b) for a in range(n) for b in range(n)]  # a == b too: y is a transport plan
    yi = v * n + np.arange(h_n * len(pairs)).reshape(h_n, len(pairs))
    ui = v * n + h_n * len(pairs) + np.arange(h_n * e_n).reshape(h_n, e_n)
    # w[h,e] = u[h,e] * U[e], U[e] = the tx weight on link e (McCormick; U is continuous)
    wi = ui.max(initial=yi.max(initial=v * n - 1)) + 1 + np.arange(h_n * e_n).reshape(h_n, e_n)
    big_u = v * n + yi.size + ui.size + wi.size + np.arange(e_n)
    n_var = v * n + yi.size + ui.size + wi.size + e_n
    c = np.zeros(n_var)
    vol_vnf = np.zeros(v)
    for k, chain in enumerate(m.sfc_vnfs):
        vol_vnf[list(chain)] += volumes[k]
    c[xi] = vol_vnf[:, None] * m.proc
    vol_hop = volumes[m.hop_sfc]
    tx = m.need[m.hop_src, 2]
    per = MS * BITS / m.link_cap  # ms per MB per unit of (load / own tx) on each link
    c[wi] = (vol_hop / tx)[:, None] * per[None, :]
    cap_e = float(tx.sum())
    ub = np.ones(n_var)
    ub[wi] = cap_e
    ub[big_u] = cap_e
    rows = _Rows()
    for j in range(v):  # each VNF on exactly one node
        rows.add(list(xi[j]), [1.0] * n, 1, 1)
    for i in range(n):  # node capacity, cpu / storage / tx (II-Cb)
        for r in range(3):
            rows.add(list(xi[:, i]), list(m.need[:, r]), -np.inf, m.cap[i, r])
    for h in range(h_n):
        s, d = m.hop_src[h], m.hop_dst[h]
        # y[h] has marginals x[src] and x[dst] (the tight, RLT form of y = x[src] * x[dst])
        for a in range(n):
            rows.add([yi[h, a * n + b] for b in range(n)] + [xi[s, a]], [1.0] * n + [-1.0], 0, 0)
            rows.add([yi[h, b * n + a] for b in range(n)] + [xi[d, a]], [1.0] * n + [-1.0], 0, 0)
        for e in range(e_n):
            uses = [p for p, (a, b) in enumerate(pairs) if m.route[a * n + b, e]]
            rows.add([ui[h, e]] + [yi[h, p] for p in uses], [1.0] + [-1.0] * len(uses), 0, 0)
    for e in range(e_n):
        rows.add([big_u[e], *list(ui[:, e])], [1.0, *list(-tx)], 0, 0)
        for h in range(h_n):
            rows.add([wi[h, e], big_u[e], ui[h, e]], [1.0, -1.0, -cap_e], -cap_e, np.inf)
            rows.add([wi[h, e], ui[h, e]], [1.0, -tx[h]], 0, np.inf)
    a = coo_array((rows.v, (rows.r, rows.c)), shape=(len(rows.lo), n_var)).tocsr()
    integrality = np.zeros(n_var)
    integrality[: v * n] = 1
    res = milp(
        c, constraints=LinearConstraint(a, rows.lo, rows.hi), integrality=integrality,
        bounds=Bounds(np.zeros(n_var), ub),
        options={"time_limit": max(1.0, time_limit - (time.perf_counter() - t0)), "mip_rel_gap": 1e-9},
    )  # fmt: skip
    secs = time.perf_counter() - t0
    bound = float(getattr(res, "mip_dual_bound", np.nan) or 0.0)
    if res.x is None:
        return Optimum(None, float("inf"), bound, False, secs)
    x = res.x[xi].argmax(1)
    obj = total_delay(m, x, volumes)  # re-evaluated by the model itself, not the MILP's copy
    proven = res.status == 0
    return Optimum(x, obj, obj if proven else min(bound, obj), proven, secs)
