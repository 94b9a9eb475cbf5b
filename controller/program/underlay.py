"""Underlay IPv4 routes of a fabric: every switch reaches every server.

Pure functions of a `FabricPlan`: an edge switch has a host route (/32) per attached
server; every switch has a route to every other edge switch's /24 whose next hops are
all neighbours on a shortest switch path (the ECMP set; a program without ECMP uses
the first). How the routes become table entries depends on the P4 program and is the
caller's choice (`basic_entries` renders them for the tutorials' `basic.p4`).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
from p4.v1 import p4runtime_pb2 as R

from p4rt.schema import P4InfoIndex
from topologies.addressing import FabricPlan


@dataclass(frozen=True)
class Route:
    switch: str
    prefix: str  # dotted address
    prefix_len: int
    ports: tuple[int, ...]  # next-hop ports, ECMP set, sorted
    macs: tuple[str, ...]  # destination MAC for each next hop


def routes(plan: FabricPlan) -> list[Route]:
    g = plan.graph
    core = g.subgraph(plan.switches).copy()
    # Host routes only at the server's own edge switch.
    out = [Route(s.edge, s.ip, 32, (s.port,), (s.mac,)) for s in plan.servers.values()]
    edges = [sw for sw in plan.switches.values() if sw.subnet]
    for target in edges:
        dist = nx.single_source_shortest_path_length(core, target.name)
        addr, plen = target.subnet.split("/")
        for sw in plan.switches.values():
            if sw.name == target.name or sw.name not in dist:
                continue
            hops = sorted(
                (sw.ports[n], plan.switches[n].mac)
                for n in core.neighbors(sw.name)
                if dist.get(n, -1) == dist[sw.name] - 1
            )
            out.append(Route(sw.name, addr, int(plen), tuple(p for p, _ in hops), tuple(m for _, m in hops)))
    return out


def basic_entries(plan: FabricPlan, switch: str) -> list[dict]:
    """`MyIngress.ipv4_lpm` entries of the P4 tutorials' basic.p4 (first next hop only)."""
    return [
        {
            "table": "MyIngress.ipv4_lpm",
            "match": {"hdr.ipv4.dstAddr": (r.prefix, r.prefix_len)},
            "action": "MyIngress.ipv4_forward",
            "params": {"dstAddr": r.macs[0], "port": r.ports[0]},
        }
        for r in routes(plan)
        if r.switch == switch
    ]


# The fabric program's underlay (p4src/underlay.p4): an LPM table whose equal-cost next
# hops are a selector group, one member per neighbour.
FABRIC_TABLE = "FabricIngress.underlay.ipv4_lpm"
FABRIC_SELECTOR = "FabricIngress.underlay.ecmp_selector"
FABRIC_ROUTE = "FabricIngress.underlay.route"


def fabric_entities(plan: FabricPlan, index: P4InfoIndex, switch: str) -> list[R.Entity]:
    """One switch's underlay for p4src/fabric.p4: members (member id = port), a group per
    distinct ECMP set, and an LPM entry per route (a member when the set has one port)."""
    sw = plan.switches[switch]
    profile = index.profiles[FABRIC_SELECTOR].preamble.id
    mine = [r for r in routes(plan) if r.switch == switch]
    out: list[R.Entity] = []
    members: dict[int, str] = {}
    for r in mine:
        members.update(zip(r.ports, r.macs, strict=True))
    for port, mac in sorted(members.items()):
        m = R.ActionProfileMember(action_profile_id=profile, member_id=port)
        m.action.CopyFrom(index.action_call(FABRIC_ROUTE, {"port": port, "smac": sw.mac, "dmac": mac}))
        out.append(R.Entity(action_profile_member=m))
    groups = {ports: i + 1 for i, ports in enumerate(sorted({r.ports for r in mine if len(r.ports) > 1}))}
    for ports, gid in groups.items():
        g = R.ActionProfileGroup(action_profile_id=profile, group_id=gid)
        for p in ports:
            g.members.add(member_id=p, weight=1)
        out.append(R.Entity(action_profile_group=g))
    for r in mine:
        match = {"hdr.ipv4.dst": (r.prefix, r.prefix_len)}
        if len(r.ports) > 1:
            e = index.table_entry(FABRIC_TABLE, match, group=groups[r.ports])
        else:
            e = index.table_entry(FABRIC_TABLE, match, member=r.ports[0])
        out.append(R.Entity(table_entry=e))
    return out
