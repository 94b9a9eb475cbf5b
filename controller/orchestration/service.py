"""The orchestrated service on a fabric: which stateful NF the loop scales and moves, on
which servers its instances may run, which flows take it, and (for an emulated day) the
traffic those flows carry step by step, surges included. One YAML beside the
`orchestration:` block of config.py:

    service:
      nf: {id: 200, kind: snat, inside: 10.1.0.0/16, public: 10.250.0.1, ports: [40000, 47999]}
      src: srv_edge0_0_0          # the flows' sending server (its edge switch classifies and steers)
      dst: srv_edge1_1_0          # their receiving server
      dport: 9500                 # the service's UDP port: src -> dst:dport takes the service
      slots: [srv_edge0_1_0, srv_edge1_0_0, srv_edge0_0_1]   # servers an instance may run on
      start: 1                    # instances running from the start (the first slots)
      spi_base: 4000              # slot k is reached by service path spi_base + k
    traffic:                      # srem run --emulate only; srem control leaves traffic to you
      flows: 8                    # flow k: src:sport+k -> dst:dport
      sport: 20000
      pps: 15                     # per flow, every step...
      surges:                     # ...unless a surge says otherwise (injected overloads)
        - {steps: [1], pps: 40}                 # every flow
        - {steps: [3], flows: [0, 1, 2, 3], pps: 60}

A snat's port range is split evenly over the slots (two instances never allocate one
port; a moved mapping keeps its port). Anything wrong is a ConfigError naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from controller.orchestration.config import ConfigError, OrchestrationConfig, _num, _section
from controller.orchestration.config import parse as parse_config
from nfs.stateful import STATEFUL_KINDS, StateError, make_stateful
from topologies import InputError


@dataclass(frozen=True)
class Surge:
    steps: tuple[int, ...]
    pps: float
    flows: tuple[int, ...] | None = None  # None: every flow


@dataclass(frozen=True)
class Traffic:
    flows: int = 8
    sport: int = 20000
    pps: float = 15.0
    surges: tuple[Surge, ...] = ()

    def rates(self, step: int) -> list[float]:
        """Packets/s of every flow at a step (a later surge overrides an earlier one)."""
        out = [self.pps] * self.flows
        for s in self.surges:
            if step in s.steps:
                for k in s.flows if s.flows is not None else range(self.flows):
                    out[k] = s.pps
        return out


@dataclass(frozen=True)
class Service:
    nf: dict
    src: str
    dst: str
    dport: int = 9500
    slots: tuple[str, ...] = ()
    start: int = 1
    spi_base: int = 4000
    traffic: Traffic = field(default_factory=Traffic)

    def spi(self, slot: str) -> int:
        return self.spi_base + self.slots.index(slot)

    def slot_nf(self, slot: str) -> dict:
        """The NF's config on one slot: a snat gets its own share of the port range."""
        if self.nf["kind"] != "snat":
            return dict(self.nf)
        lo, hi = self.nf["ports"]
        n, k = len(self.slots), self.slots.index(slot)
        size = (hi - lo + 1) // n
        return {**self.nf, "ports": [lo + k * size, lo + (k + 1) * size - 1]}

    def check_servers(self, servers: Any) -> None:
        """Every server the service names exists on the fabric."""
        for where, name in (("src", self.src), ("dst", self.dst), *(("slots", s) for s in self.slots)):
            if name not in servers:
                raise ConfigError(f"service.{where}: {name!r} is not a server of the fabric "
                                  f"(servers: {', '.join(sorted(servers))})")  # fmt: skip


def _ints(v: Any, where: str, lo: int, hi: int) -> tuple[int, ...]:
    if not isinstance(v, list) or not v:
        raise ConfigError(f"{where}: expected a non-empty list of integers")
    return tuple(int(_num(x, f"{where}[{k}]", lo, hi, True)) for k, x in enumerate(v))


