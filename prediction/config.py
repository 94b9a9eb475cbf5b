"""Protocols (how windows, labels and splits are made) and evaluation runs, as validated YAML."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from topologies import InputError

from .data import FEATURES, INJECTOR

TARGETS = ("state", "onset")


@dataclass(frozen=True)
class Protocol:
    """How a series becomes labelled windows and a train/test split.

    A window ending at record t holds records t-window+1 .. t and is scored at the end of t.
    target "state": label = record t+horizon is failed (the authors: horizon 1, "label at time T").
    target "onset": label = a failure starts in t+1 .. t+horizon; windows ending inside a
    failure are left out (the server is already down: a prediction can no longer act).
    """

    name: str
    window: int = 60
    horizon: int = 1
    target: str = "state"
    features: tuple[str, ...] = FEATURES
    test_fraction: float = 0.2
    # The authors' script refits the min-max scaler on the test part (it sees the test's range).
    rescale_test: bool = False

    def validate(self, source: str = "protocol") -> Protocol:
        item = f"protocols.{self.name}"
        if self.window < 1:
            raise InputError(source, f"{item}.window", f"is {self.window}, must be >= 1")
        if self.horizon < 1:
            raise InputError(source, f"{item}.horizon", f"is {self.horizon}, must be >= 1")
        if self.target not in TARGETS:
            raise InputError(
                source, f"{item}.target", f"is '{self.target}', must be one of {', '.join(TARGETS)}"
            )
        if not 0.0 < self.test_fraction < 1.0:
            raise InputError(source, f"{item}.test_fraction", f"is {self.test_fraction}, must be in (0, 1)")
        known = (*FEATURES, INJECTOR)
        if not self.features:
            raise InputError(source, f"{item}.features", "needs at least one feature")
        for f in self.features:
            if f not in known:
                raise InputError(
                    source, f"{item}.features", f"unknown feature '{f}' (known: {', '.join(known)})"
                )
        if len(set(self.features)) != len(self.features):
            raise InputError(source, f"{item}.features", "lists a feature twice")
        return self

    @property
    def uses_injector(self) -> bool:
        return INJECTOR in self.features


# The authors' script (syjeong96/vEPC_failure_prediction, train_test_split.py): columns
# 0, 2, 3, 4, 5 as features (the injector's column included), time-ordered 80/20 split,
# windows of the 60 records before T labelled with record T's state, min-max scaling fitted
# on the training part and fitted again on the test part.
AUTHORS = Protocol("authors", 60, 1, "state", (INJECTOR, *FEATURES), 0.2, rescale_test=True)
# Honest: only what a monitor sees; warn 12 intervals (~1 min) ahead of the failure's start.
HONEST = Protocol("honest", 60, 12, "onset", FEATURES, 0.2, rescale_test=False)
# The honest label with the injector's column still in: separates the two changes.
ONSET_INJECTOR = Protocol("onset+injector", 60, 12, "onset", (INJECTOR, *FEATURES), 0.2, rescale_test=False)
# Honest with psutil's features only (no vEPC log): what srem's host monitor can give today.
HONEST_PSUTIL = Protocol("honest-psutil", 60, 12, "onset", FEATURES[:3], 0.2, rescale_test=False)
BUILTIN = {p.name: p for p in (AUTHORS, ONSET_INJECTOR, HONEST, HONEST_PSUTIL)}


@dataclass(frozen=True)
class LstmConfig:
    """The authors' network (2 LSTM layers of 32, dropout 0.2), trained with Adam."""

    hidden: int = 32
    layers: int = 2
    dropout: float = 0.2
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3

    def validate(self, source: str) -> LstmConfig:
        for name in ("hidden", "layers", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise InputError(source, f"lstm.{name}", f"is {getattr(self, name)}, must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(source, "lstm.dropout", f"is {self.dropout}, must be in [0, 1)")
        if not self.lr > 0:
            raise InputError(source, "lstm.lr", f"is {self.lr}, must be > 0")
        return self


@dataclass(frozen=True)
class RunConfig:
    """One evaluation: protocols x methods x training seeds on one data file."""

    protocols: tuple[Protocol, ...] = (AUTHORS, ONSET_INJECTOR, HONEST, HONEST_PSUTIL)
    seeds: tuple[int, ...] = (0, 1, 2)
    thresholds: tuple[float, ...] = (0.5, 0.7, 0.9)
    # An alarm counts as a warning of a failure only within this many intervals before it starts.
    lead_window: int = 60
    # Resamples of the test failures for PR-AUC's spread over instances (block bootstrap).
    bootstrap: int = 500
    lstm: LstmConfig = field(default_factory=LstmConfig)

    def validate(self, source: str) -> RunConfig:
        if not self.protocols:
            raise InputError(source, "protocols", "needs at least one protocol")
        for p in self.protocols:
            p.validate(source)
        if not self.seeds:
            raise InputError(source, "seeds", "needs at least one seed")
        for t in self.thresholds:
            if not 0.0 < t < 1.0:
                raise InputError(source, "thresholds", f"{t} is not in (0, 1)")
        if self.lead_window < 1:
            raise InputError(source, "lead_window", f"is {self.lead_window}, must be >= 1")
        if self.bootstrap < 2:
            raise InputError(source, "bootstrap", f"is {self.bootstrap}, must be >= 2")
        self.lstm.validate(source)
        return self

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["protocols"] = {p["name"]: {k: v for k, v in p.items() if k != "name"} for p in d.pop("protocols")}
        for p in d["protocols"].values():
            p["features"] = list(p["features"])
        d["seeds"], d["thresholds"] = list(self.seeds), list(self.thresholds)
        return d


def _typed(source: str, item: str, value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InputError(source, item, f"'{value}' is not {'a number' if kind is float else kind.__name__}")
    return value


def _protocol(source: str, name: str, spec: Any) -> Protocol:
    if spec is None:
        if name not in BUILTIN:
            raise InputError(
                source, f"protocols.{name}", f"is not built in ({', '.join(BUILTIN)}); give its fields"
            )
        return BUILTIN[name]
    if not isinstance(spec, dict):
        raise InputError(source, f"protocols.{name}", "must be a mapping of fields")
    base = BUILTIN.get(name, Protocol(name))
    kinds = {"window": int, "horizon": int, "target": str, "features": list, "test_fraction": float}
    kinds["rescale_test"] = bool
    values: dict[str, Any] = {}
    for key, value in spec.items():
        if key not in kinds:
            raise InputError(source, f"protocols.{name}.{key}", f"unknown field (known: {', '.join(kinds)})")
        values[key] = _typed(source, f"protocols.{name}.{key}", value, kinds[key])
    if "features" in values:
        values["features"] = tuple(str(f) for f in values["features"])
    return Protocol(**{**asdict(base), "name": name, **values})


def parse_run(data: Any, source: str) -> RunConfig:
    """A run from its YAML mapping; unknown keys and bad values are one-line errors."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(source, "top level", "must be a mapping")
    known = {f.name for f in fields(RunConfig)}
    for key in data:
        if key not in known:
            raise InputError(source, str(key), f"unknown key (known: {', '.join(sorted(known))})")
    kw: dict[str, Any] = {}
    if "protocols" in data:
        ps = data["protocols"]
        if isinstance(ps, list):
            ps = {str(n): None for n in ps}
        if not isinstance(ps, dict):
            raise InputError(source, "protocols", "must be a list of names or a mapping name -> fields")
        kw["protocols"] = tuple(_protocol(source, str(n), s) for n, s in ps.items())
    for key, kind in (("seeds", int), ("thresholds", float)):
        if key in data:
            if not isinstance(data[key], list):
                raise InputError(source, key, "must be a list")
            kw[key] = tuple(_typed(source, key, v, kind) for v in data[key])
    for key in ("lead_window", "bootstrap"):
        if key in data:
            kw[key] = _typed(source, key, data[key], int)
    if "lstm" in data:
        spec = data["lstm"]
        if not isinstance(spec, dict):
            raise InputError(source, "lstm", "must be a mapping")
        lk = {f.name: f.type for f in fields(LstmConfig)}
        lv = {}
        for key, value in spec.items():
            if key not in lk:
                raise InputError(source, f"lstm.{key}", f"unknown field (known: {', '.join(lk)})")
            lv[key] = _typed(source, f"lstm.{key}", value, float if lk[key] == "float" else int)
        kw["lstm"] = LstmConfig(**lv)
    return RunConfig(**kw).validate(source)


def read_yaml(path: Path | None, default: str) -> tuple[Any, str]:
    """A run file's data and its name for errors; `default` (under prediction/) when no path."""
    if path is None:
        text = resources.files("prediction").joinpath(default).read_text()
        source = f"prediction/{default}"
    else:
        try:
            text = path.read_text()
        except OSError as e:
            raise InputError("--config", str(path), f"cannot be read ({e.strerror})") from None
        source = str(path)
    try:
        return yaml.safe_load(text), source
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "YAML"
        raise InputError(source, where, f"is not valid YAML ({getattr(e, 'problem', None) or e})") from None


def load_run(path: Path | None) -> RunConfig:
    """A run file, or the shipped default (prediction/data/default.yaml)."""
    return parse_run(*read_yaml(path, "data/default.yaml"))
