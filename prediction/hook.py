"""The orchestration loop's failure-risk hook and a failure-aware planner function.

    srem orch run ... --risk prediction.hook:psutil     # CPU, memory, swap of the NF's own processes
    srem orch run ... --risk prediction.hook:full       # also paging_failures (the monitor's NF errors)
    srem orch run ... --risk prediction.hook:psutil --planner prediction.hook:plan

A hook gets the analyzer's window, a list of rows keyed by the predictor's feature names
(controller/orchestration/monitor.py RISK_FEATURES: cpu_percent <- the NF process tree's CPU
%, memory_percent <- its resident memory % of the machine, swap_percent <- its swapped-out
memory % of the machine's swap, paging_failures <- the NF's errors in the period), oldest
first, and returns the probability that a failure starts within the model's horizon. It
raises ValueError on a window too short for the model (the analyzer then raises no alert).

Sampling period. The models were trained on the vEPC data set's 5-s intervals
(`INTERVAL_S`): a window is 60 rows 5 s apart and the horizon 12 of them (1 min). The loop
samples every `period_s` (1 s by default). The analyzer puts `period_s` in every row and keeps
`risk_window` x 5 / period_s samples (the hooks say `interval_s = 5`); the hook turns them
back into 5-s rows (`resample`: the mean of the percentages, the sum of the failures, over
the samples of each 5-s span, newest span ending at the newest sample) before scoring. So a
0.5-s loop scores 600 samples as 60 rows, and its first score comes after 5 minutes, as the
model needs; a 10-s loop's samples each stand for two rows (the counts halved). A row without
`period_s` (a caller other than the loop) is taken as 5 s.

`plan` is a planner function (the loop's `--planner MODULE:FUNCTION`, see
controller/orchestration/planner.py problem_of): for every instance with a failure-risk
alert it moves all flows to the live instance with the lowest **predicted** risk (the
analyzer's latest scores, `problem["risk"]`; without them, its own window scored by the same
model) among those under the alert threshold and under half the overload threshold, or
scales out to a free slot when none qualifies. It never moves flows to an instance predicted
to fail. Other alerts are left to the loop's planner; the loop's heuristic planner does the
same on its own (controller/orchestration/planner.py), so `--planner` is not needed for it.

Imports of torch are lazy: the controller's planner imports `choose_destination` from here.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

MODELS = Path(__file__).resolve().parent / "models"  # as api.MODELS, without importing torch
INTERVAL_S = 5.0  # the vEPC data set's sampling period: the shipped models' rows are 5 s apart
COUNTS = ("paging_failures", "errors", "page_faults")  # per-interval counts: summed, not averaged

_LOADED: dict[str, Any] = {}


def _model(path: Path) -> Any:
    from .api import FailurePredictor

    if str(path) not in _LOADED:
        _LOADED[str(path)] = FailurePredictor.load(path)
    return _LOADED[str(path)]


def samples_needed(window: int, period_s: float, interval_s: float = INTERVAL_S) -> int:
    """Samples taken every period_s that cover `window` intervals of interval_s."""
    return max(1, math.ceil(window * interval_s / period_s - 1e-9))


def resample(
    rows: Sequence[Mapping[str, float]], period_s: float, interval_s: float = INTERVAL_S
) -> list[dict[str, float]]:
    """Rows sampled every period_s as rows every interval_s, oldest first (pure).

    Sample i (of n) spans [(n-1-i) p, (n-i) p) back from the newest; span b (0 the newest)
    is [b I, (b+1) I). A span takes the samples whose middle falls in it: numbers are
    averaged, counts (COUNTS) summed and scaled to the span's length; a span no middle falls
    in (period_s > interval_s) takes the sample covering its middle. Only whole spans are kept."""
    n, p, iv = len(rows), float(period_s), float(interval_s)
    if n == 0 or abs(p - iv) < 1e-9:
        return [dict(r) for r in rows]
    spans = int(n * p / iv + 1e-9)
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        members[int(((n - 1 - i) + 0.5) * p / iv)].append(i)
    out = []
    for b in range(spans - 1, -1, -1):
        idx = members.get(b) or [n - 1 - int((b + 0.5) * iv / p)]
        row: dict[str, float] = {}
        for k, v in rows[idx[-1]].items():
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                row[k] = v  # an instance name, say: the newest sample's
            elif k in COUNTS:
                row[k] = sum(float(rows[i][k]) for i in idx) * iv / (len(idx) * p)
            else:
                row[k] = sum(float(rows[i][k]) for i in idx) / len(idx)
        row["period_s"] = iv
        out.append(row)
    return out


def _score(path: Path, rows: Sequence[Mapping[str, float]]) -> float:
    period = float(rows[-1].get("period_s", INTERVAL_S)) if rows else INTERVAL_S
    return _model(path).score(resample(rows, period))


def psutil(rows: Sequence[Mapping[str, float]]) -> float:
    """Failure risk from CPU, memory and swap (prediction/models/honest-psutil.pt)."""
    return _score(MODELS / "honest-psutil.pt", rows)


def full(rows: Sequence[Mapping[str, float]]) -> float:
    """Failure risk from CPU, memory, swap and paging failures (prediction/models/honest.pt)."""
    return _score(MODELS / "honest.pt", rows)


# The analyzer reads these: how far apart the rows the models want are (it keeps
# risk_window x interval_s / period_s samples).
psutil.interval_s = INTERVAL_S  # type: ignore[attr-defined]
full.interval_s = INTERVAL_S  # type: ignore[attr-defined]


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

    def __init__(self, model: Path | None = None) -> None:
        self.model = model or MODELS / "honest-psutil.pt"
        self.windows: dict[str, deque] = defaultdict(deque)

    def __call__(self, problem: dict[str, Any]) -> list[dict[str, Any]]:
        p = _model(self.model)
        cfg = problem["config"]
        threshold = float(cfg.get("risk") or 0.8)
        room = 0.5 * float(cfg.get("overload_pps") or float("inf"))
        # The analyzer's rows, rebuilt from the samples (the same mapping as monitor.RISK_FEATURES:
        # the NF's own processes); used when the loop gives no scores of its own.
        keys = {"cpu_percent": "cpu_pct", "memory_percent": "mem_pct", "swap_percent": "swap_pct",
                "paging_failures": "errors"}  # fmt: skip
        risk: dict[str, float | None] = {}
        given = problem.get("risk") or {}
        for name, s in problem["instances"].items():
            w = self.windows[name]
            w.append({f: float(s.get(k, 0.0)) for f, k in keys.items()})
            while len(w) > p.window:
                w.popleft()
            if given:
                risk[name] = given.get(name)
            else:
                # Without the loop's scores (no risk hook, so no failure-risk alert from the
                # loop either: a caller's own problem), its samples are taken as 5-s rows.
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
