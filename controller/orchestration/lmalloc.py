"""A NAT in a switch's LM that allocates its mapping on a flow's first packet.

fabric.p4's LM NAT translates with two exact entries per flow (`nat`); it cannot pick a
port itself (PI gives the controller no register access, and a switch has no free-list).
So the allocation is the controller's, asked by the packet (p4src/nfs.p4):

1. `nat_alloc` names the sources an instance allocates for (its inside prefix, TCP and
   UDP). A packet from there that misses `nat` is punted to the CPU port with a
   `packet_in` header (reason NAT miss, NF id), NSH as it was at the hop.
2. `Punts` reads the session's packet-ins in batches (up to `batch` frames: the pending
   state) and hands each NF its own, in arrival order.
3. `AllocatingLmNat` picks a free (proto, port) from the instance's range for each new
   flow of the batch, writes every new flow's two entries (flow and reply) in one write,
   then sends each punted frame back by packet-out "through the pipeline": it takes the LM
   hop again, hits the new entry and is translated. No packet is lost, the first included.
   A frame of a flow already mapped (punted before its entries were written) is sent back
   with no second allocation: repeated punts are idempotent.
4. Ports exhausted: the frame is dropped and counted (`exhausted`), the error logged, and
   the flow gets a `nat_refuse` entry for `refuse_s` seconds: the switch drops its packets
   (counted in `nf_drops`) without asking again; when the entry expires the next packet
   asks again (a port may have been freed meanwhile). At most `max_refused` such entries.

The mappings are `LmNat`'s: get / put / forget serve them, so a move into or out of this
instance works as with a plain LM NAT, and a forgotten flow's port is free again.
Order: the first packets of a flow come back by packet-out after the write; a packet of
the flow that reaches the switch after the write, before its predecessors are re-injected,
overtakes them (no switch-side hold: see docs/orchestration.md).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import queue
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from controller.orchestration.lm import LmNat
from nfs.control import ControlError
from nfs.flows import Flow
from p4rt.client import SwitchConnection
from p4rt.entities import TableWrite, Ternary
from p4rt.errors import P4RuntimeError

log = logging.getLogger("srem.lmalloc")

PUNT_NAT_MISS = 1  # p4src/headers.p4
ETH_NSH, NSH_LEN = 0x894F, 8


def flow_of(frame: bytes) -> Flow | None:
    """The 5-tuple of a punted frame (Ethernet, NSH, IPv4, TCP/UDP); None when it is not one."""
    if len(frame) < 14 + NSH_LEN + 24 or struct.unpack_from("!H", frame, 12)[0] != ETH_NSH:
        return None
    ip = 14 + NSH_LEN
    if (
        frame[ip] != 0x45
        or struct.unpack_from("!H", frame, ip + 6)[0] & 0x1FFF
        or frame[ip + 9] not in (6, 17)
    ):
        return None  # options, fragments and other protocols are never punted (nat_alloc)
    src, dst = struct.unpack_from("!II", frame, ip + 12)
    sport, dport = struct.unpack_from("!HH", frame, ip + 20)
    return Flow(src, dst, frame[ip + 9], sport, dport)


def _header_ids(conn: SwitchConnection, name: str) -> dict[str, int]:
    for h in conn.index().p4info.controller_packet_metadata:
        if h.preamble.name == name:
            return {m.name: m.id for m in h.metadata}
    raise ControlError(f'the pipeline has no @controller_header("{name}"): it cannot punt NAT misses')


def packet_out(conn: SwitchConnection, frames: list[bytes], egress_port: int = 0) -> None:
    """Send frames by P4Runtime packet-out; egress_port 0: through the pipeline."""
    try:
        conn.packet_out(frames, egress_port=egress_port)
    except P4RuntimeError as e:
        raise ControlError(str(e)) from None


class Punts:
    """The packet-ins of one switch session, in batches, handed to the NF they name."""

    def __init__(self, conn: SwitchConnection, batch: int = 256) -> None:
        self.conn, self.batch = conn, batch
        self.handlers: dict[tuple[int, int], Callable[[list[bytes]], None]] = {}
        self.tickers: list[Callable[[], None]] = []
        self.stats = {"received": 0, "unclaimed": 0, "batches": 0}
        self._stop = threading.Event()
        self._ids = _header_ids(conn, "packet_in")
        self._thread = threading.Thread(target=self._run, name="lm-punts", daemon=True)
        self._thread.start()

    def register(self, reason: int, nf: int, handler: Callable[[list[bytes]], None],
                 tick: Callable[[], None] | None = None) -> None:  # fmt: skip
        self.handlers[(reason, nf)] = handler
        if tick is not None:
            self.tickers.append(tick)

    def _key(self, p) -> tuple[int, int]:
        md = {m.metadata_id: int.from_bytes(m.value, "big") for m in p.metadata}
        return md.get(self._ids["reason"], 0), md.get(self._ids["nf_id"], 0)

    def _run(self) -> None:
        while not self._stop.is_set():
            for t in list(self.tickers):
                try:
                    t()
                except Exception:  # as for a handler: log it, keep serving
                    log.exception("punt ticker failed")
            try:
                first = self.conn.packets_in.get(timeout=0.05)
            except queue.Empty:
                continue
            got = [first]
            with contextlib.suppress(queue.Empty):
                while len(got) < self.batch:
                    got.append(self.conn.packets_in.get_nowait())
            self.stats["received"] += len(got)
            self.stats["batches"] += 1
            by: dict[tuple[int, int], list[bytes]] = {}
            for p in got:  # arrival order kept per NF
                by.setdefault(self._key(p), []).append(p.payload)
            for key, frames in by.items():
                h = self.handlers.get(key)
                if h is None:
                    self.stats["unclaimed"] += len(frames)
                    continue
                try:
                    h(frames)
                except Exception:  # one NF's failure must not stop the others' punts
                    log.exception("punt handler for %s failed", key)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


@dataclass
class AllocStats:
    punted: int = 0  # frames the switch sent us
    allocated: int = 0  # mappings made on a first packet
    reinjected: int = 0  # frames sent back through the pipeline
    exhausted: int = 0  # frames dropped here: no port left
    refused: int = 0  # frames of a refused flow that still reached us (dropped)
    not_inside: int = 0  # frames that are not from inside / not TCP or UDP (dropped)
    write_failed: int = 0  # frames dropped because the switch refused the entries
    writes: int = 0  # P4Runtime writes of new mappings (one per batch with new flows)
    write_ms: float = 0.0  # their total time: what a first packet waits, beside the punt itself
    errors: list[str] = field(default_factory=list)  # the last few, one line each

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "errors"} | {"errors": self.errors[-5:]}
        return out | {"write_ms": round(self.write_ms, 1)}


class AllocatingLmNat(LmNat):
    """An LM NAT instance that allocates (public, port) from `ports` on a flow's first packet."""

    def __init__(self, conn: SwitchConnection, nf: int, public: str, inside: str, ports: tuple[int, int],
                 punts: Punts, *, refuse_s: float = 1.0, max_refused: int = 1024) -> None:  # fmt: skip
        super().__init__(conn, nf, public)
        lo, hi = ports
        if not 1 <= lo <= hi <= 0xFFFF:
            raise ControlError(f"LM NAT {nf}: ports {ports} is not a range in 1..65535")
        try:
            self.inside = ipaddress.IPv4Network(inside)
        except ValueError as e:
            raise ControlError(f"LM NAT {nf}: inside: {e}") from None
        self.ports, self.punts = (lo, hi), punts
        self.refuse_s, self.max_refused = refuse_s, max_refused
        self.cursor = lo
        self.refused: dict[Flow, float] = {}  # flow -> when its nat_refuse entry is removed
        self.alloc = AllocStats()
        punts.register(PUNT_NAT_MISS, nf, self.on_punts, self._expire)
        self.conn.insert(self._alloc_entries())

    def _alloc_entries(self) -> list[TableWrite]:
        net = Ternary(int(self.inside.network_address), int(self.inside.netmask))
        return [TableWrite.of("nat_alloc", {"meta.nfId": self.nf, "hdr.ipv4.src": net,
                                            "hdr.ipv4.proto": Ternary(p, 0xFF)}, "nat_punt", {}, priority=1)
                for p in (6, 17)]  # fmt: skip

    def _taken(self) -> set[tuple[int, int]]:
        return {(f.proto, p) for f, p in self.map.items()}

    def _allocate(self, proto: int, taken: set[tuple[int, int]]) -> int | None:
        lo, hi = self.ports
        for _ in range(hi - lo + 1):  # round robin: a freed port is not reused at once
            p, self.cursor = self.cursor, lo if self.cursor >= hi else self.cursor + 1
            if (proto, p) not in taken:
                return p
        return None

    def _error(self, msg: str) -> None:
        if len(self.alloc.errors) < 100 or not self.alloc.errors[-1].startswith(msg[:40]):
            log.warning("%s", msg)
        self.alloc.errors = [*self.alloc.errors[-19:], msg]

    def on_punts(self, frames: list[bytes]) -> None:
        """One batch of punted frames, in arrival order: allocate, write, re-inject."""

        with self.lock:
            self.alloc.punted += len(frames)
            taken = self._taken()
            new: dict[Flow, int] = {}
            refuse: list[Flow] = []
            back: list[tuple[Flow, bytes]] = []
            for fr in frames:
                f = flow_of(fr)
                if f is None or int(self.inside.network_address) != f.src & int(self.inside.netmask):
                    self.alloc.not_inside += 1
                    continue
                if f in self.map or f in new:  # punted before its entries were written
                    back.append((f, fr))
                    continue
                if f in self.refused or f in refuse:
                    self.alloc.refused += 1
                    continue
                port = self._allocate(f.proto, taken)
                if port is None:
                    self.alloc.exhausted += 1
                    self._error(f"LM NAT {self.nf}: ports {self.ports[0]}-{self.ports[1]} exhausted: "
                                f"{f.to_dict()} dropped")  # fmt: skip
                    if len(self.refused) + len(refuse) < self.max_refused:
                        refuse.append(f)
                    continue
                taken.add((f.proto, port))
                new[f] = port
                back.append((f, fr))
            if new:
                t0 = time.perf_counter()
                try:
                    self.conn.insert([w for f, p in new.items() for w in self._entries(f, p)])
                except P4RuntimeError as e:
                    lost = [f for f, _ in back if f in new]
                    self.alloc.write_failed += len(lost)
                    self._error(f"LM NAT {self.nf}: mappings not written: {str(e).splitlines()[0]}")
                    back = [(f, fr) for f, fr in back if f not in new]
                    self._drop_written(new)  # a batch may be half applied
                    new = {}
                self.map.update(new)
                self.alloc.allocated += len(new)
                self.alloc.writes += 1
                self.alloc.write_ms += (time.perf_counter() - t0) * 1e3
            if refuse:
                with contextlib.suppress(P4RuntimeError):  # an entry already there is refused already
                    self.conn.insert([self._refuse_entry(f) for f in refuse])
                until = time.monotonic() + self.refuse_s
                self.refused.update({f: until for f in refuse})
            packet_out(self.conn, [fr for _, fr in back])
            self.alloc.reinjected += len(back)

    def _drop_written(self, flows: dict[Flow, int]) -> None:

        for f, p in flows.items():
            for w in self._entries(f, p):
                with contextlib.suppress(P4RuntimeError):
                    self.conn.insert([w], "DELETE")

    def _refuse_entry(self, f: Flow) -> TableWrite:
        match = {"meta.nfId": self.nf, "hdr.ipv4.src": f.src, "hdr.ipv4.dst": f.dst,
                 "hdr.ipv4.proto": f.proto, "meta.sport": f.sport, "meta.dport": f.dport}  # fmt: skip
        return TableWrite.of("nat", match, "nat_refuse", {})

    def _expire(self) -> None:
        """Remove the refuse entries whose time is up: the flow's next packet asks again."""

        now = time.monotonic()
        with self.lock:  # a put may remove a refused flow meanwhile
            due = [f for f, t in self.refused.items() if t <= now]
            if not due:
                return
            with contextlib.suppress(P4RuntimeError):
                self.conn.insert([self._refuse_entry(f) for f in due], "DELETE")
            for f in due:
                del self.refused[f]

    def call(self, op: str, **args):
        if op == "put":  # a moved-in mapping keeps its port: refuse one another flow holds
            with self.lock:
                taken = {(f.proto, p): f for f, p in self.map.items()}
                for k, r in enumerate(args.get("records") or []):
                    try:
                        f, p = Flow.parse(r["flow"]), int(r["nat"]["sport"])
                    except (KeyError, TypeError, ValueError):
                        continue  # LmNat names the malformed record
                    owner = taken.get((f.proto, p))
                    if owner is not None and owner != f:
                        raise ControlError(f"records[{k}]: public port {p} is already mapped to another flow")
                    if f in self.refused:  # its refuse entry would collide with the mapping
                        self._remove_refused(f)
        out = super().call(op, **args)
        if op == "stats":
            out["nfs"][0]["alloc"] = self.alloc.to_dict()
        return out

    def _remove_refused(self, f: Flow) -> None:

        with contextlib.suppress(P4RuntimeError):
            self.conn.insert([self._refuse_entry(f)], "DELETE")
        self.refused.pop(f, None)

    def entities(self) -> list:
        """Everything this instance wrote, as P4Runtime entities: for a controller that
        reconciles the switch (`Controller(extra=...)`), which would otherwise delete them."""
        from p4.v1 import p4runtime_pb2 as R

        with self.lock:
            writes = [*self._alloc_entries(), *(w for f, p in self.map.items() for w in self._entries(f, p))]
            writes += [self._refuse_entry(f) for f in self.refused]
            return [R.Entity(table_entry=self.conn.index().entry(w)) for w in writes]

    def close(self) -> None:
        """Stop allocating (the nat_alloc entries go; mappings stay, as LmNat's)."""

        self.punts.handlers.pop((PUNT_NAT_MISS, self.nf), None)
        with self.lock, contextlib.suppress(P4RuntimeError):
            self.conn.insert(self._alloc_entries(), "DELETE")
            if self.refused:
                self.conn.insert([self._refuse_entry(f) for f in self.refused], "DELETE")
            self.refused.clear()
