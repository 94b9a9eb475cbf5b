"""Problems as YAML: load, validate (one-line errors naming what is wrong), save.

    name: my-problem
    scenario: scale-out            # scale-out | scale-in | balance
    thresholds: {high: 0.6, low: 0.1, var: 0.01}
    costs: {beta: 1, delta: 50, resource: 200, omega: 1000, omega_balance: 1000}
    network: {bandwidth_mbps: 1000, same_server_ms: 0.05, same_rack_ms: 0.2, cross_rack_ms: 0.6}
    racks: {s0: r0, s1: r0}        # server → rack (optional)
    instances:
      - {name: nf0, server: s0, capacity_mbps: 1000, buffer_mb: 2, queue_mb: 0.1, proc_ms: 0.5}
      - {name: spare0, server: s1, capacity_mbps: 1000, buffer_mb: 2, active: false}
    flows:                         # or flows_csv: FILE, or flows_pcap: FILE (relative to this file)
      - {name: f0, instance: nf0, rate_mbps: 700, size_mb: 0.1, sla_ms: 5}

or, instead of instances and flows, a generated one:

    generate: {scenario: scale-out, instances: 10, hot: 4, threshold: 0.6, flows_per_instance: 40, seed: 1}
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from migration import workload
from migration.model import SCENARIOS, Costs, Flow, Instance, Network, Problem, Thresholds
from topologies.errors import InputError

TOP_KEYS = {"name", "scenario", "thresholds", "costs", "network", "racks", "instances", "flows", "flows_csv",
            "flows_pcap", "generate"}  # fmt: skip


def _section(src: str, doc: dict, key: str, cls: type) -> Any:
    raw = doc.get(key) or {}
    if not isinstance(raw, dict):
        raise InputError(src, key, "must be a mapping")
    names = {f.name for f in dataclasses.fields(cls)}
    for k, v in raw.items():
        if k not in names:
            raise InputError(src, f"{key}.{k}", f"unknown key (known: {', '.join(sorted(names))})")
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise InputError(src, f"{key}.{k}", f"must be a number, not {v!r}")
        if v < 0:
            raise InputError(src, f"{key}.{k}", "must be ≥ 0")
    return cls(**{k: float(v) for k, v in raw.items()})


def _number(
    src: str, item: str, row: dict, key: str, default: float | None = None, positive: bool = False
) -> float:
    v = row.get(key, default)
    if v is None:
        raise InputError(src, item, f"missing '{key}'")
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise InputError(src, item, f"'{key}' must be a number, not {v!r}")
    if v < 0 or (positive and v == 0):
        raise InputError(src, item, f"'{key}' must be {'> 0' if positive else '≥ 0'}")
    return float(v)


def parse(doc: Any, src: str = "problem", base: Path | None = None) -> Problem:
    if not isinstance(doc, dict):
        raise InputError(src, "file", "must be a YAML mapping")
    for k in doc:
        if k not in TOP_KEYS:
            raise InputError(src, str(k), f"unknown key (known: {', '.join(sorted(TOP_KEYS))})")
    if "generate" in doc:
        return _generated(src, doc)
    scenario = doc.get("scenario")
    if scenario not in SCENARIOS:
        raise InputError(src, "scenario", f"must be one of {', '.join(SCENARIOS)}, not {scenario!r}")
    th = _section(src, doc, "thresholds", Thresholds)
    if not 0 <= th.low < th.high:
        raise InputError(src, "thresholds", "need 0 ≤ low < high")
    costs = _section(src, doc, "costs", Costs)
    net = _section(src, doc, "network", Network)
    if net.bandwidth_mbps <= 0:
        raise InputError(src, "network.bandwidth_mbps", "must be > 0")
    racks = doc.get("racks") or {}
    if not isinstance(racks, dict):
        raise InputError(src, "racks", "must map server → rack")
    rows = doc.get("instances")
    if not isinstance(rows, list) or not rows:
        raise InputError(src, "instances", "must be a non-empty list")
    instances: list[Instance] = []
    for k, row in enumerate(rows):
        item = f"instances[{k}]"
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            raise InputError(src, item, "must be a mapping with a 'name'")
        extra = set(row) - {f.name for f in dataclasses.fields(Instance)}
        if extra:
            raise InputError(src, item, f"unknown key '{sorted(extra)[0]}'")
        if any(i.name == row["name"] for i in instances):
            raise InputError(src, item, f"duplicate instance name '{row['name']}'")
        instances.append(
            Instance(
                name=row["name"],
                server=str(row.get("server", row["name"])),
                capacity_mbps=_number(src, item, row, "capacity_mbps", positive=True),
                buffer_mb=_number(src, item, row, "buffer_mb"),
                queue_mb=_number(src, item, row, "queue_mb", 0.0),
                proc_ms=_number(src, item, row, "proc_ms", 0.5),
                active=bool(row.get("active", True)),
            )
        )
    names = [i.name for i in instances]
    flows = _flows(src, doc, names, instances, base)
    for f in flows:
        if not instances[f.instance].active:
            raise InputError(src, f"flow {f.name}", f"sits on '{names[f.instance]}', which is not active")
    return Problem(scenario, tuple(instances), tuple(flows), {str(k): str(v) for k, v in racks.items()}, net, costs,
                   th, str(doc.get("name", Path(src).stem)))  # fmt: skip


def _flows(src: str, doc: dict, names: list[str], instances: list[Instance], base: Path | None) -> list[Flow]:
    given = [k for k in ("flows", "flows_csv", "flows_pcap") if k in doc]
    if len(given) != 1:
        raise InputError(src, "flows", "give exactly one of flows, flows_csv, flows_pcap")
    here = base or Path(".")
    if given[0] == "flows_csv":
        return workload.flows_from_csv(here / str(doc["flows_csv"]), names)
    if given[0] == "flows_pcap":
        act = [k for k, i in enumerate(instances) if i.active]
        fl = workload.flows_from_pcap(here / str(doc["flows_pcap"]), [names[k] for k in act])
        return [dataclasses.replace(f, instance=act[f.instance]) for f in fl]
    rows = doc["flows"]
    if not isinstance(rows, list) or not rows:
        raise InputError(src, "flows", "must be a non-empty list")
    index = {n: k for k, n in enumerate(names)}
    out = []
    for k, row in enumerate(rows):
        item = f"flows[{k}]"
        if not isinstance(row, dict):
            raise InputError(src, item, "must be a mapping")
        if row.get("instance") not in index:
            raise InputError(src, item, f"unknown instance {row.get('instance')!r}")
        out.append(
            Flow(
                name=str(row.get("name", f"f{k}")),
                instance=index[row["instance"]],
                rate_mbps=_number(src, item, row, "rate_mbps", positive=True),
                size_mb=_number(src, item, row, "size_mb"),
                sla_ms=_number(src, item, row, "sla_ms", positive=True),
            )
        )
    return out


def _generated(src: str, doc: dict) -> Problem:
    g = doc["generate"]
    if not isinstance(g, dict):
        raise InputError(src, "generate", "must be a mapping")
    known = {"scenario", "instances", "hot", "threshold", "flows_per_instance", "seed"}
    for k in g:
        if k not in known:
            raise InputError(src, f"generate.{k}", f"unknown key (known: {', '.join(sorted(known))})")
    scenario = g.get("scenario")
    if scenario not in SCENARIOS:
        raise InputError(src, "generate.scenario", f"must be one of {', '.join(SCENARIOS)}, not {scenario!r}")
    ints = {}
    for k, default, lo in (
        ("instances", 10, 2),
        ("hot", 1, 0),
        ("flows_per_instance", 40, 1),
        ("seed", 0, 0),
    ):
        v = g.get(k, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise InputError(src, f"generate.{k}", f"must be an integer ≥ {lo}, not {v!r}")
        ints[k] = v
    if scenario != "balance" and not 1 <= ints["hot"] <= ints["instances"]:
        raise InputError(src, "generate.hot", f"must be in 1..{ints['instances']}")
    th = g.get("threshold", 0.6 if scenario == "scale-out" else 0.1)
    if isinstance(th, bool) or not isinstance(th, int | float) or not 0 < th < 1:
        raise InputError(src, "generate.threshold", f"must be a number in (0, 1), not {th!r}")
    return workload.generate(scenario, ints["instances"], ints["hot"], float(th), ints["flows_per_instance"],
                             ints["seed"])  # fmt: skip


def load(path: Path | str) -> Problem:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise InputError(str(path), "file", e.strerror or str(e)) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "YAML"
        raise InputError(
            str(path), where, f"not valid YAML ({getattr(e, 'problem', None) or 'syntax error'})"
        ) from None
    return parse(doc, str(path), path.parent)


def dump(p: Problem) -> dict:
    """The problem as a YAML-ready mapping (generated problems saved for others to reuse)."""
    names = [i.name for i in p.instances]
    return {
        "name": p.name,
        "scenario": p.scenario,
        "thresholds": dataclasses.asdict(p.thresholds),
        "costs": dataclasses.asdict(p.costs),
        "network": dataclasses.asdict(p.network),
        "racks": dict(p.racks),
        "instances": [dataclasses.asdict(i) for i in p.instances],
        "flows": [
            {
                "name": f.name,
                "instance": names[f.instance],
                "rate_mbps": round(f.rate_mbps, 6),
                "size_mb": round(f.size_mb, 6),
                "sla_ms": f.sla_ms,
            }
            for f in p.flows
        ],
    }
