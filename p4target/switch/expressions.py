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


HEADER_OPS = ("dereference_header_stack", "dereference_stack", "access_union_header")


def _unwrap(j: Any) -> Any:
    """`{"type": "expression", "value": <typed node>}` is the typed node itself: p4c writes
    primitive parameters that way, and BMv2 reads the inner node (P4Objects.cpp)."""
    while isinstance(j, dict) and j.get("type") == "expression" and isinstance(j.get("value"), dict):
        v = j["value"]
        if "op" in v or "type" not in v:
            return j
        j = v
    return j


def _body(j: Any) -> dict | None:
    """The operator object of an expression node, or None."""
    j = _unwrap(j)
    if isinstance(j, dict) and j.get("type") == "expression" and isinstance(j.get("value"), dict):
        return j["value"]
    if isinstance(j, dict) and "op" in j and "type" not in j:
        return j
    return None


def kind(j: Any) -> str:
    """What an operand denotes, as BMv2's loader types it: data, bool, header, stack, union."""
    j = _unwrap(j)
    if not isinstance(j, dict):
        return "data"
    t = j.get("type")
    if t in ("header", "header_stack", "header_union", "header_union_stack", "bool"):
        return {"header": "header", "header_stack": "stack", "header_union": "union",
                "header_union_stack": "union_stack", "bool": "bool"}[t]  # fmt: skip
    b = _body(j)
    if b is None:
        return "data"
    op = b.get("op")
    if op in HEADER_OPS:
        return "header"
    if op == "dereference_union_stack":
        return "union"
    if op == "?":
        return kind(b.get("left"))
    if op in ("==", "!=", "<", ">", "<=", ">=", "and", "or", "not", "valid", "valid_union", "d2b"):
        return "bool"
    return "data"


def _stack_of(prog: Program, j: Any, where: str, unions: bool = False):
    """A header stack operand (or, where `unions`, a stack of header unions too)."""
    j = _unwrap(j)
    if isinstance(j, dict) and j.get("type") == "header_stack":
        return prog.stack(j.get("value"), where)
    if unions and isinstance(j, dict) and j.get("type") == "header_union_stack":
        return prog.union_stack(j.get("value"), where)
    raise JsonError(f"{where}: expected a header stack, found {j!r}")


def union_ids(prog: Program, j: Any, where: str) -> Callable[[Phv, list], list[int]]:
    """A union-valued operand: the header ids of its members at run time."""
    j = _unwrap(j)
    # p4c writes a union operand as {"type": "header", "value": UNION} (valid_union of
    # hdr.us[1].isValid()); BMv2 takes it, so srem does too.
    is_union_named = (
        isinstance(j, dict)
        and j.get("type") == "header"
        and isinstance(j.get("value"), str)
        and j["value"] in prog.unions
    )
    if isinstance(j, dict) and (j.get("type") == "header_union" or is_union_named):
        ids = prog.union(j.get("value"), where).header_ids
        return lambda phv, data: ids
    b = _body(j)
    if b is not None and b.get("op") == "?":
        c, a, e = (
            operand(prog, b.get("cond"), where),
            union_ids(prog, b.get("left"), where),
            union_ids(prog, b.get("right"), where),
        )
        return lambda phv, data: a(phv, data) if c(phv, data) else e(phv, data)
    if b is not None and b.get("op") == "dereference_union_stack":
        st = _stack_of(prog, b.get("left"), where, unions=True)
        if st.unions is None:
            raise JsonError(f"{where}: dereference_union_stack needs a stack of header unions")
        idx = operand(prog, b.get("right"), where)
        elems = st.elements

        def deref_union(phv: Phv, data: list) -> list[int]:
            i = idx(phv, data)
            if not 0 <= i < len(elems):
                raise IndexError(f"stack index {i} out of bounds for {st.name}")
            return elems[i]

        return deref_union
    raise JsonError(f"{where}: expected a header union, found {j!r}")


