"""The analyzer: monitor samples in, overload / underload / imbalance / failure-risk
alerts out, against the thresholds of the orchestration YAML, with hysteresis.

A condition raises its alert after it has held for `raise_after` consecutive periods, and
clears it after it has been false for `clear_after` periods *with margin*: an overload at
pps >= 400 clears only below 400 × (1 − margin). Alerts are edges (raised, cleared); the
planner reads the set of alerts standing now.

Failure risk: a hook `risk(window) -> float in [0, 1]` (the prediction package's
`score`) reads each instance's last `window` samples as rows keyed by the predictor's
feature names (monitor.RISK_FEATURES: cpu_percent, memory_percent, swap_percent,
paging_failures) beside the sample's own (monitor.VEPC_FEATURES); no hook, no failure-risk
alerts. A hook that refuses the window (ValueError: too short for its model) raises none.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

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
    def __init__(self, th: Thresholds, risk: RiskHook | None = None) -> None:
        self.th, self.risk = th, risk
        self.tracks: dict[tuple[str, str], _Track] = defaultdict(_Track)
        self.windows: dict[str, deque] = defaultdict(lambda: deque(maxlen=th.risk_window))

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
                w = self.windows[s.instance]
                row = {k: getattr(s, k) for k in VEPC_FEATURES}
                w.append({**row, **{k: float(getattr(s, f)) for k, f in RISK_FEATURES.items()}})
                try:
                    p = float(self.risk(list(w))) if len(w) == w.maxlen else None
                except ValueError:
                    p = None  # the model needs a longer window than risk_window
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
