"""DeepMigration as the orchestration loop's planner (issue 18 part 5): the adapter from the
loop's view to a migration problem and back to actions, the planner choice in the
orchestration YAML, and the fallbacks to the heuristic. The rates come from real NF hosts'
control sockets (in-process SoftwareHost + ControlServer), the policy is the shipped one."""

import logging
import time

import numpy as np
import pytest
import torch
from scapy.all import IP, UDP, Ether, raw
from scapy.contrib.nsh import NSH

from controller.orchestration.config import ConfigError, parse
from controller.orchestration.deepmigration import (
    DeepMigration,
    FlowRate,
    build_problem,
    capacity_pps,
    planner_for,
    propose,
    read_flows,
    to_actions,
)
from controller.orchestration.monitor import Sample
from controller.orchestration.move import Instance
from controller.orchestration.planner import FunctionPlanner, Heuristic, View
from migration.agent import LOOP_MODEL, decide, load_model
from nfs.control import ControlServer
from nfs.software import SoftwareHost

torch.set_num_threads(1)
CFG = {
    "thresholds": {"overload": {"pps": 400}, "underload": {"pps": 30}, "hysteresis": {"margin": 0.1}},
    "elasticity": {"min_instances": 1, "max_instances": 3, "cooldown_periods": 2},
}
LIMIT = 400 * 0.9 * 0.98  # just under where the overload alert clears: no destination may end above it


def fl(k: int, pps: float) -> FlowRate:
    return FlowRate(("10.0.1.1", "10.0.2.2", 17, 3000 + k, 9000), float(pps), pps * 100.0)


def view(
    rates: dict, alerts: set, free: list[str], period: int = 10, last: dict | None = None, **cfg
) -> View:
    samples = {n: Sample(0.0, n, True, pps=sum(f.pps for f in r)) for n, r in rates.items()}
    return View(period, alerts, samples, free, parse({**CFG, **cfg}), last or {})


def plan(v: View, rates: dict, scenario: str):
    b = build_problem(v, scenario, rates, 20.0)
    return b, propose(load_model(LOOP_MODEL), b, v, scenario)[0]


def apply(rates: dict, actions) -> dict[str, float]:
    """Each instance's load once the actions' exact flows have moved (scale-in: all of them)."""
    where = {f.flow: n for n, r in rates.items() for f in r}
    pps = {f.flow: f.pps for r in rates.values() for f in r}
    seen = set()
    for a in actions:
        for f in a.flows:
            assert where[f] == a.instance, (f, a)  # an exact flow of its source
            assert f not in seen  # moved once
            seen.add(f)
            where[f] = a.to
        if a.kind == "scale-in":
            where = {f: (a.to if n == a.instance else n) for f, n in where.items()}
    load: dict[str, float] = {}
    for f, n in where.items():
        load[n] = load.get(n, 0.0) + pps[f]
    return load


def test_capacity_puts_the_overload_clear_level_at_th_high():
    cfg = parse(CFG)
    assert capacity_pps(cfg) == pytest.approx(LIMIT / 0.6)
    assert capacity_pps(parse({"thresholds": {"overload": {"pps": None}}})) is None


def test_scale_out_moves_exact_flows_to_a_new_instance_and_brings_the_source_under_its_limit():
    rates = {"a": [fl(k, 75) for k in range(8)]}  # 600 packets/s on one instance, overload at 400
    v = view(rates, {("overload", "a")}, ["b", "c"])
    b, acts = plan(v, rates, "scale-out")
    assert b.problem.load[0] == 600 and b.limit[0] == pytest.approx(LIMIT)
    assert acts and acts[0].kind == "scale-out" and acts[0].instance in ("b", "c"), acts
    assert all(a.kind in ("scale-out", "move") for a in acts)
    assert all(a.flows for a in acts if a.kind == "move")
    after = apply(rates, acts)
    assert all(x <= LIMIT + 1e-9 for x in after.values()), after
    assert after["a"] <= LIMIT, after
    assert acts[0].reason.startswith("deepmigration scale-out") and "pps a 600->" in acts[0].reason


