"""BMv2's hash algorithms and calculation inputs (fields bit-packed, invalid skipped)."""

from __future__ import annotations

import zlib
from collections.abc import Callable

from .program import JsonError, Phv, Program, hexint


def _reflect(v: int, n: int) -> int:
    return int(f"{v:0{n}b}"[::-1], 2)


def _crc16_table(poly: int) -> list[int]:
    table = []
    for d in range(256):
        r = d << 8
        for _ in range(8):
            r = ((r << 1) ^ poly) & 0xFFFF if r & 0x8000 else (r << 1) & 0xFFFF
        table.append(r)
    return table


_T8005 = _crc16_table(0x8005)
_T1021 = _crc16_table(0x1021)
_REFLECT8 = [_reflect(b, 8) for b in range(256)]


def crc16(buf: bytes) -> int:
    """CRC-16/ARC: reflected, polynomial 0x8005, initial 0."""
    r = 0
    for b in buf:
        r = _T8005[_REFLECT8[b] ^ (r >> 8)] ^ ((r << 8) & 0xFFFF)
    return _reflect(r, 16)


def crc_ccitt(buf: bytes) -> int:
    r = 0xFFFF
    for b in buf:
        r = _T1021[b ^ (r >> 8)] ^ ((r << 8) & 0xFFFF)
    return r


def csum16(buf: bytes) -> int:
    """Internet checksum: ones' complement of the ones' complement sum of 16-bit words."""
    if len(buf) % 2:
        buf += b"\x00"
    s = sum(int.from_bytes(buf[i : i + 2], "big") for i in range(0, len(buf), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def xor16(buf: bytes) -> int:
    v = 0
    for i in range(0, len(buf), 2):
        v ^= int.from_bytes(buf[i : i + 2].ljust(2, b"\x00"), "big")
    return v


def identity(buf: bytes) -> int:
    return int.from_bytes(buf[:8], "big") if buf else 0


ALGORITHMS: dict[str, Callable[[bytes], int]] = {
    "crc16": crc16,
    "crc32": lambda b: zlib.crc32(b) & 0xFFFFFFFF,
    "crcCCITT": crc_ccitt,
    "csum16": csum16,
    "cksum16": csum16,
    "identity": identity,
    "xor16": xor16,
    "crc16_custom": crc16,
    "crc32_custom": lambda b: zlib.crc32(b) & 0xFFFFFFFF,
}


class Calculation:
    """A named calculation: its inputs packed into bytes, then hashed."""

    def __init__(self, prog: Program, j: dict) -> None:
        self.name = j["name"]
        algo = j.get("algo")
        if algo not in ALGORITHMS:
            raise JsonError(f"calculation {self.name}: unsupported algorithm '{algo}'")
        self.algo = ALGORITHMS[algo]
        self.parts: list[tuple] = []
        self.payload = False
        where = f"calculation {self.name}"
        for x in j.get("input", []):
            t = x.get("type")
            if t == "field":
                hid, fidx = prog.field_ref(x["value"], where)
                self.parts.append(("field", hid, fidx, prog.instances[hid].type.widths[fidx]))
            elif t == "header":
                self.parts.append(("header", prog.header(x["value"], where).id))
            elif t == "hexstr":
                self.parts.append(("const", hexint(x["value"]), int(x.get("bitwidth", 0))))
            elif t == "payload":
                self.payload = True
            else:
                raise JsonError(f"{where}: unsupported input type {t!r}")
        self.prog = prog

    def input(self, phv: Phv, payload: bytes = b"") -> bytes:
        acc, nbits = 0, 0
        for p in self.parts:
            if p[0] == "field":
                h = phv.headers[p[1]]
                if not h.valid:
                    continue
                w = p[3] if p[3] >= 0 else phv.varbit_len.get(p[1], 0)  # a varbit: as extracted
                acc, nbits = (acc << w) | h.values[p[2]], nbits + w
            elif p[0] == "const":
                acc, nbits = (acc << p[2]) | (p[1] & ((1 << p[2]) - 1)), nbits + p[2]
            else:
                h = phv.headers[p[1]]
                if not h.valid:
                    continue
                ty = self.prog.instances[p[1]].type
                for v, w in zip(h.values, ty.widths, strict=True):
                    w = w if w >= 0 else phv.varbit_len.get(p[1], 0)
                    acc, nbits = (acc << w) | v, nbits + w
        pad = (-nbits) % 8
        out = (acc << pad).to_bytes((nbits + pad) // 8, "big") if nbits else b""
        return out + payload if self.payload else out

    def compute(self, phv: Phv, payload: bytes = b"") -> int:
        return self.algo(self.input(phv, payload))