def header(prog: Program, j: dict, where: str) -> Callable[[Phv, list], int]:
    """A header-valued operand: its header id at run time."""
    j = _unwrap(j)
    if not isinstance(j, dict):
        raise JsonError(f"{where}: expected a header, found {j!r}")
    if j.get("type") == "header":
        hid = prog.header(j.get("value"), where).id
        return lambda phv, data: hid
    b = _body(j)
    op = b.get("op") if b is not None else None
    if op in ("dereference_header_stack", "dereference_stack"):
        st = _stack_of(prog, b.get("left"), where)
        idx = operand(prog, b.get("right"), where)
        ids = st.header_ids

        def deref(phv: Phv, data: list) -> int:
            i = idx(phv, data)
            if not 0 <= i < len(ids):
                raise IndexError(f"stack index {i} out of bounds for {st.name}")
            return ids[i]

        return deref
    if op == "access_union_header":
        members = union_ids(prog, b.get("left"), where)
        k = b.get("right")
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise JsonError(f"{where}: access_union_header needs a member offset, found {k!r}")

        def member(phv: Phv, data: list) -> int:
            ids = members(phv, data)
            if k >= len(ids):
                raise IndexError(f"union member {k} out of range")
            return ids[k]

        return member
    if op == "?":
        c, a, e = (
            operand(prog, b.get("cond"), where),
            header(prog, b.get("left"), where),
            header(prog, b.get("right"), where),
        )
        return lambda phv, data: a(phv, data) if c(phv, data) else e(phv, data)
    raise JsonError(f"{where}: expected a header, found {j!r}")


def _value_of(prog: Program, j: Any, where: str) -> Fn:
    """An operand compared whole (==, != on headers, unions, stacks): a hashable snapshot."""
    k = kind(j)
    if k == "header":
        h = header(prog, j, where)
        return lambda phv, data: _header_value(phv, h(phv, data))
    if k == "union":
        u = union_ids(prog, j, where)
        return lambda phv, data: tuple(_header_value(phv, i) for i in u(phv, data))
    return operand(prog, j, where)


def operand(prog: Program, j: Any, where: str) -> Fn:
    """Compile a type-value object or an expression body."""
    j = _unwrap(j)
    if not isinstance(j, dict):
        raise JsonError(f"{where}: expected an operand object, found {j!r}")
    t, v = j.get("type"), j.get("value")
    if t == "field":
        return reader(prog, *prog.field_ref(v, where))
    if t == "hexstr":
        try:
            c = hexint(v)
        except (TypeError, ValueError, AttributeError):
            raise JsonError(f"{where}: bad hexstr {v!r}") from None
        return lambda phv, data: c
    if t == "bool":
        b = bool(v)
        return lambda phv, data: b
    if t in ("local", "runtime_data"):
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise JsonError(f"{where}: bad {t} index {v!r}")
        k = v

        def local(phv: Phv, data: list) -> int:
            if k >= len(data):
                raise IndexError(f"action data {k} missing")
            return data[k]

        return local
    if t == "string":
        return lambda phv, data: v
    if t in ("header", "header_union"):  # compared whole: validity, then every field (BMv2's header ==)
        return _value_of(prog, j, where)
    if t == "header_stack":
        ids = prog.stack(v, where).header_ids
        return lambda phv, data: tuple(_header_value(phv, i) for i in ids)
    if t == "stack_field":
        if not isinstance(v, list) or len(v) != 2:
            raise JsonError(f"{where}: bad stack_field {v!r}")
        st = prog.stack(v[0], where)
        fidx = st.type.index.get(v[1])
        if fidx is None:
            raise JsonError(f"{where}: stack {st.name} has no field '{v[1]}'")
        ids = st.header_ids

        def last_field(phv: Phv, data: list) -> int:
            n = phv.stack_next[st.id]
            return phv.headers[ids[n - 1]].values[fidx] if n else 0

        return last_field
    b = _body(j)
    if b is not None:
        if kind(j) in ("header", "union"):
            return _value_of(prog, j, where)
        return expression(prog, b, where)
    raise JsonError(f"{where}: unsupported operand type {t!r}")


