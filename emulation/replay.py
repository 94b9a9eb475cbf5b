"""Replay a scenario's day as packets on the emulated fabric: each step is played in
`seconds_per_step` seconds, every chain from its sending to its receiving server, and
measured (sent, delivered, lost, reordered, one-way latency). Which servers, ports and
scaled rates: `controller.program.flows` (its `ReplayPlan.describe()` states the scaling,
and every output that shows replay figures carries it)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass

from controller.program.flows import DPORT, ChainFlow, ReplayPlan
from emulation.traffic import start_receivers, stop_receivers
from topologies.addressing import FabricPlan


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
    cmd = [sys.executable, "-m", "emulation.traffic"]
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
