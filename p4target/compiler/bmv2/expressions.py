"""L-values and r-values: P4 expressions as BMv2 JSON operands and expression trees."""

from __future__ import annotations

from typing import Any

from .. import ast as A
from .. import types as T
from ..errors import P4Error
from ..semantics import check_shift_amount
from .model import (
    _EMPTY,
    JSON,
    Bound,
    DynField,
    DynHeader,
    Env,
    Field,
    Header,
    Runtime,
    SliceRef,
    Stack,
    Struct,
    Union,
    UnionStack,
    _expr,
    _neg_const,
    bits,
    hexstr,
    is_bool,
)

MAX_SHIFT = 256  # p4c-bm2-ss: "shift amount limited to 256 on this target"


class Expressions:
    """Storage of l-values, typed r-values, casts, inlined functions.
    Methods of `Builder` (program.py); they reach the others through `self`."""

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

    def _maybe_const(self, e: A.Expr) -> object:
        """The compile-time value of `e`, or None where it has none."""
        try:
            return self.prog.const(e)
        except P4Error:
            return None

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
                amount = self._maybe_const(b)
                if amount is not None:  # as p4c-bm2-ss: negative or over 256 is an error, not mod 2^32
                    check_shift_amount(amount, e, MAX_SHIFT, "on BMv2 (p4c-bm2-ss's limit)")
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
                    if op in ("/", "%") and self._maybe_const(b) == 0:  # p4c: an error, not a 0 at run time
                        raise P4Error(
                            e.loc, f"{A.show(e)}: {'division' if op == '/' else 'modulo'} by zero"
                        ) from None
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
