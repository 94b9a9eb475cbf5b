"""BMv2 JSON (format 2.23, behavioral-model docs/JSON_format.md) from an elaborated
v1model program: the input of simple_switch and of srem's own switch.

Storage: the headers struct's headers become header instances and stacks header
stacks; every scalar (metadata fields, locals of blocks and actions) lives in one
metadata header `scalars`; `standard_metadata` is its own metadata header.
Control blocks become pipelines of tables and conditionals: statements outside
tables are gathered into hidden actions applied by hidden keyless tables, as p4c
does. Anything the back end cannot translate is a P4Error at its location.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from . import ast as A
from . import types as T
from .errors import P4Error
from .inline import Inliner, substitute
from .semantics import ActionInfo, BlockInfo, Program, Scope, TableInfo
from .sugar import switch_to_ifs

JSON = dict[str, Any]
VERSION = [2, 23]

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


# ---------------------------------------------------------------- the builder


@dataclass
class Builder:
    prog: Program
    header_types: list[JSON] = field(default_factory=list)
    headers: list[JSON] = field(default_factory=list)
    stacks: list[JSON] = field(default_factory=list)
    union_types: list[JSON] = field(default_factory=list)
    unions: list[JSON] = field(default_factory=list)
    union_stacks: list[JSON] = field(default_factory=list)
    scalars: list[list] = field(default_factory=list)
    actions: list[JSON] = field(default_factory=list)
    calculations: list[JSON] = field(default_factory=list)
    learn_lists: list[JSON] = field(default_factory=list)
    field_lists: list[JSON] = field(default_factory=list)
    counter_arrays: list[JSON] = field(default_factory=list)
    meter_arrays: list[JSON] = field(default_factory=list)
    register_arrays: list[JSON] = field(default_factory=list)
    _types: dict[str, str] = field(default_factory=dict)
    _names: set[str] = field(default_factory=set)
    _action_ids: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    enums: dict[str, dict[str, int]] = field(default_factory=dict)
    meter_targets: dict[str, list] = field(default_factory=dict)
    _predeclared: set[int] = field(default_factory=set)
    _table_actions: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> action name -> id

    def __post_init__(self) -> None:
        self.inliner = Inliner({n: d for n, d in self.prog.decls.items() if isinstance(d, A.FunctionDecl)})
        self.errors = {e: i for i, e in enumerate(self.prog.errors)}
        self.header_types.append({"name": "scalars_0", "id": 0, "fields": self.scalars})
        self.headers.append(
            {"name": "scalars", "id": 0, "header_type": "scalars_0", "metadata": True, "pi_omit": True}
        )

    # -- names -----------------------------------------------------------------
    def unique(self, base: str) -> str:
        name, k = base, 0
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    # -- layout ----------------------------------------------------------------
    def header_type(self, ty: T.StructT, metadata: bool = False) -> str:
        if ty.name in self._types:
            return self._types[ty.name]
        fields, total = [], 0
        for fname, fty in ty.fields:
            if isinstance(fty, T.Varbit):
                fields.append([fname, "*"])
                total += 0
                continue
            w = bits(fty)
            signed = isinstance(fty, T.Bits) and fty.signed
            fields.append([fname, w, signed] if signed else [fname, w, False])
            total += w
        if metadata and total % 8:
            fields.append(["_padding", 8 - total % 8, False])
        jt: JSON = {"name": ty.name, "id": len(self.header_types), "fields": fields}
        var = [f for f in ty.fields if isinstance(f[1], T.Varbit)]
        if var:
            jt["max_length"] = (total + var[0][1].max_width) // 8
        self.header_types.append(jt)
        self._types[ty.name] = ty.name
        return ty.name

    def header_instance(self, name: str, ty: T.StructT, metadata: bool = False) -> Header:
        name = self.unique(name)
        self.headers.append(
            {
                "name": name,
                "id": len(self.headers),
                "header_type": self.header_type(ty, metadata),
                "metadata": metadata,
                "pi_omit": True,
            }
        )
        return Header(name, ty)

    def scalar(self, name: str, ty: T.Ty) -> Field:
        name = self.unique("scalars." + name)[len("scalars.") :]
        if isinstance(ty, T.InfInt):
            raise P4Error(None, f"'{name}' needs a type with a width")
        w = bits(ty)
        signed = isinstance(ty, T.Bits) and ty.signed
        self.scalars.append([name, w, signed])
        return Field("scalars", name, ty)

    def layout(self, ty: T.Ty, path: str, metadata: bool) -> Any:
        """Storage for a value of type `ty` named `path`."""
        match ty:
            case T.StructT(kind="header"):
                return self.header_instance(path, ty, metadata)
            case T.StructT(kind="struct"):
                return Struct(
                    {f: self.layout(ft, f"{path}.{f}" if path else f, metadata) for f, ft in ty.fields}, ty
                )
            case T.StructT(kind="header_union"):
                return self.union_instance(path, ty)
            case T.TupleT(items=items):  # laid out as a struct with members "0", "1", …
                fields = tuple((str(k), it) for k, it in enumerate(items))
                st = T.StructT("struct", str(ty), fields)
                return Struct({f: self.layout(ft, f"{path}.{f}", metadata) for f, ft in fields}, st)
            case T.StackT(elem=T.StructT(kind="header_union") as elem, size=n):
                unions = [self.union_instance(f"{path}[{i}]", elem) for i in range(n)]
                name = self.unique(path)
                ids = [next(u["id"] for u in self.unions if u["name"] == x.name) for x in unions]
                self.union_stacks.append({"name": name, "id": len(self.union_stacks), "union_type": elem.name,
                                          "header_union_ids": ids})  # fmt: skip
                return UnionStack(name, ty, unions)
            case T.StackT(elem=elem, size=n):
                insts = [self.header_instance(f"{path}[{i}]", elem) for i in range(n)]
                name = self.unique(path)
                self.stacks.append(
                    {
                        "name": name,
                        "id": len(self.stacks),
                        "header_type": self.header_type(elem),
                        "header_ids": [
                            next(h["id"] for h in self.headers if h["name"] == i.inst) for i in insts
                        ],
                    }
                )
                return Stack(name, ty)
        return self.scalar(path, ty)

    def union_instance(self, path: str, ty: T.StructT) -> Union:
        members = {}
        for m, mty in ty.fields:
            if not (isinstance(mty, T.StructT) and mty.kind == "header"):
                raise P4Error(None, f"header union {ty.name}: member '{m}' is not a header")
            members[m] = self.header_instance(f"{path}.{m}", mty)
        if not any(u["name"] == ty.name for u in self.union_types):
            self.union_types.append({
                "name": ty.name, "id": len(self.union_types),
                "headers": [[m, self.header_type(mty)] for m, mty in ty.fields]})  # fmt: skip
        name = self.unique(path)
        ids = [next(h["id"] for h in self.headers if h["name"] == x.inst) for x in members.values()]
        self.unions.append(
            {"name": name, "id": len(self.unions), "union_type": ty.name, "header_ids": ids, "pi_omit": True}
        )
        return Union(name, members, ty)

    def finish_scalars(self) -> None:
        total = sum(f[1] for f in self.scalars)
        if total % 8:
            self.scalars.append(["_padding_0", 8 - total % 8, False])

    # -- constants ---------------------------------------------------------------
    def enum_value(self, ty: T.EnumT, member: str) -> int:
        if ty.underlying is not None:
            return ty.values[ty.members.index(member)]
        return ty.members.index(member)

    def const_json(self, v: Any, at: A.Expr) -> JSON:
        if isinstance(v, bool):
            return {"type": "bool", "value": v}
        if isinstance(v, int):
            return hexstr(v)
        if isinstance(v, tuple) and v[0] == "error":
            return hexstr(self.errors[v[1]])
        if isinstance(v, tuple):
            return hexstr(self.enum_value(self.prog.named(v[0], at), v[1]))
        raise P4Error(at.loc, f"cannot use {v!r} here")

    # -- l-values ----------------------------------------------------------------
    def storage(self, e: A.Expr, env: Env) -> Any:
        """Where an expression lives: Field, Header, Stack, Struct or Runtime (or Bound)."""
        match e:
            case A.Name(name=n, top=False):
                s = env.lookup(n)
                if s is None:
                    raise P4Error(e.loc, f"unknown name '{n}'")
                if isinstance(s, Bound):
                    return self.storage(s.expr, s.env)
                return s
            case A.Member(expr=x, name=m):
                base = self.storage(x, env)
                if isinstance(base, Struct):
                    if m not in base.members:
                        raise P4Error(e.loc, f"struct {base.ty.name} has no field '{m}'")
                    return base.members[m]
                if isinstance(base, Union):
                    if m not in base.members:
                        raise P4Error(e.loc, f"header union {base.ty.name} has no member '{m}'")
                    return base.members[m]
                if isinstance(base, Header):
                    ft = base.ty.field(m)
                    if ft is None:
                        raise P4Error(e.loc, f"header {base.ty.name} has no field '{m}'")
                    return Field(base.inst, m, ft)
                if isinstance(base, DynHeader):
                    names = [f for f, _ in base.stack.ty.elem.fields]
                    if m not in names:
                        raise P4Error(e.loc, f"header {base.stack.ty.elem} has no field '{m}'")
                    return DynField(base, names.index(m), base.stack.ty.elem.fields[names.index(m)][1])
                if isinstance(base, Stack | UnionStack) and m in ("next", "last"):
                    return ("stack_ref", base, m)
                if isinstance(base, tuple) and base[0] == "stack_ref" and isinstance(base[1], UnionStack):
                    if base[1].ty.elem.field(m) is None:
                        raise P4Error(e.loc, f"header union {base[1].ty.elem.name} has no member '{m}'")
                    return ("union_stack_ref", base[1], base[2], m)
                if isinstance(base, tuple) and base[0] == "union_stack_ref":
                    ht = base[1].ty.elem.field(base[3])
                    ft = ht.field(m) if isinstance(ht, T.StructT) else None
                    if base[2] != "last" or ft is None:
                        raise P4Error(e.loc, f"cannot read {A.show(e)} here")
                    return ("union_stack_field", base[1], base[3], m, ft)
                if isinstance(base, tuple) and base[0] == "stack_ref":
                    ft = base[1].ty.elem.field(m)
                    if base[2] != "last" or ft is None:
                        raise P4Error(e.loc, f"cannot read {A.show(e)} here")
                    return ("stack_field", base[1], m, ft)
                raise P4Error(e.loc, f"{A.show(e)} is not a storage location")
            case A.Slice(expr=x, hi=h, lo=lo):
                hi, low = self.prog.const_int(h), self.prog.const_int(lo)
                base = self.storage(x, env)
                if isinstance(base, SliceRef):  # a slice of a slice: one slice of the field
                    hi, low, base = base.lo + hi, base.lo + low, base.base
                if not isinstance(base, Field | DynField) or not isinstance(base.ty, T.Bits):
                    raise P4Error(
                        e.loc, f"{A.show(e)}: only a slice of a bit<W>/int<W> location can be assigned"
                    )
                if not 0 <= low <= hi < bits(base.ty):
                    raise P4Error(e.loc, f"slice [{hi}:{low}] is out of range for {base.ty}")
                return SliceRef(base, hi, low, T.Bits(hi - low + 1))
            case A.Index(expr=x, index=i):
                base = self.storage(x, env)
                if isinstance(base, Struct) and str(self.prog.const_int(i)) in base.members:  # a tuple item
                    return base.members[str(self.prog.const_int(i))]
                if isinstance(base, UnionStack):
                    try:
                        k = self.prog.const_int(i)
                    except P4Error:
                        raise P4Error(i.loc, "a stack of header unions needs a constant index here") from None
                    if not 0 <= k < base.ty.size:
                        raise P4Error(
                            i.loc, f"index {k} is out of bounds for {A.show(x)} (size {base.ty.size})"
                        )
                    return base.unions[k]
                if not isinstance(base, Stack):
                    raise P4Error(e.loc, f"{A.show(x)} is not a header stack")
                try:
                    k = self.prog.const_int(i)
                except P4Error:
                    return DynHeader(base, self.data(i, env, T.Bits(32)))
                if not 0 <= k < base.ty.size:
                    raise P4Error(i.loc, f"index {k} is out of bounds for {A.show(x)} (size {base.ty.size})")
                return Header(f"{base.name}[{k}]", base.ty.elem)
        raise P4Error(e.loc, f"{A.show(e)} is not a storage location")

    # -- r-values ----------------------------------------------------------------
    def type_of(self, e: A.Expr, env: Env) -> T.Ty:
        """The type of an expression in this environment (names may be bound to storage)."""
        match e:
            case A.Name(name=n, top=False) if env.lookup(n) is not None:
                s = env.lookup(n)
                if isinstance(s, Bound):
                    return self.type_of(s.expr, s.env)
                if isinstance(s, tuple):
                    return T.Bits(32)
                return getattr(s, "ty", None) or getattr(s, "type", T.Bits(32))
            case A.Member(expr=x, name=m) if not (isinstance(x, A.Name) and env.lookup(x.name) is None):
                base = self.type_of(x, env)
                if isinstance(base, T.StructT) and base.field(m) is not None:
                    return base.field(m)
                if isinstance(base, T.StackT):
                    return base.elem if m in ("next", "last") else T.Bits(32)
                raise P4Error(e.loc, f"{A.show(x)} of type {base} has no member '{m}'")
            case A.Index(expr=x, index=i):
                base = self.type_of(x, env)
                if isinstance(base, T.StackT):
                    return base.elem
                if isinstance(base, T.StructT) and base.field(str(self.prog.const_int(i))) is not None:
                    return base.field(str(self.prog.const_int(i)))
                if isinstance(base, T.TupleT) and 0 <= self.prog.const_int(i) < len(base.items):
                    return base.items[self.prog.const_int(i)]
                raise P4Error(e.loc, f"{A.show(x)} is not a header stack")
            case A.Slice():
                hi, low = self.slice_bounds(e, env)
                return T.Bits(hi - low + 1)
            case A.Cast(type=t):
                return self.prog.resolve(t)
            case A.Call(func=A.Member(name="isValid")):
                return T.BOOL
            case A.Call(func=A.Member(name="lookahead")) | A.Call(func=A.Name(name="lookahead")):
                return self.prog.resolve(e.type_args[0])
            case A.Call(func=A.Name(name=n)) if isinstance(self.prog.decls.get(n), A.FunctionDecl):
                return self.prog.resolve(self.prog.decls[n].ret)
            case A.Unary(op="!"):
                return T.BOOL
            case A.Unary(expr=x):
                return self.type_of(x, env)
            case A.Binary(op=("==" | "!=" | "<" | ">" | "<=" | ">=" | "&&" | "||")):
                return T.BOOL
            case A.Binary(op="++", left=a, right=b):
                return T.Bits(bits(self.type_of(a, env)) + bits(self.type_of(b, env)))
            case A.Binary(op=("<<" | ">>"), left=a):
                return self.type_of(a, env)
            case A.Binary(left=a, right=b) | A.Ternary(then=a, other=b):
                ta = self.type_of(a, env)
                return self.type_of(b, env) if isinstance(ta, T.InfInt) else ta
        return self.prog.type_of(e, _EMPTY)

    def slice_bounds(self, e: A.Slice, env: Env) -> tuple[int, int]:
        """[hi:lo] of a slice, checked against its operand's width."""
        hi, low = self.prog.const_int(e.hi), self.prog.const_int(e.lo)
        ty = self.type_of(e.expr, env)
        if not isinstance(ty, T.Bits):
            raise P4Error(e.loc, f"cannot slice {A.show(e.expr)} of type {ty}")
        if not 0 <= low <= hi < ty.width:
            raise P4Error(e.loc, f"slice [{hi}:{low}] is out of range or reversed for {ty}")
        return hi, low

    def data(self, e: A.Expr, env: Env, want: T.Ty | None = None) -> JSON:
        """A data-valued (integer) JSON operand; bools are converted with b2d."""
        j, ty = self.rvalue(e, env, want)
        if is_bool(ty):
            return _expr("b2d", None, j)
        return j

    def cond(self, e: A.Expr, env: Env) -> JSON:
        """A boolean JSON operand; data is converted with d2b."""
        j, ty = self.rvalue(e, env, T.BOOL)
        if not is_bool(ty):
            return _expr("d2b", None, j)
        return j

    def rvalue(self, e: A.Expr, env: Env, want: T.Ty | None = None) -> tuple[JSON, T.Ty]:
        """JSON of an expression and its type. `want` gives untyped literals a width."""
        match e:
            case A.IntLit() | A.BoolLit():
                v = self.prog.const(e)
                ty = (
                    T.BOOL
                    if isinstance(v, bool)
                    else (T.Bits(e.width, e.signed) if e.width else (want or T.InfInt()))
                )
                if isinstance(ty, T.Bits) and not isinstance(v, bool):
                    v = v & ((1 << ty.width) - 1) if not ty.signed else v
                return self.const_json(v, e), ty
            case A.Name(name=n, top=top) if top or env.lookup(n) is None:
                v = self.prog.const(e)
                ty = self.prog.type_of(e, _EMPTY) if not isinstance(v, bool) else T.BOOL
                if isinstance(ty, T.InfInt) and want is not None:
                    ty = want
                return self.const_json(v, e), ty
            case A.Member(expr=A.Name(name=n)) if (
                env.lookup(n) is None and n in self.prog.decls
            ) or n == "error":
                v = self.prog.const(e)
                return self.const_json(v, e), self.prog.type_of(e, _EMPTY)
            case A.Name(name=n, top=False) if isinstance(env.lookup(n), Bound):
                b = env.lookup(n)
                return self.rvalue(b.expr, b.env, want)
            case A.Member(expr=x, name=("size" | "lastIndex") as m) if isinstance(
                self.type_of(x, env), T.StackT
            ):
                st = self.storage(x, env)
                if m == "size":  # the declared size: a constant
                    return hexstr(st.ty.size), T.Bits(32)
                return _expr("last_stack_index", None, {"type": "header_stack", "value": st.name}), T.Bits(32)
            case A.Name() | A.Member() | A.Index():
                s = self.storage(e, env)
                return self.read(s, e)
            case A.Slice(expr=x):
                hi, low = self.slice_bounds(e, env)
                j, _ = self.rvalue(x, env)
                shifted = _expr(">>", j, hexstr(low)) if low else j
                return _expr("&", shifted, hexstr((1 << (hi - low + 1)) - 1)), T.Bits(hi - low + 1)
            case A.Cast(type=t, expr=x):
                ty = self.prog.resolve(t)
                j, src = self.rvalue(x, env, ty if isinstance(ty, T.Bits) else None)
                return self.convert(j, src, ty, e), ty
            case A.Unary(op="!", expr=x):
                return _expr("not", None, self.cond(x, env)), T.BOOL
            case A.Unary(op="-", expr=x):
                j, ty = self.rvalue(x, env, want)
                if isinstance(ty, T.InfInt):
                    return _neg_const(j), ty
                return self.trunc(_expr("-", hexstr(0), j), ty), ty
            case A.Unary(op="~", expr=x):
                j, ty = self.rvalue(x, env, want)
                return self.trunc(_expr("~", None, j), ty), ty
            case A.Unary(op="+", expr=x):
                return self.rvalue(x, env, want)
            case A.Binary(op=("&&" | "||") as op, left=a, right=b):
                return _expr("and" if op == "&&" else "or", self.cond(a, env), self.cond(b, env)), T.BOOL
            case A.Binary(op=("==" | "!=" | "<" | ">" | "<=" | ">=") as op, left=a, right=b):
                ta, tb = self.type_of(a, env), self.type_of(b, env)
                if is_bool(ta) or is_bool(tb):
                    return _expr(op, self.cond(a, env), self.cond(b, env)), T.BOOL
                if isinstance(ta, T.StackT) and op in ("==", "!="):
                    # BMv2 compares headers and unions, not stacks: element by element, as p4c does.
                    sa, sb = self.storage(a, env), self.storage(b, env)
                    j = None
                    for k in range(ta.size):
                        eq = _expr("==", {"type": "header", "value": f"{sa.name}[{k}]"},
                                   {"type": "header", "value": f"{sb.name}[{k}]"})  # fmt: skip
                        j = eq if j is None else _expr("and", j, eq)
                    j = j if j is not None else {"type": "bool", "value": True}
                    return (j if op == "==" else _expr("not", None, j)), T.BOOL
                w = tb if isinstance(ta, T.InfInt) else ta
                return _expr(op, self.data(a, env, w), self.data(b, env, w)), T.BOOL
            case A.Binary(op="++", left=a, right=b):
                ja, ta = self.rvalue(a, env)
                jb, tb = self.rvalue(b, env)
                wb = bits(tb)
                ty = T.Bits(bits(ta) + wb)
                return _expr("|", _expr("<<", ja, hexstr(wb)), _expr("&", jb, hexstr((1 << wb) - 1))), ty
            case A.Binary(op=("<<" | ">>") as op, left=a, right=b):
                ja, ta = self.rvalue(a, env, want)
                jb, _ = self.rvalue(b, env, T.Bits(32))
                j = _expr(op, ja, jb)
                return (self.trunc(j, ta) if op == "<<" else j), ta
            case A.Binary(op=("|+|" | "|-|") as op, left=a, right=b):
                ta, tb = self.type_of(a, env), self.type_of(b, env)
                ty = tb if isinstance(ta, T.InfInt) else ta
                j = _expr("+" if op == "|+|" else "-", self.data(a, env, ty), self.data(b, env, ty))
                sat = "sat_cast" if isinstance(ty, T.Bits) and ty.signed else "usat_cast"
                return _expr(sat, j, hexstr(bits(ty))), ty
            case A.Binary(op=("+" | "-" | "*" | "&" | "|" | "^") as op, left=a, right=b):
                ta, tb = self.type_of(a, env), self.type_of(b, env)
                for x, tx in ((a, ta), (b, tb)):
                    if not isinstance(tx, T.Bits | T.InfInt):
                        raise P4Error(x.loc, f"'{op}' needs bit<W>, int<W> or int operands, not {tx}")
                ty = tb if isinstance(ta, T.InfInt) else ta
                if isinstance(ty, T.InfInt):
                    ty = want or ty
                j = _expr(op, self.data(a, env, ty), self.data(b, env, ty))
                return (self.trunc(j, ty) if op in ("+", "-", "*") else j), ty
            case A.Binary(op=op, left=a, right=b):
                try:
                    v = self.prog.const(e)
                    return self.const_json(v, e), want or T.InfInt()
                except P4Error:
                    pass
                ta, tb = self.type_of(a, env), self.type_of(b, env)
                ty = tb if isinstance(ta, T.InfInt) else ta
                if isinstance(ty, T.InfInt):
                    ty = want or ty
                if isinstance(ta, T.Bits) and isinstance(tb, T.Bits) and bits(ta) != bits(tb):
                    raise P4Error(e.loc, f"'{op}': operands {ta} and {tb} differ in width")
                if op in ("/", "%") and isinstance(ty, T.Bits) and not ty.signed:
                    # unsigned: BMv2's DIV / MOD; the result fits the operands' width
                    return _expr(op, self.data(a, env, ty), self.data(b, env, ty)), ty
                if op in ("/", "%"):
                    raise P4Error(e.loc, f"'{op}' is supported on unsigned bit<W> values and constants only")
                raise P4Error(e.loc, f"'{op}' is only supported on compile-time constants by BMv2")
            case A.Ternary(cond=c, then=a, other=b):
                ta, tb = self.type_of(a, env), self.type_of(b, env)
                ty = tb if isinstance(ta, T.InfInt) else ta
                if is_bool(ty):
                    return _expr("?", self.cond(a, env), self.cond(b, env), self.cond(c, env)), ty
                return _expr("?", self.data(a, env, ty), self.data(b, env, ty), self.cond(c, env)), ty
            case A.Call(func=A.Member(expr=x, name="isValid"), args=[]):
                s = self.storage(x, env)
                if isinstance(s, Union):
                    return _expr("valid_union", None, {"type": "header_union", "value": s.name}), T.BOOL
                if not isinstance(s, Header):
                    raise P4Error(e.loc, f"{A.show(x)} is not a header")
                return _expr("d2b", None, {"type": "field", "value": [s.inst, "$valid$"]}), T.BOOL
            case A.Call(func=A.Name(name=n)) if isinstance(self.prog.decls.get(n), A.FunctionDecl):
                return self.inline_function(self.prog.decls[n], e, env, want)
        raise P4Error(e.loc, f"cannot translate {A.show(e)} to BMv2")

    def read(self, s: Any, at: A.Expr) -> tuple[JSON, T.Ty]:
        match s:
            case Field(inst=i, name=n, ty=ty):
                j = {"type": "field", "value": [i, n]}
                return (_expr("d2b", None, j), ty) if is_bool(ty) else (j, ty)
            case Runtime(index=k, ty=ty):
                j = {"type": "local", "value": k}
                return (_expr("d2b", None, j), ty) if is_bool(ty) else (j, ty)
            case Header(inst=i, ty=ty):
                return {"type": "header", "value": i}, ty
            case Stack(name=n, ty=ty):
                return {"type": "header_stack", "value": n}, ty
            case Union(name=n, ty=ty):  # compared whole (BMv2's EQ_UNION)
                return {"type": "header_union", "value": n}, ty
            case ("stack_field", st, f, ft):
                return {"type": "stack_field", "value": [st.name, f]}, ft
            case DynField(ty=ty):
                return s.json(), ty
            case SliceRef(base=b, hi=hi, lo=lo, ty=ty):
                j, _ = self.read(b, at)
                shifted = _expr(">>", j, hexstr(lo)) if lo else j
                return _expr("&", shifted, hexstr((1 << (hi - lo + 1)) - 1)), ty
            case ("union_stack_field", *_):
                raise P4Error(
                    at.loc, f"{A.show(at)}: a field of a union stack's last element is read in select only"
                )
        raise P4Error(at.loc, f"cannot read {A.show(at)} as a value")

    def trunc(self, j: JSON, ty: T.Ty) -> JSON:
        if isinstance(ty, T.Bits):
            if ty.signed:
                return _expr("two_comp_mod", j, hexstr(ty.width))
            return _expr("&", j, hexstr((1 << ty.width) - 1))
        return j

    def convert(self, j: JSON, src: T.Ty, dst: T.Ty, at: A.Expr) -> JSON:
        if src == dst:
            return j
        if not (isinstance(src, T.Bits | T.InfInt | T.EnumT) or is_bool(src)):
            raise P4Error(at.loc, f"cannot cast {src} to {dst}")
        if is_bool(dst):
            return j if is_bool(src) else _expr("d2b", None, j)
        if is_bool(src):
            return _expr("b2d", None, j)
        if isinstance(dst, T.Bits):
            return self.trunc(j, dst)
        if isinstance(dst, T.EnumT | T.StructT):
            return j
        raise P4Error(at.loc, f"cannot cast {src} to {dst}")

    def inline_function(self, f: A.FunctionDecl, call: A.Call, env: Env, want) -> tuple[JSON, T.Ty]:
        stmts = [s for s in f.body.stmts if not isinstance(s, A.Empty)]
        if len(stmts) != 1 or not isinstance(stmts[0], A.Return) or stmts[0].value is None:
            raise P4Error(
                f.loc, f"function {f.name}: only functions of one `return expression;` are supported"
            )
        if any(p.direction in ("out", "inout") for p in f.params):
            raise P4Error(f.loc, f"function {f.name}: out and inout parameters are not supported")
        inner = Env(
            {p.name: Bound(a.value, env) for p, a in zip(f.params, call.args, strict=True)}, None, env.block
        )
        j, _ = self.rvalue(stmts[0].value, inner, self.prog.resolve(f.ret))
        ty = self.prog.resolve(f.ret)
        return self.convert(j, self.type_of(stmts[0].value, inner), ty, call), ty

    # -- actions -----------------------------------------------------------------
    def action(
        self, name: str, body: list, env: Env, runtime: list[JSON], source: A.Decl | None = None
    ) -> int:
        """Emit an action; `body` is a list of statements lowered in `env`. Returns its id."""
        prims: list[JSON] = []
        self.statements(body, env, prims, name)
        aid = len(self.actions)
        self.actions.append({"name": name, "id": aid, "runtime_data": runtime, "primitives": prims})
        return aid

    def p4_action(self, a: ActionInfo, block: BlockInfo, ref: A.ActionRef | None = None) -> int:
        """The action of a P4 `action` declaration, once per block and per binding of its
        directional parameters (`actions = { set(hdr.x); }` binds `out` ones in the table)."""
        n_dir = _n_directional(a)
        bound = [x.value for x in ref.args[:n_dir]] if ref is not None else []
        if len(bound) != n_dir:
            raise P4Error(
                (ref or a.decl).loc, f"action {a.name}: its directional parameters must be bound here"
            )
        key = f"{block.name}/{a.name}/" + ",".join(A.show(x) for x in bound)
        if key in self._action_ids:
            return self._action_ids[key]
        benv = self.block_env(block)
        env = Env({}, benv, block)
        runtime = []
        for k, p in enumerate(a.decl.params):
            if k < n_dir:
                if p.direction == "in":
                    env.names[p.name] = Bound(bound[k], benv)
                else:
                    env.names[p.name] = self.storage(bound[k], benv)
                continue
            if p.direction:
                raise P4Error(p.loc, f"action {a.name}: directional parameters must come first")
            ty = self.prog.resolve(p.type)
            env.names[p.name] = Runtime(k - n_dir, ty)
            runtime.append({"name": p.name, "bitwidth": bits(ty)})
        aid = self.action(a.name, self.inliner.stmts(a.decl.body.stmts), env, runtime, a.decl)
        self._action_ids[key] = aid
        return aid

    def statements(self, stmts: list, env: Env, out: list[JSON], where: str) -> None:
        """Lower statements into primitives; if/else become _jump_if_zero / _jump."""
        returns: list[int] = []
        self._stmts(stmts, env, out, where, returns)
        for k in returns:
            out[k]["parameters"][0] = hexstr(len(out))

    def _stmts(self, stmts: list, env: Env, out: list[JSON], where: str, returns: list[int]) -> None:
        for s in stmts:
            self._stmt(s, env, out, where, returns)

    def _stmt(self, s, env: Env, out: list[JSON], where: str, returns: list[int]) -> None:
        match s:
            case A.Block(stmts=stmts):
                self._stmts(stmts, env.child() if False else env, out, where, returns)
            case A.Empty():
                pass
            case A.VarDecl(name=n, type=t, init=init):
                if id(s) not in self._predeclared:
                    env.names[n] = self.layout(self.prog.resolve(t), f"{where}.{n}", metadata=True)
                if init is not None:
                    self.assign(env.lookup(n), init, env, out, s)
            case A.ConstDecl(name=n, value=v):
                env.names[n] = Bound(v, env)
            case A.Assign(target=t, value=v):
                self.assign(self.storage(t, env), v, env, out, s, t)
            case A.CallStmt(call=c):
                self.call(c, env, out, where, returns)
            case A.If(cond=c, then=a, other=b):
                jz = len(out)
                out.append(
                    {"op": "_jump_if_zero", "parameters": [top(_expr("b2d", None, self.cond(c, env))), None]}
                )
                self._stmt(a, env, out, where, returns)
                if b is not None:
                    jmp = len(out)
                    out.append({"op": "_jump", "parameters": [None]})
                    out[jz]["parameters"][1] = hexstr(len(out))
                    self._stmt(b, env, out, where, returns)
                    out[jmp]["parameters"][0] = hexstr(len(out))
                else:
                    out[jz]["parameters"][1] = hexstr(len(out))
            case A.Switch(expr=e) if not (isinstance(e, A.Member) and e.name == "action_run"):
                pre, chain = self.value_switch(s, env)
                for x in [*pre, chain]:
                    self._stmt(x, env, out, where, returns)
            case A.Exit():
                out.append({"op": "exit", "parameters": []})
            case A.Return(value=None):
                returns.append(len(out))
                out.append({"op": "_jump", "parameters": [None]})
            case _:
                raise P4Error(s.loc, f"{type(s).__name__.lower()} statements are not supported in actions")

    def assign(
        self, dst: Any, value: A.Expr, env: Env, out: list[JSON], at, target: A.Expr | None = None
    ) -> None:
        if isinstance(dst, Field | DynField | SliceRef) and isinstance(dst.ty, T.Bits):
            try:
                vty = self.type_of(value, env)
            except P4Error:
                vty = None
            if isinstance(vty, T.Bits) and vty.width != dst.ty.width:
                raise P4Error(at.loc, f"cannot assign a {vty} value to a {dst.ty} location (cast it)")
        match dst:
            case DynField(ty=ty):
                j = (
                    self.data(value, env, ty)
                    if not is_bool(ty)
                    else _expr("b2d", None, self.cond(value, env))
                )
                # An l-value expression, wrapped twice as behavioral-model's JSON_format.md shows.
                out.append(
                    {"op": "assign", "parameters": [{"type": "expression", "value": dst.json()}, top(j)]}
                )
            case Field(ty=ty):
                j = (
                    self.data(value, env, ty)
                    if not is_bool(ty)
                    else _expr("b2d", None, self.cond(value, env))
                )
                out.append(
                    {"op": "assign", "parameters": [{"type": "field", "value": [dst.inst, dst.name]}, top(j)]}
                )
            case Header():
                if isinstance(value, A.StructInit | A.ListExpr):
                    out.append({"op": "add_header", "parameters": [{"type": "header", "value": dst.inst}]})
                    items = (
                        value.fields
                        if isinstance(value, A.StructInit)
                        else list(zip([f for f, _ in dst.ty.fields], value.items, strict=True))
                    )
                    for fname, fv in items:
                        self.assign(Field(dst.inst, fname, dst.ty.field(fname)), fv, env, out, at)
                    return
                src = self.storage(value, env)
                if not isinstance(src, Header | DynHeader):
                    raise P4Error(at.loc, f"cannot assign {A.show(value)} to header {dst.inst}")
                out.append({"op": "assign_header", "parameters": [header_param(dst), header_param(src)]})
            case DynHeader():
                src = self.storage(value, env)
                if not isinstance(src, Header | DynHeader):
                    raise P4Error(at.loc, f"cannot assign {A.show(value)} to a header")
                out.append({"op": "assign_header", "parameters": [header_param(dst), header_param(src)]})
            case Struct(members=ms):
                if isinstance(value, A.StructInit):
                    for fname, fv in value.fields:
                        self.assign(ms[fname], fv, env, out, at)
                    return
                if isinstance(value, A.ListExpr):
                    for (fname, _), fv in zip(dst.ty.fields, value.items, strict=True):
                        self.assign(ms[fname], fv, env, out, at)
                    return
                src = self.storage(value, env)
                if not isinstance(src, Struct):
                    raise P4Error(at.loc, f"cannot assign {A.show(value)} to a struct")
                for fname in ms:
                    self.assign_storage(ms[fname], src.members[fname], out, at)
            case Union():
                src = self.storage(value, env)
                if not isinstance(src, Union) or src.ty.name != dst.ty.name:
                    raise P4Error(at.loc, f"cannot assign {A.show(value)} to header union {dst.name}")
                self.assign_storage(dst, src, out, at)
            case Stack():
                src = self.storage(value, env)
                out.append(
                    {
                        "op": "assign_header_stack",
                        "parameters": [
                            {"type": "header_stack", "value": dst.name},
                            {"type": "header_stack", "value": src.name},
                        ],
                    }
                )
            case SliceRef(base=b, hi=hi, lo=lo, ty=ty):
                # read-modify-write: base = (base & ~mask) | ((value << lo) & mask)
                w = bits(b.ty)
                mask = ((1 << (hi - lo + 1)) - 1) << lo
                cur, _ = self.read(b, at)
                v = self.data(value, env, ty)
                new = _expr("|", _expr("&", cur, hexstr(((1 << w) - 1) & ~mask)),
                            _expr("&", _expr("<<", v, hexstr(lo)) if lo else v, hexstr(mask)))  # fmt: skip
                dst_j = (
                    {"type": "field", "value": [b.inst, b.name]}
                    if isinstance(b, Field)
                    else {"type": "expression", "value": b.json()}
                )
                out.append({"op": "assign", "parameters": [dst_j, top(new)]})
            case UnionStack():
                src = self.storage(value, env)
                if not isinstance(src, UnionStack) or src.ty != dst.ty:
                    raise P4Error(at.loc, f"cannot assign {A.show(value)} to a stack of header unions")
                out.append({"op": "assign_union_stack", "parameters": [
                    {"type": "header_union_stack", "value": dst.name}, {"type": "header_union_stack", "value": src.name}]})  # fmt: skip
            case Runtime():
                raise P4Error(at.loc, "action parameters are read-only")
            case _:
                raise P4Error(at.loc, f"cannot assign to {A.show(target) if target else 'this'}")

    def assign_storage(self, dst: Any, src: Any, out: list[JSON], at) -> None:
        if isinstance(dst, Field):
            out.append(
                {
                    "op": "assign",
                    "parameters": [
                        {"type": "field", "value": [dst.inst, dst.name]},
                        {"type": "field", "value": [src.inst, src.name]},
                    ],
                }
            )
        elif isinstance(dst, Header):
            out.append(
                {
                    "op": "assign_header",
                    "parameters": [
                        {"type": "header", "value": dst.inst},
                        {"type": "header", "value": src.inst},
                    ],
                }
            )
        elif isinstance(dst, Struct | Union):
            # A union member by member: copying the valid one invalidates the others.
            for f in dst.members:
                self.assign_storage(dst.members[f], src.members[f], out, at)

    # -- block environments --------------------------------------------------------
    def roots(self) -> None:
        """Storage shared by all six blocks: headers, user metadata, standard metadata."""
        parser = self.prog.blocks["parser"].decl
        if len(parser.params) != 4:
            raise P4Error(
                parser.loc, "a v1model parser takes (packet_in, out H, inout M, inout standard_metadata_t)"
            )
        self.h_ty = self.prog.resolve(parser.params[1].type)
        self.m_ty = self.prog.resolve(parser.params[2].type)
        self.sm_ty = self.prog.named("standard_metadata_t", parser.params[3].type)
        if not isinstance(self.h_ty, T.StructT) or not isinstance(self.m_ty, T.StructT):
            raise P4Error(parser.loc, "the parser's headers and metadata must be structs")
        self.hdr = self.layout(self.h_ty, "", metadata=False)
        self.meta = (
            self.layout(self.m_ty, "meta", metadata=True) if self.m_ty.fields else Struct({}, self.m_ty)
        )
        self.sm = self.header_instance("standard_metadata", self.sm_ty, metadata=True)
        self._envs: dict[str, Env] = {}

    def block_env(self, b: BlockInfo) -> Env:
        if b.name in self._envs:
            return self._envs[b.name]
        env = Env({}, None, b)
        for p in b.decl.params:
            ty = self.prog.resolve(p.type)
            if ty is self.h_ty:
                env.names[p.name] = self.hdr
            elif ty is self.m_ty:
                env.names[p.name] = self.meta
            elif ty is self.sm_ty:
                env.names[p.name] = self.sm
            elif isinstance(ty, T.ExternT) and ty.name in ("packet_in", "packet_out"):
                env.names[p.name] = ("packet", ty.name)
            elif b.role != "sub":
                raise P4Error(p.loc, f"unexpected parameter {p.name} of type {ty} in {b.name}")
        for d in b.decl.locals:
            if isinstance(d, A.VarDecl):
                env.names[d.name] = self.layout(
                    self.prog.resolve(d.type), f"{b.name}.{d.name}", metadata=True
                )
            elif isinstance(d, A.ConstDecl):
                env.names[d.name] = Bound(d.value, env)
            elif isinstance(d, A.Instantiation) and d.name in b.instances:
                env.names[d.name] = b.instances[d.name]
            elif isinstance(d, A.ValueSetDecl):
                env.names[d.name] = ("value_set", b.value_sets[d.name][0])
        self._envs[b.name] = env
        return env

    # -- calls -------------------------------------------------------------------
    def call(self, c: A.Call, env: Env, out: list[JSON], where: str, returns: list[int]) -> None:
        f = c.func
        args = [a.value for a in c.args]
        if isinstance(f, A.Member):
            inst = env.lookup(f.expr.name) if isinstance(f.expr, A.Name) else None
            if inst is not None and type(inst).__name__ == "Instance":
                return self.extern_method(inst, f.name, args, c, env, out)
            target = self.storage(f.expr, env)
            if isinstance(target, Header) and f.name in ("setValid", "setInvalid"):
                op = "add_header" if f.name == "setValid" else "remove_header"
                out.append({"op": op, "parameters": [{"type": "header", "value": target.inst}]})
                return
            if isinstance(target, Stack | UnionStack) and f.name in ("push_front", "pop_front"):
                n = self.prog.const_int(args[0])
                kind = "header_stack" if isinstance(target, Stack) else "header_union_stack"
                out.append({"op": "push" if f.name == "push_front" else "pop",
                            "parameters": [{"type": kind, "value": target.name}, hexstr(n)]})  # fmt: skip
                return
            raise P4Error(c.loc, f"unsupported call {A.show(c)}")
        if not isinstance(f, A.Name):
            raise P4Error(c.loc, f"unsupported call {A.show(c)}")
        name = f.name
        block = env.block
        if block is not None and name in block.actions and not f.top:
            return self.inline_action(block.actions[name].decl, args, env, out, where)
        if isinstance(self.prog.decls.get(name), A.ActionDecl):
            return self.inline_action(self.prog.decls[name], args, env, out, where)
        if name in PRIMITIVE_EXTERNS:
            params = []
            if name == "mark_to_drop":
                params = [{"type": "header", "value": self.sm.inst}]
            elif name == "truncate":
                params = [top(self.data(args[0], env, T.Bits(32)))]
            else:  # assert / assume take data (BMv2 core primitives)
                params = [top(_expr("b2d", None, self.cond(args[0], env)))]
            out.append({"op": PRIMITIVE_EXTERNS[name], "parameters": params})
            return
        if name == "log_msg":
            fmt = self.prog.const(args[0])
            values = []
            if len(args) > 1:
                items = args[1].items if isinstance(args[1], A.ListExpr) else [args[1]]
                values = [top(self.data(x, env)) for x in items]
            out.append(
                {
                    "op": "log_msg",
                    "parameters": [
                        {"type": "string", "value": fmt},
                        {"type": "parameters_vector", "value": values},
                    ],
                }
            )
            return
        if name == "hash":
            dst = self.field_of(args[0], env, c)
            algo = self.algorithm(args[1])
            calc = self.calculation(f"calc_{len(self.calculations)}", algo, args[3], env)
            out.append({"op": "modify_field_with_hash_based_offset", "parameters": [
                dst, top(self.data(args[2], env, dst_ty := self.type_of(args[0], env))), {"type": "calculation", "value": calc},
                top(self.data(args[4], env, T.Bits(max(bits(dst_ty), 32))))]})  # fmt: skip
            return
        if name == "random":
            dst = self.field_of(args[0], env, c)
            ty = self.type_of(args[0], env)
            out.append(
                {
                    "op": "modify_field_rng_uniform",
                    "parameters": [dst, top(self.data(args[1], env, ty)), top(self.data(args[2], env, ty))],
                }
            )
            return
        if name == "digest":
            return self.digest(c, args, env, out)
        if name in ("clone", "clone_preserving_field_list", "clone3"):
            kind = self.prog.const(args[0])
            op = (
                "clone_ingress_pkt_to_egress"
                if kind == ("CloneType", "I2E")
                else "clone_egress_pkt_to_egress"
            )
            fl = self.field_list_arg(name, args[2:], env, c)
            out.append({"op": op, "parameters": [top(self.data(args[1], env, T.Bits(32))), hexstr(fl)]})
            return
        if name in (
            "resubmit",
            "resubmit_preserving_field_list",
            "recirculate",
            "recirculate_preserving_field_list",
        ):
            fl = self.field_list_arg(name, args, env, c)
            out.append({"op": name.split("_")[0], "parameters": [hexstr(fl)]})
            return
        if name == "verify":
            raise P4Error(c.loc, "verify() can only be called in a parser")
        if name in (
            "verify_checksum",
            "update_checksum",
            "verify_checksum_with_payload",
            "update_checksum_with_payload",
        ):
            raise P4Error(c.loc, f"{name}() belongs in the checksum controls of V1Switch")
        raise P4Error(c.loc, f"unsupported call {A.show(c)}")

    def inline_action(self, decl: A.ActionDecl, args: list, env: Env, out: list[JSON], where: str) -> None:
        if len(args) != len(decl.params):
            raise P4Error(decl.loc, f"action {decl.name} takes {len(decl.params)} arguments, got {len(args)}")
        inner = Env({}, self.block_env(env.block) if env.block else None, env.block)
        for p, a in zip(decl.params, args, strict=True):
            if p.direction in ("out", "inout"):
                inner.names[p.name] = self.storage(a, env)
            else:
                inner.names[p.name] = Bound(a, env)
        returns: list[int] = []
        body: list[JSON] = []
        self._stmts(self.inliner.stmts(decl.body.stmts), inner, body, f"{where}.{decl.name}", returns)
        base = len(out)
        for k in returns:
            body[k]["parameters"][0] = hexstr(len(body))
        for prim in body:  # jumps inside the inlined body are relative to it
            if prim["op"] in ("_jump", "_jump_if_zero"):
                idx = -1
                prim["parameters"][idx] = hexstr(int(prim["parameters"][idx]["value"], 16) + base)
        out.extend(body)

    def field_of(self, e: A.Expr, env: Env, at: A.Expr) -> JSON:
        s = self.storage(e, env)
        if not isinstance(s, Field):
            raise P4Error(at.loc, f"{A.show(e)} must be a field")
        return {"type": "field", "value": [s.inst, s.name]}

    def algorithm(self, e: A.Expr) -> str:
        v = self.prog.const(e)
        if not (isinstance(v, tuple) and v[0] == "HashAlgorithm"):
            raise P4Error(e.loc, f"expected a HashAlgorithm, found {A.show(e)}")
        return HASH_ALGOS[v[1]]

    def calculation(self, name: str, algo: str, data: A.Expr, env: Env, payload: bool = False) -> str:
        items = data.items if isinstance(data, A.ListExpr) else [data]
        inputs = []
        for x in items:
            try:
                s = self.storage(x, env)
            except P4Error:
                s = None
            if isinstance(s, Field):
                inputs.append({"type": "field", "value": [s.inst, s.name]})
            elif isinstance(s, Header):
                inputs.append({"type": "header", "value": s.inst})
            else:
                v = self.prog.const(x)
                ty = self.type_of(x, env)
                inputs.append({"type": "hexstr", "value": hex(v), "bitwidth": bits(ty)})
        if payload:
            inputs.append({"type": "payload", "value": None})
        name = self.unique(name)
        self.calculations.append({"name": name, "id": len(self.calculations), "algo": algo, "input": inputs})
        return name

    def digest(self, c: A.Call, args: list, env: Env, out: list[JSON]) -> None:
        ty = self.prog.resolve(c.type_args[0]) if c.type_args else self.type_of(args[1], env)
        if not isinstance(ty, T.StructT):
            raise P4Error(c.loc, "digest needs a struct type: write digest<T>(receiver, data)")
        # Snapshot the values now into metadata of the digest's type; the learn list reads them.
        tmp = self.layout(ty, f"digest.{ty.name}.{len(self.learn_lists)}", metadata=True)
        if isinstance(args[1], A.ListExpr | A.StructInit):
            self.assign(tmp, args[1], env, out, c)
        else:
            self.assign_storage(tmp, self.storage(args[1], env), out, c)
        lid = next((x["id"] for x in self.learn_lists if x["name"] == ty.name), None)
        if lid is None:
            lid = len(self.learn_lists) + 1
            self.learn_lists.append({"id": lid, "name": ty.name, "elements": [
                {"type": "field", "value": [tmp.members[f].inst, tmp.members[f].name]} for f, _ in ty.fields]})  # fmt: skip
        else:
            # A second digest of the same type reuses the first one's snapshot fields.
            first = self.learn_lists[lid - 1]["elements"]
            for (f, _), el in zip(ty.fields, first, strict=True):
                out.append({"op": "assign", "parameters": [{"type": "field", "value": el["value"]},
                                                           {"type": "field", "value": [tmp.members[f].inst, tmp.members[f].name]}]})  # fmt: skip
        out.append(
            {"op": "generate_digest", "parameters": [top(self.data(args[0], env, T.Bits(32))), hexstr(lid)]}
        )

    def field_list_arg(self, name: str, args: list, env: Env, at: A.Call) -> int:
        """Field list id for clone/resubmit/recirculate: the @field_list index, or 0 for none."""
        if not args:
            return 0
        if name.endswith("preserving_field_list"):
            idx = self.prog.const_int(args[-1])
            self.field_list(idx)
            return idx
        # The deprecated forms name the fields themselves: an anonymous field list, numbered
        # above bit<8> so that it never meets a @field_list index.
        fields: list[JSON] = []

        def gather(s: Any, at: Any) -> None:
            if isinstance(s, Field):
                fields.append({"type": "field", "value": [s.inst, s.name]})
            elif isinstance(s, Struct):
                for m in s.members.values():
                    gather(m, at)
            else:
                raise P4Error(at.loc, f"{name}(): {A.show(at)} is not a field or a struct of fields")

        data = args[-1]
        for x in data.items if isinstance(data, A.ListExpr) else [data]:
            gather(self.storage(x, env), x)
        if not fields:
            return 0
        idx = 0x100 + sum(1 for x in self.field_lists if x["id"] >= 0x100)
        self.field_lists.append({"id": idx, "name": f"fl_{name}_{idx - 0x100}", "elements": fields})
        return idx

    def field_list(self, idx: int) -> None:
        if any(x["id"] == idx for x in self.field_lists):
            return
        elements = []

        def walk(s: Any, ty: T.StructT) -> None:
            for fname, _ in ty.fields:
                d = next((f for f in self.prog.decls[ty.name].fields if f.name == fname), None)
                m = s.members[fname]
                if isinstance(m, Struct):
                    walk(m, m.ty)
                elif d is not None and any(
                    a.name == "field_list" and any(self.prog.const(x) == idx for x in a.args)
                    for a in d.annotations
                ):
                    elements.append({"type": "field", "value": [m.inst, m.name]})

        walk(self.meta, self.m_ty)
        self.field_lists.append({"id": idx, "name": f"field_list{idx}", "elements": elements})

    def extern_method(self, inst, method: str, args: list, c: A.Call, env: Env, out: list[JSON]) -> None:
        kind = inst.type.name
        ref = {"counter": "counter_array", "meter": "meter_array", "register": "register_array"}.get(kind)
        if kind == "counter" and method == "count":
            out.append(
                {
                    "op": "count",
                    "parameters": [
                        {"type": ref, "value": inst.name},
                        top(self.data(args[0], env, T.Bits(32))),
                    ],
                }
            )
        elif kind == "direct_counter" and method == "count":
            pass  # BMv2 counts direct counters on every hit of their table
        elif kind == "meter" and method == "execute_meter":
            out.append({"op": "execute_meter", "parameters": [{"type": ref, "value": inst.name},
                        top(self.data(args[0], env, T.Bits(32))), self.field_of(args[1], env, c)]})  # fmt: skip
        elif kind == "direct_meter" and method == "read":
            self.meter_targets[inst.name] = self.field_of(args[0], env, c)["value"]
        elif kind == "register" and method == "read":
            out.append({"op": "register_read", "parameters": [self.field_of(args[0], env, c), {"type": ref, "value": inst.name},
                        top(self.data(args[1], env, T.Bits(32)))]})  # fmt: skip
        elif kind == "register" and method == "write":
            out.append({"op": "register_write", "parameters": [{"type": ref, "value": inst.name},
                        top(self.data(args[0], env, T.Bits(32))), top(self.data(args[1], env, inst.type.args[0]))]})  # fmt: skip
        else:
            raise P4Error(c.loc, f"{kind}.{method}() is not supported")

    # -- controls -> pipelines -------------------------------------------------------
    def pipeline(self, b: BlockInfo, name: str) -> JSON:
        self._tables: list[JSON] = []
        self._conds: list[JSON] = []
        self._profiles: list[JSON] = []
        self._ctl = b
        env = self.block_env(b)
        body = A.Block(b.decl.body.loc, self.inliner.stmts(_local_inits(b.decl) + b.decl.body.stmts))
        self.predeclare(body, env, b.name)
        first = self.lower(body.stmts, env, None, None)
        return {"name": name, "id": len(self._pipelines), "source_info": _src(b.decl),
                "init_table": first, "tables": self._tables, "action_profiles": self._profiles,
                "conditionals": self._conds}  # fmt: skip

    def predeclare(self, node, env: Env, where: str) -> None:
        """Give every local of an apply block its storage before lowering, which runs
        backwards through the statements (a later `if` may read an earlier local)."""
        if isinstance(node, A.VarDecl):
            if node.name in env.names:
                raise P4Error(
                    node.loc, f"'{node.name}' is declared twice in {where}; BMv2 flattens scopes, rename one"
                )
            env.names[node.name] = self.layout(
                self.prog.resolve(node.type), f"{where}.{node.name}", metadata=True
            )
            self._predeclared.add(id(node))
        elif isinstance(node, list):
            for x in node:
                self.predeclare(x, env, where)
        elif isinstance(node, A.Block):
            self.predeclare(node.stmts, env, where)
        elif isinstance(node, A.If):
            self.predeclare(node.then, env, where)
            self.predeclare(node.other, env, where)
        elif isinstance(node, A.Switch):
            for c in node.cases:
                self.predeclare(c.body, env, where)

    def lower(self, stmts: list, env: Env, nxt: str | None, ret: str | None) -> str | None:
        """Control-flow nodes for `stmts` continuing to `nxt`; `return` goes to `ret`."""
        node = nxt
        pending: list = []  # consecutive plain statements, gathered into one hidden action

        def flush(after: str | None) -> str | None:
            if not pending:
                return after
            stmts_ = list(reversed(pending))
            pending.clear()
            return self.hidden_table(stmts_, env, after)

        for s in reversed(stmts):
            if self.plain(s, env):
                pending.append(s)
                continue
            node = flush(node)
            node = self.lower_one(s, env, node, ret)
        return flush(node)

    def plain(self, s, env: Env) -> bool:
        """A statement that becomes primitives of a hidden action (no table, no branching on one)."""
        match s:
            case A.Assign() | A.VarDecl() | A.ConstDecl() | A.Empty() | A.Exit():
                return True
            case A.CallStmt(call=c):
                return not (self._table_apply(c, env) or self._sub_apply(c, env))
        return False

    def _table_apply(self, c: A.Expr, env: Env) -> TableInfo | None:
        if (
            isinstance(c, A.Call)
            and isinstance(c.func, A.Member)
            and c.func.name == "apply"
            and isinstance(c.func.expr, A.Name)
        ):
            return env.block.tables.get(c.func.expr.name) if env.block else None
        return None

    def _sub_apply(self, c: A.Expr, env: Env) -> BlockInfo | None:
        if (
            isinstance(c, A.Call)
            and isinstance(c.func, A.Member)
            and c.func.name == "apply"
            and isinstance(c.func.expr, A.Name)
        ):
            return env.block.subs.get(c.func.expr.name) if env.block else None
        return None

    def lower_one(self, s, env: Env, nxt: str | None, ret: str | None) -> str | None:
        match s:
            case A.Block(stmts=stmts):
                return self.lower(stmts, env, nxt, ret)
            case A.Return(value=None):
                return ret
            case A.CallStmt(call=c):
                t = self._table_apply(c, env)
                if t is not None:
                    return self.table_node(t, {a.name: nxt for _, a in t.actions}, nxt)
                sub = self._sub_apply(c, env)
                senv = Env({}, None, sub)
                base = self.block_env(sub)
                senv.names.update(base.names)
                for p, a in zip(sub.decl.params, c.args, strict=True):
                    if p.direction in ("in", "") and not self._is_location(a.value, env):
                        # A value, such as a constant: typed as the parameter is.
                        senv.names[p.name] = Bound(A.Cast(a.value.loc, p.type, a.value), env)
                    else:
                        senv.names[p.name] = self.storage(a.value, env)
                    if not sub.tables:
                        continue
                    # Its tables' actions are compiled once, in its own environment: bind there too.
                    prev = base.names.get(p.name)
                    if prev is not None and prev != senv.names[p.name]:
                        raise P4Error(c.loc, f"{sub.name} is applied twice with different arguments")
                    base.names[p.name] = senv.names[p.name]
                body = A.Block(
                    sub.decl.body.loc, self.inliner.stmts(_local_inits(sub.decl) + sub.decl.body.stmts)
                )
                self.predeclare(body, senv, sub.name)
                return self.lower(body.stmts, senv, nxt, nxt)
            case A.If(cond=c, then=a, other=b):
                hit = self._hit_test(c, env)
                if hit is not None:
                    t, on_hit = hit
                    yes = self.lower([a], env, nxt, ret)
                    no = self.lower([b], env, nxt, ret) if b is not None else nxt
                    branches = (
                        {"__HIT__": yes, "__MISS__": no} if on_hit else {"__HIT__": no, "__MISS__": yes}
                    )
                    return self.table_node(t, branches, nxt)
                yes = self.lower([a], env, nxt, ret)
                no = self.lower([b], env, nxt, ret) if b is not None else nxt
                name = self.unique(f"node_{self._next_cond_id() + 2}")
                self._conds.append({"name": name, "id": len(self._all_conds), "source_info": _src(s),
                                    "expression": self.cond(c, env), "true_next": yes, "false_next": no})  # fmt: skip
                self._all_conds.append(name)
                return name
            case A.Switch(expr=A.Member(expr=call, name="action_run"), cases=cases):
                t = self._table_apply(call, env)
                if t is None:
                    raise P4Error(s.loc, "switch needs table.apply().action_run")
                branches: dict[str, str | None] = {}
                default = nxt
                pending_labels: list = []
                for case in cases:
                    pending_labels.append(case.label)
                    if case.body is None:
                        continue
                    target = self.lower(case.body.stmts, env, nxt, ret)
                    for label in pending_labels:
                        if isinstance(label, A.Default):
                            default = target
                        else:
                            a = self.prog.action(label, env.block)
                            if a.name not in {x.name for _, x in t.actions}:
                                raise P4Error(label.loc, f"{a.name} is not an action of table {t.name}")
                            branches[a.name] = target
                    pending_labels = []
                return self.table_node(t, {a.name: branches.get(a.name, default) for _, a in t.actions}, nxt)
            case A.Switch():
                pre, chain = self.value_switch(s, env)
                return self.lower([*pre, chain], env, nxt, ret)
        raise P4Error(s.loc, f"unsupported statement in a control: {type(s).__name__}")

    def value_switch(self, s: A.Switch, env: Env) -> tuple[list, A.Stmt]:
        """switch on an integer, enum or error value: an if-chain on the value, read once."""
        ty = self.type_of(s.expr, env)
        if not isinstance(ty, T.Bits | T.EnumT) and not (isinstance(ty, T.Ty) and str(ty) == "error"):
            raise P4Error(s.expr.loc, f"cannot switch on {A.show(s.expr)} of type {ty}")
        if self._is_location(s.expr, env):
            return [], switch_to_ifs(s, s.expr)
        name = f"$switch{len(self.scalars)}"
        env.names[name] = self.scalar(f"switch{len(self.scalars)}", ty)
        tmp = A.Name(s.expr.loc, name)
        return [A.Assign(s.loc, tmp, s.expr)], switch_to_ifs(s, tmp)

    def _hit_test(self, c: A.Expr, env: Env) -> tuple[TableInfo, bool] | None:
        neg = False
        while isinstance(c, A.Unary) and c.op == "!":
            c, neg = c.expr, not neg
        if isinstance(c, A.Member) and c.name in ("hit", "miss"):
            t = self._table_apply(c.expr, env)
            if t is None:
                raise P4Error(c.loc, f"{A.show(c)}: expected table.apply().{c.name}")
            return t, (c.name == "hit") != neg
        return None

    def _next_cond_id(self) -> int:
        self._cond_count = getattr(self, "_cond_count", 0) + 1
        return self._cond_count - 1

    def hidden_table(self, stmts: list, env: Env, nxt: str | None) -> str:
        """A keyless table whose const default action runs `stmts` (as p4c's tbl_act)."""
        aname = self.unique(f"act_{len(self.actions)}")
        aid = self.action(aname, stmts, env, [])
        name = self.unique(f"tbl_{aname}")
        self._tables.append({
            "name": name, "id": self._next_table_id(), "source_info": _src(stmts[0]), "key": [], "match_type": "exact",
            "type": "simple", "max_size": 1024, "with_counters": False, "support_timeout": False, "direct_meters": None,
            "action_ids": [aid], "actions": [aname], "base_default_next": nxt, "next_tables": {aname: nxt},
            "default_entry": {"action_id": aid, "action_const": True, "action_data": [], "action_entry_const": True},
        })  # fmt: skip
        return name

    def _next_table_id(self) -> int:
        self._table_count = getattr(self, "_table_count", 0) + 1
        return self._table_count - 1

    def table_node(self, t: TableInfo, next_by_action: dict[str, str | None], base_next: str | None) -> str:
        """The table's JSON (once per application site: a table applied twice is an error)."""
        if any(x["name"] == t.name for x in self._tables):
            raise P4Error(
                t.decl.loc, f"table {t.name} is applied more than once; BMv2 allows one application per table"
            )
        env = self.block_env(t.block)
        keys, kinds, computed = [], [], []
        for elem, name, ty in t.keys:
            if elem.match_kind == "selector":
                continue
            if not self._plain_key(elem.expr, env):
                # A computed key (a constant, arithmetic, a slice…): a hidden action
                # evaluates it into metadata just before the table, as p4c does.
                tmp = self.scalar(f"{t.name}.key{len(keys)}", ty)
                tmp_name = f"$key.{t.name}.{len(keys)}"
                env.names[tmp_name] = tmp
                computed.append(A.Assign(elem.loc, A.Name(elem.loc, tmp_name), elem.expr))
                elem = A.KeyElement(A.Name(elem.loc, tmp_name), elem.match_kind, elem.loc, elem.annotations)
            keys.append(self.key_element(elem, name, env))
            kinds.append(elem.match_kind)
        match_type = "exact"
        if "range" in kinds:
            match_type = "range"
        elif "ternary" in kinds or "optional" in kinds or kinds.count("lpm") > 1:
            match_type = "ternary"
        elif "lpm" in kinds:
            match_type = "lpm"
        aids = [self.p4_action(a, t.block, r) for r, a in t.actions]
        by_name = self._table_actions[t.name] = {
            a.name: aid for (_, a), aid in zip(t.actions, aids, strict=True)
        }
        names = [a.name for _, a in t.actions]
        j: JSON = {
            "name": t.name, "id": self._next_table_id(), "source_info": _src(t.decl), "key": keys,
            "match_type": match_type, "type": "simple", "max_size": t.size or 1024,
            "with_counters": t.counters is not None, "support_timeout": t.support_timeout,
            "direct_meters": t.meters.name if t.meters is not None else None,
            "action_ids": aids, "actions": names, "base_default_next": base_next,
        }  # fmt: skip
        if "__HIT__" in next_by_action:
            j["next_tables"] = next_by_action
        else:
            j["next_tables"] = {n: next_by_action.get(n, base_next) for n in names}
        if t.implementation is not None:
            selector = [e for e, _, _ in t.keys if e.match_kind == "selector"]
            prof = t.implementation
            is_sel = prof.type.name == "action_selector"
            j["type"] = "indirect_ws" if is_sel else "indirect"
            j["action_profile"] = prof.name
            if not any(p["name"] == prof.name for p in self._profiles):
                pj: JSON = {
                    "name": prof.name,
                    "id": len(self._all_profiles),
                    "max_size": prof.args[1] if is_sel else prof.args[0],
                }
                if is_sel:
                    pj["selector"] = {"algo": HASH_ALGOS[prof.args[0][1]],
                                      "input": [{"type": "field", "value": self.field_of(e.expr, env, e.expr)["value"]} for e in selector]}  # fmt: skip
                self._profiles.append(pj)
                self._all_profiles.append(pj)
        if t.default is not None:
            ref, a = t.default
            aid = by_name[a.name] if a.name in by_name else self.p4_action(a, t.block, ref)
            args = ref.args[_n_directional(a) :]
            data = [self.action_arg(x.value, ty) for x, (_, ty) in zip(args, a.params, strict=False)]
            if len(args) != len(a.params):
                raise P4Error(ref.loc, f"default action {a.name} needs {len(a.params)} arguments")
            j["default_entry"] = {"action_id": aid, "action_const": t.default_const, "action_data": data,
                                  "action_entry_const": t.default_const}  # fmt: skip
        if t.entries:
            j["entries"] = [self.entry(t, e, k, keys) for k, e in enumerate(t.entries)]
            for e, p in zip(j["entries"], self.entry_priorities(t), strict=True):
                e["priority"] = p
        self._tables.append(j)
        return self.hidden_table(computed, env, t.name) if computed else t.name

    def entry_priorities(self, t: TableInfo) -> list[int]:
        """BMv2 priorities (a lower number wins) of a table's entries, after p4c's
        EntryPriorities: without explicit priorities the first entry wins; with them the
        largest wins unless `largest_priority_wins = false`; an entry without one takes the
        previous one's, `priority_delta` further from winning; `const entries` have none."""
        if all(e.priority is None for e in t.entries):
            return list(range(1, len(t.entries) + 1))
        first = next(e for e in t.entries if e.priority is not None)
        if t.entries_const:
            raise P4Error(first.loc, "a table with 'const' entries cannot have priorities")
        if t.entries[0].priority is None:
            raise P4Error(t.entries[0].loc, "the first entry must have a priority when others have one")
        largest = self._table_int(t, "largest_priority_wins", 1) != 0
        delta = self._table_int(t, "priority_delta", 1)
        ps: list[int] = []
        for e in t.entries:
            p = (
                self.prog.const_int(e.priority)
                if e.priority is not None
                else ps[-1] + (-delta if largest else delta)
            )
            if not 0 <= p < 1 << 31:
                raise P4Error(e.loc, f"entry priority {p} is out of range")
            ps.append(p)
        top_ = max(ps)
        return [top_ + 1 - p for p in ps] if largest else [p + 1 for p in ps]

    def _table_int(self, t: TableInfo, prop: str, default: int) -> int:
        p = t.decl.prop(prop)
        if p is None:
            return default
        v = self.prog.const(p.value)
        return int(v) if isinstance(v, bool | int) else default

    def _plain_key(self, e: A.Expr, env: Env) -> bool:
        """A key BMv2 can match directly: a field, `field & mask`, or isValid()."""
        if isinstance(e, A.Binary) and e.op == "&":
            try:
                self.prog.const_int(e.right)
                e = e.left
            except P4Error:
                return False
        if isinstance(e, A.Call) and isinstance(e.func, A.Member) and e.func.name == "isValid":
            return True
        try:
            return isinstance(self.storage(e, env), Field)
        except P4Error:
            return False

    def action_arg(self, e: A.Expr, ty: T.Ty) -> str:
        v = self.prog.const(e)
        if isinstance(v, tuple):
            v = self.enum_value(self.prog.named(v[0], e), v[1]) if v[0] != "error" else self.errors[v[1]]
        return hex(int(v) & ((1 << bits(ty)) - 1))

    def key_element(self, elem: A.KeyElement, name: str, env: Env) -> JSON:
        e, mask = elem.expr, None
        if isinstance(e, A.Binary) and e.op == "&":
            mask = self.prog.const_int(e.right)
            e = e.left
        if isinstance(e, A.Call) and isinstance(e.func, A.Member) and e.func.name == "isValid":
            s = self.storage(e.func.expr, env)
            return {"match_type": elem.match_kind if elem.match_kind != "optional" else "ternary", "name": name,
                    "target": [s.inst, "$valid$"], "mask": None}  # fmt: skip
        try:
            s = self.storage(e, env)
        except P4Error:
            s = None
        if not isinstance(s, Field):
            raise P4Error(
                elem.loc, f"table keys must be fields (or field & mask, isValid()), not {A.show(elem.expr)}"
            )
        kind = elem.match_kind if elem.match_kind != "optional" else "ternary"
        return {"match_type": kind, "name": name, "target": [s.inst, s.name],
                "mask": padded_hex([(mask, bits(s.ty))]) if mask is not None else None}  # fmt: skip

    def entry(self, t: TableInfo, e: A.Entry, k: int, keys: list[JSON]) -> JSON:
        items = e.keyset.items if isinstance(e.keyset, A.ListExpr) else [e.keyset]
        real = [(elem, ty) for elem, _, ty in t.keys if elem.match_kind != "selector"]
        if len(items) != len(real):
            raise P4Error(e.loc, f"entry has {len(items)} key values, table {t.name} has {len(real)} keys")
        mk = []
        for item, (elem, ty) in zip(items, real, strict=True):
            w = bits(ty)
            full = (1 << w) - 1
            kind = elem.match_kind
            if kind == "exact":
                if isinstance(item, A.DontCare | A.Default | A.Mask | A.Range):
                    raise P4Error(item.loc, f"an exact key needs a value, not {A.show(item)}")
                mk.append({"match_type": "exact", "key": padded_hex([(self.prog.const_int(item), w)])})
            elif kind == "lpm":
                if isinstance(item, A.DontCare | A.Default):
                    mk.append({"match_type": "lpm", "key": padded_hex([(0, w)]), "prefix_length": 0})
                elif isinstance(item, A.Mask):
                    v, m = self.prog.const_int(item.value), self.prog.const_int(item.mask)
                    plen = bin(m & full).count("1")
                    if m & full != (full >> (w - plen)) << (w - plen):
                        raise P4Error(item.loc, "an lpm mask must be a prefix")
                    mk.append({"match_type": "lpm", "key": padded_hex([(v & m, w)]), "prefix_length": plen})
                else:
                    mk.append(
                        {
                            "match_type": "lpm",
                            "key": padded_hex([(self.prog.const_int(item), w)]),
                            "prefix_length": w,
                        }
                    )
            elif kind in ("ternary", "optional"):
                if isinstance(item, A.DontCare | A.Default):
                    v, m = 0, 0
                elif isinstance(item, A.Mask):
                    v, m = self.prog.const_int(item.value), self.prog.const_int(item.mask)
                else:
                    v, m = self.prog.const_int(item), full
                mk.append(
                    {"match_type": "ternary", "key": padded_hex([(v & m, w)]), "mask": padded_hex([(m, w)])}
                )
            elif kind == "range":
                if isinstance(item, A.DontCare | A.Default):
                    lo, hi = 0, full
                elif isinstance(item, A.Range):
                    lo, hi = self.prog.const_int(item.lo), self.prog.const_int(item.hi)
                else:
                    lo = hi = self.prog.const_int(item)
                mk.append(
                    {"match_type": "range", "start": padded_hex([(lo, w)]), "end": padded_hex([(hi, w)])}
                )
        ref = e.action
        a = self.prog.action(ref, t.block)
        if a.name not in {x.name for _, x in t.actions}:
            raise P4Error(ref.loc, f"{a.name} is not an action of table {t.name}")
        args = ref.args[_n_directional(a) :]
        if len(args) != len(a.params):
            raise P4Error(ref.loc, f"action {a.name} takes {len(a.params)} arguments, got {len(args)}")
        data = [self.action_arg(x.value, ty) for x, (_, ty) in zip(args, a.params, strict=True)]
        prio = self.prog.const_int(e.priority) if e.priority is not None else k + 1
        aid = self._table_actions[t.name][a.name]
        return {"source_info": _src(e), "match_key": mk,
                "action_entry": {"action_id": aid, "action_data": data}, "priority": prio}  # fmt: skip

    # -- parser ------------------------------------------------------------------
    def parser_json(self, b: BlockInfo) -> JSON:
        env = self.block_env(b)
        if "start" not in {st.name for st in b.decl.states}:
            raise P4Error(b.decl.loc, f"parser {b.name} has no start state")
        flat = self.parser_states(b, env, {}, _local_inits(b.decl), 0)
        names = {st.name for st, *_ in flat}
        states = []
        for st, senv, rename in flat:
            ops: list[JSON] = []
            for s in self.inliner.stmts(st.stmts):
                self.parser_stmt(s, senv, ops, f"{b.name}.{st.name}")
            key, transitions = self.transitions(st, senv, ops, names, rename)
            states.append({"name": st.name, "id": len(self._states), "parser_ops": ops,
                           "transition_key": key, "transitions": transitions, "source_info": _src(st)})  # fmt: skip
            self._states.append(st.name)
        return {"name": "parser", "id": 0, "init_state": "start", "parse_states": states}

    def parser_states(
        self, b: BlockInfo, env: Env, rename: dict[str, str | None], inits: list, depth: int
    ) -> list[tuple[A.ParserState, Env, dict]]:
        """A parser's states, each with its environment and state renaming; a sub-parser
        applied in a state (`sub.apply(...)`) is inlined as p4c does: the state is cut at
        the call, the sub-parser's states follow (renamed), and its accept continues with
        the rest of the calling state."""
        if depth > 16:
            raise P4Error(b.decl.loc, "sub-parsers nested more than 16 deep")
        out: list[tuple[A.ParserState, Env, dict]] = []
        for st in b.decl.states:
            if st.name in ("accept", "reject"):
                raise P4Error(st.loc, f"a parser cannot define the state '{st.name}'")
            name = rename.get(st.name, st.name) or st.name
            stmts = (inits if st.name == "start" else []) + list(st.stmts)
            part, k = 0, 0
            while True:
                cut = next((i for i in range(k, len(stmts)) if self._sub_parser_call(stmts[i], b)), None)
                here = name if part == 0 else f"{name}$after{part}"
                if cut is None:
                    out.append((A.ParserState(here, st.loc, stmts[k:], st.transition), env, rename))
                    break
                call = stmts[cut].call
                inst = call.func.expr.name
                sub = b.subs[inst]
                nxt = f"{name}$after{part + 1}"
                sub_rename: dict[str, str | None] = {
                    x.name: f"{name}${inst}${x.name}" for x in sub.decl.states
                }
                sub_rename["accept"] = nxt
                start = sub_rename.get("start")
                if start is None:
                    raise P4Error(sub.decl.loc, f"parser {sub.name} has no start state")
                out.append((A.ParserState(here, st.loc, stmts[k:cut], A.Transition(call.loc, state=start)),
                            env, {start: start}))  # fmt: skip
                out.extend(self.parser_states(sub, self.sub_env(sub, call, env), sub_rename,
                                              _local_inits(sub.decl), depth + 1))  # fmt: skip
                part, k = part + 1, cut + 1
        return out

    def _sub_parser_call(self, s, b: BlockInfo) -> bool:
        return (
            isinstance(s, A.CallStmt)
            and isinstance(s.call.func, A.Member)
            and s.call.func.name == "apply"
            and isinstance(s.call.func.expr, A.Name)
            and s.call.func.expr.name in b.subs
            and b.subs[s.call.func.expr.name].kind == "parser"
        )

    def sub_env(self, sub: BlockInfo, call: A.Call, env: Env) -> Env:
        """The sub-parser's names: its parameters bound to the caller's arguments."""
        if len(call.args) != len(sub.decl.params):
            raise P4Error(
                call.loc, f"{sub.name} takes {len(sub.decl.params)} arguments, got {len(call.args)}"
            )
        base = self.block_env(sub)
        senv = Env(dict(base.names), None, sub)
        for p, a in zip(sub.decl.params, call.args, strict=True):
            if self._is_packet(a.value, env):
                senv.names[p.name] = env.lookup(a.value.name)
            elif p.direction in ("in", "") and not self._is_location(a.value, env):
                senv.names[p.name] = Bound(A.Cast(a.value.loc, p.type, a.value), env)
            else:
                senv.names[p.name] = self.storage(a.value, env)
        return senv

    def parser_stmt(self, s, env: Env, ops: list[JSON], where: str) -> None:
        if isinstance(s, A.CallStmt):
            s = A.CallStmt(s.loc, self._hoist(s.call, env, ops, where))
        elif isinstance(s, A.Assign) and self._lookahead(s.value, env) is None:
            s = A.Assign(s.loc, s.target, self._hoist(s.value, env, ops, where))
        match s:
            case A.CallStmt(call=A.Call(func=A.Member(expr=pkt, name=m), args=args)) if self._is_packet(
                pkt, env
            ):
                vals = [a.value for a in args]
                if m == "extract":
                    target = self.storage(vals[0], env)
                    if isinstance(target, tuple) and target[0] == "stack_ref" and target[2] == "next":
                        if isinstance(target[1], UnionStack):
                            raise P4Error(s.loc, f"extract into a member of {A.show(vals[0])}, not the union")
                        param = {"type": "stack", "value": target[1].name}
                    elif isinstance(target, tuple) and target[0] == "union_stack_ref" and target[2] == "next":
                        param = {"type": "union_stack", "value": [target[1].name, target[3]]}
                    elif isinstance(target, Header):
                        param = {"type": "regular", "value": target.inst}
                    else:
                        raise P4Error(s.loc, f"cannot extract into {A.show(vals[0])}")
                    if len(vals) == 2:
                        ops.append(
                            {
                                "op": "extract_VL",
                                "parameters": [
                                    param,
                                    {"type": "expression", "value": self.data(vals[1], env, T.Bits(32))},
                                ],
                            }
                        )
                    else:
                        ops.append({"op": "extract", "parameters": [param]})
                elif m == "advance":
                    ops.append(
                        {"op": "advance", "parameters": [parser_src(self.data(vals[0], env, T.Bits(32)))]}
                    )
                else:
                    raise P4Error(s.loc, f"packet_in.{m}() cannot be called as a statement")
            case A.CallStmt(call=A.Call(func=A.Name(name="verify"), args=args)):
                err = self.prog.const(args[1].value)
                if not (isinstance(err, tuple) and err[0] == "error"):
                    raise P4Error(args[1].loc, "verify() needs an error constant, like error.NoMatch")
                ops.append(
                    {
                        "op": "verify",
                        "parameters": [self.cond(args[0].value, env), hexstr(self.errors[err[1]])],
                    }
                )
            case A.Assign(target=t, value=v):
                dst = self.storage(t, env)
                la = self._lookahead(v, env)
                if isinstance(dst, Field) and la is not None:
                    ops.append(
                        {"op": "set", "parameters": [{"type": "field", "value": [dst.inst, dst.name]}, la]}
                    )
                elif isinstance(dst, Field):
                    j = (
                        self.data(v, env, dst.ty)
                        if not is_bool(dst.ty)
                        else _expr("b2d", None, self.cond(v, env))
                    )
                    ops.append(
                        {
                            "op": "set",
                            "parameters": [{"type": "field", "value": [dst.inst, dst.name]}, parser_src(j)],
                        }
                    )
                else:
                    prims: list[JSON] = []
                    self.assign(dst, v, env, prims, s, t)
                    ops.extend({"op": "primitive", "parameters": [p]} for p in prims)
            case A.VarDecl(name=n, type=t, init=init):
                ty = self.prog.resolve(t)
                env.names[n] = self.layout(ty, f"{where}.{n}", metadata=True)
                if init is not None:
                    self.parser_stmt(A.Assign(s.loc, A.Name(s.loc, n), init), env, ops, where)
            case A.Block(stmts=stmts):
                for x in stmts:
                    self.parser_stmt(x, env, ops, where)
            case A.Empty():
                pass
            case A.CallStmt(call=A.Call(func=A.Member(expr=A.Name(name=n), name="apply"))) if (
                env.block is not None and n in env.block.subs
            ):
                raise P4Error(
                    s.loc, f"apply the sub-parser {n} as a statement of a state, not inside a block"
                )
            case A.CallStmt(call=c):
                prims = []
                self.call(c, env, prims, where, [])
                ops.extend({"op": "primitive", "parameters": [p]} for p in prims)
            case _:
                raise P4Error(
                    s.loc, f"{type(s).__name__.lower()} statements are not supported in parser states"
                )

    def _is_packet(self, e: A.Expr, env: Env) -> bool:
        return (
            isinstance(e, A.Name)
            and isinstance(env.lookup(e.name), tuple)
            and env.lookup(e.name)[0] == "packet"
        )

    def _lookahead(self, e: A.Expr, env: Env) -> JSON | None:
        """`pkt.lookahead<T>()` of a bit type, or a field of a header-typed one, as a
        BMv2 lookahead operand [bit offset, width]; None for anything else."""
        field = None
        if isinstance(e, A.Member):
            field, e = e.name, e.expr
        is_la = isinstance(e, A.Call) and isinstance(e.func, A.Member) and e.func.name == "lookahead"
        if not (is_la and self._is_packet(e.func.expr, env)):
            return None
        if not e.type_args:
            raise P4Error(e.loc, "lookahead needs a type: lookahead<T>()")
        ty = self.prog.resolve(e.type_args[0])
        if field is None:
            return {"type": "lookahead", "value": [0, bits(ty)]}
        if not isinstance(ty, T.StructT):
            raise P4Error(e.loc, f"{ty} has no field '{field}'")
        offset = 0
        for fname, fty in ty.fields:
            if fname == field:
                return {"type": "lookahead", "value": [offset, bits(fty)]}
            offset += bits(fty)
        raise P4Error(e.loc, f"{ty} has no field '{field}'")

    def _hoist(self, e, env: Env, ops: list[JSON], where: str):
        """Replace lookaheads inside an expression by temporaries set just before it
        (BMv2 reads the packet ahead only in `set` ops and transition keys)."""
        la = self._lookahead(e, env) if isinstance(e, A.Expr) else None
        if la is not None:
            tmp = self.scalar(f"{where}.lookahead{len(self.scalars)}", T.Bits(la["value"][1]))
            ops.append({"op": "set", "parameters": [{"type": "field", "value": [tmp.inst, tmp.name]}, la]})
            name = f"$lookahead{len(self.scalars)}"
            env.names[name] = tmp
            return A.Name(e.loc, name)
        if isinstance(e, list):
            return [self._hoist(x, env, ops, where) for x in e]
        if isinstance(e, A.Arg):
            return A.Arg(self._hoist(e.value, env, ops, where), e.name)
        if isinstance(e, A.Expr):
            changes = {
                f: self._hoist(getattr(e, f), env, ops, where)
                for f in e.__dataclass_fields__
                if f != "loc" and isinstance(getattr(e, f), A.Expr | list)
            }
            return dataclasses.replace(e, **changes) if changes else e
        return e

    def transitions(
        self, st: A.ParserState, env: Env, ops: list[JSON], names: set[str], rename: dict | None = None
    ) -> tuple[list, list]:
        tr = st.transition

        def target(name: str, at) -> str | None:
            if rename and name in rename:  # a sub-parser's states, and its accept (the caller's rest)
                return rename[name]
            if name == "accept":
                return None
            if name == "reject":
                self.warnings.append(
                    f"{at.loc}: warning: explicit transition to reject is not supported by BMv2; it accepts"
                )
                return None
            if name not in names:
                raise P4Error(at.loc, f"unknown state '{name}'")
            return name

        if tr is None:
            return [], [{"value": "default", "mask": None, "next_state": None}]
        if tr.state is not None:
            return [], [{"value": "default", "mask": None, "next_state": target(tr.state, tr)}]
        key, widths = [], []
        for k, e in enumerate(tr.select):
            ty = self.type_of(e, env)
            w = bits(ty)
            widths.append(w)
            la = self._lookahead(e, env)
            if la is not None:
                key.append(la)
                continue
            try:
                s = self.storage(e, env)
            except P4Error:
                s = None
            if isinstance(s, Field):
                key.append({"type": "field", "value": [s.inst, s.name]})
            elif isinstance(s, tuple) and s[0] == "stack_field":
                key.append({"type": "stack_field", "value": [s[1].name, s[2]]})
            elif isinstance(s, tuple) and s[0] == "union_stack_field":
                key.append({"type": "union_stack_field", "value": [s[1].name, s[2], s[3]]})
            else:  # any other expression: computed into a temporary first
                tmp = self.scalar(f"{st.name}.select{k}", T.Bits(w))
                ops.append(
                    {
                        "op": "set",
                        "parameters": [
                            {"type": "field", "value": [tmp.inst, tmp.name]},
                            self.data(e, env, T.Bits(w)),
                        ],
                    }
                )
                key.append({"type": "field", "value": [tmp.inst, tmp.name]})
        out = []
        for case in tr.cases:
            items = (
                case.keyset.items
                if isinstance(case.keyset, A.ListExpr) and len(tr.select) > 1
                else [case.keyset]
            )
            if len(items) == 1 and isinstance(items[0], A.Default | A.DontCare):
                items = items * len(widths)  # default matches every key
            if len(items) != len(widths):
                raise P4Error(case.loc, f"the keyset has {len(items)} values for {len(widths)} select keys")
            nxt = target(case.state, case)
            if len(items) == 1 and isinstance(items[0], A.Name) and isinstance(env.lookup(items[0].name), tuple) \
                    and env.lookup(items[0].name)[0] == "value_set":  # fmt: skip
                out.append(
                    {
                        "type": "parse_vset",
                        "value": env.lookup(items[0].name)[1],
                        "mask": None,
                        "next_state": nxt,
                    }
                )
                continue
            choices = [
                self.keyset_values(self.with_consts(x, env), w) for x, w in zip(items, widths, strict=True)
            ]
            for combo in _product(choices):
                if all(m == 0 for _, m in combo):
                    out.append({"value": "default", "mask": None, "next_state": nxt})
                    continue
                full = all(m == (1 << w) - 1 for (_, m), w in zip(combo, widths, strict=True))
                out.append({"type": "hexstr", "value": padded_hex([(v, w) for (v, _), w in zip(combo, widths, strict=True)]),
                            "mask": None if full else padded_hex([(m, w) for (_, m), w in zip(combo, widths, strict=True)]),
                            "next_state": nxt})  # fmt: skip
        return key, out

    def _is_location(self, e: A.Expr, env: Env) -> bool:
        try:
            return not isinstance(self.storage(e, env), Bound)
        except P4Error:
            return False

    def with_consts(self, e: A.Expr, env: Env) -> A.Expr:
        """`e` with the block's own constants (`const` inside a parser or control) inlined."""

        def value(n: A.Name) -> A.Expr | None:
            b = env.lookup(n.name)
            return self.with_consts(b.expr, b.env) if isinstance(b, Bound) else None

        return substitute(e, value)

    def keyset_values(self, e: A.Expr, w: int) -> list[tuple[int, int]]:
        """(value, mask) pairs matching a keyset element; ranges split into prefixes."""
        full = (1 << w) - 1
        if isinstance(e, A.Default | A.DontCare):
            return [(0, 0)]
        if isinstance(e, A.Mask):
            v, m = self.prog.const_int(e.value), self.prog.const_int(e.mask)
            return [(v & m & full, m & full)]
        if isinstance(e, A.Range):
            lo, hi = self.prog.const_int(e.lo), self.prog.const_int(e.hi)
            if not 0 <= lo <= hi <= full:
                raise P4Error(e.loc, f"range {lo}..{hi} does not fit {w} bits")
            return _range_to_masks(lo, hi, w)
        v = self.prog.const(e)
        if isinstance(v, tuple):
            v = self.enum_value(self.prog.named(v[0], e), v[1]) if v[0] != "error" else self.errors[v[1]]
        return [(int(v) & full, full)]

    # -- deparser and checksums -------------------------------------------------
    def deparser_json(self, b: BlockInfo) -> JSON:
        env = self.block_env(b)
        order: list[str] = []

        def emit(s: Any, at) -> None:
            match s:
                case Header(inst=i):
                    order.append(i)
                case Stack(name=n, ty=ty):
                    order.extend(f"{n}[{k}]" for k in range(ty.size))
                case Union(members=ms):
                    order.extend(h.inst for h in ms.values())
                case UnionStack(unions=us):
                    order.extend(h.inst for u in us for h in u.members.values())
                case Struct(members=ms):
                    for m in ms.values():
                        emit(m, at)
                case _:
                    raise P4Error(at.loc, "emit() takes a header, a header stack or a struct of headers")

        for st in b.decl.body.stmts:
            match st:
                case A.CallStmt(call=A.Call(func=A.Member(expr=pkt, name="emit"), args=[arg])) if (
                    self._is_packet(pkt, env)
                ):
                    emit(self.storage(arg.value, env), st)
                case A.Empty():
                    pass
                case _:
                    raise P4Error(st.loc, "a BMv2 deparser may only call packet.emit(...)")
        return {"name": "deparser", "id": 0, "order": order, "primitives": []}

    def checksums_of(self, b: BlockInfo, verify: bool) -> None:
        env = self.block_env(b)
        for st in b.decl.body.stmts:
            match st:
                case A.CallStmt(call=A.Call(func=A.Name(name=n), args=args)) if n in (
                    "verify_checksum", "update_checksum", "verify_checksum_with_payload", "update_checksum_with_payload"):  # fmt: skip
                    if n.startswith("verify") != verify:
                        raise P4Error(
                            st.loc,
                            f"{n}() belongs in the {'ComputeChecksum' if verify else 'VerifyChecksum'} control",
                        )
                    cond, data, target, algo = (a.value for a in args)
                    calc = self.calculation(
                        f"calc_{len(self.calculations)}",
                        self.algorithm(algo),
                        data,
                        env,
                        payload=n.endswith("payload"),
                    )
                    try:
                        always = self.prog.const(cond) is True
                    except P4Error:
                        always = False
                    self.checksums.append({
                        "name": f"cksum_{len(self.checksums)}", "id": len(self.checksums), "source_info": _src(st),
                        "target": self.field_of(target, env, target)["value"], "type": "generic", "calculation": calc,
                        "verify": verify, "update": not verify, "if_cond": None if always else self.cond(cond, env),
                    })  # fmt: skip
                case A.Empty():
                    pass
                case _:
                    raise P4Error(st.loc, "checksum controls may only call verify_checksum / update_checksum")

    # -- the whole program ---------------------------------------------------------
    def build(self) -> JSON:
        self.warnings: list[str] = []
        self.checksums: list[JSON] = []
        self._pipelines: list[JSON] = []
        self._all_profiles: list[JSON] = []
        self._all_conds: list[str] = []
        self._states: list[str] = []
        self.roots()
        parser = self.parser_json(self.prog.blocks["parser"])
        self.checksums_of(self.prog.blocks["verify_checksum"], verify=True)
        for role in ("ingress", "egress"):
            self._pipelines.append(self.pipeline(self.prog.blocks[role], role))
        self.checksums_of(self.prog.blocks["compute_checksum"], verify=False)
        deparser = self.deparser_json(self.prog.blocks["deparser"])
        self.arrays()
        self.finish_scalars()
        aliases = []
        for fname, _ in self.sm_ty.fields:
            d = next(f for f in self.prog.decls["standard_metadata_t"].fields if f.name == fname)
            a = A.annotation(d.annotations, "alias")
            if a is not None:
                aliases.append([a.args[0].value, ["standard_metadata", fname]])
        enums = [
            {"name": n, "entries": [[m, k] for k, m in enumerate(d.members)]}
            for n, d in self.prog.decls.items() if isinstance(d, A.EnumDecl) and d.underlying is None
        ]  # fmt: skip
        return {
            "header_types": self.header_types, "headers": self.headers, "header_stacks": self.stacks,
            "header_union_types": self.union_types, "header_unions": self.unions, "header_union_stacks": self.union_stacks,
            "field_lists": self.field_lists, "errors": [[e, v] for e, v in self.errors.items()], "enums": enums,
            "parsers": [parser], "parse_vsets": self.parse_vsets(), "deparsers": [deparser],
            "meter_arrays": self.meter_arrays, "counter_arrays": self.counter_arrays,
            "register_arrays": self.register_arrays, "calculations": self.calculations,
            "learn_lists": self.learn_lists, "actions": self.actions, "pipelines": self._pipelines,
            "checksums": self.checksums, "force_arith": [], "extern_instances": [], "field_aliases": aliases,
            "program": self.prog.ast.decls[-1].loc.file if self.prog.ast.decls else "",
            "__meta__": {"version": VERSION, "compiler": "srem p4target"},
        }  # fmt: skip

    def parse_vsets(self) -> list[JSON]:
        out = []
        for b in self.prog.blocks.values():
            for name, ty, size in b.value_sets.values():
                out.append({"name": name, "id": len(out), "compressed_bitwidth": bits(ty), "max_size": size})
        return out

    def arrays(self) -> None:
        tables = {t["name"]: t for p in self._pipelines for t in p["tables"]}
        blocks = [b for b in self.prog.blocks.values()]
        seen = list(blocks)
        while seen:
            b = seen.pop()
            seen.extend(b.subs.values())
            blocks.extend(b.subs.values())
        for b in blocks:
            bound = {}
            for t in b.tables.values():
                for inst in (t.counters, t.meters):
                    if inst is not None:
                        bound[inst.name] = t
            for inst in b.instances.values():
                kind = inst.type.name
                if kind == "counter":
                    self.counter_arrays.append({"name": inst.name, "id": len(self.counter_arrays), "is_direct": False,
                                                "size": inst.args[0], "source_info": _src(inst.decl)})  # fmt: skip
                elif kind == "direct_counter":
                    t = bound.get(inst.name)
                    if t is None:
                        raise P4Error(
                            inst.decl.loc,
                            f"direct_counter {inst.local} is not attached to a table (counters = {inst.local})",
                        )
                    self.counter_arrays.append({"name": inst.name, "id": len(self.counter_arrays), "is_direct": True,
                                                "binding": t.name, "size": tables.get(t.name, {}).get("max_size", 1024),
                                                "source_info": _src(inst.decl)})  # fmt: skip
                elif kind in ("meter", "direct_meter"):
                    mtype = next(a[1] for a in inst.args if isinstance(a, tuple))
                    j = {"name": inst.name, "id": len(self.meter_arrays), "source_info": _src(inst.decl),
                         "is_direct": kind == "direct_meter", "rate_count": 2, "type": mtype}  # fmt: skip
                    if kind == "meter":
                        j["size"] = inst.args[0]
                    else:
                        t = bound.get(inst.name)
                        if t is None:
                            raise P4Error(
                                inst.decl.loc,
                                f"direct_meter {inst.local} is not attached to a table (meters = {inst.local})",
                            )
                        j["binding"] = t.name
                        j["size"] = tables.get(t.name, {}).get("max_size", 1024)
                        j["result_target"] = self.meter_targets.get(inst.name)
                        if j["result_target"] is None:
                            raise P4Error(
                                inst.decl.loc,
                                f"direct_meter {inst.local} is never read ({inst.local}.read(field) in an action of {t.name})",
                            )
                    self.meter_arrays.append(j)
                elif kind == "register":
                    self.register_arrays.append({"name": inst.name, "id": len(self.register_arrays), "size": inst.args[0],
                                                 "bitwidth": bits(inst.type.args[0]), "source_info": _src(inst.decl)})  # fmt: skip


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


def compile_program(prog: Program) -> tuple[JSON, list[str]]:
    """BMv2 JSON of an elaborated program, and the compiler's warnings."""
    b = Builder(prog)
    j = b.build()
    return j, b.warnings


def dumps(j: JSON) -> str:
    return json.dumps(j, indent=2) + "\n"


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
