"""The controller's view of a whole fabric: one P4Runtime session per switch, one
pipeline, and the desired state of every switch kept in force.

`Fabric.reconcile(desired)` makes the switches hold exactly `desired`: a switch
without the pipeline (new, or restarted and empty) gets it first, then every switch
gets the difference between what it holds and what it should, in make-before-break
phases (`controller.state.apply`). A controller that starts against running
switches therefore reads them back and writes only what differs; a switch that was
restarted gets its pipeline and whole state back at the next reconcile.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from p4.config.v1 import p4info_pb2 as P
from p4.v1 import p4runtime_pb2 as R

from p4rt.client import SwitchConnection
from p4rt.errors import P4RuntimeError
from p4rt.state import ApplyReport, Changes, apply, verify


@dataclass(frozen=True)
class Pipeline:
    p4info: P.P4Info
    device_config: bytes  # the BMv2 JSON

    @property
    def cookie(self) -> int:
        """Names this pipeline on the switches, so a restarted one is recognised."""
        h = hashlib.sha256(self.p4info.SerializeToString(deterministic=True) + self.device_config)
        return int.from_bytes(h.digest()[:8], "big") >> 1


@dataclass
class ReconcileReport(ApplyReport):
    pipelines_pushed: list[str] = field(default_factory=list)
    changes: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # inserts, modifies, deletes
    seconds: float = 0.0


@dataclass
class Fabric:
    addresses: Mapping[str, tuple[str, int]]  # switch -> (gRPC address, device id)
    pipeline: Pipeline
    election_id: tuple[int, int] = (1, 0)  # high: tools like `srem shell` stay below it
    timeout: float = 10.0
    # Switches read back at once (grpc channels are thread-safe; each thread has its own switch).
    read_workers: int = 16
    conns: dict[str, SwitchConnection] = field(default_factory=dict)

    def connection(self, switch: str) -> SwitchConnection:
        """The live session with a switch; a broken one is replaced."""
        conn = self.conns.get(switch)
        if conn is not None and conn.alive():
            return conn
        if conn is not None:
            conn.close()
        address, device_id = self.addresses[switch]
        conn = SwitchConnection(address, device_id, self.election_id, timeout=self.timeout)
        conn.use_p4info(self.pipeline.p4info)  # names resolve through the fabric's program
        self.conns[switch] = conn
        return conn

    def ensure_pipeline(self, switch: str) -> bool:
        """Push the pipeline unless the switch already runs it; True when pushed."""
        conn = self.connection(switch)
        cookie = conn.pipeline_cookie()
        if cookie == self.pipeline.cookie:
            conn.use_p4info(self.pipeline.p4info)
            return False
        conn.set_pipeline(self.pipeline.p4info, self.pipeline.device_config, self.pipeline.cookie)
        return True

    def _each(self, names, fn) -> dict:
        """fn(name) for every switch, `read_workers` at a time; the first error is raised."""
        names = sorted(names)
        if self.read_workers <= 1 or len(names) <= 1:
            return {n: fn(n) for n in names}
        # Each thread touches only its own switch's item of `conns`.
        with ThreadPoolExecutor(max_workers=min(self.read_workers, len(names))) as pool:
            futures = {n: pool.submit(fn, n) for n in names}
            return {n: f.result() for n, f in futures.items()}

    def reconcile(self, desired: Mapping[str, list[R.Entity]]) -> ReconcileReport:
        """Make every switch of `desired` hold exactly its entities. The reads (pipeline
        check, read-back) of all switches run concurrently; the writes keep their
        make-before-break phases across switches."""
        t0 = time.monotonic()
        report = ReconcileReport()

        def read(name: str) -> tuple[bool, Changes]:
            pushed = self.ensure_pipeline(name)
            return pushed, verify(self.connection(name), desired[name])

        changes: dict[str, Changes] = {}
        for name, (pushed, ch) in self._each(desired, read).items():
            if pushed:
                report.pipelines_pushed.append(name)
            changes[name] = ch
            report.changes[name] = (len(ch.inserts), len(ch.modifies), len(ch.deletes))
        applied = apply(self.conns, changes)
        report.writes, report.batches = applied.writes, applied.batches
        report.seconds = time.monotonic() - t0
        return report

    def connect_all(self) -> None:
        """A session with every switch (primary on each), or the error of the first that refuses."""
        self._each(self.addresses, self.connection)

    def read_counters(self, cells: list[R.CounterEntry] | None = None) -> dict[str, list[R.CounterEntry]]:
        """The given counter cells of every switch, in one Read each (default: every cell
        of every indirect counter, a wildcard read)."""
        query = (
            [R.Entity(counter_entry=c) for c in cells]
            if cells
            else [R.Entity(counter_entry=R.CounterEntry())]
        )

        def read(name: str) -> list[R.CounterEntry]:
            return [e.counter_entry for e in self.connection(name).read(query)]

        return self._each(self.addresses, read)

    def close(self) -> None:
        for c in self.conns.values():
            c.close()
        self.conns.clear()


__all__ = ["Fabric", "P4RuntimeError", "Pipeline", "ReconcileReport"]
