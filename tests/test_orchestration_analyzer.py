"""The analyzer's alerts with hysteresis, the orchestration YAML, the heuristic planner,
and the monitor on a live NF host (its control socket and psutil)."""

import pytest

from controller.orchestration.analyzer import Analyzer
from controller.orchestration.config import ConfigError, OrchestrationConfig, Thresholds, load, parse
from controller.orchestration.monitor import VEPC_FEATURES, Monitor, Sample
from controller.orchestration.move import Instance
from controller.orchestration.planner import Heuristic, View


def s(name, pps, t=0.0, alive=True, **kw):
    return Sample(t, name, alive, pps=pps, **kw)


def kinds(alerts):
    return [(a.kind, a.instance, a.state) for a in alerts]


def test_overload_raises_after_two_periods_and_clears_only_under_the_margin():
    an = Analyzer(Thresholds(overload_pps=100, underload_pps=None, imbalance_ratio=None))
    seq = [120, 90, 120, 130, 95, 95, 95, 89, 89, 89]
    got = [kinds(an.update([s("a", p)])) for p in seq]
    assert got[3] == [("overload", "a", "raised")]  # 120, 130: two in a row (the 90 reset the count)
    assert all(not g for k, g in enumerate(got) if k not in (3, 9))  # 95s are under 100 but not under 90
    assert got[9] == [("overload", "a", "cleared")]


def test_flapping_around_the_threshold_raises_nothing():
    an = Analyzer(Thresholds(overload_pps=100, underload_pps=None, imbalance_ratio=None))
    assert not any(an.update([s("a", p)]) for p in [101, 99, 101, 99, 101, 99, 101])


def test_underload_imbalance_down_and_failure_risk():
    names = ("cpu_percent", "memory_percent", "swap_percent", "paging_failures")  # prediction's FEATURES

    def risk(window):
        assert all(set(names) <= set(row) for row in window)
        return 1.0 if window[-1]["cpu_pct"] > 50 else 0.0

    th = Thresholds(overload_pps=1000, underload_pps=5, imbalance_ratio=3.0, imbalance_min_pps=50,
                    risk=0.8, risk_window=3, raise_after=1, clear_after=1)  # fmt: skip
    an = Analyzer(th, risk)
    got = kinds(an.update([s("a", 2), s("b", 300, cpu_pct=80), s("c", 0, alive=False)]))
    assert sorted(got) == [
        ("down", "c", "raised"),
        ("imbalance", "*", "raised"),
        ("underload", "a", "raised"),
    ]
    an.update([s("a", 2), s("b", 300, cpu_pct=80), s("c", 0, alive=False)])
    got = kinds(an.update([s("a", 2), s("b", 300, cpu_pct=80), s("c", 0, alive=False)]))
    assert got == [("failure-risk", "b", "raised")]  # the window is full on the third sample
    assert sorted(an.standing()) == [
        ("down", "c"),
        ("failure-risk", "b"),
        ("imbalance", "*"),
        ("underload", "a"),
    ]
    assert VEPC_FEATURES == ("cpu_pct", "mem_pct", "swap_pct", "errors")
    short = Analyzer(th, lambda window: (_ for _ in ()).throw(ValueError("needs the last 60 samples")))
    assert not any(a.kind == "failure-risk" for _ in range(5) for a in short.update([s("b", 300)]))


def test_config_defaults_fields_and_one_line_errors(tmp_path):
    assert parse(None) == OrchestrationConfig()
    c = parse({"orchestration": {"period_s": 0.5, "thresholds": {"overload": {"pps": 300, "cpu_pct": None}}}})
    assert (c.period_s, c.thresholds.overload_pps, c.thresholds.overload_cpu) == (0.5, 300.0, None)
    for bad, word in [
        ({"period_s": 0}, "period_s: must be a number"),
        ({"guarantee": "best"}, "guarantee: must be one of"),
        ({"thresholds": {"overload": {"ppx": 1}}}, "unknown field 'ppx'"),
        ({"thresholds": {"underload": {"pps": 500}}}, "underload.pps (500) must be below"),
        ({"thresholds": {"hysteresis": {"raise_after": 0}}}, "raise_after: must be an integer"),
        ({"elasticity": {"min_instances": 3, "max_instances": 2}}, "max_instances (2) is below"),
        ({"periods": 1}, "unknown field 'periods'"),
    ]:
        with pytest.raises(ConfigError, match=word.replace("(", r"\(").replace(")", r"\)")) as e:
            parse(bad)
        assert "\n" not in str(e.value)
    (tmp_path / "o.yaml").write_text("period_s: [")
    with pytest.raises(ConfigError, match=r"o\.yaml: YAML"):
        load(tmp_path / "o.yaml")


