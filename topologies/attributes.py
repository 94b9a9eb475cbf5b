"""Draw every node and link attribute of the model from a scenario's ranges.

Units, everywhere in srem: storage in MB, rates and bandwidth in Mbps, delays in
ms, costs in currency units per MB (stored or transferred). Ranges in the scenario
may use GB/Gbps for readability; they are converted here, once.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

Range = tuple[float, float]


@dataclass(frozen=True)
class SubstrateRanges:
    """Uniform ranges of the substrate's parameters (model.md, 'Suggested ranges')."""

    server_storage_gb: Range = (16.0, 64.0)
    server_cost_per_gb: Range = (0.01, 0.05)
    lm_mb: Range = (20.0, 50.0)
    em_gb: Range = (0.5, 4.0)
    rt_mb: Range | None = None  # None: the RDMA table is as large as the LM (the paper)
    lm_cost_per_mb: Range = (0.01, 0.05)
    em_cost_per_mb: Range = (0.002, 0.008)
    rdma_us: Range = (1.8, 2.2)
    link_gbps: Range = (10.0, 40.0)
    link_cost_per_gb: Range = (0.01, 0.05)
    link_prop_ms: Range = (0.05, 0.5)
    link_tx_ms_per_mb: Range = (0.001, 0.01)
    controller_gbps: float = 50.0
    controller_cost_per_gb: float = 0.05


def draw(g: nx.Graph, ranges: SubstrateRanges, rng: np.random.Generator) -> nx.Graph:
    """Return a copy of `g` with every attribute drawn; nodes and links in sorted order
    so that the same seed gives the same substrate whatever order the builder used."""
    out = g.copy()
    u = lambda r: float(rng.uniform(r[0], r[1]))
    for name in sorted(out.nodes):
        d = out.nodes[name]
        if d["kind"] == "server":
            d["storage_mb"] = u(ranges.server_storage_gb) * 1000.0
            d["cost_per_mb"] = u(ranges.server_cost_per_gb) / 1000.0
        else:
            d["lm_mb"] = u(ranges.lm_mb)
            d["em_mb"] = u(ranges.em_gb) * 1000.0
            d["rt_mb"] = d["lm_mb"] if ranges.rt_mb is None else u(ranges.rt_mb)
            d["lm_cost_per_mb"] = u(ranges.lm_cost_per_mb)
            d["em_cost_per_mb"] = u(ranges.em_cost_per_mb)
            d["rdma_us"] = u(ranges.rdma_us)
    for a, b in sorted(tuple(sorted(e)) for e in out.edges):
        out.edges[a, b].update(
            bw_mbps=u(ranges.link_gbps) * 1000.0,
            cost_per_mb=u(ranges.link_cost_per_gb) / 1000.0,
            prop_ms=u(ranges.link_prop_ms),
            tx_ms_per_mb=u(ranges.link_tx_ms_per_mb),
        )
    out.graph["controller_bw_mbps"] = ranges.controller_gbps * 1000.0
    out.graph["controller_cost_per_mb"] = ranges.controller_cost_per_gb / 1000.0
    return out
