"""The MILP against brute force on a small case, and as a bound on every heuristic."""

import itertools

import numpy as np
import pytest

from placement.baselines.heuristics import AGENTS
from placement.milp.step import solve_step
from placement.model.simulate import DayRun
from placement.model.step import evaluate
from placement.model.workload import build_problem
from tests.conftest import small_scenario


@pytest.fixture(scope="module")
def small():
    return build_problem(small_scenario(chains=10, types=2, per_type=1))


@pytest.mark.parametrize("t", [0, 1, 3])
def test_milp_matches_brute_force(small, t):
    d = small.day("test", 0)
    util = np.zeros(small.sub.n_arcs)
    res = solve_step(small, d, t, d.initial, util, time_limit=60)
    assert res.optimal and res.gap < 1e-6
    H = small.sub.n_hosts
    brute = max(
        evaluate(small, d, t, np.array(p), d.initial, util).reward
        for p in itertools.product(range(H), repeat=2)
    )
    env = evaluate(small, d, t, res.placement, d.initial, util)
    assert brute <= res.bound + 1e-7
    assert env.feasible
    # The MILP serves requests optimally; the environment admits in order. Where
    # they agree on the served set, the MILP's objective is exactly what it scores.
    if np.array_equal(env.accepted, res.accepted):
        assert env.reward == pytest.approx(res.objective, abs=1e-7)
        assert env.reward == pytest.approx(brute, abs=1e-7)


def test_no_heuristic_beats_the_optimum():
    p = build_problem(small_scenario(chains=16, types=3, per_type=1, seed=11))
    for day in range(2):
        d = p.day("test", day)
        run = DayRun(p, d)
        while not run.done:
            res = solve_step(p, d, run.t, run.placement, run.arc_util, time_limit=60)
            for name, A in AGENTS.items():
                agent = A(0) if name == "random" else A()
                o = evaluate(p, d, run.t, agent.decide(run), run.placement, run.arc_util)
                assert o.reward <= res.bound + 1e-7, (name, day, run.t)
            run.apply(res.placement)


def test_no_solution_in_time_keeps_the_previous_placement(paper):
    from placement.evaluation.days import milp_note

    d = paper.day("test", 0)
    res = solve_step(paper, d, 0, d.initial, np.zeros(paper.sub.n_arcs), time_limit=1e-6)
    assert res.kept and not res.optimal
    assert (res.placement == d.initial).all()
    assert "kept the previous placement" in milp_note([res])
