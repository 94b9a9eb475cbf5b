"""Test days run in parallel on Ray give what a serial run gives, for the same seeds."""

import pytest

from placement.agents import make_agent
from placement.evaluation.days import evaluate_agents
from placement.evaluation.parallel import run_days_parallel
from placement.model.workload import build_problem
from tests.conftest import small_scenario

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    yield
    if ray.is_initialized():
        ray.shutdown()


def test_a_ray_run_equals_a_serial_run(paper, local_ray):
    names = ("random", "greedy", "lag", "mpc")
    serial = evaluate_agents(paper, {n: make_agent(n, paper, seed=5) for n in names}, 3, 0)
    par = evaluate_agents(paper, {n: make_agent(n, paper, seed=5) for n in names}, 3, 0, workers=2)
    assert par.day_rewards == serial.day_rewards
    for name in names:
        strip = lambda rows: [{k: v for k, v in r.items() if "decision_ms" not in k} for r in rows]
        assert strip(par.by_agent[name]) == strip(serial.by_agent[name])


def test_a_milp_run_on_ray_brings_its_proofs_back(local_ray):
    small = build_problem(small_scenario())
    serial, par = make_agent("milp", small), make_agent("milp", small)
    a = run_days_parallel(small, serial, "test", [1, 0], workers=1)
    b = run_days_parallel(small, par, "test", [1, 0], workers=2)
    assert [r.reward for d in a for r in d] == pytest.approx([r.reward for d in b for r in d], abs=1e-6)
    assert len(par.results) == len(serial.results) == sum(len(d) for d in a)
    assert [r.objective for r in par.results] == pytest.approx(
        [r.objective for r in serial.results], abs=1e-6
    )


def test_the_random_baseline_draws_per_day_not_per_run(paper):
    a = make_agent("random", paper, seed=3)
    first = run_days_parallel(paper, a, "test", [0, 1])
    again = run_days_parallel(paper, make_agent("random", paper, seed=3), "test", [1, 0])
    assert [r.reward for r in first[1]] == [r.reward for r in again[0]]
