"""Costs, delays, constraints and one evaluated step, against figures worked by hand."""

import numpy as np
import pytest

from placement.model import cost as C
from placement.model import delay as D
from placement.model.constraints import admit, feasible_hosts, storage_violations
from placement.model.scenario import ObjectiveSpec
from placement.model.step import cost_reference, evaluate
from tests.conftest import tiny_day, tiny_problem

S, A_LM, B_LM, A_EM, B_EM = range(5)


def test_cost_terms():
    assert C.volume_mb(80.0) == 10.0
    assert C.it_cost(100.0, 0.02) == pytest.approx(2.0)
    assert C.bandwidth_cost(80.0, 0.003) == pytest.approx(0.03)
    assert C.migration_cost(20.0, 0.002) == pytest.approx(0.04)
    assert C.programming_cost(10.0, 0.001) == pytest.approx(0.01)
    obj = ObjectiveSpec(alpha_it=1, alpha_bw=2, alpha_rc=3, omega_ar=1, omega_cost=0.5)
    assert C.total_cost(1.0, 1.0, 1.0, obj) == 6.0
    assert C.reward(0.8, 0.2, True, obj) == pytest.approx(0.7)
    assert C.reward(1.0, 0.0, False, obj) == 0.0


def test_delay_terms():
    assert D.transfer_ms(100.0, 50000.0) == pytest.approx(16.0)
    assert D.processing_ms(80.0, 2.0) == pytest.approx(20.0)
    assert D.transmission_ms(80.0, 0.01, 0.3) == pytest.approx(0.4)
    assert D.em_ms_per_mb(0.005, 3, 0.002) == pytest.approx(0.011)
    assert D.request_delay(1.0, 2.0, 3.0) == 6.0


def test_admit_serves_requests_in_order_skipping_what_does_not_fit():
    # Resource 0 holds 10: requests 0 (6) and 1 (5) -> 1 is rejected; resource 1 holds all.
    rejected = admit(
        np.array([1, 0, 0, 1]), np.array([0, 0, 1, 1]), np.array([5.0, 6, 1, 1]), np.array([10.0, 5])
    )
    assert rejected.tolist() == [1]
    # Request 2 (4 on resource 0) comes after the rejected 1 and still fits: 6 + 4 = 10.
    rejected = admit(np.array([0, 1, 2]), np.array([0, 0, 0]), np.array([6.0, 5, 4]), np.array([10.0]))
    assert rejected.tolist() == [1]
    # A request is admitted only if all its resources have room; a rejected one takes nothing:
    # 0 takes r0 = 6, r1 = 1; 1 needs r0 = 5 (no room) so its r1 = 4 is not taken; 2 takes r1 = 4.
    rejected = admit(
        np.array([0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 1]), np.array([6.0, 1, 5, 4, 4]), np.array([10.0, 5])
    )
    assert rejected.tolist() == [1]
    # Two uses of one resource by one request add up (a path crossing a link twice).
    assert admit(np.array([0, 0]), np.array([0, 0]), np.array([3.0, 3]), np.array([5.0])).tolist() == [0]
    assert admit(np.array([], int), np.array([], int), np.array([]), np.array([1.0])).tolist() == []


def run_tiny(placement, prev=S, **day):
    p, d = tiny_problem(**{k: day.pop(k) for k in ("server_capacity", "lm_mb") if k in day}), tiny_day(**day)
    return p, d, evaluate(p, d, 0, np.array([placement]), np.array([prev]), np.zeros(p.sub.n_arcs))


def test_stay_on_server():
    # A->S: cost .002, tx .02, prop .2; S->A->B: cost .003, tx .03, prop .3.
    p, d, o = run_tiny(S)
    assert o.delay[0] == pytest.approx(0 + 10 * 1.0 + 10 * (0.02 + 0.03) + 0.5)  # 11.0 ms
    assert o.accepted.tolist() == [True]
    assert (o.cost_it, o.cost_bw, o.cost_rc) == pytest.approx((20 * 1e-4, 10 * 0.005, 0.0))
    assert o.reward == pytest.approx(1.0 - 0.5 * o.cost_total / cost_reference(p, d, 0))
    assert cost_reference(p, d, 0) >= o.cost_total


def test_install_in_lm_programs_the_switch():
    _, _, o = run_tiny(A_LM)
    # programming 10 MB over 50 Gbps = 1.6 ms; processing 10 * 0.01; A->B 10 * 0.01 + 0.1
    assert o.delay[0] == pytest.approx(1.6 + 0.1 + 0.2)
    assert (o.cost_it, o.cost_bw, o.cost_rc) == pytest.approx((0.2, 0.01, 0.01))
    assert o.moved.tolist() == [True]


def test_em_adds_rdma_reads():
    _, _, o = run_tiny(B_EM)
    # at B: 10 MB * (0.02 + 2 reads * 0.002 ms); A->B as before
    assert o.delay[0] == pytest.approx(1.6 + 10 * (0.02 + 2 * 0.002) + 0.2)
    assert o.cost_it == pytest.approx(10 * 0.005)


def test_migration_back_to_server():
    _, _, o = run_tiny(S, prev=A_LM)
    # 20 MB state over the A-S link (10 Gbps): 16 ms; cost 20 MB * 0.002
    assert o.delay[0] == pytest.approx(16.0 + 11.0)
    assert o.cost_rc == pytest.approx(0.04)
    assert o.accepted.tolist() == [False]  # 27 ms > 20 ms deadline
    assert o.acceptance_ratio == 0.0


def test_deadline_miss_rejects():
    _, _, o = run_tiny(S, rate_mbps=240.0)  # 30 ms of processing alone
    assert not o.on_time[0] and not o.accepted[0]
    assert o.cost_bw == 0.0  # a rejected request carries no traffic


def test_instance_capacity_rejects_by_admission():
    _, _, o = run_tiny(S, server_capacity=50.0)
    assert o.on_time[0] and not o.accepted[0]
    assert o.inst_load.tolist() == [0.0]


def test_storage_violation_is_not_applied():
    _, _, o = run_tiny(A_LM, lm_mb=5.0)
    assert not o.feasible and o.reward == 0.0
    assert o.placement.tolist() == [S]
    assert "A/LM" in o.violations[0]


def test_dynamic_and_static_filters():
    p = tiny_problem(lm_mb=5.0)
    mask = feasible_hosts(p.sub, p.cat, np.array([S]))
    assert mask[0].tolist() == [True, False, False, True, True]
    assert p.cat.static_mask[0].tolist() == [True, False, False, True, True]
    assert storage_violations(p.sub, p.cat, np.array([7])) != []


def test_paper_step_accounts_every_request(paper):
    d = paper.day("test", 1)
    o = evaluate(paper, d, 0, d.initial, d.initial, np.zeros(paper.sub.n_arcs))
    assert o.feasible and o.cost_rc == 0 and not o.moved.any()
    assert 0 <= o.acceptance_ratio <= 1 and len(o.accepted) == 90
    assert (o.inst_load <= paper.cat.capacity[paper.cat.inst_type, o.placement] + 1e-6).all()
    assert (o.arc_load <= paper.sub.arc_bw + 1e-6).all()
