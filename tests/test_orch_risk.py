"""Issue 19 part 3 in the loop: a failure-risk alert is acted on with the predicted state.

Pure tests of the heuristic planner on hand-made views (the destination is the instance
predicted safe, never one predicted to fail, scale-out when no safe one has room), of the
hook's resampling to the models' 5-s rows, of the analyzer keeping each instance's score;
the monitor's per-instance readings on real process trees; and the loop on real `srem
nf-host` processes evacuating a failing instance to the safe one with nothing lost."""

from __future__ import annotations

import pytest

from controller.orchestration.analyzer import Analyzer
from controller.orchestration.config import OrchestrationConfig, Thresholds, parse
from controller.orchestration.monitor import Sample
from controller.orchestration.planner import FunctionPlanner, Heuristic, View, problem_of
from prediction import hook

CFG = OrchestrationConfig(thresholds=Thresholds(risk=0.8, overload_pps=400, underload_pps=None,
                                                imbalance_ratio=None), max_instances=8)  # fmt: skip


def _s(name: str, pps: float, flows: int = 4) -> Sample:
    return Sample(0.0, name, True, pps=pps, flows=flows)


def _view(samples: dict[str, float], risk: dict[str, float | None], alerts: set, free=("spare",)) -> View:
    return View(10, set(alerts), {n: _s(n, p) for n, p in samples.items()}, list(free), CFG, {}, risk)


def test_failure_risk_goes_to_the_instance_predicted_safe_not_the_least_loaded():
    # b is the least loaded but predicted to fail (0.9 >= 0.8): c, predicted safe, takes a's flows.
    v = _view({"a": 150, "b": 10, "c": 60}, {"a": 0.95, "b": 0.9, "c": 0.2}, {("failure-risk", "a")})
    (act,) = Heuristic().plan(v)
    assert (act.kind, act.instance, act.to, act.share) == ("move", "a", "c", 1.0)
    assert "c predicted 0.20" in act.reason


def test_lowest_predicted_risk_first_then_least_loaded():
    v = _view({"a": 150, "b": 10, "c": 60, "d": 100}, {"a": 0.95, "b": 0.3, "c": 0.3, "d": 0.1},
              {("failure-risk", "a")})  # fmt: skip
    assert Heuristic().plan(v)[0].to == "d"
    v = _view({"a": 150, "b": 10, "c": 60}, {"a": 0.95, "b": 0.3, "c": 0.3}, {("failure-risk", "a")})
    assert Heuristic().plan(v)[0].to == "b"


def test_unscored_or_alerted_or_full_instances_are_not_destinations_scale_out_instead():
    # b unscored (window not full), c's alert still stands under hysteresis though its score fell,
    # d has no room (pps >= half the overload threshold): a new instance takes the flows.
    v = _view({"a": 150, "b": 0, "c": 5, "d": 250}, {"a": 0.95, "b": None, "c": 0.5, "d": 0.1},
              {("failure-risk", "a"), ("failure-risk", "c")})  # fmt: skip
    acts = [(a.kind, a.instance, a.to) for a in Heuristic().plan(v)]
    assert acts[:2] == [("scale-out", "spare", "spare"), ("move", "a", "spare")]
    assert all(a[2] not in ("b", "c", "d") for a in acts if a[0] == "move")


def test_no_safe_instance_and_no_free_slot_moves_nothing():
    v = _view({"a": 150, "b": 10}, {"a": 0.95, "b": 0.85}, {("failure-risk", "a")}, free=())
    acts = Heuristic().plan(v)
    assert [a.kind for a in acts if a.instance == "a"] == ["none"]
    assert not [a for a in acts if a.kind == "move"]


def test_an_instance_without_flows_is_not_evacuated():
    v = View(10, {("failure-risk", "b")}, {"a": _s("a", 100), "b": _s("b", 0, flows=0)}, [], CFG, {},
             {"a": 0.1, "b": 0.9})  # fmt: skip
    (act,) = Heuristic().plan(v)
    assert act.kind == "none" and act.instance == "b"


