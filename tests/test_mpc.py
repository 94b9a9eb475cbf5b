"""The model-predictive agent: what its score means, and that it uses it."""

import numpy as np
import pytest

from placement.model.simulate import DayRun
from placement.model.step import evaluate
from placement.mpc.agent import MpcAgent
from tests.conftest import tiny_day, tiny_problem

S, A_LM, B_LM, A_EM, B_EM = range(5)


def test_value_is_the_step_now_plus_the_placement_kept():
    p, d = tiny_problem(), tiny_day(initial=S)
    run = DayRun(p, d)
    a = MpcAgent()
    now = evaluate(p, d, 0, np.array([A_LM]), np.array([S]), run.arc_util)
    # One step in the day: nothing left to keep it for.
    assert a.value(run, np.array([A_LM])) == pytest.approx(now.reward)
    assert a.value(run, np.array([7])) == -np.inf  # no such host: infeasible


def test_it_picks_the_best_single_step_host_on_a_one_step_day():
    # One instance, five hosts: local search from the best start finds the best host.
    p = tiny_problem()
    for initial in range(5):
        for deadline in (9.0, 20.0):
            d = tiny_day(initial=initial, deadline_ms=deadline)
            run = DayRun(p, d)
            best = max(evaluate(p, d, 0, np.array([h]), d.initial, run.arc_util).reward for h in range(5))
            got = evaluate(p, d, 0, MpcAgent().decide(run), d.initial, run.arc_util).reward
            assert got == pytest.approx(best)


def test_on_the_paper_day_it_never_does_worse_than_holding(paper):
    d = paper.day("test", 2)
    run = DayRun(paper, d)
    a = MpcAgent()
    for _ in range(2):
        p = a.decide(run)
        assert a.value(run, p) >= a.value(run, run.placement) - 1e-12
        run.apply(p)
