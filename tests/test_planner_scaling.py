"""What makes the planner scale to a k=8 fat-tree changes no answer: admission over the
overflowing resources only, paths appended instead of rebuilt, path choices kept per
weight vector; and mpc's pruned search on large substrates stays bounded."""

import dataclasses
import itertools

import numpy as np
import pytest

from placement.model import scenario as sc
from placement.model.constraints import EPS, admit
from placement.model.paths import PathTable
from placement.model.simulate import DayRun
from placement.model.step import evaluate
from placement.model.workload import build_problem
from placement.mpc.agent import MpcAgent
from tests.reference_step import reference_evaluate


def plain_admit(request, resource, amount, capacity):
    """Requests in id order; one is admitted when every resource it uses has room."""
    left = capacity * (1 + EPS) + EPS
    rejected = []
    for r in sorted(set(request.tolist())):
        need = {}
        for res, amt in zip(resource[request == r], amount[request == r], strict=True):
            need[int(res)] = need.get(int(res), 0.0) + amt
        if all(left[k] >= v for k, v in need.items()):
            for k, v in need.items():
                left[k] -= v
        else:
            rejected.append(r)
    return rejected


@pytest.mark.parametrize("seed", range(30))
def test_admission_over_the_overflowing_resources_equals_the_plain_pass(seed):
    rng = np.random.default_rng(seed)
    n_req, n_res = rng.integers(1, 40), rng.integers(1, 12)
    uses = rng.integers(1, 4 * n_req + 1)
    request = rng.integers(0, n_req, uses)
    resource = rng.integers(0, n_res, uses)
    amount = rng.uniform(0.1, 5.0, uses)
    capacity = rng.uniform(0.0, 2.5 * amount.sum() / n_res, n_res)
    assert admit(request, resource, amount, capacity).tolist() == plain_admit(
        request, resource, amount, capacity
    )


@pytest.fixture(scope="module")
def k4():
    s = sc.default()
    return build_problem(
        dataclasses.replace(s, name="k4", topology=dataclasses.replace(s.topology, builder="fattree", k=4))
    )


def test_paths_added_in_batches_equal_one_build(k4):
    n = k4.sub.n_nodes
    pairs = np.array([a * n + b for a, b in itertools.product(range(n), repeat=2)])
    rng = np.random.default_rng(0)
    rng.shuffle(pairs)
    once, batched = PathTable(k4.sub), PathTable(k4.sub)
    once.ensure(pairs)
    for chunk in np.array_split(pairs, 17):
        batched.ensure(chunk)
    # Same candidate paths per pair, in the same order, with the same figures.
    for p in pairs[:400]:
        a = once.cand[once.pair_row[p]][once.cand_valid[once.pair_row[p]]]
        b = batched.cand[batched.pair_row[p]][batched.cand_valid[batched.pair_row[p]]]
        assert [once._paths[i] for i in a] == [batched._paths[i] for i in b]
        for name in ("path_cost", "path_tx", "path_prop", "path_bottleneck", "path_hops"):
            np.testing.assert_array_equal(getattr(once, name)[a], getattr(batched, name)[b])
    w = once.arc_weight(rng.uniform(0, 1, k4.sub.n_arcs))
    assert [once._paths[i] for i in once.route(pairs, w)] == [
        batched._paths[i] for i in batched.route(pairs, w)
    ]


def test_routes_chosen_again_under_the_same_weights_are_the_same(k4):
    rng = np.random.default_rng(1)
    n = k4.sub.n_nodes
    table = PathTable(k4.sub)
    weights = [table.arc_weight(rng.uniform(0, 1, k4.sub.n_arcs)) for _ in range(3)]
    fresh = PathTable(k4.sub)
    for _ in range(6):  # each weight asked for repeatedly, with new pairs mixed in
        for w in weights:
            pairs = rng.integers(0, n * n, 300)
            got = [table._paths[i] for i in table.route(pairs, w)]
            memo_free = fresh.route(pairs, w.copy() + 0.0)
            assert got == [fresh._paths[i] for i in memo_free]
            fresh._memo.clear()


def test_many_placements_scored_at_one_step_match_the_reference(k4):
    # The planner's pattern: one step, one set of weights, many placements.
    rng = np.random.default_rng(2)
    run = DayRun(k4, k4.day("test", 0))
    run.apply(run.placement)
    mask = run.mask()
    for _ in range(12):
        action = run.placement.copy()
        for i in np.flatnonzero(rng.random(len(action)) < 0.5):
            action[i] = rng.choice(np.flatnonzero(mask[i]))
        o = evaluate(k4, run.day, run.t, action, run.placement, run.arc_util)
        ref = reference_evaluate(k4, run.day, run.t, action, run.placement, run.arc_util)
        assert o.accepted.tolist() == ref["accepted"]
        assert o.cost_total == pytest.approx(ref["cost_total"], rel=1e-9)


def test_on_a_small_substrate_mpc_tries_every_feasible_host(paper):
    run = DayRun(paper, paper.day("test", 0))
    a = MpcAgent()
    mask = run.mask()
    for i in range(paper.cat.n_instances):
        assert (
            a.candidates(run, run.placement, i, [run.placement]).tolist() == np.flatnonzero(mask[i]).tolist()
        )


def test_on_a_large_substrate_mpc_tries_the_nearest_hosts_and_stops_at_its_budget(k4):
    run = DayRun(k4, k4.day("test", 0))
    a = MpcAgent(max_candidates=10, cheap=2, max_scored=25)
    mask = run.mask()
    for i in range(k4.cat.n_instances):
        got = a.candidates(run, run.placement, i, [run.placement])
        assert set(got) <= set(np.flatnonzero(mask[i]))
        assert run.placement[i] in got or not mask[i, run.placement[i]]
        assert len(got) <= 10 + 1
    scored = []
    value = a.value
    a.value = lambda r, p: scored.append(1) or value(r, p)
    placement = a.decide(run)
    assert len(scored) <= 3 + 25  # the three starts, then the budget
    assert mask[np.arange(len(placement)), placement].all()