def test_overload_and_scale_in_avoid_instances_predicted_to_fail():
    cfg = OrchestrationConfig(thresholds=Thresholds(risk=0.8, overload_pps=400, underload_pps=20,
                                                    imbalance_ratio=None), min_instances=1)  # fmt: skip
    s = {"a": _s("a", 500), "b": _s("b", 10), "c": _s("c", 50)}
    v = View(10, {("overload", "a")}, s, [], cfg, {}, {"a": 0.1, "b": 0.9, "c": 0.1})
    assert [(a.kind, a.to) for a in Heuristic().plan(v)] == [("move", "c")]
    s = {"a": _s("a", 5), "b": _s("b", 10), "c": _s("c", 50)}
    v = View(10, {("underload", "a")}, s, [], cfg, {}, {"a": 0.1, "b": 0.9, "c": 0.1})
    assert [(a.kind, a.instance, a.to) for a in Heuristic().plan(v)] == [("scale-in", "a", "c")]
    # Without a hook (no scores) the least loaded is taken, as before.
    v = View(10, {("underload", "a")}, s, [], cfg, {})
    assert Heuristic().plan(v)[0].to == "b"


def test_deepmigration_falls_back_to_the_risk_aware_heuristic():
    from controller.orchestration.deepmigration import DeepMigration

    v = _view({"a": 150, "b": 10, "c": 60}, {"a": 0.95, "b": 0.9, "c": 0.2}, {("failure-risk", "a")})
    (act,) = DeepMigration(CFG, {}).plan(v)
    assert (act.kind, act.instance, act.to) == ("move", "a", "c") and "fallback" in act.reason


def test_planner_function_reads_the_loops_scores():
    """prediction.hook:plan uses the analyzer's scores given in the problem (no rescoring)."""
    v = _view({"a": 150, "b": 10, "c": 60}, {"a": 0.95, "b": 0.9, "c": 0.2}, {("failure-risk", "a")})
    assert problem_of(v)["risk"] == {"a": 0.95, "b": 0.9, "c": 0.2}
    (act,) = FunctionPlanner(hook.ProactivePlanner()).plan(v)
    assert (act.kind, act.instance, act.to) == ("move", "a", "c")


def test_resample_turns_loop_samples_into_five_second_rows():
    rows = [{"cpu_percent": float(i), "paging_failures": 1.0, "instance": "a"} for i in range(20)]
    out = hook.resample(rows, 0.5)  # ten 0.5-s samples per 5-s row
    assert len(out) == 2
    assert out[-1]["cpu_percent"] == pytest.approx(sum(range(10, 20)) / 10)
    assert out[0]["cpu_percent"] == pytest.approx(sum(range(10)) / 10)
    assert out[-1]["paging_failures"] == pytest.approx(10.0) and out[-1]["instance"] == "a"
    # 23 samples of 0.5 s: two whole rows, the three oldest samples dropped.
    assert hook.resample(rows[:3] + rows, 0.5) == out
    # 10-s samples: each stands for two rows, its count split between them.
    out = hook.resample(rows[:3], 10.0)
    assert [r["cpu_percent"] for r in out] == [0, 0, 1, 1, 2, 2]
    assert all(r["paging_failures"] == 0.5 for r in out)
    assert hook.resample(rows, 5.0) == [dict(r) for r in rows]
    assert hook.samples_needed(60, 0.5) == 600 and hook.samples_needed(60, 10.0) == 30