def view(alerts, samples, free=("c",), **cfg):
    return View(10, set(alerts), {x.instance: x for x in samples}, list(free), OrchestrationConfig(**cfg))


def test_planner_moves_half_to_an_idle_instance_or_scales_out():
    p = Heuristic()
    acts = p.plan(view({("overload", "a")}, [s("a", 500), s("b", 50)]))
    assert [(a.kind, a.instance, a.to, a.share) for a in acts] == [("move", "a", "b", 0.5)]
    acts = p.plan(view({("overload", "a")}, [s("a", 500), s("b", 350)]))
    assert [(a.kind, a.instance, a.to) for a in acts] == [("scale-out", "c", "c"), ("move", "a", "c")]
    acts = p.plan(view({("overload", "a")}, [s("a", 500), s("b", 350)], free=()))
    assert [a.kind for a in acts] == ["none"] and "no free slot" in acts[0].reason


def test_planner_scales_in_above_min_respects_cooldown_and_evens_imbalance():
    p = Heuristic()
    acts = p.plan(view({("underload", "b")}, [s("a", 100), s("b", 1)]))
    assert [(a.kind, a.instance, a.to) for a in acts] == [("scale-in", "b", "a")]
    assert p.plan(view({("underload", "b")}, [s("a", 100), s("b", 1)], min_instances=2)) == []
    v = view({("overload", "a")}, [s("a", 500), s("b", 50)])
    v.last_action = {"a": 9}
    assert p.plan(v) == []  # acted on a period ago: within the cooldown
    acts = p.plan(view({("imbalance", "*")}, [s("a", 300), s("b", 100)]))
    assert [(a.kind, a.instance, a.to, a.share) for a in acts] == [("move", "a", "b", 0.333)]


def test_monitor_samples_a_live_host_and_reports_a_dead_one(tmp_path):
    from nfs.control import ControlServer
    from nfs.software import SoftwareHost
    from tests.test_orchestration_state import NAT, frame

    h = SoftwareHost()
    h.load({"nfs": [NAT], "hops": [[5, 255, 7]]})
    srv = ControlServer(h, tmp_path / "c.sock").start()
    try:
        m = Monitor(
            [Instance("a", str(tmp_path / "c.sock"), 7, 5), Instance("x", str(tmp_path / "no.sock"), 7, 6)]
        )
        m.poll()
        for k in range(30):
            h.process(frame("10.0.1.1", "10.0.2.2", 1000 + k % 3, 80))
        a, x = m.poll()
        assert (a.alive, a.packets, a.flows, a.errors, x.alive) == (True, 30, 3, 0, False)
        assert a.pps > 0 and 0 < a.mem_pct < 100 and a.swap_pct >= 0 and a.page_faults >= 0
    finally:
        srv.close()


def test_a_planner_function_gets_plain_data_and_its_actions_are_checked():
    from controller.orchestration.planner import FunctionPlanner

    seen = {}

    def plan(problem):
        seen.update(problem)
        return [{"kind": "move", "instance": "a", "to": "b", "share": 0.25, "reason": "learned"}]

    v = view({("overload", "a")}, [s("a", 500), s("b", 50)])
    acts = FunctionPlanner(plan).plan(v)
    assert [(a.kind, a.instance, a.to, a.share, a.reason) for a in acts] == [
        ("move", "a", "b", 0.25, "learned")
    ]
    assert seen["alerts"] == [["overload", "a"]] and seen["instances"]["a"]["pps"] == 500
    assert seen["free_slots"] == ["c"] and seen["config"]["overload_pps"] == 400.0
    for bad, word in [({"kind": "teleport"}, "kind must be"), ({"kind": "move", "instance": "z"}, "does not exist"),
                      ({"kind": "move", "instance": "a", "to": "b", "share": 2}, "share must be")]:  # fmt: skip
        with pytest.raises(ValueError, match=word):
            FunctionPlanner(lambda p, bad=bad: [bad]).plan(v)
