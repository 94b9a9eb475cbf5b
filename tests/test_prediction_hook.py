"""The failure-risk hook as the orchestration loop calls it, and the failure-aware planner function."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from controller.orchestration.analyzer import Analyzer
from controller.orchestration.cli import _risk_hook
from controller.orchestration.config import OrchestrationConfig, Thresholds
from controller.orchestration.monitor import Sample
from controller.orchestration.planner import FunctionPlanner, View
from prediction import hook
from prediction.api import PSUTIL_MODEL, FailurePredictor


def _sample(t: int, name: str, cpu: float, mem: float, pps: float = 100.0) -> Sample:
    s = Sample(float(t), name, True, pps=pps, swap_pct=10.0, errors=0)
    s.host_cpu_pct, s.host_mem_pct = cpu, mem
    return s


def test_hooks_score_the_monitors_rows():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    rows = [{"cpu_percent": float(c), "memory_percent": float(m), "swap_percent": 5.0, "paging_failures": 0.0,
             "cpu_pct": 1.0} for c, m in rng.uniform(10, 90, (60, 2))]  # fmt: skip
    p = hook.psutil(rows)
    assert 0.0 <= p <= 1.0
    assert p == pytest.approx(FailurePredictor.load(PSUTIL_MODEL).score(rows))
    assert 0.0 <= hook.full(rows) <= 1.0
    with pytest.raises(ValueError, match="60"):
        hook.psutil(rows[:59])
    assert _risk_hook("prediction.hook:psutil") is hook.psutil  # what `srem orch run --risk` accepts


def test_analyzer_raises_failure_risk_from_the_hook():
    """The analyzer calls the hook with its window once it is full; a threshold under any score
    raises the alert after raise_after periods."""
    th = Thresholds(risk=1e-6, risk_window=60, raise_after=2, overload_pps=None, underload_pps=None,
                    imbalance_ratio=None)  # fmt: skip
    an = Analyzer(th, hook.psutil)
    alerts = []
    for t in range(62):
        alerts += an.update([_sample(t, "a", 30 + t % 7, 40 + t % 5)])
    risk = [a for a in alerts if a.kind == "failure-risk"]
    assert len(risk) == 1 and risk[0].state == "raised" and risk[0].time == 60.0


def test_destination_is_never_predicted_to_fail():
    risk = {"a": 0.95, "b": 0.85, "c": 0.3, "d": None, "e": 0.1}
    pps = {"a": 100, "b": 10, "c": 50, "d": 0, "e": 300}
    assert hook.choose_destination(risk, pps, "a", 0.8, room=200) == "c"  # e has no headroom, d is unscored
    assert hook.choose_destination(risk, pps, "a", 0.8, room=1000) == "e"
    assert hook.choose_destination(risk, pps, "a", 0.05, room=1000) is None


def test_planner_function_moves_off_the_failing_instance():
    """Through the loop's FunctionPlanner: a failure-risk alert on `a` moves its flows to the
    instance whose own window scores lowest under the threshold."""
    torch.set_num_threads(1)
    planner = hook.ProactivePlanner()
    cfg = OrchestrationConfig(thresholds=Thresholds(risk=0.99))
    fp = FunctionPlanner(planner)
    for t in range(60):
        samples = {
            "a": _sample(t, "a", 95, 97),
            "b": _sample(t, "b", 20 + t % 3, 30),
            "c": _sample(t, "c", 25, 35),
        }
        alerts = {("failure-risk", "a")} if t == 59 else set()
        actions = fp.plan(View(t, alerts, samples, ["spare"], cfg))
        assert actions == [] or t == 59
    (move,) = actions
    assert move.kind == "move" and move.instance == "a" and move.to in ("b", "c") and move.share == 1.0
    scores = {n: FailurePredictor.load(PSUTIL_MODEL).score(list(planner.windows[n])) for n in "bc"}
    assert move.to == min(scores, key=scores.get)