def test_analyzer_keeps_each_instances_score_and_a_window_of_the_models_span():
    th = Thresholds(risk=0.8, risk_window=4, raise_after=1, overload_pps=None, underload_pps=None,
                    imbalance_ratio=None)  # fmt: skip
    seen: list[list[dict]] = []

    def risky(rows: list[dict]) -> float:
        seen.append(rows)
        return {"a": 0.9, "b": 0.1}[rows[-1]["instance"]]

    risky.interval_s = 5.0  # type: ignore[attr-defined]
    an = Analyzer(th, risky, period_s=2.5)  # two samples per model row: 8 samples
    assert an.window == 8
    alerts = []
    for t in range(8):
        assert an.scores.get("a") is None
        alerts += an.update([Sample(float(t), "a", True), Sample(float(t), "b", True)])
    assert an.scores == {"a": 0.9, "b": 0.1}
    assert len(seen[-1]) == 8 and seen[-1][-1]["period_s"] == 2.5
    assert [(a.kind, a.instance) for a in alerts] == [("failure-risk", "a")]
    an.forget("a")
    assert "a" not in an.scores and "a" not in an.windows
    assert Analyzer(th, risky).window == 4  # period unknown: risk_window samples
    assert Analyzer(th, lambda rows: 0.0, period_s=0.5).window == 4  # the hook says no spacing


def test_the_shipped_hook_scores_a_fast_loops_window_as_five_second_rows():
    import numpy as np
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    fast = [{"cpu_percent": float(c), "memory_percent": 40.0, "swap_percent": 0.0, "period_s": 1.0}
            for c in rng.uniform(10, 90, 300)]  # fmt: skip
    slow = hook.resample(fast, 1.0)
    assert len(slow) == 60
    assert hook.psutil(fast) == pytest.approx(hook.psutil(slow))
    with pytest.raises(ValueError, match="60"):
        hook.psutil(fast[:299])  # 59 whole 5-s rows: too short
    assert parse({"period_s": 0.5}).period_s == 0.5


def test_monitor_reads_each_instances_own_process_tree():
    """A busy child under one process shows in that process's tree, not in an idle one's
    (machine-wide figures would show it in both)."""
    import subprocess
    import sys
    import time

    from controller.orchestration.monitor import tree, usage_sample

    busy = "import subprocess,sys; c=subprocess.Popen([sys.executable,'-c','while True: pass']); c.wait()"
    idle = "import time; time.sleep(60)"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for code in (busy, idle)]
    try:
        time.sleep(0.5)  # the busy child is up
        before = [tree(p.pid) for p in procs]
        t0 = time.monotonic()
        time.sleep(1.0)
        after = [tree(p.pid) for p in procs]
        dt = time.monotonic() - t0
        s = [Sample(0.0, n, True) for n in ("busy", "idle")]
        for x, b, a in zip(s, before, after, strict=True):
            usage_sample(x, b, a, dt)
    finally:
        for p in procs:
            for c in __import__("psutil").Process(p.pid).children(recursive=True):
                c.kill()
            p.kill()
            p.wait()
    assert after[0].procs == 2 and after[1].procs == 1
    # The busy tree spends CPU (a share of a core on a loaded machine); the idle one ~0.
    assert s[0].cpu_pct > 5 and s[1].cpu_pct < 1, (s[0].cpu_pct, s[1].cpu_pct)
    assert 0 < s[1].mem_pct < s[0].mem_pct < 100 and s[0].swap_pct >= 0 and s[0].ctx_switches > 0


LIVE = {
    "period_s": 0.5,
    "thresholds": {
        "overload": {"pps": 1000, "cpu_pct": None, "queue": None},
        "underload": {"pps": None},
        "imbalance": {"ratio": None},
        "failure_risk": {"risk": 0.8, "window": 2},
        "hysteresis": {"raise_after": 2, "clear_after": 2, "margin": 0.1},
    },
    "elasticity": {"min_instances": 1, "max_instances": 3, "cooldown_periods": 2},
    "planner": "heuristic",
}


@pytest.fixture(scope="module")
def fabric(tmp_path_factory):
    from tests.orch_fabric import one_switch

    with one_switch(tmp_path_factory.mktemp("risk"), hosts=()) as f:
        yield f


