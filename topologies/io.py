"""Topologies as YAML: save a drawn substrate, load and validate one.

Format (every number in srem's units: MB, Mbps, ms, cost per MB)::

    name: paper-fattree
    controller: {bw_mbps: 50000, cost_per_mb: 5.0e-05}
    switches:
      - {name: core0, role: core, lm_mb: 31.2, em_mb: 2100, rt_mb: 31.2,
         lm_cost_per_mb: 0.02, em_cost_per_mb: 0.004, rdma_us: 2.0}
    servers:
      - {name: srv0, storage_mb: 32000, cost_per_mb: 2.0e-05}
    links:
      - {a: core0, b: agg0_0, bw_mbps: 20000, cost_per_mb: 3.0e-05,
         prop_ms: 0.2, tx_ms_per_mb: 0.004}
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import networkx as nx
import yaml

from topologies.errors import InputError

SWITCH_FIELDS = ("lm_mb", "em_mb", "rt_mb", "lm_cost_per_mb", "em_cost_per_mb", "rdma_us")
SERVER_FIELDS = ("storage_mb", "cost_per_mb")
LINK_FIELDS = ("bw_mbps", "cost_per_mb", "prop_ms", "tx_ms_per_mb")
MAX_NUMBER = 1e15  # larger values overflow the model's float arithmetic (MB, Mbps, ms)
MAX_NODES = 20_000  # switches + servers a topology file may declare: more cannot be simulated here
MAX_LINKS = 200_000
# Capacities must be > 0; costs and delays may be 0.
POSITIVE = {"em_mb", "storage_mb", "bw_mbps", "lm_mb", "rt_mb"}


def to_dict(g: nx.Graph) -> dict[str, Any]:
    switches, servers = [], []
    for name, d in sorted(g.nodes(data=True)):
        if d["kind"] == "switch":
            row = {"name": name, "role": d.get("role", "switch")}
            row.update({f: float(d[f]) for f in SWITCH_FIELDS})
            switches.append(row)
        else:
            servers.append({"name": name, **{f: float(d[f]) for f in SERVER_FIELDS}})
    links = [
        {"a": a, "b": b, **{f: float(g.edges[a, b][f]) for f in LINK_FIELDS}}
        for a, b in sorted(tuple(sorted(e)) for e in g.edges)
    ]
    return {
        "name": g.graph.get("name", "topology"),
        "controller": {
            "bw_mbps": float(g.graph["controller_bw_mbps"]),
            "cost_per_mb": float(g.graph["controller_cost_per_mb"]),
        },
        "switches": switches,
        "servers": servers,
        "links": links,
    }


def save(g: nx.Graph, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(g), sort_keys=False))


def _number(source: str, item: str, row: dict[str, Any], field: str) -> float:
    if field not in row:
        raise InputError(source, item, f"missing field '{field}'")
    v = row[field]
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_NUMBER:
        raise InputError(source, item, f"'{field}' is out of range (above {MAX_NUMBER:g})")
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise InputError(source, item, f"'{field}' must be a finite number, got {v!r}")
    if v < 0 or (field in POSITIVE and v == 0):
        raise InputError(source, item, f"'{field}' must be {'> 0' if field in POSITIVE else '>= 0'}, got {v}")
    return float(v)


def _rows(source: str, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    rows = data.get(key)
    if not isinstance(rows, list) or not rows:
        raise InputError(source, key, "must be a non-empty list")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InputError(source, f"{key}[{i}]", "must be a mapping")
        if any(not isinstance(k, str) for k in row):
            raise InputError(source, f"{key}[{i}]", "keys must be strings")
    return rows


def from_dict(data: Any, source: str = "<topology>") -> nx.Graph:
    """Build and validate a topology; every error names the item and the problem."""
    if not isinstance(data, dict):
        raise InputError(source, "topology", "must be a mapping with switches, servers and links")
    bad_keys = [k for k in data if not isinstance(k, str)]
    if bad_keys:
        raise InputError(source, "topology", f"keys must be strings, found {bad_keys[0]!r}")
    unknown = set(data) - {"name", "controller", "switches", "servers", "links"}
    if unknown:
        raise InputError(source, "topology", f"unknown keys {sorted(unknown)}")
    n_nodes = sum(len(data.get(k) or []) for k in ("switches", "servers") if isinstance(data.get(k), list))
    if n_nodes > MAX_NODES:
        raise InputError(source, "topology", f"{n_nodes} nodes: more than the {MAX_NODES} srem can simulate")
    if isinstance(data.get("links"), list) and len(data["links"]) > MAX_LINKS:
        raise InputError(source, "links", f"{len(data['links'])} links: more than the {MAX_LINKS} allowed")
    g = nx.Graph(name=str(data.get("name", Path(source).stem)))
    ctrl = data.get("controller")
    if not isinstance(ctrl, dict):
        raise InputError(source, "controller", "must be a mapping with bw_mbps and cost_per_mb")
    g.graph["controller_bw_mbps"] = _number(source, "controller", ctrl, "bw_mbps")
    g.graph["controller_cost_per_mb"] = _number(source, "controller", ctrl, "cost_per_mb")
    if g.graph["controller_bw_mbps"] == 0:
        raise InputError(source, "controller", "'bw_mbps' must be > 0")
    for key, kind, fields in (("switches", "switch", SWITCH_FIELDS), ("servers", "server", SERVER_FIELDS)):
        for i, row in enumerate(_rows(source, data, key)):
            name = row.get("name")
            item = f"{key}[{i}]" + (f" ({name})" if name else "")
            if not isinstance(name, str) or not name:
                raise InputError(source, item, "needs a non-empty string 'name'")
            if name in g:
                raise InputError(source, item, f"duplicate node name '{name}'")
            attrs = {f: _number(source, item, row, f) for f in fields}
            extra = set(row) - set(fields) - {"name", "role"}
            if extra:
                raise InputError(source, item, f"unknown fields {sorted(extra)}")
            g.add_node(name, kind=kind, role=row.get("role", kind), pod=None, **attrs)
    for i, row in enumerate(_rows(source, data, "links")):
        a, b = row.get("a"), row.get("b")
        item = f"links[{i}] ({a}-{b})"
        for end in (a, b):
            if not isinstance(end, str) or end not in g:
                raise InputError(source, item, f"unknown node '{end}'")
        if a == b:
            raise InputError(source, item, "a link cannot join a node to itself")
        if g.has_edge(a, b):
            raise InputError(source, item, "duplicate link")
        if g.nodes[a]["kind"] == g.nodes[b]["kind"] == "server":
            raise InputError(source, item, "servers attach to switches, not to each other")
        g.add_edge(a, b, **{f: _number(source, item, row, f) for f in LINK_FIELDS})
    if not nx.is_connected(g):
        parts = sorted(nx.connected_components(g), key=len)
        raise InputError(
            source, "links", f"topology is disconnected: {sorted(parts[0])} cannot reach the rest"
        )
    return g


MAX_YAML_BYTES = 16 * 1024 * 1024  # a scenario or topology file larger than this is refused
MAX_YAML_DEPTH = 64  # collections inside collections
MAX_YAML_ALIASES = 1000  # `*alias` uses: anchors cannot blow up what is read


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys, deep nesting and alias bombs."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_YAML_ALIASES} aliases {self.peek_event().start_mark}")
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.YAMLError(
                    f"nested more than {MAX_YAML_DEPTH} levels deep {self.peek_event().start_mark}"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                dup = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key (a list or mapping used as a key)
                raise yaml.YAMLError(f"a mapping key must be a plain value {key_node.start_mark}") from None
            if dup:
                raise yaml.YAMLError(f"duplicate key {key!r} {key_node.start_mark}")
        return super().construct_mapping(node, deep)


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a missing, unreadable, non-UTF-8, oversized or malformed file is an
    InputError naming the file (and the line where YAML says where)."""
    p = Path(path)
    try:
        if p.is_dir():
            raise InputError(str(p), "file", "is a directory, not a YAML file")
        if p.exists() and p.stat().st_size > MAX_YAML_BYTES:
            raise InputError(str(p), "file", f"is larger than {MAX_YAML_BYTES // (1024 * 1024)} MB")
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(str(p), "file", "does not exist") from None
    except OSError as e:
        raise InputError(str(p), "file", f"cannot be read: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InputError(
            str(p), "encoding", f"byte 0x{data[e.start]:02x} on line {line} is not UTF-8"
        ) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no arbitrary objects
    except RecursionError:
        raise InputError(str(p), "yaml", f"nested more than {MAX_YAML_DEPTH} levels deep") from None
    except yaml.YAMLError as e:
        raise InputError(
            str(p), "yaml", " ".join(str(e).replace('in "<unicode string>", ', "").split())
        ) from None


def load(path: str | Path) -> nx.Graph:
    return from_dict(read_yaml(path), str(path))
