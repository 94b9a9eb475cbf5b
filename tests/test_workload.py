import numpy as np

from placement.model import scenario as sc
from placement.model.domain import HostKind
from placement.model.workload import build_problem, make_day


def test_days_are_reproducible_and_distinct(paper):
    a, b = make_day(paper, "train", 5), make_day(build_problem(sc.default()), "train", 5)
    for f in ("chain_types", "src", "dst", "rate", "deadline", "assign", "initial"):
        assert np.array_equal(getattr(a, f), getattr(b, f))
    assert not np.array_equal(a.rate, make_day(paper, "train", 6).rate)
    assert not np.array_equal(a.rate, make_day(paper, "test", 5).rate)


def test_chains_follow_the_scenario(paper):
    d = paper.day("train", 0)
    assert d.n_chains == 90 and d.n_steps == 6
    assert d.hours.tolist() == [10, 12, 14, 16, 18, 20]
    assert d.working.tolist() == [True, True, True, False, False, False]
    for r in range(90):
        n = d.chain_len[r]
        assert 1 <= n <= 4 and len(set(d.chain_types[r, :n])) == n and (d.chain_types[r, n:] == -1).all()
        assert (paper.cat.inst_type[d.assign[r, :n]] == d.chain_types[r, :n]).all()
    assert (d.src != d.dst).all() and (d.src < paper.sub.n_switches).all()


def test_diurnal_rates_and_deadlines(paper):
    d = paper.day("test", 3)
    w = d.rate[d.working]
    e = d.rate[~d.working]
    assert w.min() >= 10 * 0.75 * 0.9 and w.max() <= 500 * 1.1  # Mbps range
    assert e.min() >= 0.05 * 0.6 * 0.9 and e.max() <= 0.9 * 1.1  # kbps range
    assert d.deadline[d.working].min() >= 5 and d.deadline[d.working].max() <= 20
    assert d.deadline[~d.working].min() >= 20 and d.deadline[~d.working].max() <= 60
    # Working hours peak at noon in the default shape.
    assert d.rate[1].mean() > d.rate[0].mean()


def test_initial_placement_is_cheapest_server():
    import dataclasses

    s = sc.default()
    s = dataclasses.replace(s, workload=dataclasses.replace(s.workload, initial="cheapest-server"))
    p = build_problem(s)
    d = p.day("test", 0)
    sub = p.sub
    assert (sub.host_kind[d.initial] == HostKind.SERVER).all()
    servers = np.flatnonzero(sub.host_kind == HostKind.SERVER)
    cheapest = servers[np.argmin(sub.host_unit_cost[servers])]
    assert (d.initial == cheapest).all()  # a 16-64 GB server holds every VNF


def test_initial_placement_is_random_feasible_and_seeded(paper):
    from placement.model.constraints import storage_violations

    starts = [paper.day("train", i).initial for i in range(20)]
    assert all(storage_violations(paper.sub, paper.cat, p) == [] for p in starts)
    assert len({tuple(p) for p in starts}) > 15  # a different configuration per day
    kinds = paper.sub.host_kind[np.concatenate(starts)]
    assert {HostKind.SERVER, HostKind.LM, HostKind.EM} <= set(kinds.tolist())
    again = build_problem(sc.default()).day("train", 3).initial
    assert (again == starts[3]).all()  # the same day starts the same way every time
