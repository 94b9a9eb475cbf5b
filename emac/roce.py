"""RoCEv2 frames as the fabric and the memory server exchange them.

scapy's `scapy.contrib.roce` gives BTH (with the ICRC as its trailing field) and AETH;
it has no RETH, so the 16-byte RDMA extended transport header is declared here and bound
the way the InfiniBand spec places it (after BTH for READ requests and WRITE first/only).
"""

from __future__ import annotations

import functools
import struct
import zlib
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
    """A RoCEv2 frame from src to dst with the ICRC computed."""
    bth.dqpn = dst.qpn
    bth.icrc = 0  # a place holder: `icrc` fills it, without scapy's packet copies
    pkt = Ether(src=src.mac, dst=dst.mac) / IP(src=src.ip, dst=dst.ip, flags="DF", ttl=64, id=0)
    data = bytes(pkt / UDP(sport=sport, dport=ROCE_PORT, chksum=0) / bth)
    return data[:-4] + icrc(data)


@functools.lru_cache(maxsize=1024)
def _template(src: Endpoint, dst: Endpoint, opcode: int, aeth: bool, length: int) -> tuple[bytes, int]:
    """A response frame built once by scapy (PSN, MSN and payload zero), and the offset
    of its BTH: `response` patches those fields into a copy."""
    bth = BTH(opcode=opcode, psn=0)
    if aeth:
        bth = bth / AETH(syndrome=0, msn=0)
    data = frame(src, dst, bth / Raw(bytes(length)) if length else bth)
    ihl = (data[14] & 0x0F) * 4
    return data, 34 + ihl - 12


def response(
    src: Endpoint,
    dst: Endpoint,
    opcode: int,
    psn: int,
    payload: bytes = b"",
    syndrome: int | None = None,
    msn: int = 0,
) -> bytes:
    """A responder's frame (READ response, ACK or NAK): BTH with `opcode` and `psn`, an
    AETH with `syndrome` and `msn` unless `syndrome` is None, then `payload`. The same
    bytes as building it with scapy's layers (`frame`); from a cached template, since a
    memory server sends one per request."""
    aeth = syndrome is not None
    tpl, at = _template(src, dst, opcode, aeth, len(payload))
    data = bytearray(tpl)
    struct.pack_into("!I", data, at + 8, psn & 0xFFFFFF)  # ackreq and reserved bits stay 0
    body = at + 12
    if aeth:
        struct.pack_into("!I", data, body, (syndrome << 24) | (msn & 0xFFFFFF))
        body += 4
    data[body : body + len(payload)] = payload
    data[-4:] = icrc(data)
    return bytes(data)


_LRH = zlib.crc32(b"\xff" * 8)  # the masked local route header that starts every ICRC


def icrc(data: bytes) -> bytes:
    """The ICRC a RoCEv2-over-IPv4 frame must end with (whatever its last 4 bytes hold
    now): CRC-32 over a masked LRH, the IP header with TOS, TTL and checksum masked, the
    UDP header with its checksum masked, the BTH with its FECN/BECN/reserved byte masked,
    and the rest of the transport payload. It is the value scapy's `BTH.compute_icrc`
    gives (a test holds them together) at a small part of the cost: a memory server
    checks one and computes one per frame. Ethernet padding past the IP length is not
    covered. Raises ValueError for a frame too short to hold the headers."""
    ihl = (data[14] & 0x0F) * 4
    end = 14 + struct.unpack_from("!H", data, 16)[0]
    if ihl < 20 or end > len(data) or end < 14 + ihl + 8 + 12 + 4:
        raise ValueError("not a whole RoCEv2 frame")
    ip = bytearray(data[14 : 14 + ihl])
    ip[1], ip[8], ip[10:12] = 0xFF, 0xFF, b"\xff\xff"
    udp = data[14 + ihl : 14 + ihl + 6] + b"\xff\xff"
    bth = bytearray(data[22 + ihl : 34 + ihl])
    bth[4] = 0xFF
    crc = zlib.crc32(data[34 + ihl : end - 4], zlib.crc32(bth, zlib.crc32(udp, zlib.crc32(ip, _LRH))))
    return struct.pack("<I", crc)


def read_request(src: Endpoint, dst: Endpoint, psn: int, va: int, rkey: int, length: int) -> bytes:
    return frame(src, dst, BTH(opcode=OP_READ_REQUEST, psn=psn) / RETH(va=va, rkey=rkey, dlen=length))


def write_only(src: Endpoint, dst: Endpoint, psn: int, va: int, rkey: int, data: bytes) -> bytes:
    bth = BTH(opcode=OP_WRITE_ONLY, psn=psn, ackreq=1)
    return frame(src, dst, bth / RETH(va=va, rkey=rkey, dlen=len(data)) / Raw(data))


def icrc_ok(data: bytes) -> bool:
    """Whether a RoCEv2-over-IPv4 frame's ICRC (the last 4 bytes within the IP length)
    matches its contents."""
    try:
        if data[12:14] != b"\x08\x00" or data[14] >> 4 != 4 or data[23] != 17:
            return False
        end = 14 + struct.unpack_from("!H", data, 16)[0]
        return data[end - 4 : end] == icrc(data)
    except (IndexError, ValueError, struct.error):  # too short to be one
        return False


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
