"""The paper's delay model (Eqs. 6–10) as pure functions, and a vectorised evaluator.

A placement is an int array: node of each VNF. A *hop* is one consecutive VNF pair of
one SFC; when its two VNFs sit on different nodes it is a flow over every link of the
route between them. Each link is one OFDMA channel: its capacity L is split among the
flows crossing it in proportion to the sending VNF's `tx` (so l = L·ω̂_j / Σω̂ on the
link), and a hop inside one node costs nothing (the paper's i = i').
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_array

from .scenario import Requests, Scenario, routes

MS = 1000.0  # s -> ms
BITS = 8.0  # MB -> Mb


def processing_ms(work_gcycles_per_mb, size_mb, node_ghz):
    """Eq. 6: delta^p = c_hat_j * beta_u / c_i (work in Gcycles/MB, size MB, GHz) in ms."""
    return MS * work_gcycles_per_mb * size_mb / node_ghz


def ofdma_share_mbps(link_mbps, tx_mbps, tx_on_link_mbps):
    """The part of a link's channel a flow gets: proportional to its sender's tx."""
    return link_mbps * tx_mbps / tx_on_link_mbps


def transmission_ms(size_mb, share_mbps):
    """Eq. 8: beta_u over the flow's share of the link, in ms."""
    return MS * BITS * size_mb / share_mbps


@dataclass(frozen=True)
class Model:
    """Arrays compiled once from a scenario; every evaluator below is a pure function of them."""

    n_nodes: int
    n_vnfs: int
    cap: np.ndarray  # (N, 3)
    need: np.ndarray  # (V, 3)
    proc: np.ndarray  # (V, N) processing ms per MB
    hop_src: np.ndarray  # (H,) VNF sending
    hop_dst: np.ndarray  # (H,) VNF receiving
    hop_sfc: np.ndarray  # (H,)
    sfc_vnfs: tuple[tuple[int, ...], ...]
    route: np.ndarray  # (N*N, E) 0/1: links on the route from node a to node b
    link_cap: np.ndarray  # (E,)
    route_sp: csr_array  # the same as `route`, sparse: route @ per-link vectors, fast at 100 nodes

    @property
    def n_sfcs(self) -> int:
        return len(self.sfc_vnfs)

    @property
    def n_links(self) -> int:
        return len(self.link_cap)


def compile_model(s: Scenario) -> Model:
    n, v = len(s.nodes), len(s.vnfs)
    work = np.array([f.work for f in s.vnfs])
    cpu = np.array([x.cpu for x in s.nodes])
    src, dst, sfc = [], [], []
    for k, f in enumerate(s.sfcs):
        for a, b in zip(f.vnfs, f.vnfs[1:], strict=False):
            src.append(a)
            dst.append(b)
            sfc.append(k)
    route = np.zeros((n * n, max(1, len(s.links))))
    for (a, b), path in routes(s).items():
        route[a * n + b, list(path)] = 1.0
    return Model(
        n, v, s.capacity(), s.need(), processing_ms(work[:, None], 1.0, cpu[None, :]),
        np.array(src, dtype=int), np.array(dst, dtype=int), np.array(sfc, dtype=int),
        tuple(f.vnfs for f in s.sfcs), route,
        np.array([ln.capacity for ln in s.links] or [1.0]), csr_array(route),
    )  # fmt: skip


def hop_links(m: Model, x: np.ndarray) -> np.ndarray:
    """(H, E) 0/1: links each hop's flow crosses under placement x."""
    return m.route[x[m.hop_src] * m.n_nodes + x[m.hop_dst]]


def hop_ms_per_mb(m: Model, x: np.ndarray) -> np.ndarray:
    """(H,) transmission ms per MB of every hop: sum over its links of Eq. 8 with the OFDMA share."""
    on = hop_links(m, x)
    tx = m.need[m.hop_src, 2]
    load = tx @ on  # (E,) total tx weight on each link
    share = ofdma_share_mbps(m.link_cap[None, :], tx[:, None], np.maximum(load, 1e-12)[None, :])
    return (on * transmission_ms(1.0, share)).sum(1)


def sfc_ms_per_mb(m: Model, x: np.ndarray) -> np.ndarray:
    """(K,) E2E ms per MB of each SFC (Eq. 10 over 1 MB): processing plus transmission."""
    proc = m.proc[np.arange(m.n_vnfs), x]
    out = np.array([proc[list(c)].sum() for c in m.sfc_vnfs])
    np.add.at(out, m.hop_sfc, hop_ms_per_mb(m, x))
    return out


def request_delays(m: Model, x: np.ndarray, r: Requests) -> np.ndarray:
    """(R,) E2E delay of each request, ms (Eq. 10)."""
    return r.size_mb * sfc_ms_per_mb(m, x)[r.sfc]


def total_delay(m: Model, x: np.ndarray, volumes: np.ndarray) -> float:
    """The paper's objective sum_u sum_k delta_(k,u): delay is linear in size, so MB per SFC suffices."""
    return float(volumes @ sfc_ms_per_mb(m, x))


def overload(m: Model, x: np.ndarray) -> np.ndarray:
    """(N, 3) how far each node's cpu, storage, tx is over capacity (0 where it fits)."""
    used = np.zeros_like(m.cap)
    np.add.at(used, x, m.need)
    return np.maximum(used - m.cap, 0.0)


def feasible(m: Model, x: np.ndarray) -> bool:
    return not overload(m, x).any()
