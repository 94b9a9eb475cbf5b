"""Stateful software NFs: a source NAT that allocates a mapping on a flow's first packet,
and a connection-tracking firewall that admits a flow from outside only when its reverse
was opened from inside. Both keep per-flow state that the southbound interface reads and
writes (get / put / delete by flow filter), and can hold a filter's packets while a move
copies their state (OpenNF's loss-free and order-preserving moves, controller/orchestration).

Config (one entry of an `srem nf-host` config's `nfs:`):

    {id: 7, kind: snat, inside: 10.0.1.0/24, public: 198.51.100.1, ports: [40000, 40999]}
    {id: 8, kind: conntrack, inside: 10.0.1.0/24}
    # either may add hold_limit: N (packets held at most, default 20000) and
    # release_pps: N (held packets sent on at most this rate, default 1000)

Packets are NSH frames as for the stateless NFs (nfs/software.py): a packet that passes
has its Service Index decremented and goes back out; a dropped one is counted.

Per-flow counters: every packet an NF processes for a flow it keeps state for adds to that
flow's packets and bytes (IPv4 length, both directions), and to a two-window rate meter
(`FlowMeter`), so `flow_rates()` answers packets/s and bytes/s of each flow over the last
one to two RATE_WINDOW_S without the reader keeping anything. Counters live and die with
the flow's state (forget / delete drop them; a moved flow starts counting afresh at its
destination), so they are bounded by the state itself.

Holding: while a filter is held, a matching packet is appended to the NF's hold buffer
instead of being processed (bounded by hold_limit; past it the packet is dropped and
counted as `hold_overflow`, which the move reports as loss). `take` hands the buffer to
the controller, `inject` processes frames the controller hands in (ahead of anything
held here), `release` processes what is held here, in arrival order, and stops holding.
"""

from __future__ import annotations

import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nfs.flows import FilterError, Flow, FlowFilter, ip_str
from nfs.packet import ETH_NSH, NSH_LEN, csum16

STATEFUL_KINDS = ("snat", "conntrack")
HOLD_LIMIT = 20_000
RATE_WINDOW_S = 1.0  # per-flow rates are measured over the last one to two of these
RELEASE_PPS = 1000  # a released buffer is sent on at this rate: a burst of held packets would
# overflow the switch port's receive buffer (a few hundred frames) and be lost there


class StateError(ValueError):
    """A state request that cannot be applied (nothing was changed)."""


@dataclass
class Hold:
    filter: FlowFilter
    flows: frozenset[Flow] | None = None  # narrowed to these flows (the ones being moved)
    buffer: deque = field(default_factory=deque)  # frames, in arrival order
    seen: int = 0  # packets that matched since the hold began
    touched: float = field(default_factory=time.monotonic)  # the last control op on it (its lease)

    def matches(self, f: Flow) -> bool:
        return self.filter.matches(f) and (self.flows is None or f in self.flows)


class FlowMeter:
    """One flow's counters: totals and a two-window rate meter (the current window and the
    one before it). A packet costs one comparison and three updates: the totals are what
    earlier windows held (`done_*`) plus the current one."""

    __slots__ = ("done_bytes", "done_packets", "first", "last", "p_bytes", "p_packets", "p_start", "w_bytes",
                 "w_packets", "w_start")  # fmt: skip

    def __init__(self, now: float) -> None:
        self.done_packets = self.done_bytes = self.w_packets = self.w_bytes = self.p_packets = (
            self.p_bytes
        ) = 0
        self.first = self.last = self.w_start = self.p_start = now

    def add(self, size: int, now: float) -> None:
        if now - self.w_start >= RATE_WINDOW_S:  # a new window: the current one becomes the previous
            self.done_packets += self.w_packets
            self.done_bytes += self.w_bytes
            self.p_start, self.p_packets, self.p_bytes = self.w_start, self.w_packets, self.w_bytes
            self.w_start, self.w_packets, self.w_bytes = now, 0, 0
        self.w_packets += 1
        self.w_bytes += size
        self.last = now

    @property
    def packets(self) -> int:
        return self.done_packets + self.w_packets

    @property
    def bytes(self) -> int:
        return self.done_bytes + self.w_bytes

    def rates(self, now: float) -> tuple[float, float]:
        """(packets/s, bytes/s) over the previous and the current window: one to two windows
        of history, so a flow that stopped decays to 0 and a young one is not inflated (the
        span is at least one window)."""
        if now - self.w_start >= 2 * RATE_WINDOW_S:  # idle for a while: both windows are stale
            return 0.0, 0.0
        span = max(now - self.p_start, RATE_WINDOW_S)
        return (self.p_packets + self.w_packets) / span, (self.p_bytes + self.w_bytes) / span

    def to_dict(self, now: float) -> dict:
        pps, bps = self.rates(now)
        return {"packets": self.packets, "bytes": self.bytes, "pps": round(pps, 3), "bps": round(bps, 1),
                "age_s": round(now - self.first, 3), "idle_s": round(now - self.last, 3)}  # fmt: skip


