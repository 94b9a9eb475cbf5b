"""Software NFs for server hosts: the same semantics as the fabric's in-switch NFs
(p4src/nfs.p4), on NSH packets. A packet that passes has its Service Index decremented
and goes back to the switch it came from; one the NF drops is gone.

Bytes are handled as the P4 program handles them: the IPv4 checksum is recomputed, the
TCP/UDP checksum only when the NF rewrote the 5-tuple (a UDP checksum of 0 stays 0), so
a chain's output is byte-identical whichever way its NFs are hosted.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from scapy.compat import raw
from scapy.contrib.nsh import NSH

from emac.lbslot import flow_slot
from nfs.entries import NF, parse_nf
from nfs.packet import ETH_NSH, NSH_LEN, csum16
from nfs.stateful import STATEFUL_KINDS, StateError, make_stateful
from p4target.switch.ports import serve_until_signal


@dataclass
class Meter:
    """Two-rate three-colour marker (RFC 2698, colour-blind), in packets, as the fabric's meter."""

    cir: float
    cburst: float
    pir: float
    pburst: float
    tc: float = -1.0
    tp: float = -1.0
    last: float = 0.0

    def colour(self, size: int, now: float) -> int:
        if self.cir == self.pir == 0:
            return 0  # an unconfigured meter marks everything green, as BMv2's does
        if self.tc < 0:
            self.tc, self.tp, self.last = self.cburst, self.pburst, now
        dt = max(0.0, now - self.last)
        self.last = now
        self.tc = min(self.cburst, self.tc + self.cir * dt)
        self.tp = min(self.pburst, self.tp + self.pir * dt)
        if self.tp < size:
            return 2
        if self.tc < size:
            self.tp -= size
            return 1
        self.tc -= size
        self.tp -= size
        return 0


@dataclass
class SoftwareNF:
    nf: NF
    mac: bytes = b"\x02\x00\x00\x00\x0f\x01"
    stats: Counter = field(default_factory=Counter)
    meter: Meter | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_config(cls, config: Any, mac: str | None = None) -> SoftwareNF:
        nf = parse_nf(_from_software(config), "config")
        m = bytes.fromhex(mac.replace(":", "")) if mac else cls.mac
        return cls(nf, m)

    def __post_init__(self) -> None:
        if self.nf.kind == "ratelimit":
            self.meter = Meter(*map(float, self.nf.meter))

    def process(self, frame: bytes, now: float | None = None) -> bytes | None:
        """The frame to send back, or None (not NSH, or dropped by the NF)."""
        with self.lock:
            try:
                return self._process(frame, time.monotonic() if now is None else now)
            except (struct.error, IndexError, ValueError):
                self.stats["malformed"] += 1  # cut short: dropped, as the switch's parser would
                return None

    def _process(self, frame: bytes, now: float) -> bytes | None:
        if len(frame) < 14 + NSH_LEN + 20 or struct.unpack_from("!H", frame, 12)[0] != ETH_NSH:
            self.stats["not_nsh"] += 1
            return None
        nsh = NSH(frame[14 : 14 + NSH_LEN])
        # MD type 2 without context headers, IPv4 inside; a Service Index of 0 is spent.
        if nsh.mdtype != 2 or nsh.length != 2 or nsh.nextproto != 1 or nsh.si == 0:
            self.stats["bad_nsh"] += 1
            return None
        pkt = bytearray(frame[14 + NSH_LEN :])
        ihl, frag, proto = pkt[0] & 0x0F, struct.unpack_from("!H", pkt, 6)[0] & 0x1FFF, pkt[9]
        src, dst = struct.unpack_from("!II", pkt, 12)
        l4 = proto if ihl == 5 and frag == 0 and proto in (6, 17) else 0
        sport, dport = struct.unpack_from("!HH", pkt, 20) if l4 else (0, 0)
        rewritten = False
        kind = self.nf.kind
        if kind == "firewall":
            if not self._permit(src, dst, proto, sport, dport):
                self.stats["dropped"] += 1
                return None
        elif kind == "nat":
            for m, t in self.nf.nat:
                if (m.src, m.dst, m.proto, m.sport, m.dport) == (src, dst, proto, sport, dport):
                    src, dst, sport, dport, rewritten = t.src, t.dst, t.sport, t.dport, True
                    break
        elif kind == "lb":
            for v in self.nf.vips:
                if (v.vip, v.proto, v.port) == (dst, proto, dport):
                    slot = flow_slot(src, dst, proto, sport, dport, len(v.backends))
                    dst, dport = v.backends[slot]
                    rewritten = True
                    break
        elif self.meter is not None and self.meter.colour(1, now) == 2:
            self.stats["dropped"] += 1
            return None
        struct.pack_into("!II", pkt, 12, src, dst)
        if l4:
            struct.pack_into("!HH", pkt, 20, sport, dport)
        pkt[10:12] = b"\x00\x00"
        struct.pack_into("!H", pkt, 10, csum16(bytes(pkt[:20])))
        if rewritten and l4:
            total = struct.unpack_from("!H", pkt, 2)[0]
            at = 20 + (16 if l4 == 6 else 6)
            if l4 == 6 or struct.unpack_from("!H", pkt, at)[0] != 0:
                seg = pkt[20:total]
                length = total - 20 if l4 == 6 else struct.unpack_from("!H", pkt, 24)[0]
                seg[at - 20 : at - 18] = b"\x00\x00"
                pseudo = struct.pack("!IIBBH", src, dst, 0, l4, length)
                struct.pack_into("!H", pkt, at, csum16(pseudo + bytes(seg)))
        nsh.si -= 1
        self.stats["processed"] += 1
        return frame[6:12] + self.mac + frame[12:14] + raw(nsh)[:NSH_LEN] + bytes(pkt)

    def _permit(self, src: int, dst: int, proto: int, sport: int, dport: int) -> bool:
        for r in sorted(self.nf.rules, key=lambda r: -r.priority):
            if (
                src & r.src[1] == r.src[0] & r.src[1]
                and dst & r.dst[1] == r.dst[0] & r.dst[1]
                and proto & r.proto[1] == r.proto[0] & r.proto[1]
                and r.sport[0] <= sport <= r.sport[1]
                and r.dport[0] <= dport <= r.dport[1]
            ):
                return r.permit
        return self.nf.default_permit


