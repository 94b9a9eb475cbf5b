"""The batched step-model search (issue 21): `evaluate_batch` is `evaluate`, and the
agents that search with it decide exactly what the serial search decides."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from placement.agents import DEFAULT_MODELS
from placement.gnn.policy import load as load_policy
from placement.gnn.refine import GuidedAgent
from placement.model import scenario as sc
from placement.model.simulate import DayRun
from placement.model.step import evaluate
from placement.model.workload import build_problem
from placement.mpc import batch
from placement.mpc.agent import MpcAgent
from placement.mpc.forecast import ForecastMpcAgent
from placement.mpc.forecast import load as load_forecast
from placement.mpc.oracle import OracleMpcAgent
from tests.conftest import fattree

torch.set_num_threads(1)


def tea_like():
    """The TEA calibration redrawn with a validation seed (the held-out `tea` is seed 7)."""
    tea = sc.load("tea")
    return dataclasses.replace(tea, seed=1001, name="tea-seed1001")


@pytest.fixture(scope="module")
def problems(paper):
    return {"paper": paper, "k4": build_problem(fattree(4, 41)), "tea": build_problem(tea_like())}


def random_placements(run: DayRun, rng, n: int) -> np.ndarray:
    """Holding, one-instance moves (as the search makes) and random placements over
    every host, feasible or not."""
    I, H = run.problem.cat.n_instances, run.problem.sub.n_hosts
    out = np.repeat(run.placement[None, :], n, axis=0)
    mask = run.mask()
    for k in range(1, n):
        if k % 3 == 0:
            out[k] = rng.integers(H, size=I)  # mostly infeasible
        else:
            for i in rng.choice(I, size=1 + k % 4, replace=False):
                out[k, i] = rng.choice(np.flatnonzero(mask[i]))
    return out


@pytest.mark.parametrize("name", ["paper", "k4", "tea"])
@pytest.mark.parametrize("heavy", [False, True])
def test_evaluate_batch_is_evaluate(problems, name, heavy):
    problem = problems[name]
    day = problem.day("test", 1)
    if heavy:  # 6x the rates: links and instances overflow, admission turns requests away
        day = dataclasses.replace(day, rate=day.rate * 6.0)
    run, rng = DayRun(problem, day), np.random.default_rng(5)
    kinds = set()
    for t in range(3):
        P = random_placements(run, rng, 24)
        # The step's own link load, and one utilisation per row (as the kept placement sees it).
        util = rng.uniform(0, 1.3, problem.sub.n_arcs) if t else run.arc_util
        ok, reward, load = batch.evaluate_batch(problem, day, t, P, run.placement, util)
        rows_util = rng.uniform(0, 1.3, (len(P), problem.sub.n_arcs))
        ok2, reward2, _ = batch.evaluate_batch(problem, day, t, P, P, rows_util)
        for k, p in enumerate(P):
            o = evaluate(problem, day, t, p, run.placement, util)
            assert ok[k] == o.feasible and ok2[k] == o.feasible
            assert reward[k] == pytest.approx(o.reward, abs=1e-9)
            np.testing.assert_allclose(load[k], o.arc_load, atol=1e-9)
            kept = evaluate(problem, day, t, p, p, rows_util[k])
            assert reward2[k] == pytest.approx(kept.reward, abs=1e-9)
            kinds.add((o.feasible, o.acceptance_ratio < 1.0, bool(o.moved.any())))
        run.apply(P[1])
    # The draw covers what it claims: infeasible rows, moves, and (heavy) turned-away requests.
    assert any(not f for f, _, _ in kinds)
    assert any(f and m for f, _, m in kinds)
    assert any(f and rej for f, rej, _ in kinds) or not heavy


def replay(problem, day, fast, slow):
    """Both agents through the whole day on their own runs; every step must agree exactly."""
    a, b = DayRun(problem, day), DayRun(problem, day)
    while not a.done:
        pa, pb = fast.decide(a), slow.decide(b)
        assert np.array_equal(pa, pb), f"step {a.t}: {pa} != {pb}"
        assert a.apply(pa).reward == b.apply(pb).reward


def agents(kind: str):
    fc = load_forecast()
    if kind == "mpc":
        return MpcAgent()
    if kind == "mpc-forecast":
        return ForecastMpcAgent(forecast=fc, horizon=0)
    if kind == "gnn-refine":
        return GuidedAgent(policy=load_policy(DEFAULT_MODELS["gnn-refine"]), forecast=fc, horizon=0)
    if kind == "mpc-oracle, 2 steps":
        return OracleMpcAgent(horizon=2)
    if kind == "mpc, budget 40":  # the budget runs out inside an instance's candidates
        return MpcAgent(max_scored=40)
    raise ValueError(kind)


@pytest.mark.parametrize(
    "kind", ["mpc", "mpc-forecast", "gnn-refine", "mpc-oracle, 2 steps", "mpc, budget 40"]
)
@pytest.mark.parametrize("name", ["paper", "k4", "tea"])
def test_batched_search_decides_as_the_serial_one(problems, kind, name):
    problem = problems[name]
    fast = agents(kind)
    assert fast.batched
    slow = dataclasses.replace(fast, batched=False)
    replay(problem, problem.day("test", 0), fast, slow)


def test_budget_cut_returns_the_serial_placement(paper):
    # Budgets that end at every position of the first instances' candidate lists.
    day = paper.day("test", 2)
    for budget in (1, 5, 23, 24, 47):
        replay(paper, day, MpcAgent(max_scored=budget), MpcAgent(max_scored=budget, batched=False))


@pytest.mark.parametrize("kind", ["mpc", "mpc-forecast"])
def test_values_below_a_floor_are_only_left_out_when_they_cannot_exceed_it(paper, kind):
    a = agents(kind)
    run, rng = DayRun(paper, paper.day("test", 3)), np.random.default_rng(2)
    pruned = 0
    for _ in range(3):
        P = random_placements(run, rng, 30)
        exact = np.array([a.value(run, p) for p in P])
        floor = float(np.quantile(exact[np.isfinite(exact)], 0.9))
        got = a.values(run, P, floor=floor)
        kept = np.isfinite(got)
        assert np.array_equal(got[kept], exact[kept])  # computed rows: bit for bit
        assert (exact[~kept] <= floor).all()  # left out: could not have beaten the floor
        pruned += int((~kept & np.isfinite(exact)).sum())
        run.apply(a.decide(run))
    assert pruned > 0  # the bound does leave rows out
