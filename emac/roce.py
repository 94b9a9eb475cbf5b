"""RoCEv2 frames as the fabric and the memory server exchange them.

scapy's `scapy.contrib.roce` gives BTH (with the ICRC as its trailing field) and AETH;
it has no RETH, so the 16-byte RDMA extended transport header is declared here and bound
the way the InfiniBand spec places it (after BTH for READ requests and WRITE first/only).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from scapy.contrib.roce import AETH, BTH
from scapy.fields import IntField, XLongField
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw, bind_layers

ROCE_PORT = 4791

OP_WRITE_FIRST = 0x06
OP_WRITE_MIDDLE = 0x07
OP_WRITE_LAST = 0x08
OP_WRITE_ONLY = 0x0A
OP_READ_REQUEST = 0x0C
OP_READ_RESPONSE_ONLY = 0x10
OP_ACK = 0x11

# AETH syndromes: ACK (credits unlimited), and the NAK codes of IBA 9.7.5.2.
AETH_ACK = 0x1F
NAK_PSN_SEQ = 0x60
NAK_INVALID_REQUEST = 0x61
NAK_REMOTE_ACCESS = 0x62
NAK_REMOTE_OPERATIONAL = 0x63


class RETH(Packet):
    name = "RETH"
    fields_desc = [XLongField("va", 0), IntField("rkey", 0), IntField("dlen", 0)]  # noqa: RUF012


bind_layers(UDP, BTH, dport=ROCE_PORT)
for _op in (OP_READ_REQUEST, OP_WRITE_FIRST, OP_WRITE_ONLY):
    bind_layers(BTH, RETH, opcode=_op)
for _op in (OP_READ_RESPONSE_ONLY, 0x0D, 0x0F):  # ONLY, FIRST, LAST carry an AETH
    bind_layers(BTH, AETH, opcode=_op)


@dataclass(frozen=True)
class Endpoint:
    """One side of a reliable connection: addresses and its QP number."""

    mac: str
    ip: str
    qpn: int


def frame(src: Endpoint, dst: Endpoint, bth: BTH, sport: int = 0xC000) -> bytes:
    """A RoCEv2 frame from src to dst with the ICRC computed (scapy fills it when None)."""
    bth.dqpn = dst.qpn
    pkt = Ether(src=src.mac, dst=dst.mac) / IP(src=src.ip, dst=dst.ip, flags="DF", ttl=64, id=0)
    return bytes(pkt / UDP(sport=sport, dport=ROCE_PORT, chksum=0) / bth)


def read_request(src: Endpoint, dst: Endpoint, psn: int, va: int, rkey: int, length: int) -> bytes:
    return frame(src, dst, BTH(opcode=OP_READ_REQUEST, psn=psn) / RETH(va=va, rkey=rkey, dlen=length))


def write_only(src: Endpoint, dst: Endpoint, psn: int, va: int, rkey: int, data: bytes) -> bytes:
    bth = BTH(opcode=OP_WRITE_ONLY, psn=psn, ackreq=1)
    return frame(src, dst, bth / RETH(va=va, rkey=rkey, dlen=len(data)) / Raw(data))


def icrc_ok(data: bytes) -> bool:
    """Whether a RoCEv2 frame's trailing ICRC matches its contents."""
    try:
        p = Ether(data)
    except Exception:  # any undecodable frame is simply not valid
        return False
    if BTH not in p or len(data) < 4:
        return False
    want = p[BTH].compute_icrc(b"")
    return data[-4:] == want


def parse(data: bytes) -> Ether | None:
    """The frame as scapy layers if it is RoCEv2 over IPv4, else None."""
    try:
        p = Ether(data)
    except Exception:
        return None
    if IP not in p or UDP not in p or p[UDP].dport != ROCE_PORT or BTH not in p:
        return None
    return p


def payload_of(p: Ether) -> bytes:
    """Bytes after the transport headers, without the ICRC."""
    inner = p[BTH].payload
    while isinstance(inner, (RETH, AETH)):
        inner = inner.payload
    raw = bytes(inner)
    return raw


def u32(b: bytes, off: int) -> int:
    return struct.unpack_from("!I", b, off)[0]
