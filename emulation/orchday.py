"""The orchestrated service's traffic on the emulated fabric, step by step: flow k from the
service's sending server (source port sport + k) to its receiving server's service port,
at the step's rate (the YAML's surges are the injected overloads). Every datagram carries
its flow and sequence number (emulation.traffic), so the receiver counts, per flow,
packets lost, reordered and the translated sources it saw (one per flow when the NAT's
mapping survived every move).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field

from controller.orchestration.service import Service
from emulation.traffic import start_receivers, stop_receivers
from topologies.addressing import FabricPlan


@dataclass
class ServiceTraffic:
    senders: subprocess.Popen
    receiver: dict[str, subprocess.Popen]
    rates: list[float]
    seconds: float
    started: float
    drain: float


@dataclass
class ServiceMeasure:
    """One step of the service's flows, as the receiver counted them."""

    pps: float  # offered, all flows together
    sent: int
    delivered: int
    lost: int
    reordered: int
    duplicates: int
    latency_p50_us: float
    latency_p99_us: float
    sources: dict[int, list[str]] = field(default_factory=dict)  # flow -> translated sources seen
    per_flow: dict[int, dict] = field(default_factory=dict)  # flow -> sent, received, lost, reordered
    lost_sent_at: list[tuple[float, int]] = field(default_factory=list)  # (wall clock it was sent, flow)


def start(
    emu, fab: FabricPlan, svc: Service, step: int, seconds: float, drain: float = 2.0
) -> ServiceTraffic:
    """The receiver, then one sender process with every flow of the step. It sends until
    `finish` (at most `seconds`): the step's boundary is applied under its traffic, and the
    loop gets its own window after the boundary however long the apply took."""
    rates = svc.traffic.rates(step)
    receiver = start_receivers(emu, [svc.dst], svc.dport, seconds + drain + 600)
    ip = fab.servers[svc.dst].ip
    args = []
    for k, pps in enumerate(rates):
        if pps > 0:
            args += ["--flow", f"{k}:{ip}:{svc.dport}:{svc.traffic.sport + k}:{pps:.3f}"]
    cmd = [sys.executable, "-m", "emulation.traffic", "send", *args, "--seconds", str(seconds)]
    sender = emu.host_popen(
        svc.src, *cmd, "--until-eof", stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    return ServiceTraffic(sender, receiver, rates, seconds, time.monotonic(), drain)


def finish(tr: ServiceTraffic) -> ServiceMeasure:
    """Stop the sender (its standard input closed), wait `drain` seconds for what is in
    flight; count."""
    import numpy as np

    try:
        out, _ = tr.senders.communicate(timeout=60)
        doc = json.loads(out) if out.strip() else {"sent": {}, "start_time": 0.0}
        sent = {int(k): v for k, v in doc["sent"].items()}
        time.sleep(tr.drain)
    finally:
        outs = stop_receivers(tr.receiver, timeout=30)
    got = {int(k): v for o in outs.values() for k, v in json.loads(o)["flows"].items()}
    per_flow, lost_at = {}, []
    for k, n in sorted(sent.items()):
        g = got.get(k, {})
        # The sender's schedule is absolute: packet j of a flow left at start + j / pps.
        gone = list(g.get("missing", [])) + list(range(g.get("highest", -1) + 1, n))
        lost_at += [(doc["start_time"] + j / tr.rates[k], k) for j in gone if tr.rates[k] > 0]
        per_flow[k] = {"sent": n, "received": g.get("received", 0), "lost": max(0, n - g.get("received", 0)),
                       "reordered": g.get("reordered", 0)}  # fmt: skip
    lat50 = [g["latency_p50_us"] for g in got.values()]
    lat99 = [g["latency_p99_us"] for g in got.values()]
    return ServiceMeasure(
        pps=sum(tr.rates),
        sent=sum(sent.values()),
        delivered=sum(f["received"] for f in per_flow.values()),
        lost=sum(f["lost"] for f in per_flow.values()),
        reordered=sum(f["reordered"] for f in per_flow.values()),
        duplicates=sum(g.get("duplicates", 0) for g in got.values()),
        latency_p50_us=float(np.median(lat50)) if lat50 else float("nan"),
        latency_p99_us=float(np.max(lat99)) if lat99 else float("nan"),
        sources={k: g.get("sources", []) for k, g in sorted(got.items())},
        per_flow=per_flow,
        lost_sent_at=sorted(lost_at)[:2000],
    )


LEAD_S = 1.0  # a packet lost in a window may have been sent this long before it (p99 latency under load)


def attribute(lost_sent_at: list, boundary: tuple[float, float], moves: list, sport: int) -> dict:
    """Lost packets by what was going on when they were sent: a move of that flow (sent
    within the move's window or LEAD_S before it: the count errs against the moves), the
    boundary's reconfiguration, or neither. `moves`: [start, end, moved source ports];
    flow k's source port is sport + k."""
    near = lambda t, a, b: a - LEAD_S <= t <= b
    out = {"during_moves": 0, "during_boundary": 0, "elsewhere": 0}
    for t, k in lost_sent_at:
        if any(near(t, a, b) and sport + k in ports for a, b, ports in moves):
            out["during_moves"] += 1
        elif near(t, *boundary):
            out["during_boundary"] += 1
        else:
            out["elsewhere"] += 1
    return out
