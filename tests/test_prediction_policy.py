"""The failure policies, the failure schedules and the replayed monitoring rows, and the simulator
on a coarse clock (60-s intervals, so that a day takes a fraction of a second)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from placement.model.domain import HostKind
from placement.model.scenario import default
from placement.model.workload import build_problem
from prediction.api import FailurePredictor
from prediction.data import load_records
from prediction.failures import FailureStats, RowLibrary, down_matrix, draw_schedule, window_scores
from prediction.metrics import Failure
from prediction.policy import Policy, avoided, evacuate, server_hosts
from prediction.sim_config import SimConfig
from prediction.simulate import World, make_world, reference_day, run_policy_day

FIXTURE = Path(__file__).parent / "fixtures" / "prediction" / "slice.tsv"


@pytest.fixture(scope="module")
def problem():
    return build_problem(default())


@pytest.fixture(scope="module")
def library():
    p = FailurePredictor.load()
    return RowLibrary.from_records(load_records(FIXTURE), p.features, p.horizon)


def test_policy_names():
    assert Policy.parse("proactive-0.7") == Policy("proactive-0.7", "proactive", 0.7)
    assert Policy.parse("oracle").kind == "oracle"
    for bad in ("proactive", "proactive-1.5", "proactive-x", "sometimes"):
        with pytest.raises(ValueError, match="unknown policy"):
            Policy.parse(bad)


def test_what_each_policy_avoids():
    seen = np.array([True, False, False, False])
    risk = np.array([0.1, 0.6, 0.95, 0.2], dtype=np.float32)
    soon = np.array([True, False, False, True])
    assert not avoided(Policy.parse("none"), seen, risk, soon).any()
    assert avoided(Policy.parse("reactive"), seen, risk, soon).tolist() == [True, False, False, False]
    assert avoided(Policy.parse("proactive-0.5"), seen, risk, soon).tolist() == [True, True, True, False]
    assert avoided(Policy.parse("proactive-0.9"), seen, risk, soon).tolist() == [True, False, True, False]
    assert avoided(Policy.parse("oracle"), seen, risk, soon).tolist() == [True, False, False, True]


def test_never_moves_to_a_server_predicted_to_fail(problem):
    """Random placements and random sets of servers predicted to fail: no move lands on one."""
    rng = np.random.default_rng(3)
    day = problem.day("test", 0)
    S, moved = problem.sub.n_servers, 0
    for trial in range(12):
        placement = problem.day("test", trial).initial
        risk = rng.uniform(0, 1, S).astype(np.float32)
        av = risk >= 0.5
        on = placement[problem.sub.host_kind[placement] == HostKind.SERVER]
        av[on[: 1 + trial % 2]] = True  # at least one instance sits on an avoided server
        avh, riskh = server_hosts(problem, av), server_hosts(problem, risk, 0.0)
        new, moves = evacuate(problem, day, 0, placement, None, np.zeros(problem.sub.n_arcs), avh, riskh)
        for m in moves:
            assert not avh[m.dst], (trial, m)
            assert avh[m.src]
        assert int(avh[new].sum()) == int(avh[placement].sum()) - len(moves)  # only the stuck stay
        moved += len(moves)
    assert moved > 0


def test_destination_follows_the_predicted_state(problem):
    """The same evacuation with the chosen destination now predicted likely (not certain) to fail
    goes elsewhere: the choice reads the prediction, not only the load now."""
    day = problem.day("test", 0)
    placement = day.initial.copy()
    servers = np.flatnonzero(problem.sub.host_kind[placement] == HostKind.SERVER)
    i = int(servers[0])
    S = problem.sub.n_servers
    av = np.zeros(S, dtype=bool)
    av[placement[i]] = True
    avh, zero = server_hosts(problem, av), np.zeros(problem.sub.n_arcs)
    _, first = evacuate(
        problem, day, 0, placement, None, zero, avh, server_hosts(problem, np.zeros(S), 0.0), [i]
    )
    assert len(first) == 1
    risk = np.zeros(problem.sub.n_hosts)
    risk[first[0].dst] = 0.45  # under any threshold used: allowed, but likely to fail
    _, second = evacuate(problem, day, 0, placement, None, zero, avh, risk, [i])
    assert second[0].dst != first[0].dst


def test_schedule_follows_the_data_sets_statistics():
    rng = np.random.default_rng(0)
    stats = FailureStats()
    lengths = np.array([stats.draw(rng) for _ in range(4000)])
    long = lengths >= 500
    assert ((lengths >= 30) & (lengths <= 100) | long & (lengths <= 2000)).all()
    assert 0.03 < long.mean() < 0.07
    sched = draw_schedule(rng, 5, 10_000, 1_000, stats)
    down = down_matrix(sched, 10_000)
    for s, fs in enumerate(sched):
        for a, b in itertools.pairwise(fs):
            assert b.start > a.stop  # at least one interval up between failures
        assert down[s].sum() == sum(min(f.stop, 10_000) - f.start for f in fs)


def test_replayed_rows_lead_into_real_failures(library):
    """Before a simulated failure the rows are the real records that preceded a real failure of
    the test part; during it, failed records; the length is exact."""
    rng = np.random.default_rng(1)
    fs = [Failure(200, 260), Failure(500, 800)]
    rows = library.server_rows(rng, fs, 1000, history=60)
    assert rows.shape == (1060, len(library.features))
    starts = {f.start for _, f in library.episodes}
    for f in fs:
        before = rows[60 + f.start - 10 : 60 + f.start]
        hits = [s for s in starts if s >= 10 and np.array_equal(library.rows[s - 10 : s], before)]
        assert hits, f
        during = rows[60 + f.start : 60 + f.stop]
        failed_rows = {tuple(r) for r in library.rows[library.label]}
        assert all(tuple(r) in failed_rows for r in during)


def test_window_scores_are_the_predictors(library):
    p = FailurePredictor.load()
    rows = library.server_rows(np.random.default_rng(2), [Failure(100, 150)], 300, history=p.window)
    s = window_scores(p.score_many, rows, p.window, p.window)
    assert s.shape == (300,)
    for k in (0, 99, 299):
        assert s[k] == pytest.approx(p.score(rows[k + 1 : k + 1 + p.window]), abs=1e-5)


def _coarse() -> SimConfig:
    # 60-s intervals: 120 per 2-h step; failures and moves rescaled to that clock.
    return SimConfig(days=1, interval_s=60.0, short=(3, 8), long=(40, 160), failures_per_server_day=3.0,
                     detect_intervals=1, move_intervals=1)  # fmt: skip


def test_simulator_oracle_and_reactive_drop_less_than_none(problem, library):
    torch.set_num_threads(1)
    cfg = _coarse()
    p = FailurePredictor.load()
    world = make_world(problem, cfg, 0, library, p)
    assert world.down.any()
    day = problem.day("test", 0)
    ref = reference_day(problem, day, "greedy", cfg, world)
    res = {n: run_policy_day(problem, day, "greedy", Policy.parse(n), world, cfg) for n in cfg.policies}
    assert ref.down_lost == 0.0
    assert res["none"].down_lost > 0.0 and res["none"].migrations == 0
    assert res["oracle"].down_lost < res["reactive"].down_lost < res["none"].down_lost
    assert res["oracle"].wasted == 0 and res["oracle"].early == res["oracle"].migrations > 0
    assert res["reactive"].early == 0
    # the proactive policies raise more moves as the threshold falls
    assert res["proactive-0.5"].migrations >= res["proactive-0.9"].migrations


def test_same_world_for_every_policy(problem, library):
    """The schedule and the scores depend only on the seed and the day."""
    cfg = _coarse()
    p = FailurePredictor.load()
    a, b = make_world(problem, cfg, 0, library, p), make_world(problem, cfg, 0, library, p)
    c = make_world(problem, replace(cfg, seed=1), 0, library, p)
    assert np.array_equal(a.down, b.down) and np.array_equal(a.scores, b.scores)
    assert not np.array_equal(a.down, c.down)
    assert isinstance(a, World)
