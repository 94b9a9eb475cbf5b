"""How a substrate graph becomes a network: device ids, port numbers, addresses.

One plan serves the emulation (which interface is which port), the controller
(which port leads where, which gRPC address drives which switch) and the traffic
tools (which address a server has). Everything is derived deterministically from
the graph's sorted names, so two processes that load the same topology agree.

Servers hang off edge switches; a server on the e-th edge switch (sorted by name)
in slot s gets 10.{e // 256 + 1}.{e % 256}.{s + 1}/24, so every edge switch owns
one /24 and the underlay needs one route per edge switch plus host routes at the
edge.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import networkx as nx

from topologies.errors import InputError

# Port numbers start at 1 (BMv2's and Mininet's habit); 255 is kept for the CPU port.
CPU_PORT = 255
# External memory: a switch's memory server is cabled to MEM_PORT, and a cable from
# LOOP_OUT to LOOP_IN is its loopback (where a packet waits for its READ to come back).
LOOP_OUT, LOOP_IN, MEM_PORT = 250, 251, 252
MAX_PORTS = 249


@dataclass(frozen=True)
class Server:
    name: str
    edge: str  # the switch it is attached to
    port: int  # that switch's port toward it
    ip: str
    mac: str


@dataclass
class SwitchPlan:
    name: str
    device_id: int
    role: str
    # Neighbour name -> this switch's port toward it.
    ports: dict[str, int] = field(default_factory=dict)
    subnet: str | None = None  # the /24 of its servers (edge switches only)
    mac: str = ""

    def port_to(self, neighbour: str) -> int:
        return self.ports[neighbour]


@dataclass
class FabricPlan:
    switches: dict[str, SwitchPlan]
    servers: dict[str, Server]
    graph: nx.Graph

    def neighbour_on(self, switch: str, port: int) -> str:
        for n, p in self.switches[switch].ports.items():
            if p == port:
                return n
        raise KeyError(f"{switch} has no port {port}")


@dataclass(frozen=True)
class EmAddresses:
    """The RoCEv2 addresses of one switch's external memory (none routed by the underlay:
    the memory server is cabled to the switch, the EMAC to the memory server)."""

    switch_ip: str  # the switch as RDMA requester (its MAC is the switch's)
    server_ip: str  # the memory server
    server_mac: str
    emac_ip: str  # the EMAC's own QP, which writes the tables
    emac_mac: str


def em_addresses(plan: FabricPlan, switch: str) -> EmAddresses:
    d = plan.switches[switch].device_id
    low = f"{d // 256}.{d % 256}"
    return EmAddresses(f"10.253.{low}", f"10.254.{low}", _mac(3, d), f"10.252.{low}", _mac(4, d))


def _mac(kind: int, index: int) -> str:
    # Locally administered unicast: 02:<kind>:<index as 4 bytes>.
    b = index.to_bytes(4, "big")
    return ":".join(f"{x:02x}" for x in (0x02, kind, *b))


def plan(g: nx.Graph) -> FabricPlan:
    """Number the switches' ports and address the servers of a substrate graph."""
    switch_names = sorted(n for n, d in g.nodes(data=True) if d.get("kind") == "switch")
    if not switch_names:
        raise InputError("topology", "switches", "there is no switch")
    switches: dict[str, SwitchPlan] = {}
    for i, name in enumerate(switch_names):
        neighbours = sorted(g.neighbors(name))
        if len(neighbours) > MAX_PORTS:
            raise InputError("topology", name, f"{len(neighbours)} links; a switch has at most {MAX_PORTS}")
        switches[name] = SwitchPlan(
            name=name,
            device_id=i,
            role=g.nodes[name].get("role", "switch"),
            ports={n: j + 1 for j, n in enumerate(neighbours)},
            mac=_mac(1, i),
        )
    servers: dict[str, Server] = {}
    edges = sorted(
        {next(iter(g.neighbors(s))) for s, d in g.nodes(data=True) if d.get("kind") == "server"}
        & set(switch_names)
    )
    index = 0
    for e, edge in enumerate(edges):
        if e >= 256 * 254:
            raise InputError("topology", edge, "too many edge switches to address")
        net = ipaddress.ip_network(f"10.{e // 256 + 1}.{e % 256}.0/24")
        switches[edge].subnet = str(net)
        attached = sorted(n for n in g.neighbors(edge) if g.nodes[n].get("kind") == "server")
        if len(attached) > 253:
            raise InputError("topology", edge, f"{len(attached)} servers; an edge switch addresses 253")
        for s, name in enumerate(attached):
            servers[name] = Server(
                name=name,
                edge=edge,
                port=switches[edge].ports[name],
                ip=str(net.network_address + s + 1),
                mac=_mac(2, index),
            )
            index += 1
    for name, d in g.nodes(data=True):
        if d.get("kind") == "server" and name not in servers:
            raise InputError("topology", name, "a server must be linked to exactly one switch")
        if d.get("kind") == "server" and g.degree(name) != 1:
            raise InputError("topology", name, "a server must be linked to exactly one switch")
    return FabricPlan(switches=switches, servers=servers, graph=g)