def parse(d: Any, where: str = "") -> Service:
    """The service: and traffic: blocks of an orchestration YAML (the orchestration: block
    is config.parse's)."""
    if not isinstance(d, dict) or not isinstance(d.get("service"), dict):
        raise ConfigError(f"{where}service: missing (the orchestrated NF: nf, src, dst, slots)")
    s = _section(d, "service", where, ("nf", "src", "dst", "dport", "slots", "start", "spi_base"), sep="")
    w = f"{where}service"
    for k in ("nf", "src", "dst", "slots"):
        if k not in s:
            raise ConfigError(f"{w}.{k}: missing")
    nf = s["nf"]
    if not isinstance(nf, dict) or nf.get("kind") not in STATEFUL_KINDS:
        raise ConfigError(f"{w}.nf: a stateful NF, kind one of {', '.join(STATEFUL_KINDS)}")
    if nf["kind"] == "snat" and "ports" not in nf:
        nf = {**nf, "ports": [40000, 47999]}
    try:
        make_stateful(nf, b"\0" * 6, f"{w}.nf")
    except StateError as e:
        raise ConfigError(str(e)) from None
    slots = s["slots"]
    if not isinstance(slots, list) or not slots or not all(isinstance(x, str) for x in slots):
        raise ConfigError(f"{w}.slots: a non-empty list of server names")
    if len(set(slots)) != len(slots):
        raise ConfigError(f"{w}.slots: a server is named twice (one instance per server)")
    if nf["kind"] == "snat" and nf["ports"][1] - nf["ports"][0] + 1 < len(slots):
        raise ConfigError(f"{w}.nf.ports: fewer ports than slots")
    for k in ("src", "dst"):
        if not isinstance(s[k], str):
            raise ConfigError(f"{w}.{k}: a server name")
    t = _section(d, "traffic", where, ("flows", "sport", "pps", "surges"), sep="")
    tw = f"{where}traffic"
    n = int(_num(t.get("flows", 8), f"{tw}.flows", 1, 1000, True))
    sport = int(_num(t.get("sport", 20000), f"{tw}.sport", 1024, 65535 - n, True))
    surges = []
    raw = t.get("surges") or []
    if not isinstance(raw, list):
        raise ConfigError(f"{tw}.surges: a list of {{steps, pps, flows}}")
    for k, g in enumerate(raw):
        gw = f"{tw}.surges[{k}]"
        if not isinstance(g, dict) or not {"steps", "pps"} <= set(g) or set(g) - {"steps", "pps", "flows"}:
            raise ConfigError(f"{gw}: a mapping of steps, pps and (optional) flows")
        flows = _ints(g["flows"], f"{gw}.flows", 0, n - 1) if "flows" in g else None
        surges.append(Surge(_ints(g["steps"], f"{gw}.steps", 0, 1000), float(_num(g["pps"], f"{gw}.pps", 0, 1e5)),
                            flows))  # fmt: skip
    return Service(
        nf=dict(nf), src=s["src"], dst=s["dst"],
        dport=int(_num(s.get("dport", 9500), f"{w}.dport", 1, 65535, True)),
        slots=tuple(slots),
        start=int(_num(s.get("start", 1), f"{w}.start", 1, len(slots), True)),
        spi_base=int(_num(s.get("spi_base", 4000), f"{w}.spi_base", 1, (1 << 24) - 1 - len(slots), True)),
        traffic=Traffic(n, sport, float(_num(t.get("pps", 15.0), f"{tw}.pps", 0, 1e5)), tuple(surges)),
    )  # fmt: skip


def load(path: str | Path) -> tuple[OrchestrationConfig, Service]:
    """The loop's settings (the orchestration: block, defaults where absent) and the service."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with orchestration:, service: and traffic:")
    extra = sorted(set(data) - {"orchestration", "service", "traffic"})
    if extra:
        raise ConfigError(f"{path}: unknown field {extra[0]!r} (fields: orchestration, service, traffic)")
    try:
        cfg = parse_config(data.get("orchestration") or {})
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return cfg, parse(data, f"{path}: ")


def load_for_fabric(path: Path, servers: Any, n_chains: int) -> tuple[OrchestrationConfig, Service]:
    """`--orchestration PATH` checked against the fabric's servers and its chains' SPIs, for
    `srem control` and `srem run --emulate` alike; anything wrong is one InputError line."""
    try:
        cfg, svc = load(path)
        svc.check_servers(servers)
    except ConfigError as e:
        raise InputError("--orchestration", str(path), str(e).removeprefix(f"{path}: ")) from None
    if svc.spi_base <= n_chains:
        raise InputError("--orchestration", str(path), f"service.spi_base: {svc.spi_base} is a chain's SPI "
                         f"(chains take 1..{n_chains}); pick one above")  # fmt: skip
    return cfg, svc
