"""The EM layout: how an NF's table lives in a memory server's DRAM.

A table is `buckets` buckets (a power of two) of SLOTS slots of SLOT_BYTES bytes, from
the region's base address. A key (NF id and a 5-tuple-shaped key) lives in bucket
`crc32(nf | src | dst | proto | sport | dport) & (buckets - 1)`, in any of its slots:
the switch reads the whole bucket with one RDMA READ and compares the keys itself.

Keys, by NF kind (the switch computes them from the packet, p4src/em.p4 `EmKey`):
- NAT: the packet's 5-tuple; action ACT_NAT, data = the translated src, dst, sport, dport.
- L4 load balancer: (src 0, dst VIP, proto, sport = slot, dport VIP port), one entry per
  backend, slot k = the VIP's k-th backend; action ACT_LB, data = backend address, port.
  A flow's slot is floor(h * n / 65536), h the low 16 bits of crc32(its 5-tuple), n the VIP's backends
  (1..32; emac/lbslot.py), as the LM load balancer and the software one compute it, so all
  three choose the same backend. n is
  not in EM: the switch has it in a small LM table (`lb_em_vip`, one entry per VIP, written
  by the EMAC from the entries), so that it can compute the key and read one bucket. The
  cache then holds one entry per (VIP, slot), shared by every flow of that slot.

Slot (40 bytes, big-endian, as p4src/headers.p4 `slot_t` parses it):

    0  ver_head  u32   version, written first
    4  src dst   2×u32 key: IPv4 addresses
   12  nf        u8    NF id; 0 = empty slot
   13  proto     u8
   14  sport     u16
   16  dport     u16
   18  action    u8    action id (1 = NAT rewrite, 2 = LB backend)
   19  data      12 B  action data (NAT: src, dst, sport, dport after translation;
                       LB: backend address, backend port, 6 bytes zero)
   31  pad       5 B
   36  ver_tail  u32   version, written last

The key's words start on 4-byte boundaries (src, dst, then nf | proto | sport as one word,
dport): Tofino compares them with the switch's copy of the key a word at a time, and a
field across a word boundary would split that copy into smaller PHV containers than the
register it is read from writes (p4src/README.md, Tofino).

Versions: every write of a slot uses a new version v. The writer stores ver_head = v,
then the body, then ver_tail = v, each as its own RDMA WRITE, so a READ that lands in
the middle sees ver_head != ver_tail and the switch rejects the entry (counted as torn)
and reads again. A reader never applies a half-written entry.

Overflow: a key whose bucket's slots are all taken is refused (BucketFull); the caller
keeps that NF in LM or places it again with more buckets. Nothing is written then.
"""

from __future__ import annotations

import ipaddress
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from emac.lbslot import MAX_BACKENDS

SLOTS = 4
SLOT_BYTES = 40
BUCKET_BYTES = SLOTS * SLOT_BYTES
MAX_BUCKETS = 1 << 24  # a table of at most 2.5 GiB: the switch computes its offsets in 32 bits
ACT_NAT = 1
ACT_LB = 2

_BODY = struct.Struct("!4s4sBBHHB12s5x")  # src .. pad: 32 bytes


class BucketFull(Exception):
    """Every slot of the key's bucket holds another key."""


def ip_int(a: str | int) -> int:
    return a if isinstance(a, int) else int(ipaddress.IPv4Address(a))


@dataclass(frozen=True, order=True)
class FlowKey:
    """An IPv4 5-tuple (ports 0 for other protocols)."""

    src: int
    dst: int
    proto: int
    sport: int
    dport: int

    @classmethod
    def of(cls, src: str | int, dst: str | int, proto: int, sport: int, dport: int) -> FlowKey:
        return cls(ip_int(src), ip_int(dst), proto, sport, dport)

    def packed(self) -> bytes:
        return struct.pack("!IIBHH", self.src, self.dst, self.proto, self.sport, self.dport)


@dataclass(frozen=True)
class Entry:
    key: FlowKey
    action: int
    data: bytes  # 12 bytes

    def __post_init__(self) -> None:
        if len(self.data) != 12:
            raise ValueError(f"action data is {len(self.data)} bytes, the layout holds 12")


def bucket_of(nf: int, key: FlowKey, buckets: int) -> int:
    return zlib.crc32(bytes([nf]) + key.packed()) & (buckets - 1)


def slot_bytes(nf: int, entry: Entry | None, version: int) -> bytes:
    """A slot holding `entry` (None: empty) at `version`."""
    if entry is None:
        body = bytes(32)
    else:
        k = entry.key
        body = _BODY.pack(
            k.src.to_bytes(4, "big"), k.dst.to_bytes(4, "big"), nf, k.proto, k.sport, k.dport,
            entry.action, entry.data,
        )  # fmt: skip
    v = struct.pack("!I", version & 0xFFFFFFFF)
    return v + body + v


def parse_slot(raw: bytes) -> tuple[int, int, Entry | None, int]:
    """(ver_head, nf, entry or None, ver_tail) of one slot's bytes."""
    head, tail = struct.unpack_from("!I", raw, 0)[0], struct.unpack_from("!I", raw, 36)[0]
    src, dst, nf, proto, sport, dport, act, data = _BODY.unpack_from(raw, 4)
    if nf == 0:
        return head, 0, None, tail
    key = FlowKey(int.from_bytes(src, "big"), int.from_bytes(dst, "big"), proto, sport, dport)
    return head, nf, Entry(key, act, data), tail


