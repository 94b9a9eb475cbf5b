"""The memory server: a RoCEv2 responder over registered memory regions.

It answers RDMA READ and WRITE the way a responder NIC does, on reliable-connection QPs:

- a frame whose ICRC is wrong, or for a QP it does not have, is dropped silently
  (counted), as a NIC drops it;
- PSN: the expected PSN (ePSN) executes and advances; an older PSN is a duplicate (a
  READ is answered again, a WRITE only acknowledged); a newer one is a sequence error,
  answered by one NAK (PSN sequence error, carrying the ePSN) until the gap closes;
- READ and WRITE name a region by rkey; an unknown rkey, an address range outside the
  region or an access the region does not grant is NAKed with remote access error, an
  opcode it does not serve with invalid request; memory is never touched then, and a
  NAKed request consumes no PSN.

READ responses longer than the MTU go out as FIRST/MIDDLE/LAST, each with its own PSN.
`Responder.handle(frame)` is the whole behaviour (in-process use, tests); `serve` runs it
on a Linux interface with raw frames (`srem memserver`).
"""

from __future__ import annotations

import logging
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field

from scapy.contrib.roce import BTH
from scapy.layers.inet import IP

from emac.roce import (
    AETH_ACK,
    NAK_INVALID_REQUEST,
    NAK_PSN_SEQ,
    NAK_REMOTE_ACCESS,
    OP_ACK,
    OP_READ_REQUEST,
    OP_READ_RESPONSE_ONLY,
    OP_WRITE_ONLY,
    RETH,
    Endpoint,
    icrc_ok,
    parse,
    payload_of,
    response,
)
from p4target.switch.ports import serve_until_signal

log = logging.getLogger("srem.memserver")
PSN_MASK = 0xFFFFFF
OP_READ_RESPONSE_FIRST, OP_READ_RESPONSE_MIDDLE, OP_READ_RESPONSE_LAST = 0x0D, 0x0E, 0x0F


@dataclass
class Region:
    """A registered memory region: virtual addresses [va, va + len(buf)), one rkey."""

    va: int
    rkey: int
    buf: bytearray
    writable: bool = True

    def covers(self, va: int, length: int) -> bool:
        return self.va <= va and va + length <= self.va + len(self.buf) and length >= 0


@dataclass
class QueuePair:
    """A responder QP connected to one requester (its address and QPN)."""

    qpn: int
    peer: Endpoint
    epsn: int = 0
    msn: int = 0
    nak_pending: bool = False  # one NAK per sequence error, as the spec asks


