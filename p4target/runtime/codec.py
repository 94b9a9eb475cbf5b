"""P4Runtime bytestrings: big-endian, shortest form on output; any length on input
as long as the value fits the bitwidth."""

from __future__ import annotations


class CodecError(ValueError):
    pass


def decode(b: bytes, bitwidth: int, what: str) -> int:
    if not b:
        raise CodecError(f"{what}: empty bytestring")
    v = int.from_bytes(b, "big")
    if v >> bitwidth:
        raise CodecError(f"{what}: value {v:#x} does not fit {bitwidth} bits")
    return v


def encode(v: int, bitwidth: int | None = None) -> bytes:
    """Canonical form: the fewest bytes that hold the value (at least one)."""
    n = max(1, (v.bit_length() + 7) // 8)
    return v.to_bytes(n, "big")
