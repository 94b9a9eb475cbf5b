"""BMv2 expressions and operands compiled to closures `fn(phv, data) -> value`.

Values are Python ints (infinite precision, as BMv2 computes) or bools; a header-
valued expression compiles (with `header`) to a function returning a header id.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from .program import MAX_WIDTH, JsonError, Phv, Program, hexint

Fn = Callable[[Phv, list], Any]

BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "<<": lambda a, b: _shift(a, b, True),
    ">>": lambda a, b: _shift(a, b, False),
    "&": operator.and_, "|": operator.or_, "^": operator.xor, "==": operator.eq, "!=": operator.ne,
    "<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge,
    "/": lambda a, b: a // b if b else 0, "%": lambda a, b: a % b if b else 0,
}  # fmt: skip


def _shift(a: int, b: int, left: bool) -> int:
    """A shift by a run-time amount: never negative, never wider than any field can be
    (as BMv2, where the result is cut to the operand's width), so no packet can make the
    switch build a huge integer or fail on a negative count."""
    b = min(max(int(b), 0), MAX_WIDTH)
    return a << b if left else a >> b


def reader(prog: Program, hid: int, fidx: int) -> Fn:
    if fidx < 0:
        return lambda phv, data: int(phv.headers[hid].valid)
    ty = prog.instances[hid].type
    if ty.signed[fidx]:
        w = ty.widths[fidx]
        half, full = 1 << (w - 1), 1 << w

        def signed(phv: Phv, data: list) -> int:
            v = phv.headers[hid].values[fidx]
            return v - full if v >= half else v

        return signed
    return lambda phv, data: phv.headers[hid].values[fidx]


def _header_value(phv: Phv, hid: int) -> tuple:
    h = phv.headers[hid]
    return (True, tuple(h.values), phv.varbit_len.get(hid, 0)) if h.valid else (False,)


def header(prog: Program, j: dict, where: str) -> Callable[[Phv, list], int]:
    """A header-valued operand: its header id at run time."""
    t, v = j.get("type"), j.get("value")
    if t == "header":
        hid = prog.header(v, where).id
        return lambda phv, data: hid
    if t == "expression" and v.get("op") == "dereference_header_stack":
        st = prog.stack(v["left"]["value"], where)
        idx = operand(prog, v["right"], where)
        ids = st.header_ids

        def deref(phv: Phv, data: list) -> int:
            i = idx(phv, data)
            if not 0 <= i < len(ids):
                raise IndexError(f"stack index {i} out of bounds for {st.name}")
            return ids[i]

        return deref
    if t == "expression" and v.get("op") in ("access_union_header", "dereference_union_stack"):
        raise JsonError(f"{where}: stacks of header unions are not supported")
    raise JsonError(f"{where}: expected a header, found {j!r}")


def operand(prog: Program, j: Any, where: str) -> Fn:
    """Compile a type-value object or an expression body."""
    if not isinstance(j, dict):
        raise JsonError(f"{where}: expected an operand object, found {j!r}")
    t, v = j.get("type"), j.get("value")
    if t == "field":
        return reader(prog, *prog.field_ref(v, where))
    if t == "hexstr":
        c = hexint(v)
        return lambda phv, data: c
    if t == "bool":
        b = bool(v)
        return lambda phv, data: b
    if t in ("local", "runtime_data"):
        k = int(v)
        return lambda phv, data: data[k]
    if t == "string":
        return lambda phv, data: v
    if t == "header":  # compared whole: validity, then every field (BMv2's header ==)
        hid = prog.header(v, where).id
        return lambda phv, data: _header_value(phv, hid)
    if t == "header_stack":
        ids = prog.stack(v, where).header_ids
        return lambda phv, data: tuple(_header_value(phv, i) for i in ids)
    if t == "stack_field":
        st = prog.stack(v[0], where)
        fidx = st.type.index.get(v[1])
        if fidx is None:
            raise JsonError(f"{where}: stack {st.name} has no field '{v[1]}'")
        ids = st.header_ids

        def last_field(phv: Phv, data: list) -> int:
            n = phv.stack_next[st.id]
            return phv.headers[ids[n - 1]].values[fidx] if n else 0

        return last_field
    if t == "expression":
        return expression(prog, v, where)
    if "op" in j:  # an expression body given directly
        return expression(prog, j, where)
    raise JsonError(f"{where}: unsupported operand type {t!r}")


def expression(prog: Program, e: dict, where: str) -> Fn:
    op = e.get("op")
    left, right = e.get("left"), e.get("right")
    if op in BINARY and left is not None:
        f, a, b = BINARY[op], operand(prog, left, where), operand(prog, right, where)
        return lambda phv, data: f(a(phv, data), b(phv, data))
    if op == "-" and left is None:
        b = operand(prog, right, where)
        return lambda phv, data: -b(phv, data)
    if op == "~":
        b = operand(prog, right, where)
        return lambda phv, data: ~b(phv, data)
    if op == "not":
        b = operand(prog, right, where)
        return lambda phv, data: not b(phv, data)
    if op == "and":
        a, b = operand(prog, left, where), operand(prog, right, where)
        return lambda phv, data: a(phv, data) and b(phv, data)
    if op == "or":
        a, b = operand(prog, left, where), operand(prog, right, where)
        return lambda phv, data: a(phv, data) or b(phv, data)
    if op == "d2b":
        b = operand(prog, right, where)
        return lambda phv, data: b(phv, data) != 0
    if op == "b2d":
        b = operand(prog, right, where)
        return lambda phv, data: 1 if b(phv, data) else 0
    if op == "valid":
        h = header(prog, right, where)
        return lambda phv, data: phv.headers[h(phv, data)].valid
    if op == "valid_union":
        ids = prog.union((right or {}).get("value"), where).header_ids
        return lambda phv, data: any(phv.headers[i].valid for i in ids)
    if op == "?":
        c, a, b = operand(prog, e["cond"], where), operand(prog, left, where), operand(prog, right, where)
        return lambda phv, data: a(phv, data) if c(phv, data) else b(phv, data)
    if op == "two_comp_mod":
        a, w = operand(prog, left, where), operand(prog, right, where)

        def tcm(phv: Phv, data: list) -> int:
            n = w(phv, data)
            v = a(phv, data) & ((1 << n) - 1)
            return v - (1 << n) if v >= 1 << (n - 1) else v

        return tcm
    if op == "usat_cast":
        a, w = operand(prog, left, where), operand(prog, right, where)
        return lambda phv, data: min(max(a(phv, data), 0), (1 << w(phv, data)) - 1)
    if op == "sat_cast":
        a, w = operand(prog, left, where), operand(prog, right, where)

        def sat(phv: Phv, data: list) -> int:
            n = w(phv, data)
            return min(max(a(phv, data), -(1 << (n - 1))), (1 << (n - 1)) - 1)

        return sat
    if op == "last_stack_index":
        st = prog.stack(right["value"], where)
        return lambda phv, data: phv.stack_next[st.id] - 1
    if op == "size_stack":
        st = prog.stack(right["value"], where)
        return lambda phv, data: sum(phv.headers[i].valid for i in st.header_ids)
    if op == "access_field":
        h = header(prog, left, where)
        k = int(right)
        return lambda phv, data: phv.headers[h(phv, data)].values[k]
    if op == "dereference_header_stack":
        return header(prog, {"type": "expression", "value": e}, where)
    raise JsonError(f"{where}: unsupported expression op {op!r}")


def writer(prog: Program, j: dict, where: str) -> Callable[[Phv, list, int], None]:
    """An l-value: a field, or access_field of a (stack) header; stores truncated to width."""
    t, v = j.get("type"), j.get("value")
    if t == "field":
        hid, fidx = prog.field_ref(v, where)
        if fidx < 0:
            raise JsonError(f"{where}: $valid$ is read-only")
        w = prog.instances[hid].type.widths[fidx]
        mask = (1 << w) - 1 if w > 0 else -1

        def write(phv: Phv, data: list, value: int) -> None:
            phv.headers[hid].values[fidx] = int(value) & mask

        return write
    if t == "expression" and v.get("op") == "access_field":
        h = header(prog, v["left"], where)
        k = int(v["right"])

        def write_dyn(phv: Phv, data: list, value: int) -> None:
            hid = h(phv, data)
            w = prog.instances[hid].type.widths[k]
            phv.headers[hid].values[k] = int(value) & ((1 << w) - 1)

        return write_dyn
    if t == "expression" and isinstance(v, dict) and "type" in v:  # double-wrapped l-value (JSON_format.md)
        return writer(prog, v, where)
    raise JsonError(f"{where}: cannot assign to {j!r}")