@dataclass
class SoftwareHost:
    """The NFs one server runs. The fabric sends it packets of several chain hops; the
    packet's (SPI, SI) names the NF that serves it (the controller's `server_hops`).
    `load` replaces the NFs and hops at once, so a packet sees the old set or the new."""

    mac: bytes = b"\x02\x00\x00\x00\x0f\x01"
    nfs: dict[int, Any] = field(default_factory=dict)  # SoftwareNF or nfs.stateful.StatefulNF
    hops: dict[tuple[int, int], int] = field(default_factory=dict)
    stats: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self, config: Any) -> None:
        """{nfs: [software configs], hops: [[spi, si, nf id], ...]}; an NF that stays keeps
        its state (a rate limiter's buckets)."""
        if not isinstance(config, dict) or not isinstance(config.get("nfs", []), list):
            raise ValueError("a host config is a mapping with nfs: [...] and hops: [[spi, si, nf], ...]")
        nfs: dict[int, Any] = {}
        for c in config.get("nfs", []):
            if isinstance(c, dict) and c.get("kind") in STATEFUL_KINDS:
                # A stateful NF (nfs/stateful.py) keeps its flows when its config stays.
                try:
                    snf = make_stateful(c, self.mac, "config.nfs")
                except StateError as e:
                    raise ValueError(str(e)) from None
                prev = self.nfs.get(snf.id)
                nfs[snf.id] = prev if getattr(prev, "config", None) == snf.config else snf
                continue
            nf = parse_nf(_from_software(c), "config.nfs")
            old = self.nfs.get(nf.id)
            keep = isinstance(old, SoftwareNF) and old.nf == nf
            nfs[nf.id] = old if keep else SoftwareNF(nf, self.mac)
        hops = {}
        for h in config.get("hops", []):
            if not (isinstance(h, list) and len(h) == 3 and all(isinstance(x, int) for x in h)):
                raise ValueError(f"config.hops: {h!r} is not [spi, si, nf id]")
            if h[2] not in nfs:
                raise ValueError(f"config.hops: {h!r} names NF {h[2]}, which the config does not hold")
            hops[(h[0], h[1])] = h[2]
        with self.lock:
            self.nfs, self.hops = nfs, hops

    def process(self, frame: bytes, now: float | None = None) -> bytes | None:
        if len(frame) < 14 + NSH_LEN or struct.unpack_from("!H", frame, 12)[0] != ETH_NSH:
            self.stats["not_nsh"] += 1
            return None
        spi, si = int.from_bytes(frame[18:21], "big"), frame[21]
        with self.lock:
            nf = self.nfs.get(self.hops.get((spi, si), -1))
        if nf is None:
            self.stats["no_hop"] += 1  # not a hop of this server: dropped
            return None
        return nf.process(frame, now)


def _from_software(c: Any) -> Any:
    """software_config's shape back to the scenario shape parse_nf reads."""
    if not isinstance(c, dict) or c.get("kind") != "firewall":
        return c
    rules = []
    for r in c.get("rules") or []:
        plen = lambda vm: f"{_ip_str(vm[0])}/{bin(vm[1]).count('1')}"
        rule = {"priority": r["priority"], "action": r["action"], "sport": r["sport"], "dport": r["dport"]}
        rule["src"], rule["dst"] = plen(r["src"]), plen(r["dst"])
        if r["proto"][1]:
            rule["proto"] = r["proto"][0]
        rules.append(rule)
    return {"id": c["id"], "kind": "firewall", "default": c.get("default", "deny"), "rules": rules}


def _ip_str(v: int) -> str:
    return socket.inet_ntoa(struct.pack("!I", v))


def serve(nf: SoftwareNF | SoftwareHost, iface: str, ready_line: str) -> None:
    """Run the NF(s) on a Linux interface until SIGINT or SIGTERM: NSH frames in,
    processed frames back out."""

    def handle(data: bytes) -> list[bytes]:
        out = nf.process(data)
        return [] if out is None else [out]

    serve_until_signal(iface, handle, ready_line)