def test_live_failure_risk_evacuates_to_the_instance_predicted_safe_with_nothing_lost(fabric):
    """Three real `srem nf-host` NATs; a carries eight flows at 200 packets/s, b and c idle.
    The hook (a spec scoring each instance by name) then predicts a and b to fail: b is the
    least loaded, yet a's flows all go to c, order-preserving, none lost or remapped."""
    import io
    import json

    from controller.orchestration.executors import Executor, Pool, Slot
    from controller.orchestration.loop import Loop
    from controller.orchestration.monitor import Monitor
    from tests.orch_fabric import NAT, POOL, SPI, SRV, Traffic

    ns, tmp, _c, _inst, steering = fabric
    enter = ("ip", "netns", "exec", ns)
    slots = {n: Slot(n, enter, f"srv{n}", SRV[n], SPI[n], {**NAT, "ports": POOL[n]}, workdir=str(tmp))
             for n in ("a", "b", "c")}  # fmt: skip
    pool = Pool(slots)
    cfg = parse(LIVE)
    predicted = {"a": 0.1, "b": 0.1, "c": 0.1}

    def risk(rows: list[dict]) -> float:
        return predicted[rows[-1]["instance"]]

    log = io.StringIO()
    started = [pool.start(n) for n in ("a", "b", "c")]
    loop = Loop(cfg, Monitor(started), Analyzer(cfg.thresholds, risk), Executor(pool, steering), log=log)
    try:
        with Traffic(ns, list(range(3200, 3208)), rate=200) as tr:
            loop.run(periods=4)
            predicted.update(a=0.95, b=0.9)  # c stays 0.1
            loop.run(periods=12)
    finally:
        pool.close()
    recs = [json.loads(x) for x in log.getvalue().splitlines()]
    acts = [r for r in recs if r["type"] == "action"]
    raised = {r["instance"] for r in recs if r["type"] == "alert" and r["kind"] == "failure-risk"}
    assert raised == {"a", "b"}, recs
    assert all("error" not in a for a in acts), acts
    moves = [a for a in acts if a["decision"]["kind"] == "move"]
    assert [(m["decision"]["instance"], m["decision"]["to"]) for m in moves] == [("a", "c")], acts
    assert moves[0]["outcome"]["move"]["flows"] == 8 and "c predicted 0.10" in moves[0]["decision"]["reason"]
    # Before the move b was the least loaded (idle, like c): the old rule would have picked it.
    before = [r for r in loop.load if r["period"] < moves[0]["period"]]
    assert before[-1]["b"] <= before[-1]["c"] + 1 and before[-1]["a"] > 100, loop.load
    assert loop.load[-1]["c"] > 100 and loop.load[-1]["a"] < 20, loop.load
    # The monitor read each NF host's own processes.
    last = next(r for r in reversed(recs) if r["type"] == "plan")["inputs"]["samples"]
    assert all(last[n]["procs"] >= 1 and last[n]["mem_pct"] > 0 for n in "abc"), last
    at_move = next(r for r in recs if r["type"] == "plan" and r["period"] == moves[0]["period"])
    busy = at_move["inputs"]["samples"]
    # a's NF host, translating 200 packets/s, works more than the idle b and c. Counted in
    # context switches (a wake-up per packet batch): over one 0.5-s period its CPU time, in
    # 10-ms clock ticks, can read 0 (it did once in CI).
    assert busy["a"]["ctx_switches"] > max(busy["b"]["ctx_switches"], busy["c"]["ctx_switches"]), busy
    # Nothing lost, nothing reordered within a flow, one mapping per flow throughout.
    assert sorted(g[2] for g in tr.got) == list(range(tr.sent)), (tr.sent, len(tr.got))
    for i in range(8):
        mine = [g for g in tr.got if g[3] == i]
        assert [g[2] for g in mine] == sorted(g[2] for g in mine)
        assert len({g[1] for g in mine}) == 1, (i, {g[1] for g in mine})
    s = loop.summary()
    assert s["moves"] == 1 and s["moves_rolled_back"] == 0 and s["hold_overflow"] == 0
