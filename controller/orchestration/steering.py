"""Where a flow's packets go: the steering a move changes at its commit point.

On the fabric, an instance of an NF is reached through a service path: the classifier at
the ingress edge gives a flow its SPI, and the SFF sends (SPI, SI) to the server (or LM/EM)
hosting that instance. Moving a flow to another instance is then one P4Runtime write: a
per-flow classifier entry (exact 5-tuple, above the chain's wildcard entries) naming the
SPI of a path through the destination instance. The switch applies a write batch between
two packets, so every packet of a flow goes to one instance or the other, never both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from nfs.flows import Flow
from p4rt.client import SwitchConnection
from p4rt.entities import Range, TableWrite, Ternary

FLOW_PRIORITY = 1000  # above the chains' classifier entries (the compiler's are below 1000)
BATCH = 1000  # entries per P4Runtime write


class Steering(Protocol):
    def steer(self, flows: Iterable[Flow], spi: int) -> None:
        """Every packet of `flows` (5-tuples as on the wire) from now on takes path `spi`."""
        ...


@dataclass
class ClassifierSteering:
    """Per-flow entries of fabric.p4's `classifier` on the ingress switch."""

    conn: SwitchConnection
    priority: int = FLOW_PRIORITY
    installed: dict[Flow, int] = field(default_factory=dict)  # flow -> SPI it is steered to

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

    def steer(self, flows: Iterable[Flow], spi: int) -> None:
        new = [f for f in dict.fromkeys(flows) if self.installed.get(f) != spi]
        inserts = [f for f in new if f not in self.installed]
        modifies = [f for f in new if f in self.installed]
        for kind, batch in (("INSERT", inserts), ("MODIFY", modifies)):
            for k in range(0, len(batch), BATCH):
                chunk = batch[k : k + BATCH]
                self.conn.insert([self.entry(f, spi) for f in chunk], kind)
                for f in chunk:
                    self.installed[f] = spi

    def unsteer(self, flows: Iterable[Flow]) -> None:
        """Back to the chains' own entries."""
        gone = [f for f in dict.fromkeys(flows) if f in self.installed]
        for k in range(0, len(gone), BATCH):
            chunk = gone[k : k + BATCH]
            self.conn.insert([self.entry(f, self.installed[f]) for f in chunk], "DELETE")
            for f in chunk:
                del self.installed[f]
