"""Flows and flow filters of the stateful NFs' southbound interface.

A flow is an IPv4 5-tuple as the NF saw it first (for a NAT, the inside flow before
translation). A filter is a 5-tuple with wildcards: a missing field matches anything,
addresses are prefixes, ports are one number or [low, high]:

    {src: 10.0.1.0/24, proto: 6, dport: 80}      # every TCP flow from 10.0.1.0/24 to port 80
    {}                                            # every flow

Filters and flows come from outside (a control socket, a YAML file): anything malformed
raises `FilterError` with one line naming the field.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass
from typing import Any

FIELDS = ("src", "dst", "proto", "sport", "dport")


class FilterError(ValueError):
    """A flow or filter that cannot be used, with the field that is wrong."""


@dataclass(frozen=True, order=True)
class Flow:
    src: int
    dst: int
    proto: int
    sport: int
    dport: int

    def reverse(self) -> Flow:
        return Flow(self.dst, self.src, self.proto, self.dport, self.sport)

    def to_dict(self) -> dict:
        return {"src": ip_str(self.src), "dst": ip_str(self.dst), "proto": self.proto,
                "sport": self.sport, "dport": self.dport}  # fmt: skip

    @classmethod
    def parse(cls, d: Any, where: str = "flow") -> Flow:
        """An exact 5-tuple: every field present."""
        if not isinstance(d, dict):
            raise FilterError(f"{where}: a flow is a mapping with {', '.join(FIELDS)}")
        extra = set(d) - set(FIELDS)
        if extra:
            raise FilterError(f"{where}: unknown field {sorted(extra)[0]!r}")
        missing = [f for f in FIELDS if f not in d]
        if missing:
            raise FilterError(f"{where}: {missing[0]} is missing (a flow names all five fields)")
        return cls(
            _addr(d["src"], f"{where}.src"),
            _addr(d["dst"], f"{where}.dst"),
            _num(d["proto"], f"{where}.proto", 255),
            _num(d["sport"], f"{where}.sport", 0xFFFF),
            _num(d["dport"], f"{where}.dport", 0xFFFF),
        )


@dataclass(frozen=True)
class FlowFilter:
    src: tuple[int, int] = (0, 0)  # value, mask
    dst: tuple[int, int] = (0, 0)
    proto: int | None = None
    sport: tuple[int, int] = (0, 0xFFFF)
    dport: tuple[int, int] = (0, 0xFFFF)

    def matches(self, f: Flow) -> bool:
        return (
            f.src & self.src[1] == self.src[0]
            and f.dst & self.dst[1] == self.dst[0]
            and (self.proto is None or f.proto == self.proto)
            and self.sport[0] <= f.sport <= self.sport[1]
            and self.dport[0] <= f.dport <= self.dport[1]
        )

    def to_dict(self) -> dict:
        d: dict[str, Any] = {}
        for name in ("src", "dst"):
            v, m = getattr(self, name)
            if m:
                d[name] = f"{ip_str(v)}/{bin(m).count('1')}"
        if self.proto is not None:
            d["proto"] = self.proto
        for name in ("sport", "dport"):
            lo, hi = getattr(self, name)
            if (lo, hi) != (0, 0xFFFF):
                d[name] = lo if lo == hi else [lo, hi]
        return d

    @classmethod
    def exact(cls, f: Flow) -> FlowFilter:
        return cls((f.src, 0xFFFFFFFF), (f.dst, 0xFFFFFFFF), f.proto, (f.sport, f.sport), (f.dport, f.dport))

    @classmethod
    def parse(cls, d: Any, where: str = "filter") -> FlowFilter:
        if d is None:
            d = {}
        if not isinstance(d, dict):
            raise FilterError(
                f"{where}: a filter is a mapping of {', '.join(FIELDS)} (missing ones match any)"
            )
        extra = set(d) - set(FIELDS)
        if extra:
            raise FilterError(f"{where}: unknown field {sorted(extra)[0]!r} (fields: {', '.join(FIELDS)})")
        proto = d.get("proto")
        return cls(
            _prefix(d.get("src"), f"{where}.src"),
            _prefix(d.get("dst"), f"{where}.dst"),
            None if proto in (None, "any") else _num(proto, f"{where}.proto", 255),
            _range(d.get("sport"), f"{where}.sport"),
            _range(d.get("dport"), f"{where}.dport"),
        )


def ip_str(v: int) -> str:
    return socket.inet_ntoa(struct.pack("!I", v))


def _addr(v: Any, where: str) -> int:
    if not isinstance(v, str):
        raise FilterError(f"{where}: {v!r} is not an IPv4 address")
    try:
        return int(ipaddress.IPv4Address(v))
    except ValueError:
        raise FilterError(f"{where}: {v!r} is not an IPv4 address") from None


def _num(v: Any, where: str, hi: int) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= hi:
        raise FilterError(f"{where}: must be an integer in 0..{hi}, not {v!r}")
    return v


def _prefix(v: Any, where: str) -> tuple[int, int]:
    if v is None or v == "any":
        return 0, 0
    if not isinstance(v, str):
        raise FilterError(f"{where}: {v!r} is not an IPv4 prefix")
    try:
        net = ipaddress.IPv4Network(v, strict=False)
    except ValueError as e:
        raise FilterError(f"{where}: {e}") from None
    return int(net.network_address), int(net.netmask)


def _range(v: Any, where: str) -> tuple[int, int]:
    if v is None or v == "any":
        return 0, 0xFFFF
    if isinstance(v, list) and len(v) == 2:
        lo, hi = _num(v[0], where, 0xFFFF), _num(v[1], where, 0xFFFF)
        if lo > hi:
            raise FilterError(f"{where}: [{lo}, {hi}] is empty")
        return lo, hi
    n = _num(v, where, 0xFFFF)
    return n, n