@dataclass
class Write:
    """One RDMA WRITE the EMAC issues: `data` at byte `offset` of the table's region."""

    offset: int
    data: bytes


@dataclass
class EmTable:
    """The EMAC's own record of one NF's table in EM: which slot holds which key."""

    nf: int
    buckets: int
    slots: dict[FlowKey, tuple[int, int]] = field(default_factory=dict)  # key -> (bucket, slot)
    used: dict[tuple[int, int], FlowKey] = field(default_factory=dict)
    version: int = 0

    def __post_init__(self) -> None:
        if self.buckets < 1 or self.buckets & (self.buckets - 1):
            raise ValueError(f"buckets must be a power of two, not {self.buckets}")
        if self.buckets > MAX_BUCKETS:
            # The switch computes bucket * 160 in 32 bits (p4src/em.p4, EmRead).
            raise ValueError(f"buckets must be at most {MAX_BUCKETS} (2^24), not {self.buckets}")
        if not 1 <= self.nf <= 255:
            raise ValueError(f"NF id {self.nf} is outside 1..255")

    @property
    def size_bytes(self) -> int:
        return self.buckets * BUCKET_BYTES

    def _writes(self, b: int, s: int, entry: Entry | None) -> list[Write]:
        self.version += 1
        raw = slot_bytes(self.nf, entry, self.version)
        at = b * BUCKET_BYTES + s * SLOT_BYTES
        # Head first, body, tail last: a READ in between sees head != tail.
        return [Write(at, raw[:4]), Write(at + 4, raw[4:36]), Write(at + 36, raw[36:])]

    def put(self, entry: Entry) -> list[Write]:
        """Writes that add or replace the entry of entry.key (BucketFull if there is no room)."""
        where = self.slots.get(entry.key)
        if where is None:
            b = bucket_of(self.nf, entry.key, self.buckets)
            free = [s for s in range(SLOTS) if (b, s) not in self.used]
            if not free:
                raise BucketFull(
                    f"NF {self.nf}: bucket {b} of {self.buckets} is full; key {entry.key} does not fit"
                )
            where = (b, free[0])
        out = self._writes(*where, entry)
        self.slots[entry.key] = where
        self.used[where] = entry.key
        return out

    def delete(self, key: FlowKey) -> list[Write]:
        where = self.slots.pop(key, None)
        if where is None:
            return []
        del self.used[where]
        return self._writes(*where, None)

    @classmethod
    def from_image(cls, nf: int, buckets: int, image: bytes) -> EmTable:
        """The record of a table as it lies in memory (slots of other NF ids are ignored)."""
        t = cls(nf, buckets)
        if len(image) != t.size_bytes:
            raise ValueError(f"{len(image)} bytes are not a table of {buckets} buckets")
        for b in range(buckets):
            for s in range(SLOTS):
                at = b * BUCKET_BYTES + s * SLOT_BYTES
                head, snf, entry, tail = parse_slot(image[at : at + SLOT_BYTES])
                t.version = max(t.version, head, tail)
                if snf == nf and entry is not None:
                    t.slots[entry.key] = (b, s)
                    t.used[(b, s)] = entry.key
        return t

    def image(self, entries: list[Entry]) -> bytes:
        """The whole table as one block (placing an NF: one write of everything)."""
        buf = bytearray(self.size_bytes)
        for e in entries:
            for w in self.put(e):
                buf[w.offset : w.offset + len(w.data)] = w.data
        return bytes(buf)


def nat_data(src: str | int, dst: str | int, sport: int, dport: int) -> bytes:
    return struct.pack("!IIHH", ip_int(src), ip_int(dst), sport, dport)


def lb_data(ip: str | int, port: int) -> bytes:
    return struct.pack("!IH6x", ip_int(ip), port)


def lb_key(vip: str | int, proto: int, port: int, slot: int) -> FlowKey:
    """The EM key of a load balancer's backend `slot` of a VIP (see the module's docstring)."""
    if not 0 <= slot <= 0xFFFF:
        raise ValueError(f"LB slot {slot} is outside 0..65535 (the key's 16-bit port field holds it)")
    return FlowKey(0, ip_int(vip), proto, slot, port)


def lb_backend_counts(keys: Iterable[FlowKey]) -> dict[tuple[int, int, int], int]:
    """n, the number of backends, of every VIP (address, proto, port) of a load balancer's
    EM keys. The slots of a VIP must be exactly 0..n-1: a flow's slot is in 0..n-1
    (emac/lbslot.py), so a gap would send flows to an entry that is not there."""
    slots: dict[tuple[int, int, int], set[int]] = {}
    for k in keys:
        if k.src != 0:
            raise ValueError(f"{k} is not a load balancer key (its source is not 0)")
        slots.setdefault((k.dst, k.proto, k.dport), set()).add(k.sport)
    out = {}
    for (vip, proto, port), s in slots.items():
        if s != set(range(len(s))):
            raise ValueError(
                f"VIP {ipaddress.IPv4Address(vip)} proto {proto} port {port}: backend slots "
                f"{sorted(s)} are not 0..{len(s) - 1}"
            )
        if len(s) > MAX_BACKENDS:
            raise ValueError(
                f"VIP {ipaddress.IPv4Address(vip)} proto {proto} port {port}: {len(s)} backends; "
                f"the switch's slot table takes at most {MAX_BACKENDS}"
            )
        out[(vip, proto, port)] = len(s)
    return out
