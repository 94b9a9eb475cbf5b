"""NF entries, written once and rendered three ways.

A scenario's `nfs:` list holds every NF instance's entries:

    nfs:
      - {id: 1, kind: firewall, default: deny,
         rules: [{priority: 10, src: 10.0.1.0/24, proto: 6, dport: [80, 80], action: permit}]}
      - {id: 2, kind: nat, entries: [{match: {src: .., dst: .., proto: 6, sport: 1234, dport: 80},
                                      to: {src: .., dst: .., sport: 40000, dport: 80}}]}
      - {id: 3, kind: lb, vips: [{vip: 10.0.2.100, proto: 6, port: 80,
                                  backends: [[10.0.2.2, 8080], [10.0.2.3, 8080]]}]}
      - {id: 4, kind: ratelimit, cir: 1000, cburst: 20, pir: 2000, pburst: 40}  # packets/s, packets

and `lm_writes` (P4Runtime entries for the switch tables), `em_entries` (EM layout
entries) and `software_config` (what `srem nf --config` reads) render them. A missing
field of a rule is a wildcard; ports are [low, high] ranges or one number.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emac.layout import ACT_LB, ACT_NAT, Entry, FlowKey, ip_int, lb_data, lb_key, nat_data
from emac.lbslot import MAX_BACKENDS
from p4rt.entities import Range, TableWrite, Ternary

KINDS = {"firewall": 1, "nat": 2, "lb": 3, "ratelimit": 4}
# Exact-key tables, the ones the EM layout holds (the switch computes the key and reads one
# bucket). A firewall (ternary/range) and a rate limiter (per-packet meter state) are LM-only.
EM_KINDS = ("nat", "lb")


class EntryError(ValueError):
    """An NF description that cannot be used, with where it is wrong."""


@dataclass(frozen=True)
class Rule:
    priority: int
    src: tuple[int, int]  # value, mask
    dst: tuple[int, int]
    proto: tuple[int, int]
    sport: tuple[int, int]  # low, high
    dport: tuple[int, int]
    permit: bool


@dataclass(frozen=True)
class Vip:
    vip: int
    proto: int
    port: int
    backends: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class NF:
    id: int
    kind: str
    rules: tuple[Rule, ...] = ()
    default_permit: bool = False
    nat: tuple[tuple[FlowKey, FlowKey], ...] = ()
    vips: tuple[Vip, ...] = ()
    meter: tuple[int, int, int, int] = (0, 0, 0, 0)  # cir, cburst, pir, pburst (packets/s, packets)
    extra: dict = field(default_factory=dict)


def _prefix(v: Any, where: str) -> tuple[int, int]:
    if v is None or v == "any":
        return 0, 0
    try:
        net = ipaddress.IPv4Network(str(v), strict=False)
    except ValueError as e:
        raise EntryError(f"{where}: {e}") from None
    return int(net.network_address), int(net.netmask)


def _ports(v: Any, where: str) -> tuple[int, int]:
    if v is None:
        return 0, 0xFFFF
    lo, hi = (
        (v, v) if isinstance(v, int) else tuple(v) if isinstance(v, list) and len(v) == 2 else (None, None)
    )
    if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi <= 0xFFFF):
        raise EntryError(f"{where}: ports must be a number or [low, high] within 0..65535, not {v!r}")
    return lo, hi


def _int(d: dict, k: str, where: str, hi: int) -> int:
    v = d.get(k)
    if not isinstance(v, int) or not 0 <= v <= hi:
        raise EntryError(f"{where}: '{k}' must be an integer in 0..{hi}, not {v!r}")
    return v


def _ip(v: Any, where: str) -> int:
    try:
        return ip_int(str(v))
    except ValueError:
        raise EntryError(f"{where}: '{v}' is not an IPv4 address") from None


def _key(d: Any, where: str, with_ports: bool = True) -> FlowKey:
    if not isinstance(d, dict):
        raise EntryError(f"{where}: expected a mapping with src, dst, proto, sport, dport")
    return FlowKey(
        _ip(d.get("src"), where),
        _ip(d.get("dst"), where),
        _int(d, "proto", where, 255),
        _int(d, "sport", where, 0xFFFF),
        _int(d, "dport", where, 0xFFFF),
    )


def parse_nf(d: Any, where: str = "nfs") -> NF:
    if not isinstance(d, dict):
        raise EntryError(f"{where}: an NF is a mapping with id and kind")
    nid = d.get("id")
    if not isinstance(nid, int) or not 1 <= nid <= 255:
        raise EntryError(f"{where}: id must be an integer in 1..255, not {nid!r}")
    where = f"{where}[id={nid}]"
    kind = d.get("kind")
    if kind not in KINDS:
        raise EntryError(f"{where}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if kind == "firewall":
        rules = []
        for k, r in enumerate(d.get("rules") or []):
            w = f"{where}.rules[{k}]"
            if not isinstance(r, dict) or r.get("action") not in ("permit", "deny"):
                raise EntryError(f"{w}: a rule needs action permit or deny")
            proto = r.get("proto")
            rules.append(
                Rule(
                    _int(r, "priority", w, 1 << 30),
                    _prefix(r.get("src"), w),
                    _prefix(r.get("dst"), w),
                    (0, 0) if proto is None else (_int(r, "proto", w, 255), 0xFF),
                    _ports(r.get("sport"), w),
                    _ports(r.get("dport"), w),
                    r["action"] == "permit",
                )
            )
        if d.get("default", "deny") not in ("permit", "deny"):
            raise EntryError(f"{where}: default must be permit or deny")
        prios = [r.priority for r in rules]
        if len(set(prios)) != len(prios):
            raise EntryError(f"{where}: two rules share a priority; the order would be undefined")
        return NF(nid, kind, rules=tuple(rules), default_permit=d.get("default", "deny") == "permit")
    if kind == "nat":
        nat = []
        for k, e in enumerate(d.get("entries") or []):
            w = f"{where}.entries[{k}]"
            if not isinstance(e, dict):
                raise EntryError(f"{w}: expected match and to")
            nat.append((_key(e.get("match"), w), _key({**(e.get("match") or {}), **(e.get("to") or {})}, w)))
        keys = [m for m, _ in nat]
        if len(set(keys)) != len(keys):
            raise EntryError(f"{where}: two entries match the same 5-tuple")
        return NF(nid, kind, nat=tuple(nat))
    if kind == "lb":
        vips = []
        for k, v in enumerate(d.get("vips") or []):
            w = f"{where}.vips[{k}]"
            if not isinstance(v, dict) or not v.get("backends"):
                raise EntryError(f"{w}: a VIP needs vip, proto, port and backends")
            bes = []
            for b in v["backends"]:
                if not (
                    isinstance(b, list | tuple)
                    and len(b) == 2
                    and isinstance(b[1], int)
                    and 0 <= b[1] <= 0xFFFF
                ):
                    raise EntryError(f"{w}: a backend is [address, port] with a port in 0..65535, not {b!r}")
                bes.append((_ip(b[0], w), b[1]))
            if len(bes) > MAX_BACKENDS:
                # The switch's slot table (p4src/lb_slot.p4) covers 1..MAX_BACKENDS backends.
                raise EntryError(f"{w}: {len(bes)} backends; a VIP has at most {MAX_BACKENDS}")
            vips.append(
                Vip(_ip(v.get("vip"), w), _int(v, "proto", w, 255), _int(v, "port", w, 0xFFFF), tuple(bes))
            )
        names = [(v.vip, v.proto, v.port) for v in vips]
        if len(set(names)) != len(names):
            raise EntryError(f"{where}: two VIPs share an address, protocol and port")
        return NF(nid, kind, vips=tuple(vips))
    m = tuple(_int(d, k, where, 1 << 40) for k in ("cir", "cburst", "pir", "pburst"))
    return NF(nid, kind, meter=m)  # type: ignore[arg-type]


def parse_nfs(items: Any, where: str = "nfs") -> dict[int, NF]:
    if not isinstance(items, list):
        raise EntryError(f"{where}: expected a list of NFs")
    out: dict[int, NF] = {}
    for k, d in enumerate(items):
        nf = parse_nf(d, f"{where}[{k}]")
        if nf.id in out:
            raise EntryError(f"{where}[{k}]: NF id {nf.id} is given twice")
        out[nf.id] = nf
    return out


# -- LM: P4Runtime entries ------------------------------------------------------------------------
def lm_writes(nf: NF) -> list[TableWrite]:
    """The NF's table entries in the switch's local memory (by P4Info names)."""
    out: list[TableWrite] = []
    if nf.kind == "firewall":
        for r in nf.rules:
            out.append(
                TableWrite.of(
                    "fw_acl",
                    {
                        "meta.nfId": nf.id,
                        "hdr.ipv4.src": Ternary(*r.src),
                        "hdr.ipv4.dst": Ternary(*r.dst),
                        "hdr.ipv4.proto": Ternary(*r.proto),
                        "meta.sport": Range(*r.sport),
                        "meta.dport": Range(*r.dport),
                    },
                    "fw_permit" if r.permit else "fw_deny",
                    priority=r.priority + 1,
                )
            )
        if nf.default_permit:
            out.append(TableWrite.of("fw_acl", {"meta.nfId": nf.id}, "fw_permit", priority=1))
    elif nf.kind == "nat":
        for m, t in nf.nat:
            out.append(
                TableWrite.of(
                    "nat",
                    {
                        "meta.nfId": nf.id,
                        "hdr.ipv4.src": m.src,
                        "hdr.ipv4.dst": m.dst,
                        "hdr.ipv4.proto": m.proto,
                        "meta.sport": m.sport,
                        "meta.dport": m.dport,
                    },
                    "nat_translate",
                    {"src": t.src, "dst": t.dst, "sport": t.sport, "dport": t.dport},
                )
            )
    elif nf.kind == "lb":
        for k, v in enumerate(nf.vips):
            grp = nf.id << 8 | k
            out.append(
                TableWrite.of(
                    "lb_vip",
                    {
                        "meta.nfId": nf.id,
                        "hdr.ipv4.dst": v.vip,
                        "hdr.ipv4.proto": v.proto,
                        "meta.dport": v.port,
                    },
                    "lb_vip_hit",
                    {"grp": grp, "n": len(v.backends)},
                )
            )
            for s, (ip, port) in enumerate(v.backends):
                out.append(
                    TableWrite.of(
                        "lb_backend",
                        {"meta.lbGroup": grp, "meta.lbSlot": s},
                        "lb_backend_set",
                        {"ip": ip, "port": port},
                    )
                )
    return out


# -- EM: layout entries ---------------------------------------------------------------------------
def em_entries(nf: NF) -> list[Entry]:
    """The NF's entries in the EM layout (emac/layout.py: a NAT's by 5-tuple, a load
    balancer's one per VIP backend slot)."""
    if nf.kind not in EM_KINDS:
        raise EntryError(
            f"NF {nf.id}: a {nf.kind} cannot live in EM (only exact-key tables: {', '.join(EM_KINDS)})"
        )
    if nf.kind == "lb":
        out = []
        for v in nf.vips:
            if len(v.backends) > MAX_BACKENDS:
                raise EntryError(
                    f"NF {nf.id}: VIP {ipaddress.IPv4Address(v.vip)} has more than {MAX_BACKENDS} backends"
                )
            out += [
                Entry(lb_key(v.vip, v.proto, v.port, s), ACT_LB, lb_data(ip, port))
                for s, (ip, port) in enumerate(v.backends)
            ]
        return out
    return [Entry(m, ACT_NAT, nat_data(t.src, t.dst, t.sport, t.dport)) for m, t in nf.nat]


