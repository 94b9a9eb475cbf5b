"""The EMAC API: what the controller calls to keep NF tables in external memory.

One `Emac` per switch. It writes the EM layout into a memory server's region with RDMA
WRITEs over its own RC queue pair (`RdmaClient`), and drives the switch's EM path over
the controller's P4Runtime session with that switch (`p4rt.client.SwitchConnection`):
the NF's EM configuration (em_config), the QPs it accepts responses on (em_qp), each QP's
READ addresses and key (em_read_qp), the clone session that carries READ requests to the server, the RDMA-table cache (size, flush) and
the counters.

The switch-side entries are the EMAC's part of the switch's desired state: `entities()`
lists them, so that the controller's reconcile keeps them (never deletes them as strays)
and puts them back on a switch that restarted empty; `restore()` then sets the cache again
(size and epoch: the default action of `em_cache`; the READ PSN restarts at 0, and the
memory server's sequence NAK tells the switch the PSN it expects, as a responder NIC does).

The EMAC writes no register: PI's P4Runtime server (simple_switch_grpc) does not
implement register writes, so what the controller sets is table data (the cache's size
and epoch are `em_cache`'s default action) and what the data plane keeps is initialised
by it (the READ PSN starts at 0 and follows the server's NAKs). Nor does it read registers
(PI does not implement that either): what the EMAC reports comes from counters
(`rdma_stats`, and `fetch_hist` for the READ round trips).

Ordering, so that a packet sees the old entry or the new one, never a mix:
- `place`: the whole table is written and acknowledged before em_config points the NF at
  it; the controller steers the chain hop to EM (sff) only after that.
- `put`/`delete`: the slot is written head version, body, tail version (each WRITE
  acknowledged before the next), then the cache is flushed (epoch + 1). Until the flush
  packets use the old cached entry; READs that land mid-write see head != tail and are
  retried by the switch; responses to READs issued before the flush are not cached.
- leaving EM: LM entries first, then the controller flips the hop to LM, then the
  em_config goes (`release`, or the controller's reconcile once `forget` dropped it
  from `entities()`), and the region's space is free again.

Kinds of table: a NAT (`kind="nat"`, keys are 5-tuples) and a load balancer (`kind="lb"`,
one entry per VIP backend slot, emac/layout.py). For a load balancer the EMAC also keeps
the switch's small LM table `lb_em_vip` (VIP -> number of backends n, which the switch
needs to compute a flow's key), derived from the entries: written with em_config, before
any hop reads the table; a put that adds slot n writes it before raising n, a delete of
the last slot lowers n before removing it, so no packet computes a slot EM does not hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from p4.v1 import p4runtime_pb2 as R
from scapy.contrib.roce import AETH, BTH

from emac.layout import ACT_LB, ACT_NAT, BUCKET_BYTES, BucketFull, EmTable, Entry, FlowKey, lb_backend_counts
from emac.roce import AETH_ACK, NAK_PSN_SEQ, OP_ACK, Endpoint, parse, payload_of, read_request, write_only
from p4rt.client import SwitchConnection
from p4rt.entities import TableWrite, clone_session, update

CACHE_MAX = 16384  # p4src/headers.p4
EM_ACTIONS = {"nat": ACT_NAT, "lb": ACT_LB}  # the table kinds EM holds, and their action ids
N_QP = 8
RDMA_STATS = (
    "hit",
    "miss",
    "read",
    "resp_ok",
    "bad_psn",
    "bad_qp",
    "bad_icrc",
    "nak",
    "torn",
    "not_found",
    "fallback",
    "wait_pass",
    "bad_len",
    "bad_shim",  # a wait shim from a host port, or an answer not recirculated: dropped (p4src/README.md)
)


class EmacError(Exception):
    """An EM operation that could not be done (named), nothing half-applied."""


Transport = Callable[[bytes], list[bytes]]  # send one frame, get the frames it caused


class RawTransport:
    """Frames to a memory server through a Linux interface; answers are the RoCEv2 frames
    addressed back to `me` within `timeout` (one per request for WRITEs)."""

    def __init__(self, iface: str, me: Endpoint, timeout: float = 1.0) -> None:
        import socket

        self.me, self.timeout = me, timeout
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.sock.bind((iface, 0))

    def __call__(self, frame: bytes) -> list[bytes]:
        import time

        self.sock.send(frame)
        end = time.monotonic() + self.timeout
        while (left := end - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                break
            p = parse(data)
            if addr[2] != 4 and p is not None and p[BTH].dqpn == self.me.qpn and p.dst == self.me.mac:
                return [data]
        return []

    def close(self) -> None:
        self.sock.close()


@dataclass
class RdmaClient:
    """The EMAC's own RC QP to a memory server: WRITEs (each acknowledged) and READs."""

    me: Endpoint
    server: Endpoint
    transport: Transport
    psn: int = 0
    writes: int = 0

    def write(self, va: int, rkey: int, data: bytes, mtu: int = 1024) -> None:
        for off in range(0, len(data), mtu):
            chunk = data[off : off + mtu]
            answers = self.transport(write_only(self.me, self.server, self.psn, va + off, rkey, chunk))
            acks = [p for p in map(parse, answers) if p is not None and p[BTH].opcode == OP_ACK and AETH in p]
            if not acks or acks[0][BTH].psn != self.psn or acks[0][AETH].syndrome != AETH_ACK:
                why = f"syndrome {acks[0][AETH].syndrome:#x}" if acks else "no acknowledgement"
                raise EmacError(f"RDMA WRITE of {len(chunk)} bytes at {va + off:#x} failed: {why}")
            self.psn = (self.psn + 1) & 0xFFFFFF
            self.writes += 1

    def sync(self) -> None:
        """Take up the PSN the responder expects (a restarted requester whose QP lives on
        at the server): a request far ahead of it is a sequence error, and the NAK for it
        carries the expected PSN. Nothing is read or written."""
        ahead = (self.psn + (1 << 22)) & 0xFFFFFF
        for p in map(parse, self.transport(read_request(self.me, self.server, ahead, 0, 0, 0))):
            if p is not None and AETH in p and p[AETH].syndrome == NAK_PSN_SEQ:
                self.psn = p[BTH].psn
                return
        raise EmacError(f"the memory server at {self.server.ip} did not answer a PSN probe")

    def read(self, va: int, rkey: int, length: int) -> bytes:
        """RDMA READ of `length` bytes (FIRST/MIDDLE/LAST responses reassembled)."""
        answers = [
            p
            for p in map(
                parse, self.transport(read_request(self.me, self.server, self.psn, va, rkey, length))
            )
            if p
        ]
        data = b""
        for k, p in enumerate(answers):
            if p[BTH].psn != (self.psn + k) & 0xFFFFFF or p[BTH].opcode not in (0x0D, 0x0E, 0x0F, 0x10):
                why = f"syndrome {p[AETH].syndrome:#x}" if AETH in p else f"opcode {p[BTH].opcode:#x}"
                raise EmacError(f"RDMA READ of {length} bytes at {va:#x} failed: {why}")
            data += payload_of(p)
        if len(data) != length:
            raise EmacError(f"RDMA READ of {length} bytes at {va:#x} returned {len(data)}")
        self.psn = (self.psn + len(answers)) & 0xFFFFFF
        return data