@dataclass
class Responder:
    me: Endpoint  # its MAC and IP (me.qpn unused: each QP has its own)
    mtu: int = 1024
    regions: dict[int, Region] = field(default_factory=dict)
    qps: dict[int, QueuePair] = field(default_factory=dict)
    stats: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, va: int, length: int, rkey: int, writable: bool = True) -> Region:
        if rkey in self.regions:
            raise ValueError(f"rkey {rkey:#x} is registered already")
        for r in self.regions.values():
            if va < r.va + len(r.buf) and r.va < va + length:
                raise ValueError(f"region at {va:#x} overlaps the one at {r.va:#x}")
        r = Region(va, rkey, bytearray(length), writable)
        self.regions[rkey] = r
        return r

    def connect(self, qpn: int, peer: Endpoint, initial_psn: int = 0) -> QueuePair:
        qp = QueuePair(qpn, peer, initial_psn & PSN_MASK)
        self.qps[qpn] = qp
        return qp

    # -- local access (the server's own view of its memory) ---------------------------------
    def peek(self, rkey: int, va: int, length: int) -> bytes:
        r = self.regions[rkey]
        return bytes(r.buf[va - r.va : va - r.va + length])

    # -- the wire ---------------------------------------------------------------------------
    def handle(self, data: bytes) -> list[bytes]:
        """Responses to one received frame (none for frames not meant for this responder)."""
        p = parse(data)
        if p is None or p[IP].dst != self.me.ip:
            return []
        with self.lock:
            try:
                return self._handle(p, data)
            except (TypeError, ValueError, IndexError, struct.error):
                # A frame cut short or otherwise malformed: a NIC drops it, and so do we.
                self.stats["malformed"] += 1
                return []

    def _handle(self, p, data: bytes) -> list[bytes]:
        if not icrc_ok(data):
            self.stats["bad_icrc"] += 1
            return []
        bth = p[BTH]
        qp = self.qps.get(bth.dqpn)
        if qp is None or p[IP].src != qp.peer.ip:
            self.stats["bad_qp"] += 1
            return []
        psn = bth.psn
        ahead = (psn - qp.epsn) & PSN_MASK
        if ahead != 0 and ahead < 1 << 23:  # newer than expected: a gap
            self.stats["psn_gap"] += 1
            if qp.nak_pending:
                return []
            qp.nak_pending = True
            return [self._ack(qp, qp.epsn, NAK_PSN_SEQ)]
        duplicate = ahead != 0
        op = bth.opcode
        if op == OP_READ_REQUEST and RETH in p:
            return self._read(qp, p[RETH], psn, duplicate)
        if op == OP_WRITE_ONLY and RETH in p:
            return self._write(qp, p[RETH], payload_of(p), psn, duplicate)
        self.stats["bad_opcode"] += 1
        return [self._ack(qp, psn, NAK_INVALID_REQUEST)]

    def _region(self, reth: RETH, writing: bool) -> Region | None:
        r = self.regions.get(reth.rkey)
        if r is None or not r.covers(reth.va, reth.dlen) or (writing and not r.writable):
            return None
        return r

    def _read(self, qp: QueuePair, reth: RETH, psn: int, duplicate: bool) -> list[bytes]:
        r = self._region(reth, writing=False)
        if r is None:
            self.stats["nak_access"] += 1
            return [self._ack(qp, psn, NAK_REMOTE_ACCESS)]
        off = reth.va - r.va
        data = bytes(r.buf[off : off + reth.dlen])
        chunks = [data[i : i + self.mtu] for i in range(0, len(data), self.mtu)] or [b""]
        if not duplicate:
            qp.msn = (qp.msn + 1) & PSN_MASK
            qp.epsn = (psn + len(chunks)) & PSN_MASK
            qp.nak_pending = False
        self.stats["duplicate_reads" if duplicate else "reads"] += 1
        out = []
        for k, chunk in enumerate(chunks):
            if len(chunks) == 1:
                op = OP_READ_RESPONSE_ONLY
            else:
                op = OP_READ_RESPONSE_FIRST if k == 0 else OP_READ_RESPONSE_LAST if k == len(chunks) - 1 else OP_READ_RESPONSE_MIDDLE  # fmt: skip
            syndrome = None if op == OP_READ_RESPONSE_MIDDLE else AETH_ACK
            out.append(response(self.me, qp.peer, op, psn + k, chunk, syndrome, qp.msn))
        return out

    def _write(self, qp: QueuePair, reth: RETH, payload: bytes, psn: int, duplicate: bool) -> list[bytes]:
        if duplicate:
            self.stats["duplicate_writes"] += 1
            return [self._ack(qp, psn, AETH_ACK)]
        r = self._region(reth, writing=True)
        if r is None or len(payload) != reth.dlen:
            self.stats["nak_access" if r is None else "bad_length"] += 1
            return [self._ack(qp, psn, NAK_REMOTE_ACCESS if r is None else NAK_INVALID_REQUEST)]
        off = reth.va - r.va
        r.buf[off : off + len(payload)] = payload
        qp.msn = (qp.msn + 1) & PSN_MASK
        qp.epsn = (psn + 1) & PSN_MASK
        qp.nak_pending = False
        self.stats["writes"] += 1
        return [self._ack(qp, psn, AETH_ACK)]

    def _ack(self, qp: QueuePair, psn: int, syndrome: int) -> bytes:
        return response(self.me, qp.peer, OP_ACK, psn, syndrome=syndrome, msn=qp.msn)


def serve(responder: Responder, iface: str | list[str], ready_line: str) -> None:
    """Answer frames on Linux interfaces (each on the one it came in) until SIGINT or SIGTERM."""
    serve_until_signal(iface, responder.handle, ready_line)


__all__ = ["QueuePair", "Region", "Responder", "serve"]
