"""The heuristic baselines on the hand-worked tiny network (tests/conftest.py)."""

import numpy as np

from placement.baselines.heuristics import GreedyAgent, GreedyHoldAgent, LagAgent
from placement.model.simulate import DayRun, run_day
from tests.conftest import tiny_day, tiny_problem

S, A_LM, B_LM, A_EM, B_EM = range(5)


def test_greedy_and_lag_count_their_own_move_delay():
    # The instance sits in A's LM; rate 80 Mbps = 10 MB/s, deadline 20 ms.
    # Back to server S: migration 20 MB over 10 Gbps = 16 ms + processing 10 ms > 20 ms,
    # although S is cheapest (0.002 storage + 0.04 migration vs 0.2 in A's LM).
    p, d = tiny_problem(), tiny_day(initial=A_LM)
    run = DayRun(p, d)
    # Greedy: S is pruned; A's EM (0.05 + programming 0.01, the cheapest left, tied
    # with B's EM and first) keeps the chain on time
    # (1.6 ms programming + 10 * 0.014 processing + 0.2 transmission = 1.94 ms).
    assert GreedyAgent().decide(run).tolist() == [A_EM]
    # LAG (no EM): its share is 20 / 2 = 10 ms; S needs 10 + 16, so it stays in A's LM.
    assert LagAgent().decide(run).tolist() == [A_LM]
    o = run.apply(np.array([A_EM]))
    assert o.accepted.tolist() == [True] and abs(o.delay[0] - 1.94) < 1e-9


def test_greedy_still_moves_when_the_move_is_on_time():
    # From A's LM (0.2) with a 60 ms deadline the move to S is not pruned (16 + 11 ms)
    # and S is the cheapest: 0.002 storage + 0.04 migration, against 0.05 + 0.01 in A's EM.
    p, d = tiny_problem(), tiny_day(initial=A_LM, deadline_ms=60.0)
    assert GreedyAgent().decide(DayRun(p, d)).tolist() == [S]


def test_greedy_hold_keeps_its_first_placement(paper):
    d = paper.day("test", 0)
    records = run_day(paper, d, GreedyHoldAgent())
    run = DayRun(paper, d)
    first = GreedyAgent().decide(run)
    assert records[0].cost_rc >= 0 and all(r.cost_rc == 0 for r in records[1:])
    assert len(records) == 6 and first.shape == d.initial.shape