def _parse(frame: bytes) -> tuple[bytearray, Flow] | None:
    """The IPv4 packet inside an NSH frame and its 5-tuple; None when it is not one."""
    if len(frame) < 14 + NSH_LEN + 20 or struct.unpack_from("!H", frame, 12)[0] != ETH_NSH:
        return None
    if frame[14 + 2] & 0x0F != 2 or frame[14 + 3] != 1 or frame[14 + 7] == 0:  # MD2, IPv4, SI > 0
        return None
    pkt = bytearray(frame[14 + NSH_LEN :])
    if pkt[0] >> 4 != 4:
        return None
    ihl, frag, proto = pkt[0] & 0x0F, struct.unpack_from("!H", pkt, 6)[0] & 0x1FFF, pkt[9]
    src, dst = struct.unpack_from("!II", pkt, 12)
    l4 = ihl == 5 and frag == 0 and proto in (6, 17) and len(pkt) >= 24
    sport, dport = struct.unpack_from("!HH", pkt, 20) if l4 else (0, 0)
    return pkt, Flow(src, dst, proto, sport, dport)


def _emit(frame: bytes, pkt: bytearray, mac: bytes, new: Flow | None) -> bytes:
    """The frame back to the switch: addresses swapped, SI decremented, the 5-tuple
    rewritten to `new` (checksums recomputed) when given."""
    if new is not None:
        struct.pack_into("!II", pkt, 12, new.src, new.dst)
        l4 = pkt[0] & 0x0F == 5 and pkt[9] in (6, 17)
        if l4:
            struct.pack_into("!HH", pkt, 20, new.sport, new.dport)
        pkt[10:12] = b"\x00\x00"
        struct.pack_into("!H", pkt, 10, csum16(bytes(pkt[:20])))
        total = struct.unpack_from("!H", pkt, 2)[0]
        at = 20 + (16 if pkt[9] == 6 else 6)
        if l4 and total <= len(pkt) and (pkt[9] == 6 or struct.unpack_from("!H", pkt, at)[0] != 0):
            seg = bytearray(pkt[20:total])
            seg[at - 20 : at - 18] = b"\x00\x00"
            pseudo = struct.pack("!IIBBH", new.src, new.dst, 0, pkt[9], total - 20)
            struct.pack_into("!H", pkt, at, csum16(pseudo + bytes(seg)))
    nsh = bytearray(frame[14 : 14 + NSH_LEN])
    nsh[7] -= 1
    return frame[6:12] + mac + frame[12:14] + bytes(nsh) + bytes(pkt)


def _prefix(v: Any, where: str) -> tuple[int, int]:
    f = FlowFilter.parse({"src": v}, where)
    return f.src