def expression(prog: Program, e: dict, where: str) -> Fn:
    op = e.get("op")
    left, right = e.get("left"), e.get("right")
    if op in ("==", "!=") and left is not None:
        a, b = _value_of(prog, left, where), _value_of(prog, right, where)
        if op == "==":
            return lambda phv, data: a(phv, data) == b(phv, data)
        return lambda phv, data: a(phv, data) != b(phv, data)
    if op in BINARY and left is not None:
        f, a, b = BINARY[op], operand(prog, left, where), operand(prog, right, where)
        return lambda phv, data: f(a(phv, data), b(phv, data))
    if op in ("-", "+") and left is None:  # BMv2 loads 0 as the left operand
        b = operand(prog, right, where)
        return (lambda phv, data: -b(phv, data)) if op == "-" else b
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
        u = union_ids(prog, right, where)
        return lambda phv, data: any(phv.headers[i].valid for i in u(phv, data))
    if op == "?":
        c, a, b = operand(prog, e.get("cond"), where), operand(prog, left, where), operand(prog, right, where)
        return lambda phv, data: a(phv, data) if c(phv, data) else b(phv, data)
    if op == "two_comp_mod":
        a, w = operand(prog, left, where), operand(prog, right, where)

        def tcm(phv: Phv, data: list) -> int:
            n = w(phv, data)
            if n <= 0:
                return 0
            v = a(phv, data) & ((1 << n) - 1)
            return v - (1 << n) if v >= 1 << (n - 1) else v

        return tcm
    if op == "usat_cast":
        a, w = operand(prog, left, where), operand(prog, right, where)
        return lambda phv, data: min(max(a(phv, data), 0), (1 << max(w(phv, data), 0)) - 1)
    if op == "sat_cast":
        a, w = operand(prog, left, where), operand(prog, right, where)

        def sat(phv: Phv, data: list) -> int:
            n = max(w(phv, data), 1)
            return min(max(a(phv, data), -(1 << (n - 1))), (1 << (n - 1)) - 1)

        return sat
    if op == "last_stack_index":  # BMv2: the stack's count - 1
        st = _stack_of(prog, right, where, unions=True)
        return lambda phv, data: phv.stack_next[st.id] - 1
    if op == "size_stack":  # BMv2: the stack's count (next index)
        st = _stack_of(prog, right, where, unions=True)
        return lambda phv, data: phv.stack_next[st.id]
    if op == "access_field":
        h = header(prog, left, where)
        k = right
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise JsonError(f"{where}: access_field needs a field offset, found {k!r}")
        return lambda phv, data: _field_at(prog, phv, h(phv, data), k)
    if op in HEADER_OPS:
        h = header(prog, {"type": "expression", "value": e}, where)
        return lambda phv, data: _header_value(phv, h(phv, data))
    raise JsonError(f"{where}: unsupported expression op {op!r}")


def _field_at(prog: Program, phv: Phv, hid: int, k: int) -> int:
    vals = phv.headers[hid].values
    if k >= len(vals):
        raise IndexError(f"header {prog.instances[hid].name} has no field {k}")
    return vals[k]


def writer(prog: Program, j: dict, where: str) -> Callable[[Phv, list, int], None]:
    """An l-value: a field, or access_field of a (stack) header; stores truncated to width."""
    j = _unwrap(j)
    if not isinstance(j, dict):
        raise JsonError(f"{where}: cannot assign to {j!r}")
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
    b = _body(j)
    if b is not None and b.get("op") == "access_field":
        h = header(prog, b.get("left"), where)
        k = b.get("right")
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise JsonError(f"{where}: access_field needs a field offset, found {k!r}")

        def write_dyn(phv: Phv, data: list, value: int) -> None:
            hid = h(phv, data)
            widths = prog.instances[hid].type.widths
            if k >= len(widths):
                raise IndexError(f"header {prog.instances[hid].name} has no field {k}")
            w = widths[k]
            phv.headers[hid].values[k] = int(value) & ((1 << w) - 1)

        return write_dyn
    raise JsonError(f"{where}: cannot assign to {j!r}")
