"""`srem predict simulate`'s run file: validated YAML, one-line errors naming the field."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from topologies import InputError

from .config import read_yaml
from .policy import DEFAULT_POLICIES, Policy

MODELS = ("honest", "honest-psutil")


@dataclass(frozen=True)
class SimConfig:
    """The SR-EM scenario under server failures, every failure policy, per placement agent."""

    scenario: str = "paper"  # a bundled scenario's name or a scenario YAML
    agents: tuple[str, ...] = ("greedy", "mpc")
    policies: tuple[str, ...] = DEFAULT_POLICIES
    days: int = 10  # test days 0..days-1, each with its own failure draw
    seed: int = 0  # the failures' and the monitoring rows' seed
    interval_s: float = 5.0  # one monitoring interval (the data set's)
    failures_per_server_day: float = 4.0  # mean failures of one server over the scenario's day
    short: tuple[int, int] = (30, 100)  # failure lengths, intervals (95 %)
    long: tuple[int, int] = (500, 2000)  # (5 %)
    p_long: float = 0.05
    detect_intervals: int = 2  # a failure is seen after this many intervals down (the analyzer's raise_after)
    move_intervals: int = 3  # a VNF's move takes this long (state copy and re-steering)
    model: str = "honest"  # the shipped predictor the proactive policies run, or a .pt path

    def validate(self, source: str) -> SimConfig:
        def bad(item: str, msg: str) -> InputError:
            return InputError(source, item, msg)

        if not self.agents:
            raise bad("agents", "needs at least one agent")
        from placement.agents import NAMES

        for a in self.agents:
            if a not in NAMES or a.startswith("milp"):
                known = ", ".join(n for n in NAMES if not n.startswith("milp"))
                raise bad("agents", f"unknown agent '{a}' (known: {known})")
        if not self.policies:
            raise bad("policies", "needs at least one policy")
        for p in self.policies:
            try:
                Policy.parse(p)
            except ValueError as e:
                raise bad("policies", str(e)) from None
        if len(set(self.policies)) != len(self.policies):
            raise bad("policies", "lists a policy twice")
        if self.days < 1:
            raise bad("days", f"is {self.days}, must be >= 1")
        if not self.interval_s > 0:
            raise bad("interval_s", f"is {self.interval_s}, must be > 0")
        if not self.failures_per_server_day > 0:
            raise bad("failures_per_server_day", f"is {self.failures_per_server_day}, must be > 0")
        for name in ("short", "long"):
            lo, hi = getattr(self, name)
            if not 1 <= lo <= hi:
                raise bad(name, f"is [{lo}, {hi}], must be 1 <= low <= high intervals")
        if not 0.0 <= self.p_long <= 1.0:
            raise bad("p_long", f"is {self.p_long}, must be in [0, 1]")
        if self.detect_intervals < 1:
            raise bad("detect_intervals", f"is {self.detect_intervals}, must be >= 1")
        if self.move_intervals < 1:
            raise bad("move_intervals", f"is {self.move_intervals}, must be >= 1")
        if self.model not in MODELS and not self.model.endswith(".pt"):
            raise bad("model", f"'{self.model}' is neither {' nor '.join(MODELS)} nor a .pt file")
        return self

    def model_path(self) -> Path:
        from .api import MODELS as DIR

        return DIR / f"{self.model}.pt" if self.model in MODELS else Path(self.model)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


_KINDS: dict[str, type] = {"scenario": str, "agents": list, "policies": list, "days": int, "seed": int,
    "interval_s": float, "failures_per_server_day": float, "short": list, "long": list, "p_long": float,
    "detect_intervals": int, "move_intervals": int, "model": str}  # fmt: skip


def parse_sim(data: Any, source: str) -> SimConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(source, "top level", "must be a mapping")
    kw: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _KINDS:
            raise InputError(source, str(key), f"unknown key (known: {', '.join(_KINDS)})")
        kind = _KINDS[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InputError(
                source, key, f"'{value}' is not {'a number' if kind is float else kind.__name__}"
            )
        if key in ("short", "long"):
            if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise InputError(source, key, f"{value} must be [low, high] in whole intervals")
            value = (value[0], value[1])
        elif kind is list:
            if not all(isinstance(v, str) for v in value):
                raise InputError(source, key, f"{value} must be a list of names")
            value = tuple(value)
        kw[key] = value
    assert {f.name for f in fields(SimConfig)} == set(_KINDS)
    return SimConfig(**kw).validate(source)


def load_sim(path: Path | None) -> SimConfig:
    """A run file, or the shipped default (prediction/data/simulate.yaml)."""
    return parse_sim(*read_yaml(path, "data/simulate.yaml"))