class StatefulNF:
    """What the two stateful NFs share: parsing, holds, counters, the state API."""

    kind = ""

    def __init__(self, nid: int, inside: tuple[int, int], hold_limit: int, mac: bytes) -> None:
        self.id, self.inside, self.hold_limit, self.mac = nid, inside, hold_limit, mac
        self.lock = threading.RLock()
        self.stats: Counter = Counter()
        self.holds: dict[str, Hold] = {}
        self.emit: Callable[[bytes], None] | None = None  # frames processed outside the packet loop
        self.release_pps = RELEASE_PPS
        self._next_emit = 0.0
        self.config: dict = {}
        self.meters: dict[Flow, FlowMeter] = {}  # state key -> its counters (flows with state only)

    # -- packets -------------------------------------------------------------------------
    def process(self, frame: bytes, now: float | None = None) -> bytes | None:
        with self.lock:
            parsed = _parse(frame)
            if parsed is None:
                self.stats["malformed"] += 1
                return None
            pkt, flow = parsed
            key = self.flow_key(flow)
            for h in self.holds.values():
                if key is not None and h.matches(key):
                    h.seen += 1
                    if sum(len(x.buffer) for x in self.holds.values()) >= self.hold_limit:
                        self.stats["hold_overflow"] += 1  # bounded: past the limit the packet is lost
                    else:
                        h.buffer.append(frame)
                        self.stats["held"] += 1
                    return None
            return self._apply(frame, pkt, flow, time.monotonic() if now is None else now, key)

    def _apply(
        self, frame: bytes, pkt: bytearray, flow: Flow, now: float, key: Flow | None = None
    ) -> bytes | None:
        out = self.handle(pkt, flow, now)
        if out is False:
            self.stats["dropped"] += 1
            return None
        self.stats["processed"] += 1
        if key is None:  # not known before handle(): a first packet, or frames injected / released
            key = self.flow_key(flow)
        m = self.meters.get(key) if key is not None else None
        if m is None and key is not None and self.has(key):  # only flows with state: bounded by it
            m = self.meters[key] = FlowMeter(now)
        if m is not None:
            m.add(len(pkt), now)
        return _emit(frame, pkt, self.mac, out if isinstance(out, Flow) else None)

    def inside_of(self, ip: int) -> bool:
        return ip & self.inside[1] == self.inside[0]

    def _paced(self, frame: bytes) -> None:
        now = time.monotonic()
        self._next_emit = max(self._next_emit, now)
        if self._next_emit > now:
            time.sleep(self._next_emit - now)
        self._next_emit += 1.0 / self.release_pps
        self.emit(frame)

    # -- holds ---------------------------------------------------------------------------
    def hold(self, move: str, flt: FlowFilter) -> None:
        with self.lock:
            if move in self.holds:
                raise StateError(f"move {move!r} already holds packets on NF {self.id}")
            self.holds[move] = Hold(flt)

    def narrow(self, move: str, flows: list[Flow]) -> int:
        """Hold only `flows` from now on; held packets of other flows (flows that began
        after the hold, so their state was not copied) are processed here, in order."""
        with self.lock:
            h = self._hold(move)
            h.flows = frozenset(flows)
            waiting, h.buffer = h.buffer, deque()
            n = 0
            for frame in waiting:  # a moved flow's frame is held again, in the same order
                out = self.process(frame)
                if out is not None and self.emit is not None:
                    self._paced(out)
                    n += 1
            return n

    def _hold(self, move: str) -> Hold:
        h = self.holds.get(move)
        if h is None:
            raise StateError(f"NF {self.id} holds nothing for move {move!r}")
        h.touched = time.monotonic()
        return h

    def expire(self, lease_s: float) -> int:
        """Release holds no control op has touched for `lease_s` (their controller died
        mid-move): their packets are processed here, in order, rather than held forever."""
        with self.lock:
            now = time.monotonic()
            stale = [m for m, h in self.holds.items() if now - h.touched > lease_s]
            self.stats["hold_expired"] += len(stale)
        for m in stale:
            self.release(m)
        return len(stale)

    def take(self, move: str, end: bool = False) -> list[bytes]:
        """The frames held so far. The hold stays (later ones are held too), or with `end`
        it goes in the same step: no frame can arrive between the last take and the end
        of the hold and be lost, as with a take followed by a dropping release."""
        with self.lock:
            h = self._hold(move)
            frames = list(h.buffer)
            h.buffer.clear()
            if end:
                del self.holds[move]
            return frames

    def held(self, move: str) -> dict:
        with self.lock:
            h = self._hold(move)
            return {"buffered": len(h.buffer), "seen": h.seen}

    def release(self, move: str, drop: bool = False) -> int:
        """Stop holding: what is held is processed here in arrival order (or dropped).

        The buffer drains in chunks, sent on at release_pps; packets that arrive meanwhile
        join its tail (the hold stays until the buffer is empty), so the packet loop is
        never blocked for long and the order is kept."""
        n = 0
        while True:
            with self.lock:
                h = self.holds.get(move)
                if h is None:
                    return n
                if not h.buffer:
                    del self.holds[move]
                    return n
                chunk = [h.buffer.popleft() for _ in range(min(64, len(h.buffer)))]
                if drop:
                    self.stats["dropped"] += len(chunk)
                    continue
                outs = self._apply_all(chunk)
            n += self._send_all(outs)

    def inject(self, frames: list[bytes]) -> int:
        """Process frames handed in by the controller (held elsewhere), bypassing holds."""
        n = 0
        for k in range(0, len(frames), 64):
            with self.lock:
                outs = self._apply_all(frames[k : k + 64])
                self.stats["injected"] += len(frames[k : k + 64])
            n += self._send_all(outs)
        return n

    def _apply_all(self, frames: list[bytes]) -> list[bytes]:
        outs = []
        for frame in frames:
            parsed = _parse(frame)
            if parsed is None:
                self.stats["malformed"] += 1
                continue
            out = self._apply(frame, parsed[0], parsed[1], time.monotonic())
            if out is not None:
                outs.append(out)
        return outs

    def _send_all(self, outs: list[bytes]) -> int:
        if self.emit is None:
            return 0
        for out in outs:
            self._paced(out)
        return len(outs)

    # -- state (subclasses) --------------------------------------------------------------
    def flow_key(self, flow: Flow) -> Flow | None:
        """The flow a packet belongs to, as state is keyed (the inside flow)."""
        raise NotImplementedError

    def handle(self, pkt: bytearray, flow: Flow, now: float) -> Flow | bool:
        raise NotImplementedError

    def get(self, flt: FlowFilter) -> list[dict]:
        raise NotImplementedError

    def put(self, records: list[dict]) -> int:
        raise NotImplementedError

    def delete(self, flt: FlowFilter) -> int:
        raise NotImplementedError

    def forget(self, flows: list[Flow]) -> int:
        """Delete the state of exactly these flows (a move's source, after the commit)."""
        raise NotImplementedError

    def flows(self) -> int:
        raise NotImplementedError

    def has(self, key: Flow) -> bool:
        """Whether the NF keeps state for this flow."""
        raise NotImplementedError

    def flow_rates(self, flt: FlowFilter, limit: int) -> tuple[int, list[dict]]:
        """(flows matching, the `limit` busiest of them): each flow with state, its totals and
        rates (a flow with state but no packet since it was put here reads 0)."""
        with self.lock:
            now = time.monotonic()
            rows = []
            for f in self.keys():
                if flt.matches(f):
                    m = self.meters.get(f)
                    d = m.to_dict(now) if m is not None else {"packets": 0, "bytes": 0, "pps": 0.0, "bps": 0.0,
                                                              "age_s": 0.0, "idle_s": None}  # fmt: skip
                    rows.append({"flow": f.to_dict(), **d})
        rows.sort(key=lambda r: (-r["pps"], -r["bps"]))  # the busiest first: a limit keeps what matters
        return len(rows), rows[:limit]

    def keys(self) -> list[Flow]:
        raise NotImplementedError

    def counters(self) -> dict:
        with self.lock:
            return {"id": self.id, "kind": self.kind, "flows": self.flows(),
                    "queue": sum(len(h.buffer) for h in self.holds.values()), **dict(self.stats)}  # fmt: skip

    def _records(self, records: Any) -> list[tuple[Flow, dict]]:
        """Validated (flow, state) pairs, or StateError naming the first bad one."""
        if not isinstance(records, list):
            raise StateError("records must be a list of {flow, <state>}")
        out = []
        for k, r in enumerate(records):
            where = f"records[{k}]"
            if not isinstance(r, dict) or "flow" not in r:
                raise StateError(f"{where}: a record is a mapping with flow and its state")
            other = [s for s in ("nat", "conn") if s in r and s != self.state_field]
            if other:
                kind = "snat" if other[0] == "nat" else "conntrack"
                raise StateError(f"{where}: holds {kind} state; NF {self.id} is a {self.kind}")
            if self.state_field not in r or not isinstance(r[self.state_field], dict):
                raise StateError(f"{where}: {self.state_field} (the {self.kind} state) is missing")
            try:
                flow = Flow.parse(r["flow"], f"{where}.flow")
            except FilterError as e:
                raise StateError(str(e)) from None
            out.append((flow, r[self.state_field]))
        return out

    state_field = ""


