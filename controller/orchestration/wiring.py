"""The orchestration loop inside the controller (`srem control`, `srem run --emulate`):
one process, one P4Runtime session per switch, the placement agent at interval boundaries
and the loop's periods in between.

- The service's paths: slot k of the service (`service.Service`) is reached by service
  path `spi_base + k` (the fabric's SFF entries from the flows' ingress edge to the slot's
  server and on to the receiver's edge, compiled as a one-NF chain by the placement
  compiler), and one wildcard classifier entry sends the service's flows to the path of
  the first slot. Moves add per-flow classifier entries above it (steering.py).
- All of these are part of the controller's desired state (`Controller(extra=...)`): a
  boundary's reconcile keeps them, and a restarted switch gets them back with the rest.
- The steering writes through the controller's own session with the ingress switch
  (`SharedConnection`): no second election id, no fight for arbitration.
- The loop's periods and the controller's steps take one lock (`Controller.lock`).
"""

from __future__ import annotations

import ipaddress
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from p4.v1 import p4runtime_pb2 as R

from controller.orchestration.analyzer import Analyzer
from controller.orchestration.config import OrchestrationConfig
from controller.orchestration.deepmigration import planner_for
from controller.orchestration.executors import ExecError, Executor, Pool, Slot
from controller.orchestration.loop import Loop
from controller.orchestration.monitor import Monitor
from controller.orchestration.service import Service
from controller.orchestration.steering import ClassifierSteering
from controller.program.chains import TABLES, Chain, Hop, compile_chains
from nfs.entries import NF
from p4rt.schema import P4InfoIndex
from topologies.addressing import FabricPlan

SERVICE_PRIORITY = 20  # above the chains' classifier entries (10), below per-flow steering (1000)


class SharedConnection:
    """The controller's session with one switch, looked up at every use: the Fabric
    replaces a broken session, and the steering follows it."""

    def __init__(self, fabric: Any, switch: str) -> None:
        self._fabric, self._switch = fabric, switch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fabric.connection(self._switch), name)


def service_entities(svc: Service, fab: FabricPlan, index: P4InfoIndex) -> dict[str, list[R.Entity]]:
    """Every switch's entities for the service's paths: SFF hops to each slot and on to
    the receiver, and the ingress edge's classifier entry (the first slot's path)."""
    svc.check_servers(fab.servers)
    out: dict[str, list[R.Entity]] = {n: [] for n in fab.switches}
    stand_in = {svc.nf["id"]: NF(svc.nf["id"], "nat")}  # the compiler needs a kind; a server hop ignores it
    classifier = index.table(TABLES["classifier"]).preamble.id
    for slot in svc.slots:
        chain = Chain(svc.spi(slot), svc.src, svc.dst, 0, svc.dport, nfs=(svc.nf["id"],))
        st = compile_chains(fab, index, [chain], {svc.nf["id"]: Hop(svc.nf["id"], "server", slot)}, stand_in)
        for n, ents in st.switches.items():
            # The compiler's classifier entry names one source port; the service's takes any.
            out[n] += [e for e in ents if e.table_entry.table_id != classifier]
    src, dst = fab.servers[svc.src], fab.servers[svc.dst]
    ip = lambda a: int(ipaddress.IPv4Address(a))
    e = index.table_entry(
        TABLES["classifier"],
        {"sm.ingress_port": (src.port, 0x1FF), "hdr.ipv4.src": (ip(src.ip), 0xFFFFFFFF),
         "hdr.ipv4.dst": (ip(dst.ip), 0xFFFFFFFF), "hdr.ipv4.proto": (17, 0xFF),
         "meta.sport": (0, 0xFFFF), "meta.dport": (svc.dport, svc.dport)},
        "FabricIngress.classifier.classify", {"spi": svc.spi(svc.slots[0])}, priority=SERVICE_PRIORITY,
    )  # fmt: skip
    out[src.edge].append(R.Entity(table_entry=e))
    return out


