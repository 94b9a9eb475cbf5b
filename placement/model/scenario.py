"""Scenarios: every parameter of model.md, as YAML, validated with clear errors.

A scenario is a recipe, not data: with its seed it regenerates the substrate,
the VNF catalogue and every day of the training and test sets.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from topologies import InputError, SubstrateRanges, read_yaml

Range = tuple[float, float]


@dataclass(frozen=True)
class TopologySpec:
    """Which structure: the paper's tree, a k-ary fat-tree, or a topology YAML file."""

    builder: str = "paper"  # paper | fattree | file
    k: int = 4
    servers_per_edge: int | None = None  # None: 3 for the paper tree, k/2 for fat-trees
    file: str | None = None


@dataclass(frozen=True)
class VnfSpec:
    """VNF catalogue: drawn from ranges, one row per type."""

    types: int = 4
    instances_per_type: int = 2
    switch_mb: Range = (5.0, 200.0)  # match-action entries on a switch; = programming traffic P_v
    server_mb: Range = (5.0, 200.0)  # VM/state size on a server; moved on migration
    server_capacity_mbps: Range = (200.0, 1000.0)
    switch_capacity_mbps: Range = (100_000.0, 100_000.0)
    server_ms_per_mb: Range = (0.5, 2.0)
    switch_ms_per_mb: Range = (0.001, 0.01)
    rdma_accesses: tuple[int, int] = (1, 4)
    rdma_table_share: float = 0.1  # share of an EM-hosted VNF cached in the switch's RDMA table
    # RDMA lookups per MB of traffic (1: the paper's per-unit model; ~667 for
    # 1500-byte packets, one lookup each) and the share the LM cache answers
    # without going to EM (TEA's cache). Per-MB EM delay:
    #   LM delay + lookups_per_mb * (1 - rdma_hit_ratio) * n_v * RDMA access time.
    lookups_per_mb: float = 1.0
    rdma_hit_ratio: float = 0.0


@dataclass(frozen=True)
class Phase:
    rate_mbps: Range
    deadline_ms: Range


@dataclass(frozen=True)
class WorkloadSpec:
    chains: int = 90
    max_chain_length: int = 4
    start_hour: int = 10
    end_hour: int = 22
    interval_h: int = 2
    working_until: int = 16
    working: Phase = field(default_factory=lambda: Phase((10.0, 500.0), (5.0, 20.0)))
    evening: Phase = field(default_factory=lambda: Phase((0.05, 0.9), (20.0, 60.0)))
    # Diurnal shape: factor on each chain's phase rate per step hour; hours not listed get 1.
    shape: dict[int, float] = field(
        default_factory=lambda: {10: 0.75, 12: 1.0, 14: 0.9, 16: 1.0, 18: 0.8, 20: 0.6}
    )
    jitter: float = 0.1  # per-step multiplicative noise, uniform in [1-j, 1+j]
    # Where a day starts: `random` (a random feasible configuration per day, as the
    # paper draws one per episode) or `cheapest-server` (every instance on the
    # cheapest server that holds it).
    initial: str = "random"
    train_days: int = 1200
    test_days: int = 300


@dataclass(frozen=True)
class ObjectiveSpec:
    alpha_it: float = 1.0
    alpha_bw: float = 1.0
    alpha_rc: float = 1.0
    omega_ar: float = 1.0
    omega_cost: float = 0.5


@dataclass(frozen=True)
class Scenario:
    name: str = "paper"
    seed: int = 7
    topology: TopologySpec = field(default_factory=TopologySpec)
    substrate: SubstrateRanges = field(default_factory=SubstrateRanges)
    vnfs: VnfSpec = field(default_factory=VnfSpec)
    workload: WorkloadSpec = field(default_factory=WorkloadSpec)
    objective: ObjectiveSpec = field(default_factory=ObjectiveSpec)

    @property
    def hours(self) -> list[int]:
        w = self.workload
        return list(range(w.start_hour, w.end_hour, w.interval_h))


# ---------------------------------------------------------------- parsing


def _fail(source: str, item: str, msg: str) -> typing.NoReturn:
    raise InputError(source, item, msg)


