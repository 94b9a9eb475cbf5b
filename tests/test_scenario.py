import pytest
import yaml

from placement.model import scenario as sc
from placement.model.workload import build_problem
from topologies import InputError


def test_default_round_trips_through_yaml():
    s = sc.default()
    assert sc.from_dict(yaml.safe_load(sc.dump(s))) == s
    assert s.hours == [10, 12, 14, 16, 18, 20]


@pytest.mark.parametrize(
    ("patch", "item", "message"),
    [
        ({"vnfs": {"types": -1}}, "vnfs.types", ">= 0"),
        ({"vnfs": {"switch_mb": [200, 5]}}, "vnfs.switch_mb", "above high"),
        ({"vnfs": {"colour": 1}}, "vnfs", "unknown keys"),
        ({"workload": {"chains": "many"}}, "workload.chains", "must be a number"),
        ({"workload": {"max_chain_length": 9}}, "workload.max_chain_length", "distinct types"),
        ({"topology": {"builder": "ring"}}, "topology.builder", "paper, fattree or file"),
        ({"topology": {"builder": "fattree", "k": 3}}, "topology.k", "even k"),
        ({"substrate": {"lm_mb": [1]}}, "substrate.lm_mb", "range"),
    ],
)
def test_bad_values_are_named(patch, item, message):
    with pytest.raises(InputError) as e:
        sc.from_dict(patch, "s.yaml")
    assert e.value.item == item and message in e.value.message and e.value.source == "s.yaml"


def test_topology_file_is_found_beside_the_scenario(tmp_path):
    import topologies as T
    from tests.conftest import TINY_TOPOLOGY

    T.save(T.from_dict(TINY_TOPOLOGY), tmp_path / "net.yaml")
    (tmp_path / "s.yaml").write_text(
        yaml.safe_dump({"topology": {"builder": "file", "file": "net.yaml"}, "vnfs": {"switch_mb": [5, 10]}})
    )
    p = build_problem(sc.load(tmp_path / "s.yaml"))
    assert p.sub.names == ("A", "B", "S")


def test_vnf_that_fits_nowhere_is_refused():
    with pytest.raises(InputError, match="fits on no host"):
        build_problem(sc.from_dict({"vnfs": {"switch_mb": [1e7, 1e7], "server_mb": [1e9, 1e9]}}))


def test_bundled_scenarios_load_by_name():
    assert {"paper", "fattree-k8"} <= set(sc.bundled())
    assert sc.load("paper") == sc.default()
    assert sc.load(sc.BUNDLED / "fattree-k8.yaml").name == "fattree-k8"
    k8 = build_problem(sc.load("fattree-k8"))
    assert (k8.sub.n_switches, k8.sub.n_servers, k8.cat.n_instances) == (80, 128, 32)


def test_tea_scenario_calibrates_em_lookups():
    import numpy as np

    from placement.model.domain import HostKind
    from placement.model.workload import build_problem

    s = sc.load("tea")
    assert s.name == "tea" and s.vnfs.rdma_hit_ratio == 0.9 and s.vnfs.lookups_per_mb == 667.0
    p = build_problem(s)
    lm, em = p.sub.host_kind == HostKind.LM, p.sub.host_kind == HostKind.EM
    # EM per MB = LM per MB + 667 lookups * 10 % misses * n_v reads * 1.8-2.2 us.
    extra = p.cat.ms_per_mb[:, em] - p.cat.ms_per_mb[:, lm]
    expect = 667 * 0.1 * p.cat.rdma_accesses[:, None] * p.sub.rdma_ms[None, :]
    assert np.allclose(extra, expect)
    assert extra.min() >= 667 * 0.1 * 1.8e-3 - 1e-12 and extra.max() <= 667 * 0.1 * 2 * 2.2e-3 + 1e-12
    # EM sits between LM and servers, so the choice between them is a real trade-off.
    server = p.sub.host_kind == HostKind.SERVER
    assert p.cat.ms_per_mb[:, lm].max() < extra.min() < p.cat.ms_per_mb[:, server].min()
    bad = sc.to_dict(s)
    bad["vnfs"]["rdma_hit_ratio"] = 1.5
    with pytest.raises(InputError, match="rdma_hit_ratio"):
        sc.from_dict(bad, "bad")