class StatefulNat(StatefulNF):
    """Source NAT: a flow from inside gets (public, port) on its first packet; the reply
    (to public:port) is translated back. Ports come from the instance's own range, so two
    instances never hand out the same one; a moved mapping keeps its port."""

    kind = "snat"
    state_field = "nat"

    def __init__(self, nid: int, inside, public: int, ports: tuple[int, int], hold_limit: int, mac: bytes):
        super().__init__(nid, inside, hold_limit, mac)
        self.public, self.ports = public, ports
        self.map: dict[Flow, int] = {}  # inside flow -> public port
        self.rev: dict[tuple[int, int], Flow] = {}  # (proto, public port) -> inside flow
        self.cursor = ports[0]

    def flow_key(self, flow: Flow) -> Flow | None:
        if self.inside_of(flow.src):
            return flow
        back = self.rev.get((flow.proto, flow.dport)) if flow.dst == self.public else None
        return back

    def _allocate(self, proto: int) -> int | None:
        lo, hi = self.ports
        for _ in range(hi - lo + 1):
            p, self.cursor = self.cursor, lo if self.cursor >= hi else self.cursor + 1
            if (proto, p) not in self.rev:
                return p
        return None

    def handle(self, pkt: bytearray, flow: Flow, now: float) -> Flow | bool:
        if flow.proto not in (6, 17):
            return True  # other protocols pass untranslated, as the fabric's NAT does
        if self.inside_of(flow.src):
            port = self.map.get(flow)
            if port is None:
                port = self._allocate(flow.proto)
                if port is None:
                    self.stats["errors"] += 1  # ports exhausted: the flow cannot be translated
                    return False
                self.map[flow] = port
                self.rev[(flow.proto, port)] = flow
                self.stats["mappings"] += 1
            return Flow(self.public, flow.dst, flow.proto, port, flow.dport)
        inner = self.rev.get((flow.proto, flow.dport)) if flow.dst == self.public else None
        if inner is None:
            return True  # not ours: passes as is
        return Flow(flow.src, inner.src, flow.proto, flow.sport, inner.sport)

    def get(self, flt: FlowFilter) -> list[dict]:
        with self.lock:
            return [{"flow": f.to_dict(), "nat": {"src": ip_str(self.public), "sport": p}}
                    for f, p in sorted(self.map.items()) if flt.matches(f)]  # fmt: skip

    def put(self, records: Any) -> int:
        pairs = self._records(records)
        with self.lock:
            want: dict[tuple[int, int], Flow] = {}
            for k, (flow, st) in enumerate(pairs):
                port = st.get("sport")
                if not isinstance(port, int) or not 1 <= port <= 0xFFFF:
                    raise StateError(f"records[{k}].nat.sport: must be a port in 1..65535, not {port!r}")
                if st.get("src") != ip_str(self.public):
                    raise StateError(
                        f"records[{k}].nat.src: {st.get('src')!r} is not this NAT's public address"
                    )
                owner = self.rev.get((flow.proto, port)) or want.get((flow.proto, port))
                if owner is not None and owner != flow:
                    raise StateError(f"records[{k}]: public port {port} is already mapped to another flow")
                want[(flow.proto, port)] = flow
            for (proto, port), flow in want.items():  # all checked: now apply all
                old = self.map.get(flow)
                if old is not None:
                    self.rev.pop((proto, old), None)
                self.map[flow] = port
                self.rev[(proto, port)] = flow
            return len(want)

    def delete(self, flt: FlowFilter) -> int:
        with self.lock:
            return self.forget([f for f in self.map if flt.matches(f)])

    def forget(self, flows: list[Flow]) -> int:
        with self.lock:
            gone = [f for f in flows if f in self.map]
            for f in gone:
                self.rev.pop((f.proto, self.map.pop(f)), None)
                self.meters.pop(f, None)
            return len(gone)

    def flows(self) -> int:
        return len(self.map)

    def has(self, key: Flow) -> bool:
        return key in self.map

    def keys(self) -> list[Flow]:
        return sorted(self.map)


