"""Compile a placement into the fabric's switch state (p4src/fabric.p4's contract).

A placement says where each NF instance runs (a server, a switch's LM, or its EM);
chains name their NFs in order. From that and the NFs' entries (`nfs.entries`), every
switch's desired entities are built:

- the chain's classifier entry at its source server's edge switch (5-tuple → SPI);
- one `sff` entry per (SPI, SI) on every switch the chain crosses: a local NF
  (`sff_local`), the next switch or server (`sff_forward`), or, at the destination's
  edge switch, the end of the chain (`sff_end`); hop k runs at SI = 255 − k;
- every LM-hosted NF's table entries on its switch (`nfs.entries.lm_writes`).

NFs in EM and on servers need more than entities: `ChainState.em` lists the
(switch, NF) pairs the EMAC must place, `ChainState.software` the NFs each server runs.
Applying the result with `controller.state.apply` is make-before-break: new hops and
their NF entries are inserted before the `sff` entries that steer to them change.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import networkx as nx
from p4.v1 import p4runtime_pb2 as R

from nfs.entries import EM_KINDS, KINDS, NF, lm_writes
from p4rt.schema import P4InfoIndex
from topologies.addressing import FabricPlan

HOST_KINDS = ("lm", "em", "server")
WHERE = {"lm": 0, "em": 1, "server": 2, "switch": 3}  # sff `where` codes
FIRST_SI = 255
TABLES = {
    "classifier": "FabricIngress.classifier.classifier",
    "sff": "FabricIngress.sff.sff",
}


class PlacementError(ValueError):
    """A placement or chain that cannot be compiled; says which item and why."""


@dataclass(frozen=True)
class Hop:
    """Where one NF instance runs."""

    nf: int  # NF id (its entries in the scenario's nfs: list)
    kind: str  # lm | em | server
    node: str  # a switch (lm, em) or a server


@dataclass(frozen=True)
class Chain:
    spi: int
    src: str  # sending server
    dst: str  # receiving server
    sport: int
    dport: int
    proto: int = 17
    nfs: tuple[int, ...] = ()  # NF ids in order


@dataclass
class ChainState:
    switches: dict[str, list[R.Entity]] = field(default_factory=dict)
    em: set[tuple[str, int]] = field(default_factory=set)  # (switch, NF id) the EMAC places
    em_in_lm: set[tuple[str, int]] = field(default_factory=set)  # placed in EM, served from LM
    software: dict[str, set[int]] = field(default_factory=dict)  # server -> NF ids it runs
    # server -> {(SPI, SI): NF id}: which of its NFs serves each hop the fabric sends it
    server_hops: dict[str, dict[tuple[int, int], int]] = field(default_factory=dict)


def _check(
    plan: FabricPlan,
    chains: Sequence[Chain],
    placement: Mapping[int, Hop],
    nfs: Mapping[int, NF],
    em_stand_in: bool,
):
    spis = [c.spi for c in chains]
    if len(set(spis)) != len(spis):
        raise PlacementError("chains: two chains share an SPI")
    for nf, hop in placement.items():
        where = f"placement: NF {nf}"
        if nf not in nfs:
            raise PlacementError(f"{where}: no such NF in the scenario's nfs")
        if hop.kind not in HOST_KINDS:
            raise PlacementError(f"{where}: host kind {hop.kind!r} is not one of {', '.join(HOST_KINDS)}")
        if hop.kind == "server" and hop.node not in plan.servers:
            raise PlacementError(f"{where}: {hop.node!r} is not a server of the topology")
        if hop.kind in ("lm", "em") and hop.node not in plan.switches:
            raise PlacementError(f"{where}: {hop.node!r} is not a switch of the topology")
        if hop.kind == "em" and nfs[nf].kind not in EM_KINDS and not em_stand_in:
            raise PlacementError(f"{where}: a {nfs[nf].kind} cannot live in EM (only {', '.join(EM_KINDS)})")
    for c in chains:
        where = f"chain {c.spi}"
        if not 1 <= c.spi < 1 << 24:
            raise PlacementError(f"{where}: SPI must be 1..2^24-1")
        for s in (c.src, c.dst):
            if s not in plan.servers:
                raise PlacementError(f"{where}: {s!r} is not a server of the topology")
        if len(c.nfs) > FIRST_SI:
            raise PlacementError(f"{where}: {len(c.nfs)} NFs; a chain has at most {FIRST_SI}")
        for nf in c.nfs:
            if nf not in placement:
                raise PlacementError(f"{where}: NF {nf} is not placed")


def _mac(m: str) -> int:
    return int(m.replace(":", ""), 16)


def compile_chains(
    plan: FabricPlan,
    index: P4InfoIndex,
    chains: Sequence[Chain],
    placement: Mapping[int, Hop],
    nfs: Mapping[int, NF],
    *,
    em_stand_in: bool = False,
    emac: bool = True,
) -> ChainState:
    """Every switch's chain state for a placement; refuses bad input before building any.

    fabric.p4 reads only exact-key tables (NAT and LB: `EM_KINDS`) from EM. With `em_stand_in`, an
    NF of another kind placed in EM is served from its LM table (the hop still says EM,
    so the fabric counts it as EM) and listed in `em_in_lm`; without, it is refused. With
    `emac=False` (no EMAC and memory servers wired), an EM-placed NAT or LB stands in from
    LM too, its hop marked LM so that the switch does not wait for a READ."""
    _check(plan, chains, placement, nfs, em_stand_in)
    out = ChainState(switches={name: [] for name in plan.switches})
    core = plan.graph.subgraph(plan.switches)
    sff: dict[str, dict[tuple[int, int], R.Entity]] = {name: {} for name in plan.switches}

    def sff_entry(switch: str, spi: int, si: int, action: str, params: dict) -> None:
        e = index.table_entry(TABLES["sff"], {"hdr.nsh.spi": spi, "hdr.nsh.si": si}, _sff(action), params)
        old = sff[switch].get((spi, si))
        if old is not None and old.table_entry != e:
            raise PlacementError(f"chain {spi}: two different hops at SI {si} on {switch}")
        sff[switch][(spi, si)] = R.Entity(table_entry=e)

    def walk(spi: int, si: int, frm: str, to: str) -> None:
        """sff_forward entries from switch `frm` to switch `to` at this SI."""
        path = nx.shortest_path(core, frm, to)
        for a, b in itertools.pairwise(path):
            sw = plan.switches[a]
            sff_entry(a, spi, si, "sff_forward",
                      {"port": sw.ports[b], "smac": _mac(sw.mac), "dmac": _mac(plan.switches[b].mac),
                       "where": WHERE["switch"]})  # fmt: skip

    for c in chains:
        src, dst = plan.servers[c.src], plan.servers[c.dst]
        ip = lambda a: int(ipaddress.IPv4Address(a))
        full = 0xFFFFFFFF
        e = index.table_entry(
            TABLES["classifier"],
            {
                "sm.ingress_port": (src.port, 0x1FF),
                "hdr.ipv4.src": (ip(src.ip), full),
                "hdr.ipv4.dst": (ip(dst.ip), full),
                "hdr.ipv4.proto": (c.proto, 0xFF),
                "meta.sport": (c.sport, c.sport),
                "meta.dport": (c.dport, c.dport),
            },
            "FabricIngress.classifier.classify",
            {"spi": c.spi},
            priority=10,
        )
        out.switches[src.edge].append(R.Entity(table_entry=e))
        at, si = src.edge, FIRST_SI
        for nf_id in c.nfs:
            hop, nf = placement[nf_id], nfs[nf_id]
            target = plan.servers[hop.node].edge if hop.kind == "server" else hop.node
            walk(c.spi, si, at, target)
            at = target
            if hop.kind == "server":
                srv = plan.servers[hop.node]
                sw = plan.switches[at]
                sff_entry(at, c.spi, si, "sff_forward",
                          {"port": srv.port, "smac": _mac(sw.mac), "dmac": _mac(srv.mac),
                           "where": WHERE["server"]})  # fmt: skip
                out.software.setdefault(hop.node, set()).add(nf_id)
                out.server_hops.setdefault(hop.node, {})[(c.spi, si)] = nf_id
            else:
                in_em = hop.kind == "em" and nf.kind in EM_KINDS and emac
                where = (
                    WHERE["lm"] if hop.kind == "em" and nf.kind in EM_KINDS and not emac else WHERE[hop.kind]
                )
                sff_entry(at, c.spi, si, "sff_local", {"nfId": nf_id, "kind": KINDS[nf.kind], "where": where})
                if in_em:
                    out.em.add((at, nf_id))
                elif hop.kind == "em":
                    out.em_in_lm.add((at, nf_id))
            si -= 1
        walk(c.spi, si, at, dst.edge)
        sff_entry(dst.edge, c.spi, si, "sff_end", {})
    # Every LM-hosted NF's entries on its switch, once, whichever chains use it.
    used = {nf for c in chains for nf in c.nfs}
    for nf_id in sorted(used):
        hop, nf = placement[nf_id], nfs[nf_id]
        if hop.kind == "lm" or (hop.kind == "em" and (nf.kind not in EM_KINDS or not emac)):
            out.switches[hop.node].extend(R.Entity(table_entry=index.entry(w)) for w in lm_writes(nf))
            if nf.kind == "ratelimit":
                out.switches[hop.node].append(index.meter_cell(METER, nf_id, nf.meter))
    for name, entries in sff.items():
        out.switches[name].extend(entries[k] for k in sorted(entries))
    return out


METER = "FabricIngress.ratelimit.rl_meter"


def _sff(action: str) -> str:
    return f"FabricIngress.sff.{action}"