@dataclass
class MemoryServer:
    """A memory server as the switch sees it: address, its QP for this switch, the region."""

    endpoint: Endpoint  # mac, ip, and the QPN that serves this switch's READs
    rkey: int
    base: int
    size: int
    port: int  # switch port toward it
    writer: RdmaClient


@dataclass
class Placement:
    nf: int
    server: MemoryServer
    qp: int
    table: EmTable
    base: int
    config: TableWrite  # its em_config entry
    kind: str = "nat"

    def vips(self) -> dict[tuple[int, int, int], int]:
        """A load balancer's VIPs and their numbers of backends (none for a NAT)."""
        return _backend_counts(self.nf, self.kind, list(self.table.slots))


@dataclass
class Emac:
    client: SwitchConnection
    me: Endpoint  # the switch's RDMA address and QPN base (QP i is qpn + i)
    loop_port: int
    # Emulation-scale defaults (a READ through srem's Python switch takes milliseconds).
    bound_us: int = 200_000
    retry_us: int = 50_000
    servers: dict[int, MemoryServer] = field(default_factory=dict)  # qp index -> server
    placed: dict[int, Placement] = field(default_factory=dict)
    epoch: int = 0
    cache_size: int = 1024
    # Cut the READ clone by its clone session (packet_length_bytes): a Tofino switch, which
    # has no truncate(). BMv2's P4Runtime server refuses the field ("Error when creating
    # clone session"), and v1model targets cut the clone with truncate() in egress.
    session_cut: bool = False
    # The port a packet sent out of `loop_port` comes back on (a veth pair's far end); None:
    # the loop port reflects. A wait shim is taken from it and from a recirculation only.
    loop_in: int | None = None

    # -- the switch side ------------------------------------------------------------------------
    def _endpoint(self) -> TableWrite:
        return TableWrite.of("rdma_endpoint", {"hdr.ipv4.dst": _ip(self.me.ip)}, "NoAction")

    def _wait_port(self) -> TableWrite:
        port = self.loop_port if self.loop_in is None else self.loop_in
        return TableWrite.of("wait_port", {"sm.ingress_port": port}, "NoAction")

    def _qp(self, qp: int, server: MemoryServer) -> TableWrite:
        return TableWrite.of(
            "em_qp",
            {"hdr.ipv4.src": _ip(server.endpoint.ip), "hdr.bth.dqpn": self.me.qpn + qp},
            "qp_ok",
            {"qp": qp},
        )

    def _read_qp(self, qp: int, server: MemoryServer) -> TableWrite:
        return TableWrite.of(
            "em_read_qp",
            {"meta.qp": qp},
            "read_to",
            {
                "rkey": server.rkey,
                "srvQpn": server.endpoint.qpn,
                "srvIp": _ip(server.endpoint.ip),
                "srvMac": _mac(server.endpoint.mac),
                "myIp": _ip(self.me.ip),
                "myMac": _mac(self.me.mac),
            },
        )

    def entities(self, nfs: Iterable[int] | None = None) -> list[R.Entity]:
        """The switch entries the EMAC owns, as part of the switch's desired state: with
        `nfs`, the em_config of those tables only (the others are on their way out)."""
        index = self.client.index()
        keep = set(self.placed) if nfs is None else set(nfs)
        writes = [self._endpoint(), self._wait_port()]
        for qp, srv in sorted(self.servers.items()):
            writes += [self._qp(qp, srv), self._read_qp(qp, srv)]
        for nf, p in sorted(self.placed.items()):
            if nf in keep:
                writes.append(p.config)
                writes += [_vip_write(nf, v, n) for v, n in sorted(p.vips().items())]
        out = [R.Entity(table_entry=index.entry(w)) for w in writes]
        out += [read_session(qp, srv.port, self.session_cut) for qp, srv in sorted(self.servers.items())]
        return out

    def start(self, cache_size: int | None = None) -> None:
        """The switch's own RDMA address, and an empty cache of `cache_size` entries."""
        self.client.insert([self._endpoint(), self._wait_port()])
        self.set_cache_size(cache_size or self.cache_size)

    def restore(self) -> None:
        """After the switch came back empty and its entries were put back: the registers."""
        self.set_cache_size(self.cache_size)

    def installed(self) -> dict[int, dict[str, int]]:
        """The tables the switch reads from EM now: NF id -> its em_set parameters (what a
        restarted controller finds)."""
        index = self.client.index()
        action = index.action("em_set")
        names = {p.id: p.name for p in action.params}
        out = {}
        for te in self.client.read_table("em_config"):
            nf = int.from_bytes(te.match[0].exact.value, "big")
            params = {names[p.param_id]: int.from_bytes(p.value, "big") for p in te.action.action.params}
            out[nf] = params
        return out

    def resume(self, servers: dict[int, MemoryServer]) -> None:
        """Take over a switch whose EM path a previous EMAC set up (its entries, registers
        and the PSNs in flight stay as they are): the servers behind its QPs, the cache
        settings, and every table it reads, read back from the memory servers."""
        self.servers.update(servers)
        self.cache_size, self.epoch = self.cache_settings()
        lbs = {int.from_bytes(te.match[0].exact.value, "big") for te in self.client.read_table("lb_em_vip")}
        for nf, params in sorted(self.installed().items()):
            if params["qp"] not in self.servers:
                raise EmacError(f"NF {nf} is in EM behind QP {params['qp']}, which has no memory server here")
            kind = "lb" if nf in lbs else "nat"
            p = self.adopt(nf, params["qp"], params["base"], params["bucketMask"] + 1, kind)
            p.config = TableWrite.of("em_config", {"meta.nfId": nf}, "em_set", params)  # as installed

    def attach(self, qp: int, server: MemoryServer) -> None:
        """Connect QP `qp` of the switch to a memory server behind `server.port`. The switch's
        READ PSN is its own (0 on a fresh pipeline): a server that expects another answers the
        first READ with a sequence NAK that carries its PSN, and the switch takes it up."""
        if not 0 <= qp < N_QP or qp in self.servers:
            raise EmacError(f"QP index {qp} is outside 0..{N_QP - 1} or taken")
        self.client.write(
            [
                update("INSERT", self.client.index().entry(self._qp(qp, server))),
                update("INSERT", self.client.index().entry(self._read_qp(qp, server))),
                update("INSERT", read_session(qp, server.port, self.session_cut)),
            ]
        )
        self.servers[qp] = server

    # -- tables ---------------------------------------------------------------------------------
    def _allocate(self, qp: int, size: int) -> int:
        """First fit in the server's region among the tables placed there."""
        srv = self.servers[qp]
        taken = sorted((p.base, p.base + p.table.size_bytes) for p in self.placed.values() if p.qp == qp)
        at = srv.base
        for lo, hi in taken:
            if at + size <= lo:
                break
            at = max(at, hi)
        if at + size > srv.base + srv.size:
            free = srv.size - sum(hi - lo for lo, hi in taken)
            raise EmacError(f"{size} bytes do not fit the region of QP {qp} ({free} free, fragmented or not)")
        return at

    def write_table(
        self,
        nf: int,
        entries: list[Entry],
        qp: int,
        buckets: int,
        fallback: tuple[int, str] | None = None,
        kind: str = "nat",
    ) -> Placement:
        """Write the NF's whole table into the server's region (the switch not told yet).

        fallback: None drops (counted) when the server does not answer within bound_us;
        (port, mac) detours the packet to a server instance of the same NF.
        kind: "nat" or "lb" (nfs.entries.em_entries renders either)."""
        if nf in self.placed:
            raise EmacError(f"NF {nf} is in EM already")
        _check_actions(nf, kind, entries)
        _backend_counts(nf, kind, [e.key for e in entries])
        srv = self.servers.get(qp)
        if srv is None:
            raise EmacError(f"QP index {qp} has no memory server attached")
        table = EmTable(nf, buckets)
        try:
            image = table.image(entries)
            base = self._allocate(qp, table.size_bytes)
        except (BucketFull, EmacError) as e:
            raise EmacError(f"NF {nf}: {e}") from None
        srv.writer.write(base, srv.rkey, image)
        p = Placement(nf, srv, qp, table, base, self._config(nf, qp, base, buckets, fallback), kind)
        self.placed[nf] = p
        return p

    def place(
        self,
        nf: int,
        entries: list[Entry],
        qp: int,
        buckets: int,
        fallback: tuple[int, str] | None = None,
        kind: str = "nat",
    ) -> Placement:
        """Write the NF's whole table, then point the switch at it (em_config, and a load
        balancer's VIP counts, in one batch: no hop reads the table before this returns)."""
        p = self.write_table(nf, entries, qp, buckets, fallback, kind)
        try:
            # The switch learns of the table only now, after every byte of it is acknowledged.
            self.client.insert([p.config] + [_vip_write(nf, v, n) for v, n in sorted(p.vips().items())])
        except Exception:
            del self.placed[nf]
            raise
        return p

    def _config(
        self, nf: int, qp: int, base: int, buckets: int, fallback: tuple[int, str] | None
    ) -> TableWrite:
        port, mac = fallback if fallback else (0, "00:00:00:00:00:00")
        return TableWrite.of(
            "em_config",
            {"meta.nfId": nf},
            "em_set",
            {
                "base": base,
                "bucketMask": buckets - 1,
                "qp": qp,
                "loopPort": self.loop_port,
                "boundUs": self.bound_us,
                "retryUs": self.retry_us,
                "detour": int(fallback is not None),
                "detourPort": port,
                "detourMac": _mac(mac),
            },
        )

    def adopt(self, nf: int, qp: int, base: int, buckets: int, kind: str = "nat") -> Placement:
        """Take over a table already in EM (a restarted controller): its slots are read back
        from the server, so later updates continue its versions and keep its slots."""
        _check_actions(nf, kind, [])
        srv = self.servers.get(qp)
        if srv is None:
            raise EmacError(f"QP index {qp} has no memory server attached")
        image = b"".join(
            srv.writer.read(base + off, srv.rkey, min(1024, buckets * BUCKET_BYTES - off))
            for off in range(0, buckets * BUCKET_BYTES, 1024)
        )
        table = EmTable.from_image(nf, buckets, image)
        _backend_counts(nf, kind, list(table.slots))
        p = Placement(nf, srv, qp, table, base, self._config(nf, qp, base, buckets, None), kind)
        self.placed[nf] = p
        return p

    def put(self, nf: int, entry: Entry) -> None:
        """Add or replace one entry (old or new for every packet, never a mix)."""
        p = self._placed(nf)
        _check_actions(nf, p.kind, [entry])
        vips = self._vip_changes(p, set(p.table.slots) | {entry.key})
        try:
            writes = p.table.put(entry)
        except BucketFull as e:
            raise EmacError(str(e)) from None
        for w in writes:
            p.server.writer.write(p.base + w.offset, p.server.rkey, w.data)
        self._write_vips(nf, vips)  # a new backend slot exists before a packet can hash to it
        self.flush()

    def delete(self, nf: int, key: FlowKey) -> None:
        p = self._placed(nf)
        if key in p.table.slots:  # no packet hashes to a backend slot once it is gone
            self._write_vips(nf, self._vip_changes(p, set(p.table.slots) - {key}))
        for w in p.table.delete(key):
            p.server.writer.write(p.base + w.offset, p.server.rkey, w.data)
        self.flush()

    def _vip_changes(self, p: Placement, keys: set[FlowKey]) -> list[tuple[tuple[int, int, int], int, int]]:
        """(VIP, n now, n after) of every VIP whose number of backends the change of a load
        balancer's keys to `keys` changes (refused if it leaves a gap in a VIP's slots)."""
        before = _backend_counts(p.nf, p.kind, list(p.table.slots))
        after = _backend_counts(p.nf, p.kind, list(keys))
        return [
            (v, before.get(v, 0), after.get(v, 0))
            for v in sorted(before | after)
            if before.get(v) != after.get(v)
        ]

    def _write_vips(self, nf: int, changes: list[tuple[tuple[int, int, int], int, int]]) -> None:
        for vip, old, new in changes:
            if new == 0:
                self.client.insert([_vip_write(nf, vip, 0)], "DELETE")
            else:
                self.client.insert([_vip_write(nf, vip, new)], "MODIFY" if old else "INSERT")

    def move_to_lm(self, lm_writes: list[TableWrite]) -> None:
        """Step one of moving a table back to LM: its LM entries (the hop still reads EM)."""
        self.client.insert(lm_writes)

    def release(self, nf: int) -> None:
        """Last step of leaving EM, once no chain hop reads it: the switch forgets the table."""
        p = self._placed(nf)
        gone = [TableWrite.of("em_config", {"meta.nfId": p.nf}, "")]
        self.client.insert(gone + [_vip_write(nf, v, 0) for v in sorted(p.vips())], "DELETE")
        self.forget(nf)

    def forget(self, nf: int) -> None:
        """The table left EM (its em_config is gone from the switch): its space is free."""
        self._placed(nf)
        del self.placed[nf]
        self.flush()

    def _placed(self, nf: int) -> Placement:
        p = self.placed.get(nf)
        if p is None:
            raise EmacError(f"NF {nf} is not in EM")
        return p

    # -- cache and figures ----------------------------------------------------------------------
    def set_cache_size(self, entries: int) -> None:
        if entries < 1 or entries > CACHE_MAX or entries & (entries - 1):
            raise EmacError(f"cache size must be a power of two in 1..{CACHE_MAX}, not {entries}")
        self.cache_size = entries
        self.flush()

    def flush(self) -> None:
        """Empty the cache: a new epoch (entries filled in an older one never hit)."""
        self.epoch += 1
        self._write_cache(self.cache_size - 1, self.epoch)

    def _write_cache(self, mask: int, epoch: int) -> None:
        e = self.client.index().table_entry(
            "em_cache", {}, "cache_set", {"indexMask": mask, "flushEpoch": epoch}
        )
        e.is_default_action = True
        self.client.write([update("MODIFY", e)])

    def cache_settings(self) -> tuple[int, int]:
        """(cache size, epoch) as the switch holds them (em_cache's default action)."""
        e = R.Entity(table_entry=R.TableEntry(table_id=self.client.index().table("em_cache").preamble.id))
        e.table_entry.is_default_action = True
        (got,) = self.client.read([e])
        params = {p.param_id: int.from_bytes(p.value, "big") for p in got.table_entry.action.action.params}
        names = {p.id: p.name for p in self.client.index().action("cache_set").params}
        values = {names[k]: v for k, v in params.items()}
        return values["indexMask"] + 1, values["flushEpoch"]

    def stats(self) -> dict[str, float]:
        # Two counters, the same cells (p4src/em.p4: a pass's second count is in rdma_outcome).
        cells, more = self.client.counter_read("rdma_stats"), self.client.counter_read("rdma_outcome")
        out: dict[str, float] = {
            name: cells.get(k, (0, 0))[0] + more.get(k, (0, 0))[0] for k, name in enumerate(RDMA_STATS)
        }
        # READ round trips from the switch's histogram (bins [2^b, 2^(b+1)) us): the mean
        # takes each bin's middle, the max is the top of the highest bin (an upper bound).
        hist = {b: n for b, (n, _) in self.client.counter_read("fetch_hist").items() if n}
        n = sum(hist.values())
        out["fetches"] = n
        out["fetch_us_mean"] = sum(c * 1.5 * 2**b for b, c in hist.items()) / n if n else 0.0
        out["fetch_us_max"] = float(2 ** (max(hist) + 1)) if hist else 0.0
        looked = out["hit"] + out["miss"]
        out["hit_ratio"] = out["hit"] / looked if looked else 0.0
        return out


