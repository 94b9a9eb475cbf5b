"""migration/: costs by hand, the objective, workloads, YAML / CSV / pcap problems and their errors."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from migration import problems, workload
from migration.model import Costs, Flow, Instance, Move, Network, Problem, Thresholds, flow_cost
from migration.outcome import evaluate
from topologies.errors import InputError

FIX = Path(__file__).parent / "fixtures" / "migration"


def tiny(scenario: str = "scale-out") -> Problem:
    """A (1000 Mbps, 80 % full, queue 1 MB = 8 ms), B (same server, empty), C (other rack, spare)."""
    inst = (
        Instance("A", "s1", 1000, buffer_mb=1.0, queue_mb=1.0, proc_ms=0.5),
        Instance("B", "s1", 1000, buffer_mb=0.15, queue_mb=0.0, proc_ms=0.5),
        Instance("C", "s9", 1000, buffer_mb=1.0, queue_mb=0.0, proc_ms=0.5, active=scenario != "scale-out"),
    )
    flows = (
        Flow("big", 0, 500.0, 0.1, 20.0),
        Flow("mid", 0, 200.0, 0.2, 1.0),  # a 1 ms SLA: any move breaks it
        Flow("small", 0, 100.0, 0.05, 20.0),
    )
    return Problem(scenario, inst, flows, {"s1": "r1", "s9": "r9"}, Network(100.0, 0.05, 0.2, 0.6), Costs(),
                   Thresholds(high=0.6, low=0.1), "tiny")  # fmt: skip


def test_cost_by_hand():
    p = tiny()
    # big → B: hop 0.05 + 0.1 MB·8e3/100 Mbps = 8 ms transfer + proc 0.5 + queue 0 → 8.55 ≤ 20: β(8.55 − 8) = 0.55
    assert flow_cost(p, 0, 1) == pytest.approx(0.55)
    # big → C (cross rack): 0.6 + 8 + 0.5 = 9.1 → 9.1 − 8 = 1.1
    assert flow_cost(p, 0, 2) == pytest.approx(1.1)
    # mid → B: 0.05 + 16 + 0.5 = 16.55 > 1 ms: δ + β(16.55 − 1) = 50 + 15.55
    assert flow_cost(p, 1, 1) == pytest.approx(65.55)
    assert flow_cost(p, 2, 0) == 0.0  # staying is free
    assert np.allclose(p.cost, [[flow_cost(p, f, j) for j in range(3)] for f in range(3)])
    assert p.late[1, 1] and not p.late[0, 1]


def test_objective_by_hand():
    p = tiny()  # A at 80 %, Th_high 60 %
    o = evaluate(p, [])
    assert o.overload == pytest.approx(1000 * 0.2) and o.total == pytest.approx(200)
    # small → B: B's buffer 0.15 holds 0.05; A at 70 %: overload 100; cost 0.05 + 4 + 0.5 − 8 = −3.45
    o = evaluate(p, [Move(2, 0, 1)])
    assert o.migration == pytest.approx(-3.45) and o.overload == pytest.approx(100)
    # big → spare C: A at 30 %, C started (+R 200)
    o = evaluate(p, [Move(0, 0, 2)])
    assert (o.added, o.resource, o.overload) == (1, 200, 0) and o.total == pytest.approx(201.1)
    assert o.var_before > 0 and o.buffer_ok
    with pytest.raises(ValueError):
        evaluate(p, [Move(0, 1, 2)])  # wrong source


def test_scale_in_removal_saves_r():
    inst = (Instance("A", "s1", 1000, 1.0), Instance("B", "s1", 1000, 1.0), Instance("C", "s2", 1000, 1.0))
    flows = (Flow("a", 0, 50.0, 0.01, 20.0), Flow("b", 1, 300.0, 0.01, 20.0), Flow("c", 2, 300.0, 0.01, 20.0))
    p = Problem("scale-in", inst, flows, network=Network(100.0), thresholds=Thresholds(high=0.6, low=0.1))
    assert list(p.candidates) == [True, False, False] and list(p.movable) == [True, False, False]
    o = evaluate(p, [Move(0, 0, 1)])
    assert (o.removed, o.resource) == (1, -200)


def test_workload_seeded_and_heavy_tailed():
    a, b = workload.scale_out(10, 4, 0.6, 40, 3), workload.scale_out(10, 4, 0.6, 40, 3)
    assert a == b
    assert a != workload.scale_out(10, 4, 0.6, 40, 4)
    assert (a.util[a.active] > 0.6).sum() == 4 and (~a.active).sum() == 4
    r = np.sort(workload.bounded_pareto(np.random.default_rng(0), 20000))[::-1]
    assert r[: len(r) // 10].sum() / r.sum() > 0.4  # the top 10 % of flows carry over 40 % of the traffic
    s = workload.scale_in(50, 10, 0.15, 40, 1)
    assert (s.util < 0.15).sum() == 10 and s.candidates.sum() == 10
    bal = workload.balance(20, 40, 1)
    assert abs(len(bal.flows) / 20 - 40) < 5


def test_triggers():
    assert workload.triggered(workload.scale_out(10, 2, 0.6, 10, 1))
    assert workload.triggered(workload.scale_in(10, 2, 0.1, 10, 1))
    b = workload.balance(10, 10, 1)
    assert workload.triggered(b) == (np.var(b.util) >= 0.01)
    assert not workload.triggered(replace(b, thresholds=Thresholds(high=0.8, var=1.0)))


def test_next_state_applies_moves_and_detects():
    p = workload.scale_out(10, 4, 0.6, 20, 1)
    a = p.src.copy()
    q = workload.next_state(p, a, np.random.default_rng(0))
    assert q.scenario in ("scale-out", "scale-in", "balance")
    assert len(q.flows) == len(p.flows)


def test_yaml_roundtrip(tmp_path):
    p = workload.balance(5, 8, 2)
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(problems.dump(p)))
    q = problems.load(f)
    assert q.scenario == "balance" and len(q.flows) == len(p.flows)
    assert np.allclose(q.rate, p.rate, atol=1e-5) and np.allclose(q.cost, p.cost, atol=1e-3)


def test_fixture_problem_and_csv():
    p = problems.load(FIX / "scale_out.yaml")
    assert p.scenario == "scale-out" and len(p.flows) == 5 and not p.instances[2].active
    c = problems.load(FIX / "from_csv.yaml")
    assert [f.name for f in c.flows] == ["x1", "x2", "x3"] and c.flows[2].instance == 1


def test_pcap_flows(tmp_path):
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    pkts = []
    for k in range(10):
        p1 = Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1000, dport=80) / (b"x" * 1000)
        p1.time = k * 0.01
        p2 = Ether() / IP(src="10.0.0.3", dst="10.0.0.2") / UDP(sport=53, dport=5353) / (b"y" * 100)
        p2.time = k * 0.01
        pkts += [p1, p2]
    wrpcap(str(tmp_path / "t.pcap"), pkts)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({
        "scenario": "balance", "flows_pcap": "t.pcap",
        "instances": [{"name": "a", "capacity_mbps": 1000, "buffer_mb": 1}, {"name": "b", "capacity_mbps": 1000, "buffer_mb": 1}],
    }))  # fmt: skip
    p = problems.load(tmp_path / "p.yaml")
    assert len(p.flows) == 2
    big = max(p.flows, key=lambda f: f.rate_mbps)
    assert big.rate_mbps == pytest.approx(10 * 1054 * 8 / 1e6 / 0.09, rel=0.01)  # bytes over 90 ms


BAD = [
    ({"scenario": "scale-up"}, "scenario: must be one of"),
    ({"scenario": "balance", "instances": []}, "instances: must be a non-empty list"),
    ({"scenario": "balance", "thresholds": {"high": 0.1, "low": 0.5}, "instances": [{"name": "a"}]}, "low < high"),
    ({"scenario": "balance", "instances": [{"name": "a", "capacity_mbps": 0, "buffer_mb": 1}]}, "'capacity_mbps' must be > 0"),
    ({"scenario": "balance", "instances": [{"name": "a", "capacity_mbps": 10, "buffer_mb": 1}],
      "flows": [{"instance": "zz", "rate_mbps": 1, "size_mb": 0, "sla_ms": 1}]}, "unknown instance 'zz'"),
    ({"scenario": "balance", "instances": [{"name": "a", "capacity_mbps": 10, "buffer_mb": 1}],
      "flows": [{"instance": "a", "rate_mbps": -1, "size_mb": 0, "sla_ms": 1}]}, "'rate_mbps' must be > 0"),
    ({"scenario": "balance", "instances": [{"name": "a", "capacity_mbps": 10, "buffer_mb": 1, "active": False}],
      "flows": [{"instance": "a", "rate_mbps": 1, "size_mb": 0, "sla_ms": 1}]}, "not active"),
    ({"scenario": "balance", "costs": {"beta": "x"}}, "costs.beta: must be a number"),
    ({"generate": {"scenario": "scale-out", "instances": 3, "hot": 9}}, "generate.hot: must be in 1..3"),
    ({"generate": {"scenario": "balance", "seed": -1}}, "generate.seed: must be an integer"),
    ({"scenario": "balance", "colour": 1}, "colour: unknown key"),
]  # fmt: skip


@pytest.mark.parametrize("doc,message", BAD)
def test_bad_problems_one_line(tmp_path, doc, message):
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(doc))
    with pytest.raises(InputError) as e:
        problems.load(f)
    assert message in str(e.value) and "\n" not in str(e.value) and str(f) in str(e.value)


def test_bad_yaml_and_csv(tmp_path):
    f = tmp_path / "b.yaml"
    f.write_text("scenario: [balance\n")
    with pytest.raises(InputError, match="not valid YAML"):
        problems.load(f)
    (tmp_path / "f.csv").write_text("flow,instance,rate_mbps,size_mb,sla_ms\nx,a,fast,0,1\n")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({
        "scenario": "balance", "flows_csv": "f.csv", "instances": [{"name": "a", "capacity_mbps": 10, "buffer_mb": 1}]}))  # fmt: skip
    with pytest.raises(InputError, match="line 2: rate_mbps, size_mb and sla_ms must be numbers"):
        problems.load(tmp_path / "c.yaml")
    assert math.isfinite(workload.queue_ms(0.99))