@pytest.mark.parametrize("seed", range(12))
def test_no_destination_ever_ends_above_its_limit(seed):
    """Seeded hand-made views of every scenario: whatever the policy asks, every destination
    stays at or under the clear level, and every moved flow is an exact flow of its source."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5))
    names = "abcdefgh"
    scenario = ("scale-out", "scale-in", "balance")[seed % 3]
    lo, hi = {"scale-out": (100, 700), "scale-in": (2, 300), "balance": (20, 340)}[scenario]
    if scenario != "scale-out":
        n = max(n, 2)
    rates, k = {}, 0
    for i in range(n):
        total = rng.uniform(lo, hi)
        w = rng.pareto(1.2, int(rng.integers(2, 12))) + 0.05
        rates[names[i]] = [fl(k + j, total * x / w.sum()) for j, x in enumerate(w)]
        k += len(w)
    loads = {m: sum(f.pps for f in r) for m, r in rates.items()}
    if scenario == "scale-out":
        alerts = {("overload", m) for m, x in loads.items() if x >= 400} or {("overload", "a")}
    elif scenario == "scale-in":
        alerts = {("underload", min(loads, key=loads.get))}
    else:
        alerts = {("imbalance", "*")}
    v = view(rates, alerts, [m for m in names[n : n + 2]])
    _, acts = plan(v, rates, scenario)
    after = apply(rates, acts)
    for m, x in after.items():
        if x > loads.get(m, 0.0) + 1e-9:  # it received flows
            assert x <= LIMIT + 1e-6, (m, x, acts)


def test_scale_in_drains_the_underloaded_instance_with_its_exact_flows_and_respects_min_instances():
    rates = {"a": [fl(k, 4) for k in range(3)], "b": [fl(10 + k, 50) for k in range(2)], "c": [fl(20, 150)]}
    v = view(rates, {("underload", "a")}, [])
    _, acts = plan(v, rates, "scale-in")
    assert acts and acts[-1].kind == "scale-in" and acts[-1].instance == "a", acts
    assert apply(rates, acts).get("a", 0.0) == 0.0
    assert all(a.instance == "a" and a.flows for a in acts)
    # with min_instances equal to the running count nothing is drained
    tight = view(rates, {("underload", "a")}, [], elasticity={"min_instances": 3, "max_instances": 3})
    assert DeepMigration(tight.config, {}).plan(tight) == []


def test_an_instance_in_its_cooldown_is_not_moved_from():
    rates = {"a": [fl(k, 75) for k in range(8)]}
    v = view(rates, {("overload", "a")}, ["b"], period=10, last={"a": 9})
    b, _ = plan(view(rates, {("overload", "a")}, ["b"]), rates, "scale-out")
    moves = decide(load_model(LOOP_MODEL), b.problem).moves
    assert moves  # the policy would move ...
    assert to_actions(b, moves, v, "scale-out") == []  # ... but a acted a period ago


def test_the_planner_choice_and_its_errors_are_one_line():
    assert parse({}).planner.kind == "deepmigration"  # the issue's default
    assert parse({"planner": "heuristic"}).planner.kind == "heuristic"
    p = parse({"planner": {"kind": "deepmigration", "model": "x.pt", "sla_ms": 5}}).planner
    assert (p.model, p.sla_ms) == ("x.pt", 5.0)
    for bad, word in [("dqn", "orchestration.planner: must be one of deepmigration, heuristic, not 'dqn'"),
                      ({"kind": "x"}, "must be one of"), ({"speed": 1}, "unknown field 'speed'"),
                      ({"sla_ms": -1}, "planner.sla_ms"), ({"model": 3}, "planner.model"), (7, "a planner name")]:  # fmt: skip
        with pytest.raises(ConfigError, match=word) as e:
            parse({"planner": bad})
        assert "\n" not in str(e.value)
    assert isinstance(planner_for(parse({"planner": "heuristic"}), {}), Heuristic)
    assert isinstance(planner_for(parse({}), {}), DeepMigration)


def frame(sport: int, pad: int = 10) -> bytes:
    return raw(Ether(src="02:00:00:00:aa:01", dst="02:00:00:00:cc:01", type=0x894F)
               / NSH(mdtype=2, length=2, nextproto=1, spi=5, si=255)
               / IP(src="10.0.1.1", dst="10.0.2.2") / UDP(sport=sport, dport=9000) / (b"x" * pad))  # fmt: skip


@pytest.fixture
def hosts(tmp_path):
    """Two real NF hosts (in-process) with their control sockets: a carries 8 flows."""
    out, servers = {}, []
    for n, ports in (("a", [40000, 40999]), ("b", [41000, 41999])):
        h = SoftwareHost()
        h.load({"nfs": [{"id": 7, "kind": "snat", "inside": "10.0.1.0/24", "public": "198.51.100.1",
                         "ports": ports}], "hops": [[5, 255, 7]]})  # fmt: skip
        servers.append(ControlServer(h, tmp_path / f"{n}.sock").start())
        out[n] = (h, Instance(n, str(tmp_path / f"{n}.sock"), 7, 5))
    # Unequal flows, 20 .. 90 packets each, stamped over the second that starts 3 s from now:
    # the meter's span is then one window whenever the test reads it, so the rates read are the
    # counts per second however slowly this machine runs.
    nat, t0 = out["a"][0].nfs[7], time.monotonic() + 3.0
    for k in range(8):
        n = 20 + 10 * k
        for j in range(n):
            nat.process(frame(3000 + k), now=t0 + j / n)
    yield out
    for s in servers:
        s.close()


def test_the_planner_reads_per_flow_rates_from_the_nf_hosts_and_moves_exact_flows(hosts):
    insts = {n: i for n, (_h, i) in hosts.items()}
    rates = {r.flow: r.pps for r in read_flows(insts["a"])}
    assert rates == {("10.0.1.1", "10.0.2.2", 17, 3000 + k, 9000): 20 + 10 * k for k in range(8)}
    cfg = parse({**CFG, "elasticity": {"max_instances": 2}})
    v = View(
        5, {("overload", "a")}, {"a": Sample(0, "a", True, pps=440.0), "b": Sample(0, "b", True)}, [], cfg
    )
    dm = DeepMigration(cfg, insts)
    acts = dm.plan(v)
    assert dm.history[-1] == {
        **dm.history[-1],
        "planner": "deepmigration",
        "flows": 8,
        "load": {"a": 440, "b": 0},
    }
    assert acts and all(a.kind == "move" and a.instance == "a" and a.to == "b" for a in acts), acts
    moved = sum(rates[f] for a in acts for f in a.flows)
    assert 440 - LIMIT <= moved <= LIMIT, (moved, acts)  # a under its limit, b not above it


def test_without_per_flow_data_or_a_policy_it_falls_back_to_the_heuristic_saying_why(hosts, tmp_path, caplog):
    insts = {n: i for n, (_h, i) in hosts.items()}
    cfg = parse(CFG)
    v = View(5, {("overload", "a")}, {"a": Sample(0, "a", True, pps=880.0)}, ["b"], cfg)
    dead = {"a": Instance("a", str(tmp_path / "nobody.sock"), 7, 5)}
    with caplog.at_level(logging.WARNING, logger="srem.orchestration"):
        acts = DeepMigration(cfg, dead).plan(v)
    assert [a.kind for a in acts] == ["scale-out", "move"] and acts[1].share == 0.5  # the heuristic's plan
    assert acts[0].reason.startswith("heuristic (fallback: no per-flow data from a: ")
    assert "heuristic instead of DeepMigration" in caplog.text
    (tmp_path / "junk.pt").write_bytes(b"not a policy")
    nopolicy = parse({**CFG, "planner": {"model": str(tmp_path / "junk.pt")}})
    acts = DeepMigration(nopolicy, insts).plan(View(5, v.alerts, v.samples, ["b"], nopolicy))
    assert acts and acts[0].reason.startswith("heuristic (fallback: no DeepMigration policy (")
    risk = View(5, {("failure-risk", "a")}, v.samples, ["b"], cfg)
    assert DeepMigration(cfg, insts).plan(risk)[0].reason.startswith("heuristic (fallback: failure-risk")
    assert DeepMigration(cfg, insts).plan(View(5, set(), v.samples, ["b"], cfg)) == []  # no alert, no plan


def test_a_function_planner_may_name_exact_flows_and_a_bad_one_is_refused_in_one_line():
    cfg = parse(CFG)
    v = View(1, set(), {"a": Sample(0, "a", True), "b": Sample(0, "b", True)}, [], cfg)
    f = {"src": "10.0.1.1", "dst": "10.0.2.2", "proto": 17, "sport": 3000, "dport": 9000}
    acts = FunctionPlanner(
        lambda p: [{"kind": "move", "instance": "a", "to": "b", "flows": [f, list(f.values())]}]
    ).plan(v)
    assert acts[0].flows == (("10.0.1.1", "10.0.2.2", 17, 3000, 9000),) * 2
    assert acts[0].flow_dicts()[0] == f
    with pytest.raises(ValueError, match=r"flows\[0\].src"):
        FunctionPlanner(
            lambda p: [{"kind": "move", "instance": "a", "to": "b", "flows": [{**f, "src": "x"}]}]
        ).plan(v)
