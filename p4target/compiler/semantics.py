"""Elaboration: resolve names and types, evaluate constants, type expressions, and
instantiate `main` into the v1model blocks with their tables, actions and externs.

This is what both back ends (P4Info and BMv2 JSON) read; it never changes the AST.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import ast as A
from . import types as T
from .errors import P4Error

V1SWITCH_BLOCKS = ("parser", "verify_checksum", "ingress", "egress", "compute_checksum", "deparser")
EXTERN_INSTANCES = {
    "counter",
    "direct_counter",
    "meter",
    "direct_meter",
    "register",
    "action_profile",
    "action_selector",
}


MAX_WIDTH = 2048  # bits of one bit<W>/int<W>/varbit<W>: a clear limit rather than a huge BMv2 field
MAX_STACK = 4096  # header stack elements
MAX_SIZE = 2**31 - 1  # table and extern sizes: P4Info's int32 sizes, BMv2's JSON integers


def _no_duplicates(decl: A.ParserDecl | A.ControlDecl) -> None:
    """One name per scope: parameters, locals (instances, actions, tables, constants,
    variables declared before apply) and parser states."""
    seen: dict[str, object] = {}
    named = [*decl.params, *decl.locals, *getattr(decl, "states", [])]
    for d in named:
        n = getattr(d, "name", None)
        if not isinstance(n, str):
            continue
        if n in seen:
            raise P4Error(d.loc, f"'{n}' is declared twice in {decl.name} (first at {seen[n].loc})")
        seen[n] = d


def _no_duplicate_params(d: A.FunctionDecl | A.ActionDecl) -> None:
    seen: set[str] = set()
    for p in d.params:
        if p.name in seen:
            raise P4Error(p.loc, f"parameter '{p.name}' is declared twice in {d.name}")
        seen.add(p.name)


def cp_name(decl: A.Decl, prefix: str) -> str:
    """The control-plane name: `@name` if given (absolute when it starts with '.'),
    else the declaration's name, prefixed by its enclosing block's name."""
    a = A.annotation(decl.annotations, "name")
    if a and a.args and isinstance(a.args[0], A.StrLit):
        n = a.args[0].value
        if n.startswith("."):
            return n[1:]
        return f"{prefix}.{n}" if prefix else n
    return f"{prefix}.{decl.name}" if prefix else decl.name


@dataclass
class Scope:
    """Names visible inside a block: parameters, locals, actions, tables, instances."""

    values: dict[str, T.Ty] = field(default_factory=dict)
    parent: Scope | None = None

    def lookup(self, name: str) -> T.Ty | None:
        s: Scope | None = self
        while s is not None:
            if name in s.values:
                return s.values[name]
            s = s.parent
        return None

    def child(self) -> Scope:
        return Scope({}, self)


@dataclass
class Instance:
    """An extern instance in a block: counter, register, action_profile, …"""

    name: str  # control-plane name
    local: str
    type: T.ExternT
    args: list  # evaluated constructor arguments (int, enum member name, …)
    decl: A.Instantiation


@dataclass
class TableInfo:
    name: str  # control-plane name
    decl: A.TableDecl
    block: BlockInfo
    keys: list[tuple[A.KeyElement, str, T.Ty]]  # element, control-plane name, type
    actions: list[tuple[A.ActionRef, ActionInfo]]
    default: tuple[A.ActionRef, ActionInfo] | None
    default_const: bool
    size: int | None
    implementation: Instance | None
    counters: Instance | None
    meters: Instance | None
    support_timeout: bool
    entries: list[A.Entry]
    entries_const: bool


@dataclass
class ActionInfo:
    name: str  # control-plane name
    decl: A.ActionDecl
    params: list[tuple[str, T.Ty]]  # directionless parameters: the control plane's


@dataclass
class BlockInfo:
    kind: str  # parser | control
    role: str  # which V1Switch argument (or "sub" for a nested control)
    name: str  # control-plane prefix
    decl: A.ParserDecl | A.ControlDecl
    scope: Scope
    instances: dict[str, Instance] = field(default_factory=dict)
    tables: dict[str, TableInfo] = field(default_factory=dict)
    actions: dict[str, ActionInfo] = field(default_factory=dict)
    subs: dict[str, BlockInfo] = field(default_factory=dict)
    value_sets: dict[str, tuple[str, T.Ty, int]] = field(default_factory=dict)


class Program:
    def __init__(self, prog: A.Program) -> None:
        self.ast = prog
        self.decls: dict[str, A.Decl] = {}
        self.extern_functions: dict[str, list[A.Method]] = {}
        self.errors: list[str] = []
        self.match_kinds: list[str] = []
        self._types: dict[str, T.Ty] = {}
        self._consts: dict[str, tuple[T.Ty, object]] = {}
        self._resolving: set[str] = set()  # named types being resolved: a cycle is an error
        for d in prog.decls:
            if isinstance(d, A.ErrorDecl):
                self.errors += [m for m in d.members if m not in self.errors]
            elif isinstance(d, A.MatchKindDecl):
                self.match_kinds += d.members
            elif isinstance(d, A.Method):
                self.extern_functions.setdefault(d.name, []).append(d)
            elif isinstance(d, A.ActionDecl | A.Instantiation | A.FunctionDecl) or d.name not in self.decls:
                if d.name in self.decls and not isinstance(self.decls[d.name], A.BlockTypeDecl):
                    raise P4Error(d.loc, f"'{d.name}' is declared twice (first at {self.decls[d.name].loc})")
                self.decls[d.name] = d
            elif not isinstance(self.decls[d.name], A.BlockTypeDecl):
                raise P4Error(d.loc, f"'{d.name}' is declared twice (first at {self.decls[d.name].loc})")
            else:
                self.decls[d.name] = d  # a definition after its prototype
        self.blocks: dict[str, BlockInfo] = {}
        self.top_actions: dict[str, ActionInfo] = {}  # actions declared outside blocks (NoAction)

    # -- types -----------------------------------------------------------------
    def resolve(self, t: A.Type, tvars: dict[str, T.Ty] | None = None) -> T.Ty:
        tvars = tvars or {}
        match t:
            case A.BitType(width=None):
                return T.InfInt()
            case A.BitType(width=w, signed=s):
                n = self.const_int(w)
                if n <= 0:
                    raise P4Error(t.loc, f"width must be positive, got {n}")
                if n > MAX_WIDTH:
                    raise P4Error(t.loc, f"width {n} is over the {MAX_WIDTH} bits this target supports")
                return T.Bits(n, s)
            case A.VarbitType(width=w):
                n = self.const_int(w)
                if not 0 < n <= MAX_WIDTH:
                    raise P4Error(t.loc, f"varbit width must be 1..{MAX_WIDTH}, got {n}")
                return T.Varbit(n)
            case A.SimpleType(name=n):
                return T.Simple(n)
            case A.StackType(base=b, size=s):
                elem = self.resolve(b, tvars)
                if not (isinstance(elem, T.StructT) and elem.kind in ("header", "header_union")):
                    raise P4Error(t.loc, f"a stack's elements must be headers or header unions, not {elem}")
                n = self.const_int(s)
                if not 0 < n <= MAX_STACK:
                    raise P4Error(t.loc, f"a header stack's size must be 1..{MAX_STACK}, got {n}")
                return T.StackT(elem, n)
            case A.TupleType(args=args):
                return T.TupleT(tuple(self.resolve(a, tvars) for a in args))
            case A.NamedType(name=n, args=args):
                n = n.lstrip(".")
                if n in tvars:
                    return tvars[n]
                return self.named(n, t, tuple(self.resolve(a, tvars) for a in args))
        raise P4Error(t.loc, f"unsupported type {A.show(t)}")

    def named(self, name: str, at: A.Type | A.Expr, args: tuple = ()) -> T.Ty:
        if name in self._types and not args:
            return self._types[name]
        d = self.decls.get(name)
        if d is None:
            raise P4Error(at.loc, f"unknown type '{name}'")
        if name in self._resolving:
            what = "typedef" if isinstance(d, A.Typedef) else "type"
            raise P4Error(at.loc, f"{what} '{name}' is defined in terms of itself")
        self._resolving.add(name)
        try:
            return self._named(name, d, at, args)
        finally:
            self._resolving.discard(name)

    def _named(self, name: str, d: A.Decl, at: A.Type | A.Expr, args: tuple) -> T.Ty:
        match d:
            case A.Typedef(type=inner):
                ty = self.resolve(inner)
            case A.StructLike(kind=kind, fields=fields):
                seen: dict[str, A.Field] = {}
                for f in fields:
                    if f.name in seen:
                        raise P4Error(f.loc, f"field '{f.name}' is declared twice in {name}")
                    seen[f.name] = f
                st = T.StructT(kind, name, (), tuple(d.annotations))
                fs = tuple((f.name, self.resolve(f.type)) for f in fields)
                object.__setattr__(st, "fields", fs)
                for f, (_, ft) in zip(fields, fs, strict=True):
                    if kind == "header" and not isinstance(ft, T.Bits | T.Varbit | T.EnumT | T.Simple):
                        raise P4Error(
                            f.loc, f"header field '{f.name}' must be bit<>, int<>, varbit<> or bool, not {ft}"
                        )
                self._types[name] = st
                return st
            case A.EnumDecl(members=ms, underlying=u, values=vs):
                if len(set(ms)) != len(ms):
                    dup = next(m for m in ms if ms.count(m) > 1)
                    raise P4Error(d.loc, f"enum {name} declares '{dup}' twice")
                under = self.resolve(u) if u else None
                ty = T.EnumT(name, tuple(ms), under, tuple(self.const_int(v) for v in vs))
            case A.ExternDecl():
                return T.ExternT(name, args)
            case A.ParserDecl() | A.ControlDecl() | A.BlockTypeDecl():
                return T.BlockT(
                    getattr(d, "kind", "parser" if isinstance(d, A.ParserDecl) else "control"), name
                )
            case _:
                raise P4Error(at.loc, f"'{name}' is not a type")
        self._types[name] = ty
        return ty

    # -- constants -----------------------------------------------------------
    def const(self, e: A.Expr, scope: Scope | None = None) -> object:
        """Compile-time value of an expression: int, bool, str or an enum/error member."""
        match e:
            case A.IntLit(value=v, width=w, signed=s):
                return _fit(v, w, s) if w else v
            case A.BoolLit(value=v):
                return v
            case A.StrLit(value=v):
                return v
            case A.Name(name=n):
                if n in self._consts:
                    return self._consts[n][1]
                d = self.decls.get(n)
                if isinstance(d, A.ConstDecl):
                    ty = self.resolve(d.type)
                    v = self.const(d.value, scope)
                    if isinstance(ty, T.Bits) and isinstance(v, int):
                        v = _fit(v, ty.width, ty.signed)
                    self._consts[n] = (ty, v)
                    return v
                raise P4Error(e.loc, f"'{n}' is not a compile-time constant")
            case A.Member(expr=A.Name(name="error"), name=m):
                if m not in self.errors:
                    raise P4Error(e.loc, f"unknown error '{m}'")
                return ("error", m)
            case A.Member(expr=A.Name(name=n), name=m) if isinstance(self.decls.get(n), A.EnumDecl):
                ty = self.named(n, e)
                if m not in ty.members:
                    raise P4Error(e.loc, f"enum {n} has no member '{m}'")
                return ty.values[ty.members.index(m)] if ty.underlying else (n, m)
            case A.Unary(op=op, expr=x):
                v = self.const(x, scope)
                return {"-": lambda: -v, "~": lambda: ~v, "!": lambda: not v, "+": lambda: v}[op]()
            case A.Binary(op=op, left=a, right=b):
                x, y = self.const(a, scope), self.const(b, scope)
                v = _binop(op, x, y, e)
                if isinstance(v, int) and not isinstance(v, bool) and op not in _COMPARISONS:
                    # bit<W> and int<W> arithmetic wraps at W (P4_16 8.9): 8w255 + 1 is 0
                    try:
                        ty = self.type_of(e, scope or Scope())
                    except P4Error:
                        ty = None
                    if isinstance(ty, T.Bits):
                        v = _fit(v, ty.width, ty.signed)
                return v
            case A.Cast(type=t, expr=x):
                v = self.const(x, scope)
                ty = self.resolve(t)
                if isinstance(ty, T.Bits):
                    return _fit(int(v), ty.width, ty.signed)
                if ty == T.BOOL:
                    return bool(v)
                return v
            case A.Ternary(cond=c, then=a, other=b):
                return self.const(a, scope) if self.const(c, scope) else self.const(b, scope)
        raise P4Error(e.loc, f"expected a compile-time constant, found {A.show(e)}")

    def const_int(self, e: A.Expr) -> int:
        v = self.const(e)
        if isinstance(v, bool) or not isinstance(v, int):
            raise P4Error(e.loc, f"expected an integer constant, found {A.show(e)}")
        return v

    # -- expressions -----------------------------------------------------------
    def type_of(self, e: A.Expr, scope: Scope) -> T.Ty:
        match e:
            case A.IntLit(width=None):
                return T.InfInt()
            case A.IntLit(width=w, signed=s):
                return T.Bits(w, s)
            case A.BoolLit():
                return T.BOOL
            case A.StrLit():
                return T.STRING
            case A.Name(name="error"):
                return T.ERROR
            case A.Name(name=n, top=top):
                ty = None if top else scope.lookup(n)
                if ty is not None:
                    return ty
                if n in self.decls and isinstance(self.decls[n], A.ConstDecl):
                    self.const(e)
                    return self._consts[n][0]
                if n in self.decls and isinstance(self.decls[n], A.EnumDecl | A.StructLike | A.Typedef):
                    return self.named(n, e)
                raise P4Error(e.loc, f"unknown name '{n}'")
            case A.Member(expr=A.Name(name="error")):
                self.const(e)
                return T.ERROR
            case A.Member(expr=x, name=m):
                if (
                    isinstance(x, A.Name)
                    and isinstance(self.decls.get(x.name), A.EnumDecl)
                    and scope.lookup(x.name) is None
                ):
                    ty = self.named(x.name, x)
                    if m not in ty.members:
                        raise P4Error(e.loc, f"enum {x.name} has no member '{m}'")
                    return ty
                base = self.type_of(x, scope)
                if isinstance(base, T.StructT):
                    ft = base.field(m)
                    if ft is None:
                        raise P4Error(e.loc, f"{base.kind} {base.name} has no field '{m}'")
                    return ft
                if isinstance(base, T.StackT):
                    if m in ("next", "last"):
                        return base.elem
                    if m in ("size", "lastIndex"):
                        return T.Bits(32)
                raise P4Error(e.loc, f"{A.show(x)} of type {base} has no member '{m}'")
            case A.Index(expr=x):
                base = self.type_of(x, scope)
                if not isinstance(base, T.StackT):
                    raise P4Error(e.loc, f"{A.show(x)} is not a header stack")
                return base.elem
            case A.Slice(expr=x, hi=h, lo=lo):
                base = self.type_of(x, scope)
                hi, low = self.const_int(h), self.const_int(lo)
                if not isinstance(base, T.Bits) or not 0 <= low <= hi < base.width:
                    raise P4Error(e.loc, f"bad slice [{hi}:{low}] of {A.show(x)} ({base})")
                return T.Bits(hi - low + 1)
            case A.Cast(type=t):
                return self.resolve(t)
            case A.Call(func=A.Member(name=m)) if m in ("isValid",):
                return T.BOOL
            case A.Unary(op="!"):
                return T.BOOL
            case A.Unary(expr=x):
                return self.type_of(x, scope)
            case A.Binary(op=op, left=a, right=b):
                if op in ("==", "!=", "<", ">", "<=", ">=", "&&", "||"):
                    return T.BOOL
                ta, tb = self.type_of(a, scope), self.type_of(b, scope)
                if op == "++":
                    return T.Bits(T.width_of(ta) + T.width_of(tb), getattr(ta, "signed", False))
                if op in ("<<", ">>"):
                    return ta
                return tb if isinstance(ta, T.InfInt) else ta
            case A.Ternary(then=a, other=b):
                ta = self.type_of(a, scope)
                return self.type_of(b, scope) if isinstance(ta, T.InfInt) else ta
            case A.TypeExpr(type=t):
                return self.resolve(t)
        raise P4Error(e.loc, f"cannot type {A.show(e)} here")

    # -- instantiation -------------------------------------------------------
    def elaborate(self) -> Program:
        for d in self.ast.decls:  # every named type, used or not: cycles, duplicate fields
            if isinstance(d, A.Typedef | A.StructLike | A.EnumDecl) and not getattr(d, "type_params", None):
                self.named(d.name, d)
            elif isinstance(d, A.FunctionDecl | A.ActionDecl):
                _no_duplicate_params(d)
        main = self.decls.get("main")
        if not isinstance(main, A.Instantiation):
            last = self.ast.decls[-1].loc if self.ast.decls else None
            where = f" (its last declaration is at {last})" if last else ""
            raise P4Error(
                last, f"the program has no 'main' package instance{where}: declare `V1Switch(...) main;`"
            )
        pkg = main.type.name.lstrip(".") if isinstance(main.type, A.NamedType) else A.show(main.type)
        if pkg != "V1Switch":  # type arguments, V1Switch<H, M>(…), are allowed
            raise P4Error(main.loc, f"only the v1model package V1Switch is supported, not {pkg}")
        if len(main.args) != len(V1SWITCH_BLOCKS):
            raise P4Error(main.loc, f"V1Switch takes {len(V1SWITCH_BLOCKS)} blocks, got {len(main.args)}")
        for role, arg in zip(V1SWITCH_BLOCKS, main.args, strict=True):
            decl = self._block_decl(arg.value)
            self.blocks[role] = self._block(decl, role, decl.name)
        return self

    def _block_decl(self, e: A.Expr | None) -> A.ParserDecl | A.ControlDecl:
        if isinstance(e, A.Call) and isinstance(e.func, A.Name):
            name = e.func.name
        elif isinstance(e, A.Name) and isinstance(self.decls.get(e.name), A.Instantiation):
            name = A.show(self.decls[e.name].type)
        else:
            raise P4Error(e.loc if e else None, "expected a parser or control instance, like MyIngress()")
        d = self.decls.get(name)
        if not isinstance(d, A.ParserDecl | A.ControlDecl):
            raise P4Error(e.loc, f"'{name}' is not a parser or control")
        return d

    def _params_scope(self, params: list[A.Param], parent: Scope | None = None) -> Scope:
        s = Scope({}, parent)
        for p in params:
            s.values[p.name] = self.resolve(p.type)
        return s

    def _block(self, decl: A.ParserDecl | A.ControlDecl, role: str, prefix: str) -> BlockInfo:
        kind = "parser" if isinstance(decl, A.ParserDecl) else "control"
        scope = self._params_scope(decl.params)
        info = BlockInfo(kind, role, prefix, decl, scope)
        _no_duplicates(decl)
        for d in decl.locals:
            if isinstance(d, A.VarDecl | A.ConstDecl):
                scope.values[d.name] = self.resolve(d.type)
            elif isinstance(d, A.Instantiation):
                self._instance(d, info)
            elif isinstance(d, A.ValueSetDecl):
                ty = self.resolve(d.type)
                info.value_sets[d.name] = (cp_name(d, prefix), ty, self.const_int(d.size))
                scope.values[d.name] = ty
            elif isinstance(d, A.ActionDecl):
                info.actions[d.name] = self._action(d, prefix, scope)
        for d in decl.locals:
            if isinstance(d, A.TableDecl):
                info.tables[d.name] = self._table(d, info)
        return info

    def _instance(self, d: A.Instantiation, info: BlockInfo) -> None:
        ty = self.resolve(d.type)
        if isinstance(ty, T.BlockT):  # a sub-control applied from this one
            sub = self._block(self.decls[ty.name], "sub", cp_name(d, info.name))
            info.subs[d.name] = sub
            info.scope.values[d.name] = ty
            return
        if not isinstance(ty, T.ExternT) or ty.name not in EXTERN_INSTANCES:
            raise P4Error(d.loc, f"cannot instantiate {A.show(d.type)} here")
        args = [self.const(a.value) for a in d.args if a.value is not None]
        for a, v in zip([a for a in d.args if a.value is not None], args, strict=True):
            if isinstance(v, int) and not isinstance(v, bool) and not 0 <= v <= MAX_SIZE:
                raise P4Error(a.value.loc, f"{v} is out of range for {ty.name} (0..{MAX_SIZE})")
        info.instances[d.name] = Instance(cp_name(d, info.name), d.name, ty, args, d)
        info.scope.values[d.name] = ty

    def _action(self, d: A.ActionDecl, prefix: str, scope: Scope) -> ActionInfo:
        params = [(p.name, self.resolve(p.type)) for p in d.params if p.direction == ""]
        for p, (n, t) in zip([p for p in d.params if p.direction == ""], params, strict=True):
            if isinstance(t, T.InfInt | T.Varbit):
                raise P4Error(p.loc, f"action parameter '{n}' needs a fixed width, not {t}")
        return ActionInfo(cp_name(d, prefix), d, params)

    def action(self, ref: A.ActionRef | A.Name, info: BlockInfo) -> ActionInfo:
        name = ref if isinstance(ref, A.Name) else ref.name
        n = name.name
        if not name.top and n in info.actions:
            return info.actions[n]
        d = self.decls.get(n)
        if isinstance(d, A.ActionDecl):
            if n not in self.top_actions:
                self.top_actions[n] = self._action(d, "", Scope())
            return self.top_actions[n]
        raise P4Error(name.loc, f"unknown action '{n}'")

    def _table(self, d: A.TableDecl, info: BlockInfo) -> TableInfo:
        known = {"key", "actions", "default_action", "entries", "size", "implementation", "counters",
                 "meters", "support_timeout", "psa_direct_counter", "psa_direct_meter", "largest_priority_wins",
                 "priority_delta", "psa_empty_group_action", "psa_implementation", "psa_idle_timeout"}  # fmt: skip
        for p in d.properties:
            if p.name not in known:
                raise P4Error(p.loc, f"unknown table property '{p.name}'")
        keys = []
        kp = d.prop("key")
        for k in kp.value if kp else []:
            if k.match_kind not in self.match_kinds:
                raise P4Error(k.loc, f"unknown match kind '{k.match_kind}'")
            ty = self.type_of(k.expr, info.scope)
            a = A.annotation(k.annotations, "name")
            name = a.args[0].value if a and a.args and isinstance(a.args[0], A.StrLit) else A.show(k.expr)
            keys.append((k, name, ty))
        ap = d.prop("actions")
        if ap is None:
            raise P4Error(d.loc, f"table {d.name} has no actions property")
        actions = [(r, self.action(r, info)) for r in ap.value]
        listed = {a.name for _, a in actions}
        default = None
        dp = d.prop("default_action")
        if dp is not None:
            default = (dp.value, self.action(dp.value, info))
            if default[1].name not in listed:
                raise P4Error(dp.loc, f"default action {default[1].name} is not in the table's actions")

        def instance(prop: str) -> Instance | None:
            p = d.prop(prop)
            if p is None:
                return None
            if isinstance(p.value, A.Name) and p.value.name in info.instances:
                return info.instances[p.value.name]
            raise P4Error(p.loc, f"'{prop}' must name an extern instance declared in {info.name}")

        size = d.prop("size")
        if size is not None and not 0 <= self.const_int(size.value) <= MAX_SIZE:
            raise P4Error(
                size.loc, f"table size {self.const_int(size.value)} is out of range (0..{MAX_SIZE})"
            )
        timeout = d.prop("support_timeout")
        entries = d.prop("entries")
        return TableInfo(
            name=cp_name(d, info.name),
            decl=d,
            block=info,
            keys=keys,
            actions=actions,
            default=default,
            default_const=bool(dp and dp.const),
            size=self.const_int(size.value) if size else None,
            implementation=instance("implementation"),
            counters=instance("counters"),
            meters=instance("meters"),
            support_timeout=bool(timeout and self.const(timeout.value)),
            entries=entries.value if entries else [],
            entries_const=bool(entries and entries.const),
        )


def _fit(v: int, width: int, signed: bool) -> int:
    v &= (1 << width) - 1
    if signed and v >= 1 << (width - 1):
        v -= 1 << width
    return v


_COMPARISONS = ("==", "!=", "<", ">", "<=", ">=", "&&", "||")
# p4c refuses shift amounts from 2^31 (its type checker) and, in a constant, results
# wider than 2048 bits; the bound also keeps Python from building a huge integer.
MAX_CONST_SHIFT = 2048


def _binop(op: str, x, y, e: A.Expr):
    ops = {
        "+": lambda: x + y, "-": lambda: x - y, "*": lambda: x * y, "/": lambda: x // y, "%": lambda: x % y,
        "<<": lambda: x << y, ">>": lambda: x >> y, "&": lambda: x & y, "|": lambda: x | y, "^": lambda: x ^ y,
        "==": lambda: x == y, "!=": lambda: x != y, "<": lambda: x < y, ">": lambda: x > y,
        "<=": lambda: x <= y, ">=": lambda: x >= y, "&&": lambda: x and y, "||": lambda: x or y,
    }  # fmt: skip
    if op not in ops:
        raise P4Error(e.loc, f"'{op}' is not supported in a constant expression")
    if op in ("/", "%") and y == 0:
        raise P4Error(e.loc, f"{'division' if op == '/' else 'modulo'} by zero in a constant expression")
    if op in ("<<", ">>"):
        check_shift_amount(y, e, MAX_CONST_SHIFT, "in a constant expression")
    return ops[op]()


def check_shift_amount(y: object, e: A.Expr, limit: int, where: str) -> None:
    """A constant shift amount: never negative (P4_16 8.6) and within `limit`."""
    if not isinstance(y, int) or isinstance(y, bool):
        return
    if y < 0:
        raise P4Error(e.loc, f"{A.show(e)}: shifts with negative amounts are not permitted")
    if y > limit:
        raise P4Error(e.loc, f"{A.show(e)}: shift amount {y} is over {limit}, the most {where}")


def elaborate(prog: A.Program) -> Program:
    return Program(prog).elaborate()
