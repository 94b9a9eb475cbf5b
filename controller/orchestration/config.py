"""The orchestration YAML: monitoring period, alert thresholds with hysteresis, the move
guarantee and the elasticity bounds. Every field is optional (defaults below); anything
wrong raises ConfigError with one line naming the field.

    orchestration:
      period_s: 1.0                   # monitoring period, seconds
      guarantee: order-preserving     # of the moves the loop makes: none | loss-free | order-preserving
      thresholds:
        overload:  {pps: 400, cpu_pct: 90, queue: 5000}   # any one over: overloaded
        underload: {pps: 5}
        imbalance: {ratio: 3.0, min_pps: 50}   # busiest / idlest instance of the NF
        failure_risk: {risk: 0.8, window: 60}  # the prediction hook's score, over `window` samples
        hysteresis: {raise_after: 2, clear_after: 3, margin: 0.1}
      elasticity: {min_instances: 1, max_instances: 4, cooldown_periods: 3}
      planner: deepmigration          # or heuristic; or {kind: deepmigration, model: PT, sla_ms: 20}

The block may stand alone or under a scenario's `orchestration:` key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from controller.orchestration.move import GUARANTEES


class ConfigError(ValueError):
    """An orchestration setting that cannot be used."""


@dataclass(frozen=True)
class Thresholds:
    overload_pps: float | None = 400.0
    overload_cpu: float | None = 90.0
    overload_queue: float | None = 5000.0
    underload_pps: float | None = 5.0
    imbalance_ratio: float | None = 3.0
    imbalance_min_pps: float = 50.0
    risk: float = 0.8
    risk_window: int = 60  # the vEPC predictor's window (60 intervals)
    raise_after: int = 2
    clear_after: int = 3
    margin: float = 0.1


PLANNERS = ("deepmigration", "heuristic")


@dataclass(frozen=True)
class PlannerConfig:
    """Which planner decides the flow moves (controller/orchestration/deepmigration.py)."""

    kind: str = "deepmigration"
    model: str | None = None  # a DeepMigration policy checkpoint; None: the one migration/ ships
    sla_ms: float = 20.0  # latency bound of a flow's migration (the problem's per-flow SLA)


@dataclass(frozen=True)
class OrchestrationConfig:
    period_s: float = 1.0
    guarantee: str = "order-preserving"
    thresholds: Thresholds = Thresholds()
    min_instances: int = 1
    max_instances: int = 4
    cooldown_periods: int = 3
    planner: PlannerConfig = PlannerConfig()


def _planner(v: Any, where: str) -> PlannerConfig:
    """`planner: NAME` or `planner: {kind: NAME, model: PT, sla_ms: MS}`."""
    d = {} if v is None else {"kind": v} if isinstance(v, str) else v
    if not isinstance(d, dict):
        raise ConfigError(
            f"{where}: a planner name ({', '.join(PLANNERS)}) or a mapping of kind, model, sla_ms"
        )
    extra = sorted(set(d) - {"kind", "model", "sla_ms"})
    if extra:
        raise ConfigError(f"{where}: unknown field {extra[0]!r} (fields: kind, model, sla_ms)")
    kind = d.get("kind", "deepmigration")
    if kind not in PLANNERS:
        raise ConfigError(f"{where}: must be one of {', '.join(PLANNERS)}, not {kind!r}")
    model = d.get("model")
    if model is not None and (not isinstance(model, str) or not model):
        raise ConfigError(f"{where}.model: a policy file path, not {model!r}")
    sla = float(_num(d.get("sla_ms", 20.0), f"{where}.sla_ms", 0.001, 1e6))
    return PlannerConfig(kind, model, sla)


def _section(d: dict, key: str, where: str, fields: tuple[str, ...], sep: str = ".") -> dict:
    """The mapping d[key] (empty when absent), with no field outside `fields`; errors name
    it as where + sep + key."""
    v = d.get(key, {})
    if v is None:
        return {}
    name = f"{where}{sep}{key}"
    if not isinstance(v, dict):
        raise ConfigError(f"{name}: expected a mapping of {', '.join(fields)}")
    extra = sorted(set(v) - set(fields))
    if extra:
        raise ConfigError(f"{name}: unknown field {extra[0]!r} (fields: {', '.join(fields)})")
    return v


def _num(v: Any, where: str, lo: float = 0.0, hi: float = float("inf"), integer: bool = False) -> Any:
    ok = isinstance(v, int) if integer else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok or not lo <= v <= hi:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{where}: must be {kind} in [{lo:g}, {hi:g}], not {v!r}")
    return v


def parse(d: Any, where: str = "orchestration") -> OrchestrationConfig:
    if d is None:
        d = {}
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a mapping")
    if "orchestration" in d and isinstance(d["orchestration"], dict):
        d = d["orchestration"]
    top = ("period_s", "guarantee", "thresholds", "elasticity", "planner")
    extra = sorted(set(d) - set(top))
    if extra:
        raise ConfigError(f"{where}: unknown field {extra[0]!r} (fields: {', '.join(top)})")
    period = float(_num(d.get("period_s", 1.0), f"{where}.period_s", 0.05, 3600))
    g = d.get("guarantee", "order-preserving")
    if g not in GUARANTEES:
        raise ConfigError(f"{where}.guarantee: must be one of {', '.join(GUARANTEES)}, not {g!r}")
    t = _section(d, "thresholds", where, ("overload", "underload", "imbalance", "failure_risk", "hysteresis"))
    w = f"{where}.thresholds"
    ov = _section(t, "overload", w, ("pps", "cpu_pct", "queue"))
    un = _section(t, "underload", w, ("pps",))
    im = _section(t, "imbalance", w, ("ratio", "min_pps"))
    fr = _section(t, "failure_risk", w, ("risk", "window"))
    hy = _section(t, "hysteresis", w, ("raise_after", "clear_after", "margin"))
    opt = lambda sec, k, dflt, name, lo=0.0, hi=float("inf"): (
        None if sec.get(k, dflt) is None else float(_num(sec.get(k, dflt), f"{w}.{name}.{k}", lo, hi))
    )
    th = Thresholds(
        overload_pps=opt(ov, "pps", 400.0, "overload"),
        overload_cpu=opt(ov, "cpu_pct", 90.0, "overload", 0, 100 * 1024),
        overload_queue=opt(ov, "queue", 5000.0, "overload"),
        underload_pps=opt(un, "pps", 5.0, "underload"),
        imbalance_ratio=opt(im, "ratio", 3.0, "imbalance", 1.0),
        imbalance_min_pps=float(_num(im.get("min_pps", 50.0), f"{w}.imbalance.min_pps")),
        risk=float(_num(fr.get("risk", 0.8), f"{w}.failure_risk.risk", 0.0, 1.0)),
        risk_window=int(_num(fr.get("window", 60), f"{w}.failure_risk.window", 1, 10_000, True)),
        raise_after=int(_num(hy.get("raise_after", 2), f"{w}.hysteresis.raise_after", 1, 1000, True)),
        clear_after=int(_num(hy.get("clear_after", 3), f"{w}.hysteresis.clear_after", 1, 1000, True)),
        margin=float(_num(hy.get("margin", 0.1), f"{w}.hysteresis.margin", 0.0, 0.9)),
    )
    if th.overload_pps is not None and th.underload_pps is not None and th.underload_pps >= th.overload_pps:
        raise ConfigError(f"{w}: underload.pps ({th.underload_pps:g}) must be below overload.pps "
                          f"({th.overload_pps:g})")  # fmt: skip
    e = _section(d, "elasticity", where, ("min_instances", "max_instances", "cooldown_periods"))
    lo = int(_num(e.get("min_instances", 1), f"{where}.elasticity.min_instances", 1, 1000, True))
    hi = int(_num(e.get("max_instances", 4), f"{where}.elasticity.max_instances", 1, 1000, True))
    if hi < lo:
        raise ConfigError(f"{where}.elasticity: max_instances ({hi}) is below min_instances ({lo})")
    cd = int(_num(e.get("cooldown_periods", 3), f"{where}.elasticity.cooldown_periods", 0, 1000, True))
    pl = _planner(d.get("planner", "deepmigration"), f"{where}.planner")
    return OrchestrationConfig(period, g, th, lo, hi, cd, pl)


def load(path: str | Path) -> OrchestrationConfig:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: YAML: {str(e).splitlines()[0]}") from None
    try:
        return parse(data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