@dataclass
class Orchestration:
    """The loop of one service on a fabric the controller holds."""

    service: Service
    config: OrchestrationConfig
    fab: FabricPlan
    index: P4InfoIndex
    loop: Loop
    steering: ClassifierSteering
    paths: dict[str, list[R.Entity]] = field(default_factory=dict)
    intervals: list[dict] = field(default_factory=list)

    @property
    def edge(self) -> str:
        return self.fab.servers[self.service.src].edge

    def entities(self) -> dict[str, list[R.Entity]]:
        """The service's paths and the moves' steering entries (Controller(extra=...))."""
        out = {n: list(v) for n, v in self.paths.items()}
        out[self.edge] = out.get(self.edge, []) + [
            R.Entity(table_entry=self.index.entry(self.steering.entry(f, spi)))
            for f, spi in self.steering.installed.items()
        ]
        return out

    def start(self) -> None:
        """The first instances (after the paths are on the switches); RuntimeError when
        one does not come up (what was started is stopped)."""
        pool = self.loop.executor.pool
        try:
            for name in self.service.slots[: self.service.start]:
                self.loop.monitor.add(pool.start(name))
        except ExecError as e:
            pool.close()
            raise RuntimeError(f"orchestration: {e}") from None

    def between(self, seconds: float | None, lock: threading.Lock | None = None) -> threading.Thread:
        """The loop's periods in a thread for `seconds` (None: until `stop()`)."""
        self._stop = threading.Event()
        self.loop.resume()
        t = threading.Thread(target=self.loop.run, kwargs={"stop": self._stop, "lock": lock}, daemon=True)
        t.start()
        if seconds is not None:
            threading.Timer(seconds, self._stop.set).start()
        self._thread = t
        return t

    def stop(self) -> None:
        if getattr(self, "_stop", None) is not None:
            self._stop.set()
            self._thread.join()

    def close_interval(self, step: int, hour: int) -> dict:
        self.intervals.append(self.loop.interval(step, hour))
        return self.intervals[-1]

    def close(self) -> None:
        self.stop()
        self.loop.executor.pool.close()


def wire(
    service: Service,
    config: OrchestrationConfig,
    fab: FabricPlan,
    index: P4InfoIndex,
    fabric: Any,
    servers: Mapping[str, tuple[int, str]],
    workdir: Path,
    log: IO[str] | None,
    risk: Any = None,
    planner: Any = None,
) -> Orchestration:
    """The loop over the service's slots. `servers`: server -> (a pid in its namespace, its
    interface); `fabric`: the controller's `Fabric` (its sessions are shared)."""
    paths = service_entities(service, fab, index)
    longest = max(len(n) for n in service.slots)
    if len(str(Path(workdir).resolve())) + longest + 12 > 100:
        # A Unix socket's path has at most 107 bytes: the instances' sockets, configs and
        # logs go to a short directory of their own instead.
        workdir = Path(tempfile.mkdtemp(prefix="srem-orch-"))
    slots = {}
    for name in service.slots:
        pid, iface = servers[name]
        gw = fab.switches[fab.servers[name].edge].mac
        slots[name] = Slot(name, ("mnexec", "-a", str(pid)), iface, fab.servers[name].mac, service.spi(name),
                           service.slot_nf(name), workdir=str(workdir), gw_mac=gw)  # fmt: skip
    steering = ClassifierSteering(SharedConnection(fabric, fab.servers[service.src].edge))  # type: ignore[arg-type]
    loop = Loop(config, Monitor([]), Analyzer(config.thresholds, risk),
                Executor(Pool(slots), steering, config.guarantee), log=log)  # fmt: skip
    # An explicit planner (a plugged-in function) wins; else the YAML's (DeepMigration by default).
    loop.planner = planner if planner is not None else planner_for(config, loop.monitor.instances)
    return Orchestration(service, config, fab, index, loop, steering, paths)
