"""The EMAC API: what the controller calls to keep NF tables in external memory.

One `Emac` per switch. It writes the EM layout into a memory server's region with RDMA
WRITEs over its own RC queue pair (`RdmaClient`), and drives the switch's EM path over
P4Runtime: the NF's EM configuration (em_config), the QPs it accepts responses on
(em_qp), the clone session that carries READ requests to the server, the RDMA-table
cache (size, flush) and the counters.

Ordering, so that a packet sees the old entry or the new one, never a mix:
- `place`: the whole table is written and acknowledged before em_config points the NF at
  it; the controller steers the chain hop to EM (sff) only after that.
- `put`/`delete`: the slot is written head version, body, tail version (each WRITE
  acknowledged before the next), then the cache is flushed (epoch + 1). Until the flush
  packets use the old cached entry; READs that land mid-write see head != tail and are
  retried by the switch; responses to READs issued before the flush are not cached.
- `move_to_lm`: LM entries first, then the controller flips the hop to LM, then `release`.

Kinds of table: a NAT (`kind="nat"`, keys are 5-tuples) and a load balancer (`kind="lb"`,
one entry per VIP backend slot, emac/layout.py). For a load balancer the EMAC also keeps
the switch's small LM table `lb_em_vip` (VIP -> number of backends n, which the switch
needs to compute a flow's key), derived from the entries: written with em_config, before
any hop reads the table; a put that adds slot n writes it before raising n, a delete of
the last slot lowers n before removing it, so no packet computes a slot EM does not hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from p4.v1 import p4runtime_pb2 as R
from scapy.contrib.roce import AETH, BTH

from .layout import ACT_LB, ACT_NAT, BUCKET_BYTES, BucketFull, EmTable, Entry, FlowKey, lb_backend_counts
from .p4rt import SwitchClient, TableWrite
from .roce import AETH_ACK, OP_ACK, Endpoint, parse, payload_of, read_request, write_only

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
    kind: str = "nat"


@dataclass
class Emac:
    client: SwitchClient
    me: Endpoint  # the switch's RDMA address and QPN base (QP i is qpn + i)
    loop_port: int
    # Emulation-scale defaults (a READ through srem's Python switch takes milliseconds).
    bound_us: int = 200_000
    retry_us: int = 50_000
    servers: dict[int, MemoryServer] = field(default_factory=dict)  # qp index -> server
    placed: dict[int, Placement] = field(default_factory=dict)
    used: dict[int, int] = field(default_factory=dict)  # qp index -> bytes allocated in its region
    epoch: int = 0

    def start(self, cache_size: int = 1024) -> None:
        """The switch's own RDMA address, and an empty cache of `cache_size` entries."""
        self.client.insert([TableWrite.of("rdma_endpoint", {"hdr.ipv4.dst": _ip(self.me.ip)}, "NoAction")])
        self.set_cache_size(cache_size)

    def attach(self, qp: int, server: MemoryServer, initial_psn: int = 0) -> None:
        """Connect QP `qp` of the switch to a memory server behind `server.port`."""
        if not 0 <= qp < N_QP or qp in self.servers:
            raise EmacError(f"QP index {qp} is outside 0..{N_QP - 1} or taken")
        self.client.insert(
            [
                TableWrite.of(
                    "em_qp",
                    {"hdr.ipv4.src": _ip(server.endpoint.ip), "hdr.bth.dqpn": self.me.qpn + qp},
                    "qp_ok",
                    {"qp": qp},
                )
            ]
        )
        self.client.clone_session(100 + qp, server.port)
        self.client.register_write("next_psn", qp, initial_psn)
        self.servers[qp] = server
        self.used[qp] = 0

    # -- tables ---------------------------------------------------------------------------------
    def place(
        self,
        nf: int,
        entries: list[Entry],
        qp: int,
        buckets: int,
        fallback: tuple[int, str] | None = None,
        kind: str = "nat",
    ) -> Placement:
        """Write the NF's whole table into the server's region, then point the switch at it.

        fallback: None drops (counted) when the server does not answer within bound_us;
        (port, mac) detours the packet to a server instance of the same NF.
        kind: "nat" or "lb" (nfs.entries.em_entries renders either)."""
        if nf in self.placed:
            raise EmacError(f"NF {nf} is in EM already")
        _check_actions(nf, kind, entries)
        vips = _backend_counts(nf, kind, [e.key for e in entries])
        srv = self.servers.get(qp)
        if srv is None:
            raise EmacError(f"QP index {qp} has no memory server attached")
        table = EmTable(nf, buckets)
        base = srv.base + self.used[qp]
        if self.used[qp] + table.size_bytes > srv.size:
            raise EmacError(
                f"NF {nf}: {table.size_bytes} bytes do not fit the {srv.size - self.used[qp]} left in the region"
            )
        try:
            image = table.image(entries)
        except BucketFull as e:
            raise EmacError(str(e)) from None
        srv.writer.write(base, srv.rkey, image)
        port, mac = fallback if fallback else (0, "00:00:00:00:00:00")
        # The switch learns of the table only now, after every byte of it is acknowledged.
        self.client.insert(
            [
                TableWrite.of(
                    "em_config",
                    {"meta.nfId": nf},
                    "em_set",
                    {
                        "base": base,
                        "bucketMask": buckets - 1,
                        "rkey": srv.rkey,
                        "qp": qp,
                        "srvQpn": srv.endpoint.qpn,
                        "srvIp": _ip(srv.endpoint.ip),
                        "srvMac": _mac(srv.endpoint.mac),
                        "myIp": _ip(self.me.ip),
                        "myMac": _mac(self.me.mac),
                        "loopPort": self.loop_port,
                        "boundUs": self.bound_us,
                        "retryUs": self.retry_us,
                        "detour": int(fallback is not None),
                        "detourPort": port,
                        "detourMac": _mac(mac),
                    },
                )
            ]
        )
        if vips:  # a load balancer's VIPs (n each); no hop reads the table before place returns
            try:
                self.client.insert([_vip_write(nf, v, n) for v, n in sorted(vips.items())])
            except Exception:
                self.client.insert([TableWrite.of("em_config", {"meta.nfId": nf}, "")], kind=R.Update.DELETE)
                raise
        self.used[qp] += table.size_bytes
        p = Placement(nf, srv, qp, table, base, kind)
        self.placed[nf] = p
        return p

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
        self.used[qp] = max(self.used[qp], base - srv.base + table.size_bytes)
        p = Placement(nf, srv, qp, table, base, kind)
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
                self.client.insert([_vip_write(nf, vip, 0)], kind=R.Update.DELETE)
            else:
                self.client.insert(
                    [_vip_write(nf, vip, new)], kind=R.Update.MODIFY if old else R.Update.INSERT
                )

    def move_to_lm(self, lm_writes: list[TableWrite]) -> None:
        """Step one of moving a table back to LM: its LM entries (the hop still reads EM)."""
        self.client.insert(lm_writes)

    def release(self, nf: int) -> None:
        """Last step of leaving EM, once no chain hop reads it: the switch forgets the table."""
        p = self._placed(nf)
        self.client.insert([TableWrite.of("em_config", {"meta.nfId": nf}, "")], kind=R.Update.DELETE)
        vips = _backend_counts(nf, p.kind, list(p.table.slots))
        if vips:
            self.client.insert([_vip_write(nf, v, 0) for v in sorted(vips)], kind=R.Update.DELETE)
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
        self.client.register_write("cache_cfg", 0, entries - 1)
        self.flush()

    def flush(self) -> None:
        self.epoch += 1
        self.client.register_write("cache_cfg", 1, self.epoch)

    def stats(self) -> dict[str, float]:
        cells = self.client.counter_read("rdma_stats")
        out: dict[str, float] = {name: cells.get(k, (0, 0))[0] for k, name in enumerate(RDMA_STATS)}
        total, n, worst = (self.client.register_read("fetch_us", k) for k in range(3))
        out["fetches"] = n
        out["fetch_us_mean"] = total / n if n else 0.0
        out["fetch_us_max"] = worst
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
