"""migration/: the MILP against brute force, every method against its bound, each baseline on
a hand-made case, the translator's capacity guarantee, training reproducibility, plan()."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from migration import baselines, milp, problems, workload
from migration.agent import act, deepmigration, plan
from migration.gnn import MigrationGN
from migration.graph import n_views, view
from migration.model import Flow, Instance, Move, Network, Problem, Thresholds
from migration.outcome import evaluate, moves_from_assignment
from migration.train import Config, train
from migration.translator import translate

FIX = Path(__file__).parent / "fixtures" / "migration"


def brute_force(p: Problem) -> float:
    mov = np.flatnonzero(p.movable)
    opts = [[j for j in range(len(p.instances)) if p.allowed(f, j)] for f in mov]
    best = np.inf
    for combo in itertools.product(*opts):
        a = p.src.copy()
        a[mov] = combo
        o = evaluate(p, moves_from_assignment(p, a))
        if o.buffer_ok:
            best = min(best, o.total)
    return best


def small(scenario: str, seed: int) -> Problem:
    if scenario == "scale-out":
        return workload.scale_out(3, 1, 0.6, 3, seed)
    if scenario == "scale-in":
        return workload.scale_in(5, 2, 0.15, 2, seed)
    return workload.balance(4, 2, seed)


@pytest.mark.parametrize("scenario", ["scale-out", "scale-in", "balance"])
def test_milp_equals_brute_force(scenario):
    checked = 0
    for seed in range(12):
        p = small(scenario, seed)
        n_opts = np.prod(
            [sum(p.allowed(f, j) for j in range(len(p.instances))) for f in np.flatnonzero(p.movable)]
        )
        if n_opts > 4000:
            continue
        r = milp.solve(p, 20)
        assert r.proven
        assert r.objective == pytest.approx(brute_force(p), abs=1e-6)
        assert r.bound <= r.objective + 1e-6
        checked += 1
    assert checked >= 4


@pytest.mark.parametrize("scenario", ["scale-out", "scale-in", "balance"])
def test_no_method_beats_the_bound(scenario):
    torch.manual_seed(0)
    model = MigrationGN(16, 2)
    for seed in range(3):
        p = {"scale-out": workload.scale_out(6, 3, 0.55, 8, seed), "scale-in": workload.scale_in(12, 4, 0.1, 8, seed),
             "balance": workload.balance(6, 5, seed)}[scenario]  # fmt: skip
        r = milp.solve(p, 20)
        plans = [baselines.ofm(p), baselines.size_greedy(p), baselines.pairwise(p), baselines.random_plan(p, seed),
                 deepmigration(p, model), []]  # fmt: skip
        for moves in plans:
            o = evaluate(p, moves)
            assert o.buffer_ok
            assert o.total >= r.bound - 1e-6
        assert r.objective <= min(evaluate(p, m).total for m in plans) + 1e-6 or not r.proven


def names(p: Problem, moves: list[Move]) -> set[tuple[str, str]]:
    return {(p.flows[m.flow].name, p.instances[m.dst].name) for m in moves}


def test_baselines_hand_scale_out():
    p = problems.load(FIX / "scale_out.yaml")  # nf0 900/1000 Mbps, Th_high 60 %, nf1 has 250 Mbps of room
    # OFM: the flows cheapest per Mbps (m2, s1: they leave a 4 ms queue) go; m2 fits nf1, s1 needs the spare
    assert names(p, baselines.ofm(p)) == {("m2", "nf1"), ("s1", "spare0")}
    # size-greedy: the largest flow first; it fits no existing instance, so a spare is started
    assert names(p, baselines.size_greedy(p)) == {("e1", "spare0")}
    # pairwise: nf0 with nf1 (largest that fits: m1), the leftover e1 to a spare
    assert names(p, baselines.pairwise(p)) == {("m1", "nf1"), ("e1", "spare0")}
    # the optimum: m2 and s1 (−1.7 each) both to nf1, which then runs 5 points over Th_high
    # (ω·0.05 = 50): cheaper than starting a spare (R = 200)
    r = milp.solve(p, 10)
    assert r.proven and names(p, r.moves) == {("m2", "nf1"), ("s1", "nf1")}
    assert r.objective == pytest.approx(50 - 3.4)


def balance_case() -> Problem:
    inst = tuple(Instance(n, f"s{k}", 1000, 5.0) for k, n in enumerate("ABCD"))
    flows = (Flow("a300", 0, 300, 0.01, 20), Flow("a200", 0, 200, 0.01, 20), Flow("a200b", 0, 200, 0.01, 20),
             Flow("b250", 1, 250, 0.01, 20), Flow("b250b", 1, 250, 0.01, 20), Flow("c", 2, 100, 0.01, 20),
             Flow("d", 3, 100, 0.01, 20))  # fmt: skip
    return Problem("balance", inst, flows, network=Network(100.0), thresholds=Thresholds(high=0.8))


def test_baselines_hand_balance():
    p = balance_case()  # A 70 %, B 50 %, C and D 10 %; even share 35 %
    # pairwise: hottest with coldest (A–C), then B–D; in each pair the largest flow that evens it
    assert names(p, baselines.pairwise(p)) == {("a300", "C"), ("b250", "D")}
    assert names(p, baselines.size_greedy(p)) == {("a300", "C"), ("b250", "D")}
    for fn in (baselines.ofm, baselines.random_plan):
        o = evaluate(p, fn(p))
        assert o.ratio > 1.0 and o.total < evaluate(p, []).total


def scale_in_case(room: float) -> Problem:
    inst = (Instance("A", "s1", 1000, 1.0), Instance("B", "s1", 1000, 1.0), Instance("C", "s2", 1000, 1.0))
    flows = (Flow("a", 0, 50.0, 0.01, 20.0), Flow("a2", 0, 40.0, 0.01, 20.0), Flow("b", 1, 600 - room, 0.01, 20.0),
             Flow("c", 2, 600 - room, 0.01, 20.0))  # fmt: skip
    return Problem("scale-in", inst, flows, network=Network(100.0), thresholds=Thresholds(high=0.6, low=0.1))


def test_baselines_hand_scale_in():
    p = scale_in_case(room=300)
    for fn in (baselines.random_plan, baselines.size_greedy, baselines.pairwise, baselines.ofm):
        o = evaluate(p, fn(p))
        assert o.removed == 1 and o.overloaded_after == 0  # A is drained and stopped
    # pairwise drains A into its nearest instance (B, the same server) only
    assert {d for _, d in names(p, baselines.pairwise(p))} == {"B"}
    # no room anywhere for A's 90 Mbps as a whole: every method leaves A where it is
    full = scale_in_case(room=45)
    for fn in (baselines.random_plan, baselines.size_greedy, baselines.pairwise):
        assert fn(full) == []
    # the optimum prices Th_high softly (ω per unit over): half a point over on B beats keeping A
    o = evaluate(full, milp.solve(full).moves)
    assert (o.removed, o.overloaded_after) == (1, 1) and o.overload == pytest.approx(5.0)


def test_translator_never_overloads():
    rng = np.random.default_rng(0)
    for seed in range(12):
        p = [workload.scale_out(10, 6, 0.55, 20, seed), workload.scale_in(20, 6, 0.15, 20, seed),
             workload.balance(15, 20, seed)][seed % 3]  # fmt: skip
        for k in range(n_views(p)):
            v = view(p, k)
            loads = rng.exponential(2000.0, v.edges.shape[1])  # far more than anyone can take
            moves = translate(p, v, loads)
            o = evaluate(p, moves)
            a = p.src.copy()
            for m in moves:
                a[m.flow] = m.dst
            load = np.bincount(a, weights=p.rate, minlength=len(p.instances))
            got = {m.dst for m in moves}
            assert all(load[j] <= p.thresholds.high * p.cap[j] + 1e-6 for j in got)
            assert o.buffer_ok


def test_training_reproducible_and_resumable(tmp_path):
    cfg = Config(iterations=3, episodes=2, min_instances=5, max_instances=8, min_flows=4, max_flows=6, hidden=8,
                 rounds=1, checkpoint_every=1, length_step=0.5)  # fmt: skip
    torch.set_num_threads(1)
    a = train(cfg, tmp_path / "a", progress=False)
    b = train(cfg, tmp_path / "b", progress=False)
    for (ka, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(va, vb), ka
    assert (tmp_path / "a" / "deepmigration.pt").exists() and list((tmp_path / "a" / "tb").iterdir())
    # two iterations, then resume to three: the same parameters as three in one go
    train(cfg, tmp_path / "c", progress=False, until=2)
    c = train(cfg, tmp_path / "c", resume=True, progress=False)
    for (ka, va), (_, vc) in zip(a.state_dict().items(), c.state_dict().items(), strict=True):
        assert torch.allclose(va, vc), ka
    # one policy for every size: the same network decides 5 and 120 instances
    big = act(a, workload.balance(120, 5, 3), 0, None)
    assert big.view.nodes.size == 120
    out = plan(workload.balance(5, 5, 1), a)
    assert all(isinstance(x, str) for t in out for x in t)


def test_plan_names_flows_and_instances():
    torch.manual_seed(1)
    m = MigrationGN(16, 2)
    p = problems.load(FIX / "scale_out.yaml")
    out = plan(p, m)
    flows = {f.name for f in p.flows}
    insts = {i.name for i in p.instances}
    assert all(f in flows and a in insts and b in insts and a != b for f, a, b in out)
    assert plan(p, m) == out  # deterministic
