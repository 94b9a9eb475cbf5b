"""Storage model and JSON node helpers shared by the BMv2 back end's parts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import ast as A
from .. import types as T
from ..semantics import ActionInfo, BlockInfo, Scope

JSON = dict[str, Any]

PRIMITIVE_EXTERNS = {
    "mark_to_drop": "mark_to_drop",
    "truncate": "truncate",
    "assert": "assert",
    "assume": "assume",
}
HASH_ALGOS = {"crc32": "crc32", "crc32_custom": "crc32_custom", "crc16": "crc16", "crc16_custom": "crc16_custom",
              "random": "random", "identity": "identity", "csum16": "csum16", "xor16": "xor16"}  # fmt: skip


def hexstr(v: int) -> JSON:
    return {"type": "hexstr", "value": ("-" if v < 0 else "") + hex(abs(v))}


def padded_hex(values: list[tuple[int, int]]) -> str:
    """Concatenate byte-padded big-endian values: [(value, width), …] (parser keys, masks)."""
    out = ""
    for v, w in values:
        nbytes = (w + 7) // 8
        out += f"{v & ((1 << (8 * nbytes)) - 1):0{2 * nbytes}x}"
    return "0x" + out


# ---------------------------------------------------------------- storage


@dataclass
class Field:
    inst: str
    name: str
    ty: T.Ty


@dataclass
class Header:
    inst: str
    ty: T.StructT


@dataclass
class Stack:
    name: str
    ty: T.StackT


@dataclass
class UnionStack:
    """A stack of header unions: one union per element (BMv2's header_union_stacks)."""

    name: str
    ty: T.StackT
    unions: list[Union]


@dataclass
class Struct:
    members: dict[str, Any]
    ty: T.StructT


@dataclass
class Union:
    """A header union: one header instance per member, at most one valid at a time."""

    name: str
    members: dict[str, Header]
    ty: T.StructT


@dataclass
class DynHeader:
    """stack[i] with i known only at run time."""

    stack: Stack
    index: JSON  # data operand

    def json(self) -> JSON:
        return _expr(
            "dereference_header_stack", {"type": "header_stack", "value": self.stack.name}, self.index
        )


@dataclass
class DynField:
    header: DynHeader
    offset: int
    ty: T.Ty

    def json(self) -> JSON:
        return {
            "type": "expression",
            "value": {"op": "access_field", "left": self.header.json(), "right": self.offset},
        }


@dataclass
class SliceRef:
    """base[hi:lo] as an l-value: written by read-modify-write of its base (a field)."""

    base: Any  # Field or DynField
    hi: int
    lo: int
    ty: T.Ty


@dataclass
class Runtime:
    index: int
    ty: T.Ty


@dataclass
class Bound:
    """A name bound to an expression in another environment (inlined action arguments)."""

    expr: A.Expr
    env: Env


@dataclass
class Env:
    names: dict[str, Any]
    parent: Env | None = None
    block: BlockInfo | None = None

    def lookup(self, name: str) -> Any:
        e: Env | None = self
        while e is not None:
            if name in e.names:
                return e.names[name]
            e = e.parent
        return None

    def child(self) -> Env:
        return Env({}, self, self.block)


def is_bool(ty: T.Ty) -> bool:
    return ty == T.BOOL


def bits(ty: T.Ty) -> int:
    if isinstance(ty, T.EnumT) and ty.underlying is None:
        return 32
    if ty == T.ERROR:
        return 32
    return T.width_of(ty)


def _product(choices: list[list]) -> list[list]:
    out: list[list] = [[]]
    for c in choices:
        out = [[*x, y] for x in out for y in c]
    return out


def _range_to_masks(lo: int, hi: int, w: int) -> list[tuple[int, int]]:
    """Cover [lo, hi] with aligned power-of-two blocks: (value, mask) each."""
    out = []
    full = (1 << w) - 1
    while lo <= hi:
        size = lo & -lo if lo else 1 << w
        while size > hi - lo + 1:
            size >>= 1
        out.append((lo, full & ~(size - 1)))
        lo += size
    return out


def _n_directional(a: ActionInfo) -> int:
    return sum(1 for p in a.decl.params if p.direction)


def _local_inits(decl: Any) -> list[A.Stmt]:
    """A parser's or control's own variables with initialisers: set on every entry, first."""
    return [A.Assign(d.loc, A.Name(d.loc, d.name), d.init) for d in decl.locals if isinstance(d, A.VarDecl) and d.init is not None]  # fmt: skip


_EMPTY = Scope()


def _expr(op: str, left: JSON | None, right: JSON, cond: JSON | None = None) -> JSON:
    v: JSON = {"op": op, "left": _inner(left) if left is not None else None, "right": _inner(right)}
    if cond is not None:
        v["cond"] = _inner(cond)
    return {"type": "expression", "value": v}


def _inner(j: JSON) -> JSON:
    """Inside an expression, runtime data is `local`; nested expressions stay as they are."""
    if j["type"] == "runtime_data":
        return {"type": "local", "value": j["value"]}
    return j


def _neg_const(j: JSON) -> JSON:
    v = j["value"]
    return {"type": "hexstr", "value": v[1:] if v.startswith("-") else "-" + v}


def top(j: JSON) -> JSON:
    """A primitive parameter as BMv2's loader reads it (P4Objects::add_primitive_to_action):
    `local` becomes `runtime_data`; an expression node is wrapped once more, because an
    `expression` parameter's value is itself a typed node; a boolean becomes data (b2d)."""
    if j["type"] == "local":
        return {"type": "runtime_data", "value": j["value"]}
    if j["type"] == "bool":
        j = _expr("b2d", None, j)
    if j["type"] == "expression":
        return {"type": "expression", "value": j}
    return j


def header_param(h: Header | DynHeader) -> JSON:
    """A header operand of a primitive: by name, or (stack[i] at run time) an expression."""
    if isinstance(h, Header):
        return {"type": "header", "value": h.inst}
    return {"type": "expression", "value": h.json()}


def parser_src(j: JSON) -> JSON:
    """A parser op's source (set / advance): field, hexstr, or an `expression` wrapping a typed node."""
    if j["type"] in ("field", "hexstr", "lookahead"):
        return j
    return {"type": "expression", "value": j}


def _src(node) -> JSON:
    loc = node.loc
    return {"filename": loc.file, "line": loc.line, "column": loc.col, "source_fragment": ""}
