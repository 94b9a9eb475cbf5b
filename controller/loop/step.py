"""The controller's periodic step, shared by `srem run --emulate` and `srem control`.

At every step (an interval of the day): read the switches' counters (what the fabric
carried since the last step), ask the agent for a placement, score it in the model,
compile it into switch state and server NFs, and apply it make-before-break:

1. every server serves the union of its old and new hops (new software hops exist
   before any packet is steered to them);
2. `Fabric.reconcile` writes the switches' difference (inserts, then modifies, then
   deletes; verified by reading back);
3. every server serves its new hops alone (the old ones go last).

With external memory (`controller.em.EmFabric`), tables entering EM are written into
their memory servers before step 2, whose desired state holds the EMACs' entries (so a
table's em_config goes in with the inserts and out with the deletes), and the space of
tables that left EM is freed after it.

`decide` and `apply` are the two halves, so that the emulated day can start a step's
traffic between them (the change is then made under that traffic); `step` is both.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
from p4.config.v1 import p4info_pb2 as P
from p4.v1 import p4runtime_pb2 as R

from controller.fabric.em import EmFabric
from controller.fabric.servers import ServerNFs
from controller.fabric.switches import Fabric, ReconcileReport
from controller.program.chains import ChainState
from nfs.entries import NF
from placement.model.simulate import Agent, DayRun, StepRecord, record
from placement.model.workload import Day, Problem

# fabric.p4's counters (p4src/README.md) and what their cells stand for.
COUNTERS = {
    "FabricIngress.classifier.chain_in": "chain_in",  # per SPI, at the chain's source edge
    "FabricIngress.sff.chain_out": "chain_out",  # per SPI, leaving each switch's service forwarder
    "FabricIngress.nf_packets": "nf",  # per NF id, processed in a switch (LM or EM)
    "FabricIngress.nf_drops": "nf_drops",
    "FabricIngress.sff.host_kind": "host_kind",
    "FabricIngress.em.rdma_stats": "rdma",
    "FabricIngress.em.rdma_outcome": "rdma",  # the same cells: a pass's second count
}
HOST_KINDS = ("lm", "em", "server", "switch")
RDMA = ("hit", "miss", "read", "response_ok", "bad_psn", "bad_qp", "bad_icrc", "nak", "torn", "not_found",
        "fallback", "wait_pass", "bad_length")  # fmt: skip


@dataclass
class Counters:
    """Packets the switches counted over one interval, summed over switches: per chain
    (chain r is SPI r + 1), per NF id, per host kind and RDMA event."""

    chain_in: dict[int, int] = field(default_factory=dict)
    chain_out: dict[int, int] = field(default_factory=dict)
    nf: dict[int, int] = field(default_factory=dict)
    nf_drops: dict[int, int] = field(default_factory=dict)
    host_kind: dict[str, int] = field(default_factory=dict)
    rdma: dict[str, int] = field(default_factory=dict)

    def total(self) -> int:
        return sum(self.chain_in.values())


class CounterReader:
    """Reads the switches' counters and gives what changed since the previous read
    (a cell that went down, a restarted switch, counts from zero). Only the cells that
    can count (the day's chains and NFs, every host kind and RDMA event) are read: a
    switch answers a read between packets, so a small one delays them less."""

    def __init__(self, p4info: P.P4Info, n_chains: int, n_nfs: int) -> None:
        self.kind = {
            c.preamble.id: COUNTERS[c.preamble.name] for c in p4info.counters if c.preamble.name in COUNTERS
        }
        sizes = {c.preamble.id: c.size for c in p4info.counters}
        wanted = {"chain_in": range(1, n_chains + 1), "chain_out": range(1, n_chains + 1),
                  "nf": range(1, n_nfs + 1), "nf_drops": range(1, n_nfs + 1),
                  "host_kind": range(len(HOST_KINDS)), "rdma": range(len(RDMA))}  # fmt: skip
        self.cells = []
        for cid, kind in sorted(self.kind.items()):
            for i in wanted[kind]:
                if i < sizes[cid]:
                    c = R.CounterEntry(counter_id=cid)
                    c.index.index = i
                    self.cells.append(c)
        self.last: dict[tuple[str, int, int], int] = {}

    def read(self, fabric: Fabric) -> Counters:
        now: dict[tuple[str, int, int], int] = {}
        for switch, cells in fabric.read_counters(self.cells).items():
            for c in cells:
                if c.counter_id in self.kind and c.data.packet_count:
                    now[(switch, c.counter_id, c.index.index)] = c.data.packet_count
        out = Counters()
        for (switch, cid, idx), n in now.items():
            before = self.last.get((switch, cid, idx), 0)
            d = n - before if n >= before else n
            if d:
                _add(out, self.kind[cid], idx, d)
        self.last = now
        return out


def _add(c: Counters, kind: str, idx: int, n: int) -> None:
    if kind in ("chain_in", "chain_out"):
        getattr(c, kind)[idx - 1] = getattr(c, kind).get(idx - 1, 0) + n  # SPI r + 1 is chain r
    elif kind in ("nf", "nf_drops"):
        getattr(c, kind)[idx] = getattr(c, kind).get(idx, 0) + n
    else:
        names = HOST_KINDS if kind == "host_kind" else RDMA
        name = names[idx] if idx < len(names) else str(idx)
        getattr(c, kind)[name] = getattr(c, kind).get(name, 0) + n


@dataclass
class Decision:
    """The agent's placement for one step, scored and compiled (not applied yet)."""

    t: int
    model: StepRecord
    state: ChainState
    accepted: set[int]  # chains the model accepted
    moved: int  # instances whose host changed
    counters: Counters  # what the fabric counted since the previous step


@dataclass
class ControlStep:
    model: StepRecord
    moved: int  # instances whose host changed
    writes: int
    batches: int
    apply_s: float
    inserts: int
    modifies: int
    deletes: int
    pipelines_pushed: int
    em_in_lm: int
    counters: Counters

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(d.pop("model"))
        return d


class Controller:
    """One day's placements kept in force on a fabric (switches over P4Runtime, server NFs)."""

    def __init__(
        self,
        problem: Problem,
        day: Day,
        agent: Agent,
        fabric: Fabric,
        servers: ServerNFs,
        state_of: Callable[[np.ndarray], ChainState],
        underlay: Mapping[str, list[R.Entity]],
        nfs: Mapping[int, NF],
        em: EmFabric | None = None,
        extra: Callable[[], Mapping[str, list[R.Entity]]] | None = None,
    ) -> None:
        self.day, self.agent, self.fabric, self.servers, self.em = day, agent, fabric, servers, em
        # Entities other parts of the controller keep on the switches (the orchestration
        # loop's service paths and per-flow steering): part of the desired state, so that a
        # boundary's reconcile keeps them rather than deleting what it did not write.
        self.extra = extra
        # Held by a step; the orchestration loop holds it for each of its periods, so the
        # two never write to a switch at once through the one session they share.
        self.lock = threading.Lock()
        self.state_of, self.underlay, self.nfs = state_of, underlay, nfs
        self.run = DayRun(problem, day)
        self.current = state_of(self.run.placement)
        self.counters = CounterReader(fabric.pipeline.p4info, day.n_chains, problem.cat.n_instances)

    @property
    def done(self) -> bool:
        return self.run.done

    def desired(self, st: ChainState) -> dict[str, list[R.Entity]]:
        """Every switch's entities: underlay, chains and NFs, and its EMAC's part."""
        extra = self.em.entities(st.em) if self.em is not None else {}
        more = self.extra() if self.extra is not None else {}
        return {
            n: list(self.underlay[n]) + st.switches[n] + extra.get(n, []) + list(more.get(n, []))
            for n in self.underlay
        }

    def start(self) -> ReconcileReport:
        """Install the day's initial placement; on a fabric that holds it already, nothing is written.
        Nothing is touched unless this controller is primary on every switch (not a second one)."""
        self.fabric.connect_all()
        rep = self._change(self.current)
        self.counters.read(self.fabric)  # the first interval counts from here
        return rep

    def _change(self, new: ChainState) -> ReconcileReport:
        """Servers and switches to `new`, make-before-break."""
        old, hops = self.servers.current, new.server_hops
        both = {s: {**old.get(s, {}), **hops.get(s, {})} for s in set(old) | set(hops)}
        self.servers.configure(both, self.nfs)  # new server hops exist before packets are steered there
        if self.em is not None:
            self.em.prepare(new.em, self.nfs)  # tables entering EM are in memory before any em_config
        rep = self.fabric.reconcile(self.desired(new))
        if self.em is not None:
            self.em.finish(new.em, rep.pipelines_pushed)  # tables that left EM free their space
        self.servers.configure(hops, self.nfs)  # the old ones go last
        return rep

    def decide(self) -> Decision:
        counters = self.counters.read(self.fabric)
        t, hour = self.run.t, int(self.day.hours[self.run.t])
        t0 = time.perf_counter()
        placement = self.agent.decide(self.run)
        ms = (time.perf_counter() - t0) * 1000.0
        before = self.run.placement.copy()
        o = self.run.apply(placement)
        accepted = {int(r) for r in np.flatnonzero(o.accepted)}
        moved = int(np.sum(o.placement != before))
        st = self.state_of(o.placement)
        return Decision(t, record(self.run, o, hour, ms), st, accepted, moved, counters)

    def apply(self, d: Decision) -> ControlStep:
        t0 = time.perf_counter()
        rep = self._change(d.state)
        apply_s = time.perf_counter() - t0
        self.current = d.state
        ins, mod, dels = (sum(c[k] for c in rep.changes.values()) for k in range(3))
        return ControlStep(
            model=d.model, moved=d.moved, writes=rep.writes, batches=rep.batches, apply_s=apply_s,
            inserts=ins, modifies=mod, deletes=dels, pipelines_pushed=len(rep.pipelines_pushed),
            em_in_lm=len(d.state.em_in_lm), counters=d.counters,
        )  # fmt: skip

    def step(self) -> ControlStep:
        with self.lock:
            return self.apply(self.decide())


def control_loop(
    ctl: Controller,
    interval: float,
    stop: threading.Event,
    steps: int | None = None,
    on_step: Callable[[ControlStep], None] | None = None,
) -> list[ControlStep]:
    """A step every `interval` seconds until the day ends, `steps` are done or `stop` is
    set (a step under way is finished first: nothing is left half-applied)."""
    out: list[ControlStep] = []
    while not ctl.done and (steps is None or len(out) < steps) and not stop.is_set():
        t0 = time.monotonic()
        out.append(ctl.step())
        if on_step:
            on_step(out[-1])
        if ctl.done or (steps is not None and len(out) >= steps):
            break
        stop.wait(max(0.0, interval - (time.monotonic() - t0)))
    return out
