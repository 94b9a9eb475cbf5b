"""Where a flow's packets go: the steering a move changes at its commit point.

On the fabric, an instance of an NF is reached through a service path: the classifier at
the ingress edge gives a flow its SPI, and the SFF sends (SPI, SI) to the server (or LM/EM)
hosting that instance. Moving a flow to another instance is then one P4Runtime write: a
per-flow classifier entry (exact 5-tuple, above the chain's wildcard entries) naming the
SPI of a path through the destination instance. The switch applies a write batch between
two packets, so every packet of a flow goes to one instance or the other, never both.

Capacity: fabric.p4's classifier holds 4,096 entries, chains' included, and a moved flow
takes two (its direction and the reply's): about 2,000 flows can be steered one by one per
ingress switch. A batch that does not fit is refused whole (srem's switch, DATAPLANE_ATOMIC)
and the move rolls back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import grpc

from nfs.flows import Flow
from p4rt.client import SwitchConnection
from p4rt.entities import Range, TableWrite, Ternary

FLOW_PRIORITY = 1000  # above the chains' classifier entries (the compiler's are below 1000)
BATCH = 100  # entries per P4Runtime write: the switch holds packets while it applies a batch


class Steering(Protocol):
    def steer(self, flows: Iterable[Flow], spi: int) -> None:
        """Every packet of `flows` (5-tuples as on the wire) from now on takes path `spi`."""
        ...

    def snapshot(self, flows: Iterable[Flow]) -> dict[Flow, int | None]:
        """What `restore` needs to undo a steer of `flows`."""
        ...

    def restore(self, snap: dict[Flow, int | None]) -> None: ...


@dataclass
class ClassifierSteering:
    """Per-flow entries of fabric.p4's `classifier` on the ingress switch."""

    conn: SwitchConnection
    priority: int = FLOW_PRIORITY
    installed: dict[Flow, int] = field(default_factory=dict)  # flow -> SPI it is steered to
    atomic: bool = True  # batches DATAPLANE_ATOMIC until the switch says it cannot

    def entry(self, f: Flow, spi: int) -> TableWrite:
        full = 0xFFFFFFFF
        match = {
            "hdr.ipv4.src": Ternary(f.src, full),
            "hdr.ipv4.dst": Ternary(f.dst, full),
            "hdr.ipv4.proto": Ternary(f.proto, 0xFF),
            "meta.sport": Range(f.sport, f.sport),
            "meta.dport": Range(f.dport, f.dport),
        }
        return TableWrite.of("classifier", match, "classify", {"spi": spi}, priority=self.priority)

    def _write(self, kind: str, flows: list[Flow], spi: int) -> None:
        """One batch; `installed` follows what the switch took. DATAPLANE_ATOMIC where the
        switch offers it (srem's does: all or nothing); otherwise the failed updates are
        read from the error and the rest counted as written."""
        from p4.v1 import p4runtime_pb2 as R

        from p4rt.entities import update
        from p4rt.errors import WriteError

        index = self.conn.index()
        ups = [update(kind, index.entry(self.entry(f, spi))) for f in flows]
        failed: set[int] = set()
        try:
            if self.atomic:
                try:
                    self.conn.write(ups, atomicity=R.WriteRequest.DATAPLANE_ATOMIC)
                except WriteError as e:
                    if e.code != grpc.StatusCode.UNIMPLEMENTED:
                        failed = set(range(len(flows)))  # atomic: nothing of the batch was applied
                        raise
                    self.atomic = False
            if not self.atomic:
                try:
                    self.conn.write(ups)
                except WriteError as e:
                    failed = {u.index for u in e.errors} or set(range(len(flows)))
                    raise
        finally:
            for k, f in enumerate(flows):
                if k in failed:
                    continue
                if kind == "DELETE":
                    self.installed.pop(f, None)
                else:
                    self.installed[f] = spi

    def room(self) -> int:
        """Entries the classifier can still take at most (its size less srem's per-flow
        entries; the chains' own entries take some of that too)."""
        return int(self.conn.index().table("classifier").size) - len(self.installed)

    def steer(self, flows: Iterable[Flow], spi: int) -> None:
        new = [f for f in dict.fromkeys(flows) if self.installed.get(f) != spi]
        inserts = [f for f in new if f not in self.installed]
        modifies = [f for f in new if f in self.installed]
        for kind, batch in (("INSERT", inserts), ("MODIFY", modifies)):
            for k in range(0, len(batch), BATCH):
                self._write(kind, batch[k : k + BATCH], spi)

    def snapshot(self, flows: Iterable[Flow]) -> dict[Flow, int | None]:
        """Where each flow is steered now (None: by the chains' own entries)."""
        return {f: self.installed.get(f) for f in flows}

    def restore(self, snap: dict[Flow, int | None]) -> None:
        """Back to a snapshot: entries the move added are deleted, changed ones reset."""
        back: dict[int, list[Flow]] = {}
        for f, spi in snap.items():
            if self.installed.get(f) != spi and spi is not None:
                back.setdefault(spi, []).append(f)
        for spi, flows in back.items():
            self.steer(flows, spi)
        self.unsteer([f for f, spi in snap.items() if spi is None and f in self.installed])

    def unsteer(self, flows: Iterable[Flow]) -> None:
        """Back to the chains' own entries."""
        gone = [f for f in dict.fromkeys(flows) if f in self.installed]
        by_spi: dict[int, list[Flow]] = {}
        for f in gone:
            by_spi.setdefault(self.installed[f], []).append(f)
        for spi, fl in by_spi.items():
            for k in range(0, len(fl), BATCH):
                self._write("DELETE", fl[k : k + BATCH], spi)