class ConnTrack(StatefulNF):
    """Connection-tracking firewall: inside → outside always passes and opens the flow;
    outside → inside passes only when it is the reverse of an open flow."""

    kind = "conntrack"
    state_field = "conn"

    def __init__(self, nid: int, inside, hold_limit: int, mac: bytes):
        super().__init__(nid, inside, hold_limit, mac)
        self.conns: dict[Flow, dict] = {}  # inside flow -> {packets, replies}

    def flow_key(self, flow: Flow) -> Flow | None:
        return flow if self.inside_of(flow.src) else flow.reverse()

    def handle(self, pkt: bytearray, flow: Flow, now: float) -> Flow | bool:
        if self.inside_of(flow.src):
            c = self.conns.setdefault(flow, {"packets": 0, "replies": 0})
            c["packets"] += 1
            return True
        c = self.conns.get(flow.reverse())
        if c is None:
            return False  # not opened from inside
        c["replies"] += 1
        return True

    def get(self, flt: FlowFilter) -> list[dict]:
        with self.lock:
            return [
                {"flow": f.to_dict(), "conn": dict(c)}
                for f, c in sorted(self.conns.items())
                if flt.matches(f)
            ]

    def put(self, records: Any) -> int:
        pairs = self._records(records)
        clean = []
        for k, (flow, st) in enumerate(pairs):
            c = {n: st.get(n, 0) for n in ("packets", "replies")}
            if set(st) - set(c) or not all(isinstance(v, int) and v >= 0 for v in c.values()):
                raise StateError(f"records[{k}].conn: takes packets and replies, counts >= 0")
            clean.append((flow, c))
        with self.lock:
            for flow, c in clean:
                self.conns[flow] = c
            return len(clean)

    def delete(self, flt: FlowFilter) -> int:
        with self.lock:
            return self.forget([f for f in self.conns if flt.matches(f)])

    def forget(self, flows: list[Flow]) -> int:
        with self.lock:
            gone = [f for f in flows if f in self.conns]
            for f in gone:
                del self.conns[f]
                self.meters.pop(f, None)
            return len(gone)

    def flows(self) -> int:
        return len(self.conns)

    def has(self, key: Flow) -> bool:
        return key in self.conns

    def keys(self) -> list[Flow]:
        return sorted(self.conns)


