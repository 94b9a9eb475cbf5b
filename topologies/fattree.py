"""Fat-tree structures: the paper's 10-switch tree and k-ary fat-trees.

Builders return a bare `networkx.Graph` (roles only); `attributes.draw` fills in
capacities, costs and delays from a scenario's ranges.
"""

from __future__ import annotations

import networkx as nx

from topologies.errors import InputError


def _switch(g: nx.Graph, name: str, role: str, pod: int | None = None) -> None:
    g.add_node(name, kind="switch", role=role, pod=pod)


def _server(g: nx.Graph, name: str, edge: str, pod: int | None) -> None:
    g.add_node(name, kind="server", role="server", pod=pod)
    g.add_edge(edge, name)


def paper_fattree(servers_per_edge: int = 3) -> nx.Graph:
    """The paper's fat-tree: 2 core, 4 aggregation, 4 edge switches, 3 servers per edge.

    Two pods of 2 aggregation + 2 edge switches (full bipartite inside a pod);
    every aggregation switch reaches both cores.
    """
    g = nx.Graph(name="paper-fattree")
    cores = ["core0", "core1"]
    for c in cores:
        _switch(g, c, "core")
    for pod in range(2):
        aggs = [f"agg{pod}_{j}" for j in range(2)]
        edges = [f"edge{pod}_{j}" for j in range(2)]
        for a in aggs:
            _switch(g, a, "aggregation", pod)
            for c in cores:
                g.add_edge(a, c)
        for e in edges:
            _switch(g, e, "edge", pod)
            for a in aggs:
                g.add_edge(a, e)
    for e in [n for n, d in g.nodes(data=True) if d["role"] == "edge"]:
        for s in range(servers_per_edge):
            _server(g, f"srv_{e}_{s}", e, g.nodes[e]["pod"])
    return g


def kary_fattree(k: int, servers_per_edge: int | None = None) -> nx.Graph:
    """Al-Fares k-ary fat-tree: (k/2)^2 cores, k pods of k/2 aggregation and k/2 edge.

    Each edge switch carries k/2 servers unless `servers_per_edge` says otherwise,
    so k=4 gives 20 switches and 16 servers, k=8 gives 80 and 128.
    """
    if k < 2 or k % 2:
        raise InputError("topology", "k", f"a fat-tree needs an even k >= 2, got {k}")
    half = k // 2
    per_edge = half if servers_per_edge is None else servers_per_edge
    g = nx.Graph(name=f"fattree-k{k}")
    cores = [f"core{i}" for i in range(half * half)]
    for c in cores:
        _switch(g, c, "core")
    for pod in range(k):
        aggs = [f"agg{pod}_{j}" for j in range(half)]
        for j, a in enumerate(aggs):
            _switch(g, a, "aggregation", pod)
            # Aggregation j of every pod reaches the j-th group of k/2 cores.
            for c in cores[j * half : (j + 1) * half]:
                g.add_edge(a, c)
        for j in range(half):
            e = f"edge{pod}_{j}"
            _switch(g, e, "edge", pod)
            for a in aggs:
                g.add_edge(a, e)
            for s in range(per_edge):
                _server(g, f"srv_{e}_{s}", e, pod)
    return g