def _check_actions(nf: int, kind: str, entries: list[Entry]) -> None:
    act = EM_ACTIONS.get(kind)
    if act is None:
        raise EmacError(f"NF {nf}: EM holds tables of kind {' or '.join(EM_ACTIONS)}, not {kind!r}")
    for e in entries:
        if e.action != act:
            raise EmacError(f"NF {nf}: a {kind} table's entries have action id {act}; {e.key} has {e.action}")


def _backend_counts(nf: int, kind: str, keys: list[FlowKey]) -> dict[tuple[int, int, int], int]:
    """A load balancer's VIPs and their numbers of backends (nothing for other kinds)."""
    if kind != "lb":
        return {}
    try:
        return lb_backend_counts(keys)
    except ValueError as e:
        raise EmacError(f"NF {nf}: {e}") from None


# The READ request's length on the wire: Ethernet, IPv4, UDP, BTH, RETH, ICRC.
READ_BYTES = 14 + 20 + 8 + 12 + 16 + 4


def read_session(qp: int, port: int, cut: bool = False) -> R.Entity:
    """QP `qp`'s clone session (100 + qp) to its memory server's port; with `cut`, the clone
    is cut to the READ request's 74 bytes by the session (packet_length_bytes): Tofino has no
    truncate() (p4src/README.md). v1model targets cut it with truncate() in egress."""
    e = clone_session(100 + qp, port)
    if cut:
        e.packet_replication_engine_entry.clone_session_entry.packet_length_bytes = READ_BYTES
    return e


def _vip_write(nf: int, vip: tuple[int, int, int], n: int) -> TableWrite:
    """The switch's entry for a VIP of a load balancer in EM: its number of backends."""
    match = {"meta.nfId": nf, "hdr.ipv4.dst": vip[0], "hdr.ipv4.proto": vip[1], "meta.dport": vip[2]}
    return TableWrite.of("lb_em_vip", match, "lb_em_n" if n else "", {"n": n} if n else None)


def _ip(a: str) -> int:
    import ipaddress

    return int(ipaddress.IPv4Address(a))


def _mac(m: str) -> int:
    return int(m.replace(":", ""), 16)


__all__ = ["BUCKET_BYTES", "Emac", "EmacError", "MemoryServer", "RawTransport", "RdmaClient"]
