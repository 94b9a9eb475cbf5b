import networkx as nx
import numpy as np
import pytest

import topologies as T
from tests.conftest import TINY_TOPOLOGY


def roles(g):
    return {
        r: sum(1 for _, d in g.nodes(data=True) if d["role"] == r)
        for r in ("core", "aggregation", "edge", "server")
    }


def test_paper_fattree_shape():
    g = T.paper_fattree()
    assert roles(g) == {"core": 2, "aggregation": 4, "edge": 4, "server": 12}
    assert nx.is_connected(g)
    for n, d in g.nodes(data=True):
        if d["role"] == "edge":
            assert sum(g.nodes[m]["kind"] == "server" for m in g[n]) == 3


@pytest.mark.parametrize("k", [4, 8, 16])
def test_kary_fattree_shape(k):
    g = T.kary_fattree(k)
    assert roles(g) == {
        "core": k * k // 4,
        "aggregation": k * k // 2,
        "edge": k * k // 2,
        "server": k**3 // 4,
    }
    assert all(g.degree(n) == k for n, d in g.nodes(data=True) if d["kind"] == "switch")


def test_odd_k_is_refused():
    with pytest.raises(T.InputError, match="even k"):
        T.kary_fattree(5)


def test_draw_is_seeded_and_within_ranges():
    r = T.SubstrateRanges()
    a = T.draw(T.paper_fattree(), r, np.random.default_rng(1))
    b = T.draw(T.paper_fattree(), r, np.random.default_rng(1))
    c = T.draw(T.paper_fattree(), r, np.random.default_rng(2))
    assert T.to_dict(a) == T.to_dict(b) != T.to_dict(c)
    for _, d in a.nodes(data=True):
        if d["kind"] == "switch":
            assert 20 <= d["lm_mb"] <= 50 and 500 <= d["em_mb"] <= 4000 and d["rt_mb"] == d["lm_mb"]
        else:
            assert 16000 <= d["storage_mb"] <= 64000
    for *_, d in a.edges(data=True):
        assert 10000 <= d["bw_mbps"] <= 40000 and 0.05 <= d["prop_ms"] <= 0.5


def test_yaml_round_trip(tmp_path):
    g = T.draw(T.kary_fattree(4), T.SubstrateRanges(), np.random.default_rng(0))
    T.save(g, tmp_path / "t.yaml")
    assert T.to_dict(T.load(tmp_path / "t.yaml")) == T.to_dict(g)


def bad(**change):
    d = {k: (list(v) if isinstance(v, list) else v) for k, v in TINY_TOPOLOGY.items()}
    d.update(change)
    return d


@pytest.mark.parametrize(
    ("data", "item", "message"),
    [
        (bad(links=[{**TINY_TOPOLOGY["links"][0], "b": "Z"}]), "links[0]", "unknown node 'Z'"),
        (bad(links=[{**TINY_TOPOLOGY["links"][0], "bw_mbps": -1}]), "links[0]", "'bw_mbps' must be > 0"),
        (bad(links=TINY_TOPOLOGY["links"][:1]), "links", "disconnected"),
        (bad(servers=[{"name": "A", "storage_mb": 1, "cost_per_mb": 0}]), "servers[0]", "duplicate node"),
        (bad(servers=[{"name": "S", "cost_per_mb": 0}]), "servers[0]", "missing field 'storage_mb'"),
        (bad(switches=[]), "switches", "non-empty list"),
        (bad(colour="red"), "topology", "unknown keys"),
    ],
)
def test_bad_topology_names_item(data, item, message):
    with pytest.raises(T.InputError) as e:
        T.from_dict(data, "net.yaml")
    assert e.value.source == "net.yaml" and e.value.item.startswith(item) and message in e.value.message


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(T.InputError, match="does not exist"):
        T.load(tmp_path / "nope.yaml")
    (tmp_path / "x.yaml").write_text("switches: [a, b\n")
    with pytest.raises(T.InputError, match="yaml"):
        T.load(tmp_path / "x.yaml")