def make_stateful(c: dict, mac: bytes, where: str = "config") -> StatefulNF:
    """A stateful NF from its config entry; StateError names what is wrong."""
    nid = c.get("id")
    if not isinstance(nid, int) or isinstance(nid, bool) or not 1 <= nid <= 255:
        raise StateError(f"{where}: id must be an integer in 1..255, not {nid!r}")
    where = f"{where}[id={nid}]"
    known = {"id", "kind", "inside", "hold_limit", "release_pps"} | (
        {"public", "ports"} if c.get("kind") == "snat" else set()
    )
    extra = set(c) - known
    if extra:
        raise StateError(f"{where}: unknown field {sorted(extra)[0]!r}")
    limit = c.get("hold_limit", HOLD_LIMIT)
    if not isinstance(limit, int) or not 0 <= limit <= 1_000_000:
        raise StateError(f"{where}: hold_limit must be an integer in 0..1000000, not {limit!r}")
    try:
        inside = _prefix(c.get("inside"), f"{where}.inside")
        if inside[1] == 0:
            raise StateError(f"{where}.inside: the inside prefix is required (e.g. 10.0.1.0/24)")
        if c.get("kind") == "conntrack":
            nf: StatefulNF = ConnTrack(nid, inside, limit, mac)
        else:
            public = Flow.parse({"src": c.get("public"), "dst": "0.0.0.0", "proto": 0, "sport": 0, "dport": 0},
                                f"{where}.public").src  # fmt: skip
            ports = c.get("ports")
            if not (isinstance(ports, list) and len(ports) == 2 and all(isinstance(p, int) for p in ports)
                    and 1 <= ports[0] <= ports[1] <= 0xFFFF):  # fmt: skip
                raise StateError(f"{where}.ports: must be [low, high] within 1..65535, not {ports!r}")
            nf = StatefulNat(nid, inside, public, (ports[0], ports[1]), limit, mac)
    except FilterError as e:
        raise StateError(str(e).replace(".src:", ":")) from None
    rate = c.get("release_pps", RELEASE_PPS)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 1 <= rate <= 1_000_000:
        raise StateError(f"{where}: release_pps must be a number in 1..1000000, not {rate!r}")
    nf.release_pps = float(rate)
    nf.config = dict(c)
    return nf
