"""A day's chains as flows on the fabric: which server sends and which receives each chain,
and the 5-tuple that tells chains apart.

The model's chains run between switches at Mbps rates for 2-hour steps; an
emulation of Python switches carries a few thousand packets per second. So:

- every chain gets a sending and a receiving server: the one under the nearest edge
  switch of its source (destination) node, spread over that switch's servers;
- every chain sends from its own UDP source port (10000 + chain) to port 9000, so
  the edge switch's classifier tells chains apart by 5-tuple;
- rates keep their diurnal shape but are scaled by one factor for the whole day, so
  that the busiest step sends at most `pps_budget` packets per second in total.

`ReplayPlan.describe()` states the scaling; every output that shows replay figures
carries it. The controller compiles chains from these flows; the emulation plays them.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from topologies.addressing import FabricPlan

DPORT = 9000


SPORT_BASE = 10000


@dataclass(frozen=True)
class ChainFlow:
    chain: int
    src_server: str
    dst_server: str

    @property
    def sport(self) -> int:
        return SPORT_BASE + self.chain


@dataclass
class ReplayPlan:
    flows: list[ChainFlow]
    pps: np.ndarray  # [T, R] packets per second of each chain in each step
    mb_per_packet: float  # model MB one emulated packet stands for
    seconds_per_step: float
    packet_bytes: int
    hours: list[int]
    min_pps: float = 0.0  # a sending chain's floor (evening rates would send next to nothing)

    def describe(self) -> str:
        floor = f", and every sending chain at least {self.min_pps:.3g} packets/s" if self.min_pps else ""
        return (
            f"each {self.packet_bytes}-byte packet stands for {self.mb_per_packet:.3g} MB of the model's "
            f"traffic{floor}; each step is played in {self.seconds_per_step:g} s"
        )


def _server_near(plan: FabricPlan, node: str, k: int, avoid: str | None = None) -> str:
    """The k-th (mod count) server under the edge switch nearest to `node`, other than
    `avoid` (a chain's sender is not its receiver: then the next-nearest edge serves)."""
    g = plan.graph
    if node in plan.servers and node != avoid:
        return node
    dist = nx.single_source_shortest_path_length(g, node)
    edges = sorted(
        (d, name) for name, d in dist.items() if name in plan.switches and plan.switches[name].subnet
    )
    for _, edge in edges:
        servers = sorted(s.name for s in plan.servers.values() if s.edge == edge and s.name != avoid)
        if servers:
            return servers[k % len(servers)]
    raise ValueError(f"no server is reachable from {node}")


def floor_pps(pps_budget: float, n_chains: int) -> float:
    """The default floor of a sending chain's rate: it keeps evening chains measurable, and
    is a quarter of the budget spread over every chain, so that the busiest step stays
    within what the emulation carries."""
    return 0.25 * pps_budget / max(1, n_chains)


def plan_replay(
    names: tuple[str, ...],
    src: np.ndarray,
    dst: np.ndarray,
    rate_mbps: np.ndarray,
    hours: list[int],
    fabric: FabricPlan,
    *,
    pps_budget: float = 1500.0,
    seconds_per_step: float = 10.0,
    packet_bytes: int = 128,
    min_pps: float = 0.0,
) -> ReplayPlan:
    """Flows and per-step rates for a day: `src`/`dst` are node indices into `names`,
    `rate_mbps` is [T, R] (the model's units)."""
    if pps_budget <= 0 or seconds_per_step <= 0 or packet_bytes < 64:
        raise ValueError("pps_budget and seconds_per_step must be > 0, packet_bytes >= 64")
    flows = []
    for r, (s, d) in enumerate(zip(src, dst, strict=True)):
        sender = _server_near(fabric, names[int(s)], r)
        flows.append(ChainFlow(r, sender, _server_near(fabric, names[int(d)], r + 1, avoid=sender)))
    mb_per_s = np.asarray(rate_mbps, dtype=float) / 8.0
    raw_pps = mb_per_s * 1e6 / packet_bytes  # what the model's rates would be in packets
    busiest = float(raw_pps.sum(axis=1).max()) if raw_pps.size else 0.0
    scale = min(1.0, pps_budget / busiest) if busiest > 0 else 1.0
    pps = raw_pps * scale
    pps = np.where(pps > 0, np.maximum(pps, min_pps), 0.0)
    return ReplayPlan(
        flows=flows,
        pps=pps,
        min_pps=min_pps,
        mb_per_packet=packet_bytes / 1e6 / scale,
        seconds_per_step=seconds_per_step,
        packet_bytes=packet_bytes,
        hours=list(hours),
    )
