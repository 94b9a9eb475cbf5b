"""What every software NF shares about the frames it handles: NSH framing, the checksum."""

from __future__ import annotations

import struct

ETH_NSH = 0x894F
NSH_LEN = 8


def csum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF
