"""A day on the emulated fabric: at every step the agent places, the model scores the
placement, the controller turns it into switch and server state (make-before-break),
and the step's traffic is played and measured.

Per step the result holds the model's figures (as `srem run` prints them), the apply
(writes, batches, seconds), the replay's packets (sent, delivered, lost, reordered,
p50/p99 one-way latency) over the chains the model accepted, and how many instances
were placed in EM but served from LM tables (see `controller.chains`).

With an orchestrated service (`orchestration=(config, service)`), the orchestration loop
runs between the boundaries: its service's flows play every step at the YAML's rates
(surges included), the boundary's placement is applied under them, and the loop's
periods run for the rest of the step (controller.orchestration.wiring); each step then
also holds the loop's interval (alerts, actions, moves) and the service's packets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from controller.fabric.em import EmFabric
from controller.fabric.servers import ServerNFs
from controller.fabric.switches import Fabric
from controller.fabric.targets import check
from controller.loop.step import Controller, Counters
from controller.program.dayplan import chains_of, nfs_of, placement_state
from controller.program.flows import ReplayPlan, floor_pps, plan_replay
from controller.program.pipeline import fabric_pipeline
from controller.program.underlay import fabric_entities
from emac.api import RDMA_STATS
from emulation import orchday
from emulation.mininet import Emulation
from emulation.replay import finish_step, start_step
from placement.model.simulate import Agent, StepRecord
from placement.model.workload import Day, Problem
from topologies.addressing import FabricPlan


@dataclass
class EmulatedStep:
    model: StepRecord
    writes: int
    batches: int
    apply_s: float
    chains_played: int
    sent: int
    delivered: int
    lost: int
    reordered: int
    latency_p50_us: float
    latency_p99_us: float
    em_in_lm: int
    counters: Counters  # what the switches counted over the step before this one
    em_tables: int = 0  # NF tables read from memory servers by RDMA
    rdma: dict = field(default_factory=dict)  # RDMA hits, misses, READs... since each switch's EM started
    orchestration: dict | None = None  # the loop's interval and the service's packets

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(d.pop("model"))
        return d


def emulate_day(
    problem: Problem,
    day: Day,
    agent: Agent,
    fab: FabricPlan,
    *,
    log_dir: Path,
    seconds_per_step: float = 5.0,
    pps_budget: float = 300.0,
    min_pps: float | None = None,
    target: str = "srem",
    compiler: str | None = None,
    em: bool = True,
    trace: bool = False,
    progress: Callable[[str], None] | None = None,
    orchestration: tuple | None = None,
    steps: int | None = None,
    risk: Callable | None = None,
    loop_seconds: float | None = None,
) -> tuple[list[EmulatedStep], ReplayPlan]:
    """The day on Mininet. With `em`, NFs the agent puts in EM that the EM path holds are
    read from memory servers by RDMA (one per switch, started when first needed); without,
    they are served from LM tables, as are the kinds the EM path does not hold.
    `orchestration`: (OrchestrationConfig, Service), the loop on; its log is
    `log_dir/orchestration.jsonl`; the loop runs `loop_seconds` (default: seconds_per_step)
    after each boundary. `steps`: stop after this many steps (default: the day)."""
    from controller.orchestration.wiring import wire

    say = progress or (lambda _m: None)
    pipeline, index = fabric_pipeline(check(target, compiler))
    floor = floor_pps(pps_budget, day.n_chains) if min_pps is None else min_pps
    rp = plan_replay(
        problem.sub.names, day.src, day.dst, day.rate, list(day.hours), fab,
        pps_budget=pps_budget, seconds_per_step=seconds_per_step, min_pps=floor,
    )  # fmt: skip
    nfs = nfs_of(problem.cat.inst_type, chains_of(day, rp.flows), fab)
    underlay = {n: fabric_entities(fab, index, n) for n in fab.switches}

    def state(placement: np.ndarray):
        return placement_state(
            problem.sub, problem.cat.inst_type, day, rp.flows, fab, index, placement, emac=em
        )

    out: list[EmulatedStep] = []
    say(f"starting {len(fab.switches)} switches and {len(fab.servers)} servers")
    with Emulation(fab, log_dir=log_dir, target=target, em=em, trace=trace) as emu:
        fabric = Fabric({n: (emu.grpc[n], sw.device_id) for n, sw in fab.switches.items()}, pipeline)
        servers = ServerNFs(emu, log_dir)
        emf = EmFabric(emu, fabric, log_dir) if em else None
        orch, log = None, None
        try:
            if orchestration is not None:
                log = (log_dir / "orchestration.jsonl").open("w")
                cfg, svc = orchestration
                hosts = {n: (emu.hosts[n].pid, emu.intf(n)) for n in fab.servers}
                orch = wire(svc, cfg, fab, index, fabric, hosts, log_dir, log, risk=risk)
            ctl = Controller(problem, day, agent, fabric, servers, state, underlay, nfs, em=emf,
                             extra=orch.entities if orch else None)  # fmt: skip
            ctl.start()
            if orch is not None:
                say(
                    f"starting {orch.service.start} instance(s) of the orchestrated {orch.service.nf['kind']}"
                )
                orch.start()
            while not ctl.done and (steps is None or len(out) < steps):
                say(f"{int(day.hours[ctl.run.t])}:00 deciding")
                d = ctl.decide()
                say(f"{d.model.hour}:00 playing {len(d.accepted)} chains, reconfiguring under their traffic")
                # The change happens while the step's traffic flows: every reconfiguration
                # is measured for loss (packets first follow the old state, then the new).
                traffic = start_step(emu, fab, rp, d.t, chains=d.accepted) if d.accepted else None
                svc_tr = orchday.start(emu, fab, orch.service, d.t, 600.0) if orch else None
                time.sleep(min(1.0, seconds_per_step / 4) if traffic or svc_tr else 0.0)
                applying = time.time()
                step = ctl.apply(d)
                boundary = (applying, time.time())
                if orch is not None:
                    # Between this boundary and the next: the loop's periods for a step's
                    # length, the service's flows playing all along (a period without traffic
                    # would read as idle); they stop with the window.
                    say(f"{d.model.hour}:00 orchestration loop running")
                    orch.between(loop_seconds or seconds_per_step, ctl.lock).join()
                m = finish_step(traffic) if traffic else []
                orch_rec = None
                if orch is not None and svc_tr is not None:
                    sm = orchday.finish(svc_tr)
                    iv = orch.close_interval(d.t, d.model.hour)
                    lost = orchday.attribute(
                        sm.lost_sent_at, boundary, iv["move_windows"], orch.service.traffic.sport
                    )
                    orch_rec = {**iv, "service": {**asdict(sm), "lost_by": lost}, "boundary": boundary}
                    say(f"{d.model.hour}:00 service: {sm.delivered}/{sm.sent} delivered, "
                        f"{orch_rec['moves']} moves")  # fmt: skip
                lat50 = [x.latency_p50_us for x in m if x.received]
                lat99 = [x.latency_p99_us for x in m if x.received]
                out.append(
                    EmulatedStep(
                        model=d.model,
                        writes=step.writes,
                        batches=step.batches,
                        apply_s=step.apply_s,
                        chains_played=len(m),
                        sent=sum(x.sent for x in m),
                        delivered=sum(x.received for x in m),
                        lost=sum(x.lost for x in m),
                        reordered=sum(x.reordered for x in m),
                        latency_p50_us=float(np.median(lat50)) if lat50 else float("nan"),
                        latency_p99_us=float(np.max(lat99)) if lat99 else float("nan"),
                        em_in_lm=step.em_in_lm,
                        counters=step.counters,
                        em_tables=len(d.state.em),
                        rdma=_rdma(emf),
                        orchestration=orch_rec,
                    )
                )
        finally:
            if orch is not None:
                orch.close()
            if log is not None:
                log.close()
            if emf is not None:
                emf.close()
            servers.close()
            fabric.close()
    return out, rp


def _rdma(emf: EmFabric | None) -> dict:
    """Every EMAC's counters summed (cumulative since each switch's EM started), and the
    READ round trips: their mean over every switch and the worst."""
    out: dict[str, float] = {}
    if emf is None:
        return out
    fetch_sum = 0.0
    for stats in emf.stats().values():
        for k in (*RDMA_STATS, "fetches"):
            out[k] = out.get(k, 0) + stats[k]
        fetch_sum += stats["fetch_us_mean"] * stats["fetches"]
        out["fetch_us_max"] = max(out.get("fetch_us_max", 0), stats["fetch_us_max"])
    out["fetch_us_mean"] = fetch_sum / out["fetches"] if out.get("fetches") else 0.0
    return out