# -- server: software NF configuration ------------------------------------------------------------
def software_config(nf: NF) -> dict:
    """The configuration `srem nf --config` reads (plain YAML/JSON types)."""
    ip = lambda v: str(ipaddress.IPv4Address(v))
    if nf.kind == "firewall":
        return {
            "id": nf.id, "kind": "firewall", "default": "permit" if nf.default_permit else "deny",
            "rules": [
                {"priority": r.priority, "src": list(r.src), "dst": list(r.dst), "proto": list(r.proto),
                 "sport": list(r.sport), "dport": list(r.dport), "action": "permit" if r.permit else "deny"}
                for r in nf.rules
            ],
        }  # fmt: skip
    if nf.kind == "nat":
        key = lambda k: {
            "src": ip(k.src),
            "dst": ip(k.dst),
            "proto": k.proto,
            "sport": k.sport,
            "dport": k.dport,
        }
        return {"id": nf.id, "kind": "nat", "entries": [{"match": key(m), "to": key(t)} for m, t in nf.nat]}
    if nf.kind == "lb":
        return {
            "id": nf.id, "kind": "lb",
            "vips": [{"vip": ip(v.vip), "proto": v.proto, "port": v.port,
                      "backends": [[ip(a), p] for a, p in v.backends]} for v in nf.vips],
        }  # fmt: skip
    cir, cburst, pir, pburst = nf.meter
    return {"id": nf.id, "kind": "ratelimit", "cir": cir, "cburst": cburst, "pir": pir, "pburst": pburst}


def load(path: str | Path) -> dict[int, NF]:
    """The NFs of a YAML file: a list of NFs, or a mapping with an `nfs:` list (a scenario)."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as e:
        raise EntryError(f"{p}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise EntryError(f"{p}: not YAML ({str(e).splitlines()[0]})") from None
    if isinstance(data, dict):
        if "nfs" not in data:
            raise EntryError(f"{p}: no nfs: list")
        data = data["nfs"]
    return parse_nfs(data, f"{p}: nfs")
