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


def _varint(b: bytes, i: int) -> tuple[int, int]:
    v, shift = 0, 0
    while True:
        if i >= len(b) or shift > 63:
            raise CodecError("truncated varint")
        c = b[i]
        v |= (c & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if not c & 0x80:
            return v, i


def _fields(b: bytes) -> dict[int, list[tuple[int, int | bytes]]]:
    """Top-level fields of a protobuf message: number -> [(wire type, value)]."""
    out: dict[int, list[tuple[int, int | bytes]]] = {}
    i = 0
    while i < len(b):
        tag, i = _varint(b, i)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = _varint(b, i)
            out.setdefault(num, []).append((0, v))
        elif wt == 2:
            n, i = _varint(b, i)
            if i + n > len(b):
                raise CodecError("truncated field")
            out.setdefault(num, []).append((2, b[i : i + n]))
            i += n
        else:
            raise CodecError(f"unexpected wire type {wt} of field {num}")
    return out


def device_json(config: bytes) -> bytes:
    """The BMv2 JSON inside a device config: the bytes themselves, or the `device_data`
    of the deprecated p4.tmp.P4DeviceConfig wrapper that simple_switch_grpc takes and the
    P4 tutorials' p4runtime_lib sends. Both layouts of that message exist: (reassign = 1,
    extras = 2, device_data = 3) in PI's older proto, (extras = 1, device_data = 2) later."""
    if config.lstrip()[:1] in (b"{", b""):
        return config
    try:
        f = _fields(config)
    except CodecError as e:
        raise CodecError(f"device config is neither BMv2 JSON nor a P4DeviceConfig ({e})") from None
    old_layout = 3 in f or any(wt == 0 for wt, _ in f.get(1, []))
    data = f.get(3 if old_layout else 2, [])
    if len(data) != 1 or data[0][0] != 2 or set(f) - {1, 2, 3}:
        raise CodecError("device config is neither BMv2 JSON nor a P4DeviceConfig with device_data")
    inner = data[0][1]
    assert isinstance(inner, bytes)
    if inner.lstrip()[:1] != b"{":
        raise CodecError("the P4DeviceConfig's device_data is not BMv2 JSON")
    return inner
