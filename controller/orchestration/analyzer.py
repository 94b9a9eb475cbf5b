"""The analyzer: monitor samples in, overload / underload / imbalance / failure-risk
alerts out, against the thresholds of the orchestration YAML, with hysteresis.

A condition raises its alert after it has held for `raise_after` consecutive periods, and
clears it after it has been false for `clear_after` periods *with margin*: an overload at
pps >= 400 clears only below 400 × (1 − margin). Alerts are edges (raised, cleared); the
planner reads the set of alerts standing now.

Failure risk: a hook `risk(window) -> float in [0, 1]` (prediction.hook's `psutil` or
`full`, the prediction package's `score`) reads each instance's last samples as rows keyed
by the predictor's feature names (monitor.RISK_FEATURES: cpu_percent, memory_percent,
swap_percent, paging_failures: the instance's own processes) beside the sample's own
(monitor.VEPC_FEATURES), its `instance` and the loop's `period_s`; no hook, no failure-risk
alerts. A hook that refuses the window (ValueError: too short for its model) raises none.
The window is `risk_window` samples, or, for a hook that says the spacing of its model's rows
(`interval_s`, 5 s for the shipped ones) when the loop's period is known, the samples that
cover `risk_window` such rows (risk_window x interval_s / period_s): the hook resamples them.
Every instance's latest score is kept in `scores` (None until its window is full): the
planner's predicted state of the instances (planner.View.risk).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from math import ceil

from controller.orchestration.config import Thresholds
from controller.orchestration.monitor import RISK_FEATURES, VEPC_FEATURES, Sample

RiskHook = Callable[[list[dict]], float]
KINDS = ("overload", "underload", "imbalance", "failure-risk", "down")


@dataclass(frozen=True)
class Alert:
    time: float
    kind: str
    instance: str
    metric: str
    value: float
    threshold: float
    state: str  # raised | cleared

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Track:
    on: bool = False
    run: int = 0  # consecutive periods the condition (raise) or its absence (clear) held


class Analyzer:
    def __init__(self, th: Thresholds, risk: RiskHook | None = None, period_s: float | None = None) -> None:
        self.th, self.risk = th, risk
        self.period_s = period_s  # the loop's (Loop sets it from its config when None)
        self.tracks: dict[tuple[str, str], _Track] = defaultdict(_Track)
        self.windows: dict[str, deque] = defaultdict(deque)
        self.scores: dict[str, float | None] = {}  # instance -> the hook's latest score

    @property
    def window(self) -> int:
        """Samples the hook reads: risk_window rows of its model's spacing, at the loop's period."""
        iv = getattr(self.risk, "interval_s", None)
        if iv is None or not self.period_s:
            return self.th.risk_window
        return max(1, ceil(self.th.risk_window * float(iv) / self.period_s - 1e-9))

    def forget(self, instance: str) -> None:
        """An instance stopped: its window and score go (a new one on its slot starts afresh)."""
        self.windows.pop(instance, None)
        self.scores.pop(instance, None)

    def standing(self) -> set[tuple[str, str]]:
        """(kind, instance) of every alert raised and not cleared."""
        return {k for k, t in self.tracks.items() if t.on}

    def _edge(self, now: float, kind: str, inst: str, metric: str, value: float, limit: float,
              hit: bool, clear: bool) -> Alert | None:  # fmt: skip
        """`hit`: the condition holds; `clear`: it is false with margin."""
        t = self.tracks[(kind, inst)]
        if not t.on:
            t.run = t.run + 1 if hit else 0
            if t.run >= self.th.raise_after:
                t.on, t.run = True, 0
                return Alert(now, kind, inst, metric, round(value, 3), limit, "raised")
        else:
            t.run = t.run + 1 if clear else 0
            if t.run >= self.th.clear_after:
                t.on, t.run = False, 0
                return Alert(now, kind, inst, metric, round(value, 3), limit, "cleared")
        return None

    def update(self, samples: list[Sample]) -> list[Alert]:
        th, m, out = self.th, 1.0 - self.th.margin, []
        live = [s for s in samples if s.alive]
        for s in samples:
            if not s.alive:
                out.append(self._edge(s.time, "down", s.instance, "alive", 0, 1, True, False))
                self.scores.pop(s.instance, None)
                continue
            out.append(self._edge(s.time, "down", s.instance, "alive", 1, 1, False, True))
            # Overload: any of pps, CPU, queue over its threshold; cleared when all are under with margin.
            over = [(k, v, lim) for k, v, lim in (("pps", s.pps, th.overload_pps), ("cpu_pct", s.cpu_pct,
                    th.overload_cpu), ("queue", s.queue, th.overload_queue)) if lim is not None]  # fmt: skip
            hit = [x for x in over if x[1] >= x[2]]
            worst = max(over, key=lambda x: x[1] / x[2] if x[2] else 0) if over else ("pps", 0.0, 0.0)
            metric, value, limit = hit[0] if hit else worst
            out.append(self._edge(s.time, "overload", s.instance, metric, value, limit, bool(hit),
                                  all(v < lim * m for _, v, lim in over)))  # fmt: skip
            if th.underload_pps is not None:
                lim = th.underload_pps
                out.append(self._edge(s.time, "underload", s.instance, "pps", s.pps, lim, s.pps <= lim,
                                      s.pps > lim / m))  # fmt: skip
            if self.risk is not None:
                w, n = self.windows[s.instance], self.window
                row = {k: getattr(s, k) for k in VEPC_FEATURES}
                row.update({k: float(getattr(s, f)) for k, f in RISK_FEATURES.items()})
                if self.period_s:
                    row["period_s"] = self.period_s
                w.append({**row, "instance": s.instance})
                while len(w) > n:
                    w.popleft()
                try:
                    p = float(self.risk(list(w))) if len(w) == n else None
                except ValueError:
                    p = None  # the model needs a longer window than risk_window
                self.scores[s.instance] = p
                if p is not None:
                    out.append(self._edge(s.time, "failure-risk", s.instance, "risk", p, th.risk,
                                          p >= th.risk, p < th.risk * m))  # fmt: skip
        if th.imbalance_ratio is not None and len(live) >= 2:
            lo, hi = min(live, key=lambda s: s.pps), max(live, key=lambda s: s.pps)
            ratio = hi.pps / max(lo.pps, 1.0)
            hit = ratio >= th.imbalance_ratio and hi.pps >= th.imbalance_min_pps
            out.append(self._edge(hi.time, "imbalance", "*", "pps_ratio", ratio, th.imbalance_ratio, hit,
                                  ratio < th.imbalance_ratio * m or hi.pps < th.imbalance_min_pps))  # fmt: skip
        return [a for a in out if a is not None]
