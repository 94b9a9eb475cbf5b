"""The exact optimum of the paper's problem (II-C) by scipy.optimize.milp (HiGHS).

min sum_k V_k * (E2E ms per MB of SFC k) over placements that respect every node's cpu,
storage and tx. Transmission is bilinear (a hop's OFDMA share depends on which other
hops cross the same link), so it is linearised: y[h,a,b] >= x[src,a] + x[dst,b] - 1 marks
hop h routed a->b, u[h,e] = sum of y over the pairs whose route uses link e, and
z[h,g,e] >= u[h,e] + u[g,e] - 1 marks two hops sharing link e. All costs are positive,
so the relaxed y, u, z sit at their products in any optimum; only x is integral.
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
    hh = [(h, g) for h in range(h_n) for g in range(h + 1, h_n)]
    zi = ui.max(initial=yi.max(initial=v * n - 1)) + 1 + np.arange(len(hh) * e_n).reshape(len(hh), e_n)
    n_var = v * n + yi.size + ui.size + zi.size
    c = np.zeros(n_var)
    vol_vnf = np.zeros(v)
    for k, chain in enumerate(m.sfc_vnfs):
        vol_vnf[list(chain)] += volumes[k]
    c[xi] = vol_vnf[:, None] * m.proc
    vol_hop = volumes[m.hop_sfc]
    tx = m.need[m.hop_src, 2]
    per = MS * BITS / m.link_cap  # ms per MB per unit of (load / own tx) on each link
    c[ui] = vol_hop[:, None] * per[None, :]
    for q, (h, g) in enumerate(hh):
        c[zi[q]] = (vol_hop[h] * tx[g] / tx[h] + vol_hop[g] * tx[h] / tx[g]) * per
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
    for q, (h, g) in enumerate(hh):
        for e in range(e_n):
            rows.add([zi[q, e], ui[h, e], ui[g, e]], [1.0, -1.0, -1.0], -1, np.inf)
    a = coo_array((rows.v, (rows.r, rows.c)), shape=(len(rows.lo), n_var)).tocsr()
    integrality = np.zeros(n_var)
    integrality[: v * n] = 1
    ub = np.ones(n_var)
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
