"""The SR-EM domain as arrays: substrate, hosts, VNF catalogue, instances.

Hosts are numbered: servers first, then the local memory (LM) of every switch,
then the external memory (EM) of every switch, in switch order.
Everything the per-step evaluation touches is a NumPy array so that a step is a
handful of vectorised operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import networkx as nx
import numpy as np

from placement.model.delay import em_ms_per_mb
from topologies import InputError


class HostKind(IntEnum):
    SERVER = 0
    LM = 1
    EM = 2


@dataclass(frozen=True, eq=False)
class Substrate:
    """Nodes (switches first, then servers), directed arcs, and the hosts they offer."""

    graph: nx.Graph
    names: tuple[str, ...]
    n_switches: int
    n_servers: int
    # Directed arcs: each undirected link is two arcs with the link's attributes
    # (full duplex: each direction has the whole bandwidth).
    arc_src: np.ndarray
    arc_dst: np.ndarray
    arc_bw: np.ndarray  # Mbps
    arc_cost: np.ndarray  # per MB transferred
    arc_prop: np.ndarray  # ms
    arc_tx: np.ndarray  # ms per MB
    # Hosts: servers, then LM of each switch, then EM of each switch.
    host_node: np.ndarray
    host_kind: np.ndarray
    host_capacity: np.ndarray  # MB
    host_unit_cost: np.ndarray  # per MB stored
    rt_capacity: np.ndarray  # MB of RDMA table per switch
    rdma_ms: np.ndarray  # one RDMA access per switch, ms
    controller_bw: float  # Mbps
    controller_cost: float  # per MB of control traffic

    @property
    def n_nodes(self) -> int:
        return self.n_switches + self.n_servers

    @property
    def n_hosts(self) -> int:
        return self.n_servers + 2 * self.n_switches

    @property
    def n_arcs(self) -> int:
        return len(self.arc_src)

    def host_label(self, h: int) -> str:
        kind = HostKind(int(self.host_kind[h]))
        node = self.names[int(self.host_node[h])]
        return node if kind is HostKind.SERVER else f"{node}/{kind.name}"

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise InputError("topology", name, "unknown node") from None

    @classmethod
    def from_graph(cls, g: nx.Graph) -> Substrate:
        switches = sorted(n for n, d in g.nodes(data=True) if d["kind"] == "switch")
        servers = sorted(n for n, d in g.nodes(data=True) if d["kind"] == "server")
        if not switches or not servers:
            raise InputError("topology", "nodes", "needs at least one switch and one server")
        names = tuple(switches + servers)
        idx = {n: i for i, n in enumerate(names)}
        edges = sorted(tuple(sorted((idx[a], idx[b]))) for a, b in g.edges)
        src = np.array([a for a, b in edges] + [b for a, b in edges], dtype=np.int64)
        dst = np.array([b for a, b in edges] + [a for a, b in edges], dtype=np.int64)

        def arc(attr: str) -> np.ndarray:
            return np.array([g.edges[names[a], names[b]][attr] for a, b in zip(src, dst, strict=True)])

        sw = [g.nodes[n] for n in switches]
        sv = [g.nodes[n] for n in servers]
        W, M = len(switches), len(servers)
        return cls(
            graph=g,
            names=names,
            n_switches=W,
            n_servers=M,
            arc_src=src,
            arc_dst=dst,
            arc_bw=arc("bw_mbps"),
            arc_cost=arc("cost_per_mb"),
            arc_prop=arc("prop_ms"),
            arc_tx=arc("tx_ms_per_mb"),
            host_node=np.concatenate([np.arange(W, W + M), np.arange(W), np.arange(W)]),
            host_kind=np.concatenate(
                [np.full(M, HostKind.SERVER), np.full(W, HostKind.LM), np.full(W, HostKind.EM)]
            ).astype(np.int64),
            host_capacity=np.array(
                [d["storage_mb"] for d in sv] + [d["lm_mb"] for d in sw] + [d["em_mb"] for d in sw]
            ),
            host_unit_cost=np.array(
                [d["cost_per_mb"] for d in sv]
                + [d["lm_cost_per_mb"] for d in sw]
                + [d["em_cost_per_mb"] for d in sw]
            ),
            rt_capacity=np.array([d["rt_mb"] for d in sw]),
            rdma_ms=np.array([d["rdma_us"] / 1000.0 for d in sw]),
            controller_bw=float(g.graph["controller_bw_mbps"]),
            controller_cost=float(g.graph["controller_cost_per_mb"]),
        )


@dataclass(frozen=True, eq=False)
class Catalog:
    """VNF types and their instances, with per-(type, host) tables precomputed."""

    names: tuple[str, ...]
    switch_mb: np.ndarray  # [V] entries on a switch; also the programming traffic P_v
    server_mb: np.ndarray  # [V] storage on a server; also the state moved by a migration
    server_capacity: np.ndarray  # [V] Mbps
    switch_capacity: np.ndarray  # [V] Mbps
    rdma_accesses: np.ndarray  # [V] RDMA reads per lookup when in EM
    rt_mb: np.ndarray  # [V] RDMA-table footprint when in EM
    inst_type: np.ndarray  # [I] the type of every instance
    # Derived per (type, host):
    need: np.ndarray  # [V, H] MB of the host's storage it takes
    capacity: np.ndarray  # [V, H] Mbps it can process there
    ms_per_mb: np.ndarray  # [V, H] processing delay per MB of traffic there
    static_mask: np.ndarray  # [V, H] the host could ever hold it (the static filter)

    @property
    def n_types(self) -> int:
        return len(self.names)

    @property
    def n_instances(self) -> int:
        return len(self.inst_type)

    def instance_label(self, i: int) -> str:
        t = int(self.inst_type[i])
        k = int(np.sum(self.inst_type[:i] == t))
        return f"{self.names[t]}#{k}"


def build_catalog(
    sub: Substrate,
    *,
    names: tuple[str, ...],
    switch_mb: np.ndarray,
    server_mb: np.ndarray,
    server_capacity: np.ndarray,
    switch_capacity: np.ndarray,
    server_ms_per_mb: np.ndarray,  # [V, M]
    switch_ms_per_mb: np.ndarray,  # [V, W]
    rdma_accesses: np.ndarray,
    rdma_table_share: float,
    instances_per_type: np.ndarray,
    rdma_lookups_per_mb: float = 1.0,
) -> Catalog:
    kind = sub.host_kind
    on_server = kind == HostKind.SERVER
    need = np.where(on_server[None, :], server_mb[:, None], switch_mb[:, None])
    capacity = np.where(on_server[None, :], server_capacity[:, None], switch_capacity[:, None])
    # In EM a lookup costs the LM pipeline delay plus n_v RDMA reads (model.md, Delays).
    # `rdma_lookups_per_mb` folds in packets per MB and the LM cache's miss ratio.
    em_ms = em_ms_per_mb(switch_ms_per_mb, rdma_lookups_per_mb * rdma_accesses[:, None], sub.rdma_ms[None, :])
    ms_per_mb = np.concatenate([server_ms_per_mb, switch_ms_per_mb, em_ms], axis=1)
    rt_mb = switch_mb * rdma_table_share
    fits = need <= sub.host_capacity[None, :]
    em = kind == HostKind.EM
    rt_cap = np.concatenate([np.full(sub.n_servers + sub.n_switches, np.inf), sub.rt_capacity])
    fits &= ~em[None, :] | (rt_mb[:, None] <= rt_cap[None, :])
    inst_type = np.repeat(np.arange(len(names)), instances_per_type)
    if not fits.any(axis=1).all():
        bad = names[int(np.flatnonzero(~fits.any(axis=1))[0])]
        raise InputError("scenario", f"vnf {bad}", "fits on no host of the topology")
    return Catalog(
        names=names,
        switch_mb=switch_mb,
        server_mb=server_mb,
        server_capacity=server_capacity,
        switch_capacity=switch_capacity,
        rdma_accesses=rdma_accesses,
        rt_mb=rt_mb,
        inst_type=inst_type,
        need=need,
        capacity=capacity,
        ms_per_mb=ms_per_mb,
        static_mask=fits,
    )
