"""The orchestration loop's failure-risk hook and a failure-aware planner function.

    srem orch run ... --risk prediction.hook:psutil     # CPU, memory, swap (what psutil gives)
    srem orch run ... --risk prediction.hook:full       # also paging_failures (the monitor's NF errors)
    srem orch run ... --risk prediction.hook:psutil --planner prediction.hook:plan

A hook gets the analyzer's window, a list of rows keyed by the predictor's feature names
(controller/orchestration/monitor.py RISK_FEATURES: cpu_percent <- the machine's CPU %,
memory_percent <- its memory %, swap_percent, paging_failures <- the NF's errors in the
period), oldest first, and returns the probability that a failure starts within the model's
horizon. It raises ValueError on a window too short for the model (the analyzer then raises
no alert). The models were trained on 5-s samples: set the loop's period_s to 5.

`plan` is a planner function (the loop's `--planner MODULE:FUNCTION`, see
controller/orchestration/planner.py problem_of): for every instance with a failure-risk
alert it moves all flows to the live instance with the lowest **predicted** risk (its own
window scored by the same model) among those under the alert threshold and under the
overload threshold, or scales out to a free slot when none qualifies. It never moves flows
to an instance predicted to fail. Other alerts are left to the loop's heuristic planner.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .api import DEFAULT_MODEL, PSUTIL_MODEL, FailurePredictor

_LOADED: dict[str, FailurePredictor] = {}


def _model(path: Path) -> FailurePredictor:
    if str(path) not in _LOADED:
        _LOADED[str(path)] = FailurePredictor.load(path)
    return _LOADED[str(path)]


def psutil(rows: Sequence[Mapping[str, float]]) -> float:
    """Failure risk from CPU, memory and swap (prediction/models/honest-psutil.pt)."""
    return _model(PSUTIL_MODEL).score(rows)


def full(rows: Sequence[Mapping[str, float]]) -> float:
    """Failure risk from CPU, memory, swap and paging failures (prediction/models/honest.pt)."""
    return _model(DEFAULT_MODEL).score(rows)


def choose_destination(
    risk: Mapping[str, float | None], pps: Mapping[str, float], source: str, threshold: float, room: float
) -> str | None:
    """The instance to take a failing one's flows: never one predicted to fail (risk >=
    threshold) or unscored (None: too few samples yet, its state unknown), nor one without
    headroom (pps >= room); the lowest predicted risk first, then the least loaded."""
    ok = [
        n
        for n, r in risk.items()
        if n != source and r is not None and r < threshold and pps.get(n, 0.0) < room
    ]
    return min(ok, key=lambda n: (risk[n], pps.get(n, 0.0), n)) if ok else None


class ProactivePlanner:
    """A planner function with memory: it keeps each instance's window to score the others."""

    def __init__(self, model: Path = PSUTIL_MODEL) -> None:
        self.model = model
        self.windows: dict[str, deque] = defaultdict(deque)

    def __call__(self, problem: dict[str, Any]) -> list[dict[str, Any]]:
        p = _model(self.model)
        cfg = problem["config"]
        threshold = float(cfg.get("risk") or 0.8)
        room = 0.5 * float(cfg.get("overload_pps") or float("inf"))
        # The analyzer's rows, rebuilt from the samples (the same mapping as monitor.RISK_FEATURES).
        keys = {"cpu_percent": "host_cpu_pct", "memory_percent": "host_mem_pct", "swap_percent": "swap_pct",
                "paging_failures": "errors"}  # fmt: skip
        risk: dict[str, float | None] = {}
        for name, s in problem["instances"].items():
            w = self.windows[name]
            w.append({f: float(s.get(k, 0.0)) for f, k in keys.items()})
            while len(w) > p.window:
                w.popleft()
            risk[name] = p.score(list(w)) if len(w) == p.window else None
        pps = {n: float(s.get("pps", 0.0)) for n, s in problem["instances"].items()}
        free = list(problem["free_slots"])
        out = []
        for kind, inst in problem["alerts"]:
            if kind != "failure-risk" or inst not in problem["instances"]:
                continue
            dst = choose_destination(risk, pps, inst, threshold, room)
            if dst is not None:
                out.append({"kind": "move", "instance": inst, "to": dst, "share": 1.0,
                            "reason": f"failure-risk on {inst}; {dst} predicted {risk[dst]:.2f}"})  # fmt: skip
                pps[dst] = pps.get(dst, 0.0) + pps.get(inst, 0.0)
            elif free:
                slot = free.pop(0)
                out.append(
                    {"kind": "scale-out", "instance": slot, "to": slot, "reason": f"failure-risk on {inst}"}
                )
                out.append({"kind": "move", "instance": inst, "to": slot, "share": 1.0,
                            "reason": f"failure-risk on {inst}; no instance predicted safe"})  # fmt: skip
        return out


plan = ProactivePlanner()