def _scalar(v: Any, tp: Any, source: str, item: str) -> Any:
    if tp is bool:
        if not isinstance(v, bool):
            _fail(source, item, f"must be true or false, got {v!r}")
        return v
    if tp is str:
        if not isinstance(v, str):
            _fail(source, item, f"must be a string, got {v!r}")
        return v
    if isinstance(v, bool) or not isinstance(v, int | float):
        _fail(source, item, f"must be a number, got {v!r}")
    if isinstance(v, float) and (math.isnan(v) or v == -math.inf):  # not "above" anything (+inf is)
        _fail(source, item, f"must be a finite number >= 0, got {v!r}")
    if abs(v) > MAX_NUMBER:  # also keeps huge integers from overflowing float()
        _fail(source, item, f"is out of range (above {MAX_NUMBER:g})")
    if tp is int:
        if isinstance(v, float) and not v.is_integer():
            _fail(source, item, f"must be a whole number, got {v!r}")
        v = int(v)
    if not math.isfinite(v) or v < 0:
        _fail(source, item, f"must be a finite number >= 0, got {v!r}")
    return tp(v)


def _value(v: Any, tp: Any, source: str, item: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if v is None and type(None) in typing.get_args(tp):
            return None
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _value(v, inner, source, item)
    if dataclasses.is_dataclass(tp):
        return _section(v, tp, source, item)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(v, list | tuple) or len(v) != len(args):
            _fail(source, item, f"must be a range [low, high], got {v!r}")
        lo, hi = (_scalar(x, a, source, item) for x, a in zip(v, args, strict=True))
        if lo > hi:
            _fail(source, item, f"low {lo} is above high {hi}")
        return (lo, hi)
    if origin is dict:
        kt, vt = typing.get_args(tp)
        if not isinstance(v, dict):
            _fail(source, item, f"must be a mapping, got {v!r}")
        if len(v) > MAX_ENTRIES:
            _fail(source, item, f"has more than {MAX_ENTRIES} entries")
        return {
            _scalar(k, kt, source, f"{item}.{k}"): _scalar(x, vt, source, f"{item}.{k}") for k, x in v.items()
        }
    return _scalar(v, tp, source, item)


def _section(data: Any, cls: type, source: str, item: str) -> Any:
    if not isinstance(data, dict):
        _fail(source, item, f"must be a mapping, got {data!r}")
    bad_keys = [k for k in data if not isinstance(k, str)]
    if bad_keys:
        _fail(source, item or "scenario", f"keys must be strings, found {bad_keys[0]!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        _fail(source, item or "scenario", f"unknown keys {unknown}; known: {sorted(names)}")
    kwargs = {k: _value(v, hints[k], source, f"{item}.{k}" if item else k) for k, v in data.items()}
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]  # fmt: skip
    missing = [k for k in required if k not in kwargs]
    if missing:  # a section given in part: name what it lacks (not a TypeError from its class)
        _fail(source, item or "scenario", f"missing keys {missing}; it needs {required}")
    return cls(**kwargs)


MAX_NUMBER = 1e15  # any scenario number: beyond it the model's float arithmetic overflows
MAX_ENTRIES = 1000  # entries of a mapping such as workload.shape
# What one machine can simulate in reasonable time and memory (a clear limit, not a crash later).
LIMITS = {
    "topology.k": 32, "topology.servers_per_edge": 256, "vnfs.types": 256, "vnfs.instances_per_type": 64,
    "workload.chains": 100_000, "workload.train_days": 1_000_000, "workload.test_days": 1_000_000,
    "vnfs.rdma_accesses": 1000, "seed": 2**32 - 1,
}  # fmt: skip


def _limits(s: Scenario, source: str) -> None:
    values = {
        "topology.k": s.topology.k, "topology.servers_per_edge": s.topology.servers_per_edge or 0,
        "vnfs.types": s.vnfs.types, "vnfs.instances_per_type": s.vnfs.instances_per_type,
        "workload.chains": s.workload.chains, "workload.train_days": s.workload.train_days,
        "workload.test_days": s.workload.test_days, "vnfs.rdma_accesses": s.vnfs.rdma_accesses[1],
        "seed": s.seed,
    }  # fmt: skip
    for item, v in values.items():
        if v > LIMITS[item]:
            _fail(source, item, f"{v} is more than srem can simulate (at most {LIMITS[item]})")
    if s.vnfs.types * s.vnfs.instances_per_type > 4096:
        _fail(source, "vnfs", "more than 4096 VNF instances in all cannot be simulated")
    sub = s.substrate
    for name in ("server_storage_gb", "lm_mb", "em_gb", "rt_mb", "link_gbps"):
        r = getattr(sub, name)
        if r is not None and r[0] <= 0:  # capacities divide later: zero is refused here
            _fail(source, f"substrate.{name}", f"capacities must be > 0, got {r[0]}")
    for name in ("switch_mb", "server_mb"):
        if getattr(s.vnfs, name)[0] <= 0:
            _fail(source, f"vnfs.{name}", "sizes must be > 0")


def _check(s: Scenario, source: str) -> None:
    """Cross-field rules that types alone cannot say."""
    _limits(s, source)
    t, v, w = s.topology, s.vnfs, s.workload
    if t.builder not in ("paper", "fattree", "file"):
        _fail(source, "topology.builder", f"must be paper, fattree or file, got {t.builder!r}")
    if t.builder == "fattree" and (t.k < 2 or t.k % 2):
        _fail(source, "topology.k", f"a fat-tree needs an even k >= 2, got {t.k}")
    if t.builder == "file" and not t.file:
        _fail(source, "topology.file", "builder 'file' needs a file path")
    if v.types < 1 or v.instances_per_type < 1:
        _fail(source, "vnfs", "needs at least one type and one instance per type")
    if min(v.switch_mb[0], v.server_mb[0], v.server_capacity_mbps[0], v.switch_capacity_mbps[0]) <= 0:
        _fail(source, "vnfs", "sizes and capacities must be > 0")
    if v.rdma_accesses[0] < 1:
        _fail(source, "vnfs.rdma_accesses", "a lookup in EM needs at least one RDMA access")
    if not 0 <= v.rdma_table_share <= 1:
        _fail(source, "vnfs.rdma_table_share", f"must be in [0, 1], got {v.rdma_table_share}")
    if not 0 <= v.rdma_hit_ratio <= 1:
        _fail(source, "vnfs.rdma_hit_ratio", f"must be in [0, 1], got {v.rdma_hit_ratio}")
    if w.initial not in ("random", "cheapest-server"):
        _fail(source, "workload.initial", f"must be random or cheapest-server, got {w.initial!r}")
    if w.chains < 1:
        _fail(source, "workload.chains", "needs at least one chain")
    if not 1 <= w.max_chain_length <= v.types:
        _fail(source, "workload.max_chain_length", f"must be in [1, {v.types}] (chains use distinct types)")
    if w.interval_h < 1 or not 0 <= w.start_hour < w.end_hour <= 24:
        _fail(source, "workload", "needs 0 <= start_hour < end_hour <= 24 and interval_h >= 1")
    if w.jitter >= 1:
        _fail(source, "workload.jitter", "must be below 1")
    if w.train_days < 1 or w.test_days < 1:
        _fail(source, "workload", "needs at least one training and one test day")
    for name in ("working", "evening"):
        ph: Phase = getattr(w, name)
        if ph.rate_mbps[0] <= 0 or ph.deadline_ms[0] <= 0:
            _fail(source, f"workload.{name}", "rates and deadlines must be > 0")
    if s.substrate.controller_gbps <= 0:
        _fail(source, "substrate.controller_gbps", "must be > 0")


def from_dict(data: Any, source: str = "<scenario>") -> Scenario:
    if data is None:
        data = {}
    s = _section(data, Scenario, source, "")
    _check(s, source)
    return s


BUNDLED = Path(__file__).resolve().parent.parent / "data"


def bundled() -> list[str]:
    """Names of the scenarios shipped with srem (`--scenario NAME`)."""
    return sorted(p.stem for p in BUNDLED.glob("*.yaml"))


def load(path: str | Path) -> Scenario:
    """A scenario file, or the name of a bundled one (paper, fattree-k8, ...)."""
    p = Path(path)
    if not p.exists() and (BUNDLED / f"{p}.yaml").exists():
        p = BUNDLED / f"{p}.yaml"
    data = read_yaml(p)
    if isinstance(data, dict) and "name" not in data:
        data = {**data, "name": p.stem}  # a scenario is known by its file unless it says otherwise
    s = from_dict(data, str(p))
    if s.topology.builder == "file" and s.topology.file and not Path(s.topology.file).is_absolute():
        # A topology file is found beside the scenario that names it.
        s = dataclasses.replace(
            s, topology=dataclasses.replace(s.topology, file=str(p.parent / s.topology.file))
        )
    return s


def _plain(v: Any) -> Any:
    if dataclasses.is_dataclass(v):
        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def to_dict(s: Scenario) -> dict[str, Any]:
    return _plain(s)


def dump(s: Scenario) -> str:
    return yaml.safe_dump(to_dict(s), sort_keys=False, default_flow_style=None)


def fingerprint(s: Scenario, with_seed: bool = True) -> str:
    """A short hash of everything that shapes the problem: substrate, catalogue,
    workload and objective (and the topology file's content). The name is left
    out; without the seed it names the family of scenarios drawn from the same
    ranges, which a policy trained on a distribution of seeds covers."""
    d = to_dict(s)
    d.pop("name")
    if not with_seed:
        d.pop("seed")
    if s.topology.builder == "file" and s.topology.file and Path(s.topology.file).exists():
        d["topology"]["file"] = Path(s.topology.file).read_text()
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def default() -> Scenario:
    """The embedded default: the paper's scenario."""
    return Scenario()
