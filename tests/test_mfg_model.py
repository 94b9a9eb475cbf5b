"""The MEC scenario, the paper's delay model on hand-worked cases, and the exact optimum."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import yaml

from placement.mfg import delay as D
from placement.mfg import milp
from placement.mfg import scenario as S
from topologies import InputError

TINY = Path(__file__).parent / "fixtures" / "mfg" / "tiny.yaml"


def test_pure_delay_functions() -> None:
    assert D.processing_ms(0.2, 1.0, 2.0) == pytest.approx(100.0)  # 0.2 Gcycles / 2 GHz = 0.1 s
    assert D.ofdma_share_mbps(100.0, 50.0, 75.0) == pytest.approx(100 * 50 / 75)
    assert D.transmission_ms(1.0, 100.0) == pytest.approx(80.0)  # 8 Mb over 100 Mbps


def test_tiny_hand_worked() -> None:
    m = D.compile_model(S.load(TINY))
    # both on b (4 GHz): f1 50 ms/MB + f2 100 ms/MB, no transmission
    assert D.sfc_ms_per_mb(m, np.array([1, 1])) == pytest.approx([150.0, 150.0])
    # f1 on a (100 ms/MB), f2 on b (100 ms/MB); both SFCs' hops share the link, 50 + 25 Mbps of tx:
    # S1's hop (sender f1, tx 50) gets 100*50/75 Mbps -> 8/(200/3) s = 120 ms; S2's (tx 25) 240 ms
    assert D.hop_ms_per_mb(m, np.array([0, 1])) == pytest.approx([120.0, 240.0])
    assert D.sfc_ms_per_mb(m, np.array([0, 1])) == pytest.approx([320.0, 440.0])
    r = S.Requests(np.array([0, 1]), np.array([0.5, 2.0]), np.array([0, 0]), np.array([500.0, 500.0]))
    assert D.request_delays(m, np.array([0, 1]), r) == pytest.approx([160.0, 880.0])
    assert D.total_delay(m, np.array([0, 1]), r.volumes(2)) == pytest.approx(1040.0)
    # 1.5 + 1.5 GHz on a 2 GHz node: 1 GHz over
    assert D.overload(m, np.array([0, 0]))[0] == pytest.approx([1.0, 2.0, 0.0])
    assert not D.feasible(m, np.array([0, 0])) and D.feasible(m, np.array([0, 1]))


def test_paper_scenario_bundled() -> None:
    s = S.load("paper")
    names = [[s.vnfs[j].name for j in f.vnfs] for f in s.sfcs]
    assert names == [
        ["vnf-1", "vnf-2", "vnf-3"],
        ["vnf-1", "vnf-4", "vnf-6"],
        ["vnf-3", "vnf-4", "vnf-5", "vnf-7"],
    ]
    assert len(s.nodes) == 3
    need, cap = s.need(), s.capacity()
    assert ((need >= 0.1 * cap.min(0)) & (need <= 0.7 * cap.max(0))).all()


def test_requests_seeded() -> None:
    s = S.load("paper")
    a, b = S.sample_requests(s, 3), S.sample_requests(s, 3)
    assert np.array_equal(a.sfc, b.sfc) and np.array_equal(a.size_mb, b.size_mb)
    assert a.size_mb.min() >= 0.1 and a.size_mb.max() <= 2.0
    assert not np.array_equal(S.sample_requests(s, 4).size_mb[:5], a.size_mb[:5])


@pytest.mark.parametrize("n", [10, 30])
def test_generated_round_trip(n: int) -> None:
    g = S.generate(n, seed=n)
    assert S.from_dict(S.to_dict(g)) == g
    assert S.generate(n, seed=n) == g and len(g.nodes) == n


def _brute(m: D.Model, vol: np.ndarray) -> tuple[float, np.ndarray]:
    best = (np.inf, None)
    for x in itertools.product(range(m.n_nodes), repeat=m.n_vnfs):
        x = np.array(x)
        if D.feasible(m, x):
            best = min(best, (D.total_delay(m, x, vol), x), key=lambda t: t[0])
    return best


@pytest.mark.parametrize("spec,seed", [(TINY, 0), ("paper", 0), ("paper", 7)])
def test_milp_equals_brute_force(spec, seed: int) -> None:
    s = S.load(spec)
    m = D.compile_model(s)
    vol = S.sample_requests(s, seed).volumes(len(s.sfcs))
    o = milp.solve(m, vol)
    best, _ = _brute(m, vol)
    assert o.proven and o.gap == 0.0
    assert o.objective == pytest.approx(best, rel=1e-6)
    assert D.feasible(m, o.placement)


BAD = [
    ({"nodes": [{"name": "a", "cpu": -1, "storage": 1, "tx": 1}]}, "nodes[0].cpu: must be in (0"),
    ({"nodes": [{"name": "a", "cpu": 1, "storage": 1}]}, "nodes[0]: missing 'tx'"),
    ({"links": [{"a": "a", "b": "zz", "capacity": 10}]}, "links[0].b: no node named 'zz'"),
    (
        {"sfcs": [{"name": "S1", "vnfs": ["f1", "f9"], "rate": 1, "timeout": 5}]},
        "sfcs[0].vnfs[1]: no VNF named",
    ),
    ({"colour": "red"}, "scenario.colour: unknown key"),
    ({"requests": {"size_mb": [2, 1]}}, "requests.size_mb: low 2 is above high 1"),
    ({"links": []}, "links: node 'b' cannot be reached"),
    ({"vnfs": [{"name": "f1", "cpu": 9, "storage": 1, "tx": 1, "work": 1}]}, "fits on no node"),
]


@pytest.mark.parametrize("patch,msg", BAD)
def test_bad_scenarios_one_line(tmp_path: Path, patch: dict, msg: str) -> None:
    d = yaml.safe_load(TINY.read_text()) | patch
    if "vnfs" in patch:
        d["sfcs"] = [{"name": "S1", "vnfs": ["f1"], "rate": 1, "timeout": 5}]
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(d))
    with pytest.raises(InputError) as e:
        S.load(f)
    assert msg in str(e.value) and "\n" not in str(e.value)
