"""P4Runtime entities built from plain values: canonical encoding, match kinds, table
writes, clone sessions and updates."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from p4.v1 import p4runtime_pb2 as R

Value = int | str | bytes
# A match value: exact/optional v, lpm (v, prefix_len), ternary (v, mask), range (lo, hi).
MatchValue = Value | tuple[Value, Value]


def encode(value: Value, bitwidth: int) -> bytes:
    """A match or parameter value in P4Runtime's canonical bytes.

    Takes ints, bytes, dotted IPv4 / IPv6 strings and colon-separated MAC strings.
    """
    if isinstance(value, bytes):
        v = int.from_bytes(value, "big")
    elif isinstance(value, str):
        if value.count(":") == 5 and len(value) == 17:
            v = int(value.replace(":", ""), 16)
        else:
            try:
                v = int(ipaddress.ip_address(value))
            except ValueError:
                v = int(value, 0)
    else:
        v = int(value)
    if v < 0 or v >> bitwidth:
        raise ValueError(f"value {value!r} does not fit {bitwidth} bits")
    return v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")


@dataclass(frozen=True)
class Ternary:
    value: int
    mask: int


@dataclass(frozen=True)
class Lpm:
    value: int
    prefix: int


@dataclass(frozen=True)
class Range:
    low: int
    high: int


@dataclass(frozen=True)
class TableWrite:
    """One table entry by names, hashable: {field: int | Ternary | Lpm | Range}, action,
    {param: int}. The form NF entries and the EMAC's entries are written in."""

    table: str
    match: tuple[tuple[str, Any], ...]
    action: str
    params: tuple[tuple[str, int], ...] = ()
    priority: int = 0

    @classmethod
    def of(cls, table: str, match: dict, action: str, params: dict | None = None, priority: int = 0):
        return cls(table, tuple(match.items()), action, tuple((params or {}).items()), priority)


def _int(value: Value) -> int:
    return int.from_bytes(encode(value, 4096), "big")


def clone_session(session: int, port: int) -> R.Entity:
    """A clone session with one replica (instance 0) on `port`."""
    e = R.Entity()
    c = e.packet_replication_engine_entry.clone_session_entry
    c.session_id = session
    c.replicas.add(egress_port=port, instance=0)
    return e


def update(kind: str, entity: R.Entity | R.TableEntry) -> R.Update:
    """`update("INSERT", table_entry)`: wrap an entity into an Update."""
    if isinstance(entity, R.TableEntry):
        entity = R.Entity(table_entry=entity)
    return R.Update(type=R.Update.Type.Value(kind), entity=entity)
