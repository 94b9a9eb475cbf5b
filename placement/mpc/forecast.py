"""`mpc-forecast`: mpc whose persistence forecast is replaced by a learned one.

`mpc` assumes every remaining step repeats the current step's rates. On a diurnal
day that is wrong at least once: working-hours traffic (Mbps, tight deadlines)
gives way to evening traffic (Kbps, loose deadlines) at a fixed hour, and rates
follow the time-of-day shape within a phase. The privileged `mpc-oracle` measured
what knowing the next step is worth (`docs/agent21.md`); this agent learns it.

The forecast (fitted on *training* days only, scikit-learn): for every pair of
consecutive step hours (h -> h'), one linear regression of the next step's
log-rate on this step's log-rate, and one of the next deadline on this deadline,
pooled over every chain of every training day. Across the working/evening
boundary the slope comes out near 0 (the evening draw is independent of the
working one) and the intercept is the evening level; within a phase the slope is
near 1 and the intercept the log of the shape ratio. It reads only the current
step's rates and deadlines and the hour, never the day's future (tested).

Chained `horizon` steps ahead (1 by default: the next step, then persistence of
that forecast, as `mpc-oracle --horizon 1`). Hour pairs the forecast has never
seen keep persistence. The fitted coefficients ship as a small YAML file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from sklearn.linear_model import LinearRegression

from placement.model.simulate import DayRun
from placement.model.workload import Day, Problem
from placement.mpc.agent import MpcAgent
from placement.mpc.oracle import lookahead_rest, lookahead_value
from topologies import InputError

FORMAT = "srem-rate-forecast"
DEFAULT = Path(__file__).resolve().parent / "models" / "forecast.yaml"
TINY = 1e-6  # Mbps floor before the log


@dataclass(frozen=True)
class Step:
    """Next step's log-rate = rate_a + rate_b * log-rate; deadline = dl_a + dl_b * deadline."""

    rate_a: float = 0.0
    rate_b: float = 1.0
    dl_a: float = 0.0
    dl_b: float = 1.0


@dataclass
class RateForecast:
    steps: dict[tuple[int, int], Step] = field(default_factory=dict)  # (hour, next hour) -> Step
    meta: dict = field(default_factory=dict)

    def next(self, hour: int, next_hour: int, rate: np.ndarray, deadline: np.ndarray):
        s = self.steps.get((int(hour), int(next_hour)), Step())  # unseen: persistence
        r = np.exp(s.rate_a + s.rate_b * np.log(np.maximum(rate, TINY)))
        return r, np.maximum(s.dl_a + s.dl_b * deadline, 0.0)

    def future_day(self, day: Day, t: int, horizon: int) -> Day:
        """The day as the agent may see it at step t: steps <= t true, the next
        `horizon` (0: all) forecast by chaining, the rest repeating the last forecast."""
        rate, dl = day.rate.copy(), day.deadline.copy()
        T = day.n_steps
        last = T if horizon <= 0 else min(T, t + 1 + horizon)
        for s in range(t + 1, T):
            if s < last:
                rate[s], dl[s] = self.next(day.hours[s - 1], day.hours[s], rate[s - 1], dl[s - 1])
            else:
                rate[s], dl[s] = rate[s - 1], dl[s - 1]
        return dataclasses.replace(day, rate=rate, deadline=dl)


def fit(problems: list[Problem], days: int) -> RateForecast:
    """Regressions per hour pair, on the first `days` *train* days of every problem."""
    xs: dict[tuple[int, int], list[tuple[np.ndarray, ...]]] = {}
    for p in problems:
        for d in range(min(days, p.n_days("train"))):
            day = p.day("train", d)
            for t in range(day.n_steps - 1):
                key = (int(day.hours[t]), int(day.hours[t + 1]))
                xs.setdefault(key, []).append(
                    (day.rate[t], day.rate[t + 1], day.deadline[t], day.deadline[t + 1])
                )
    out = RateForecast(meta={"problems": len(problems), "days_each": days})
    for key, rows in sorted(xs.items()):
        r0, r1, d0, d1 = (np.concatenate(c) for c in zip(*rows, strict=True))
        lr = LinearRegression().fit(np.log(np.maximum(r0, TINY))[:, None], np.log(np.maximum(r1, TINY)))
        ld = LinearRegression().fit(d0[:, None], d1)
        out.steps[key] = Step(
            float(lr.intercept_), float(lr.coef_[0]), float(ld.intercept_), float(ld.coef_[0])
        )
    return out


def save(fc: RateForecast, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    steps = [{"hour": h, "next": n, **dataclasses.asdict(s)} for (h, n), s in sorted(fc.steps.items())]
    path.write_text(yaml.safe_dump({"format": FORMAT, "meta": fc.meta, "steps": steps}, sort_keys=False))


def load(path: Path = DEFAULT) -> RateForecast:
    """A forecast file; anything else is an InputError in one line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "forecast", "no such file")
    try:
        blob = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise InputError(str(path), "forecast", f"is not YAML ({type(e).__name__})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise InputError(str(path), "forecast", f"is not a rate forecast (no '{FORMAT}' header)")
    fc = RateForecast(meta=blob.get("meta") or {})
    names = {f.name for f in dataclasses.fields(Step)}
    for k, row in enumerate(blob.get("steps") or []):
        if not isinstance(row, dict) or set(row) != names | {"hour", "next"}:
            raise InputError(str(path), f"steps[{k}]", f"needs hour, next and {', '.join(sorted(names))}")
        vals = {n: row[n] for n in names}
        if not all(isinstance(v, (int, float)) and np.isfinite(v) for v in vals.values()):
            raise InputError(str(path), f"steps[{k}]", "coefficients must be finite numbers")
        fc.steps[(int(row["hour"]), int(row["next"]))] = Step(**{n: float(v) for n, v in vals.items()})
    return fc


@dataclass
class ForecastMpcAgent(MpcAgent):
    forecast: RateForecast | None = None
    horizon: int = 1  # steps forecast ahead (0: the rest of the day)
    name: str = "mpc-forecast"

    def value(self, run: DayRun, p: np.ndarray) -> float:
        if self.forecast is None:  # no forecast: mpc's persistence, unchanged
            return super().value(run, p)
        return lookahead_value(run, self.future(run), p, self.horizon, self.beta)

    def rest(self, run: DayRun, p: np.ndarray, now: np.ndarray, util: np.ndarray, kept=None) -> np.ndarray:
        if self.forecast is None:
            return super().rest(run, p, now, util, kept)
        return lookahead_rest(run, self.future(run), p, now, util, self.horizon, self.beta, kept)

    def future(self, run: DayRun) -> Day:
        """One forecast per decision, not per candidate (the day is held, so `is` is safe)."""
        if getattr(self, "_day", None) is not run.day or self._t != run.t:
            self._day, self._t = run.day, run.t
            self._future = self.forecast.future_day(run.day, run.t, self.horizon)
        return self._future
