"""Replay a scenario's day as packets on the emulated fabric.

The model's chains run between switches at Mbps rates for 2-hour steps; an
emulation of Python switches carries a few thousand packets per second. So:

- every chain gets a sending and a receiving server: the one under the nearest edge
  switch of its source (destination) node, spread over that switch's servers;
- every chain sends from its own UDP source port (10000 + chain) to port 9000, so
  the edge switch's classifier tells chains apart by 5-tuple;
- rates keep their diurnal shape but are scaled by one factor for the whole day, so
  that the busiest step sends at most `pps_budget` packets per second in total;
- each step is played in `seconds_per_step` seconds.

`ReplayPlan.describe()` states the scaling; every output that shows replay figures
carries it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass

import networkx as nx
import numpy as np

from topologies.addressing import FabricPlan

from .traffic import start_receivers, stop_receivers

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


@dataclass
class ChainMeasure:
    chain: int
    sent: int
    received: int
    lost: int
    reordered: int
    duplicates: int
    latency_p50_us: float
    latency_p99_us: float


@dataclass
class StepTraffic:
    """A step's senders and receivers, running."""

    flows: list[ChainFlow]
    senders: dict[str, subprocess.Popen]
    receivers: dict[str, subprocess.Popen]
    seconds: float
    drain: float


def start_step(
    emu, fabric: FabricPlan, plan: ReplayPlan, step: int, chains: set[int] | None = None, drain: float = 2.0
) -> StepTraffic:
    """Start one step's traffic on the emulation (receivers first); `finish_step` measures it.
    Receivers listen `drain` seconds after the senders stop: a packet later than that is lost."""
    seconds = plan.seconds_per_step
    active = [f for f in plan.flows if (chains is None or f.chain in chains) and plan.pps[step, f.chain] > 0]
    cmd = [sys.executable, "-m", "controller.traffic"]
    # Every receiver bound before the first packet; they listen until finish_step stops
    # them (a bound far past the step only guards against a supervisor that never does).
    receivers = start_receivers(emu, sorted({f.dst_server for f in active}), DPORT, seconds + drain + 600)
    senders = {}
    for src in sorted({f.src_server for f in active}):
        args = []
        for f in active:
            if f.src_server == src:
                ip = fabric.servers[f.dst_server].ip
                args += ["--flow", f"{f.chain}:{ip}:{DPORT}:{f.sport}:{plan.pps[step, f.chain]:.3f}"]
        args += ["--seconds", str(seconds), "--size", str(plan.packet_bytes)]
        senders[src] = emu.host_popen(src, *cmd, "send", *args, stdout=subprocess.PIPE, text=True)
    return StepTraffic(active, senders, receivers, seconds, drain)


def finish_step(tr: StepTraffic) -> list[ChainMeasure]:
    """Wait for a step's traffic to end (the senders, then `drain` seconds for packets
    still in flight); per-chain measures (sent vs received)."""
    sent: dict[int, int] = {}
    try:
        for p in tr.senders.values():
            out, _ = p.communicate(timeout=tr.seconds + 60)
            sent.update({int(k): v for k, v in json.loads(out)["sent"].items()})
        time.sleep(tr.drain)
    finally:
        outs = stop_receivers(tr.receivers, timeout=30)
    got: dict[int, dict] = {}
    for out in outs.values():
        got.update({int(k): v for k, v in json.loads(out)["flows"].items()})
    measures = []
    for f in tr.flows:
        n = sent.get(f.chain, 0)
        g = got.get(f.chain)
        received = g["received"] if g else 0
        measures.append(
            ChainMeasure(
                chain=f.chain,
                sent=n,
                received=received,
                lost=max(0, n - received),
                reordered=g["reordered"] if g else 0,
                duplicates=g["duplicates"] if g else 0,
                latency_p50_us=g["latency_p50_us"] if g else float("nan"),
                latency_p99_us=g["latency_p99_us"] if g else float("nan"),
            )
        )
    return measures


def play_step(emu, fabric: FabricPlan, plan: ReplayPlan, step: int, chains: set[int] | None = None):
    """Send one step's traffic on the emulation and measure it."""
    return finish_step(start_step(emu, fabric, plan, step, chains))
