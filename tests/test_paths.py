import networkx as nx
import numpy as np


def test_routes_are_load_weighted_dijkstra(paper):
    """The chosen path is a minimum of Dijkstra with weight (1 + routing weight)."""
    sub, paths = paper.sub, paper.paths
    rng = np.random.default_rng(0)
    g = nx.DiGraph()
    for _ in range(3):
        util = rng.uniform(0, 1, sub.n_arcs)
        w = paths.arc_weight(util)
        for a in range(sub.n_arcs):
            g.add_edge(int(sub.arc_src[a]), int(sub.arc_dst[a]), w=1.0 + w[a])
        pairs = rng.integers(0, sub.n_nodes**2, 60)
        chosen = paths.route(pairs, w)
        for p, path in zip(pairs, chosen, strict=True):
            a, b = divmod(int(p), sub.n_nodes)
            if a == b:
                assert paths.path_hops[path] == 0
                continue
            best = nx.dijkstra_path_length(g, a, b, weight="w")
            arcs = paths.parcs[path][paths.parcs[path] != paths.dummy_arc]
            assert np.isclose((1.0 + w[arcs]).sum(), best)
            names = paths.nodes_of(path)
            assert names[0] == sub.names[a] and names[-1] == sub.names[b]


def test_idle_network_spreads_nothing_but_prefers_cheap_links(paper):
    sub, paths = paper.sub, paper.paths
    a, b = sub.index("edge0_0"), sub.index("edge1_1")
    path = paths.route(np.array([a * sub.n_nodes + b]), paths.arc_weight(np.zeros(sub.n_arcs)))[0]
    rows = paths.cand[paths.pair_row[a * sub.n_nodes + b]]
    assert paths.path_hops[path] == 4 and len(rows) == 8  # 2 aggs x 2 cores x 2 aggs
    assert paths.path_cost[path] == paths.path_cost[rows].min()
