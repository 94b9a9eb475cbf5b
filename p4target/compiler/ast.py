"""The P4_16 syntax tree: plain dataclasses, each with its source location."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import Loc

# ---------------------------------------------------------------- annotations


@dataclass
class Annotation:
    name: str
    args: list[Any]  # parsed expressions, or raw token texts when not an expression list
    loc: Loc


Annotations = list[Annotation]


def annotation(annos: Annotations, name: str) -> Annotation | None:
    return next((a for a in annos if a.name == name), None)


# ---------------------------------------------------------------- types


@dataclass
class Type:
    loc: Loc


@dataclass
class BitType(Type):
    width: Expr | None  # None: `int` of arbitrary precision
    signed: bool = False


@dataclass
class VarbitType(Type):
    width: Expr


@dataclass
class NamedType(Type):
    name: str  # may be dotted for a prefixed type (.T)
    args: list[Type] = field(default_factory=list)


@dataclass
class StackType(Type):
    base: Type
    size: Expr


@dataclass
class TupleType(Type):
    args: list[Type]


@dataclass
class SimpleType(Type):
    name: str  # bool | string | error | void | match_kind | _


# ---------------------------------------------------------------- expressions


@dataclass
class Expr:
    loc: Loc


@dataclass
class IntLit(Expr):
    value: int
    width: int | None = None
    signed: bool = False


@dataclass
class BoolLit(Expr):
    value: bool


@dataclass
class StrLit(Expr):
    value: str


@dataclass
class Name(Expr):
    name: str
    top: bool = False  # `.name`: looked up at the top level


@dataclass
class Member(Expr):
    expr: Expr
    name: str


@dataclass
class Index(Expr):
    expr: Expr
    index: Expr


@dataclass
class Slice(Expr):
    expr: Expr
    hi: Expr
    lo: Expr


@dataclass
class Arg:
    value: Expr | None  # None: `_` (don't care) argument
    name: str | None = None


@dataclass
class Call(Expr):
    func: Expr
    type_args: list[Type]
    args: list[Arg]


@dataclass
class Cast(Expr):
    type: Type
    expr: Expr


@dataclass
class Unary(Expr):
    op: str
    expr: Expr


@dataclass
class Binary(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass
class Ternary(Expr):
    cond: Expr
    then: Expr
    other: Expr


@dataclass
class ListExpr(Expr):
    items: list[Expr]


@dataclass
class StructInit(Expr):
    fields: list[tuple[str, Expr]]
    type: Type | None = None


@dataclass
class Mask(Expr):
    value: Expr
    mask: Expr


@dataclass
class Range(Expr):
    lo: Expr
    hi: Expr


@dataclass
class Default(Expr):
    pass


@dataclass
class DontCare(Expr):
    pass


@dataclass
class TypeExpr(Expr):
    """A type where an expression stands: `bit<8>.minSizeInBits()`, `(T)` casts' operand."""

    type: Type


# ---------------------------------------------------------------- statements


@dataclass
class Stmt:
    loc: Loc


@dataclass
class Assign(Stmt):
    target: Expr
    value: Expr


@dataclass
class CallStmt(Stmt):
    call: Call


@dataclass
class If(Stmt):
    cond: Expr
    then: Stmt
    other: Stmt | None


@dataclass
class SwitchCase:
    label: Expr  # Name of an action, a value, or Default
    body: Block | None  # None: falls through to the next case
    loc: Loc


@dataclass
class Switch(Stmt):
    expr: Expr
    cases: list[SwitchCase]


@dataclass
class Block(Stmt):
    stmts: list[Stmt | Decl]
    annotations: Annotations = field(default_factory=list)


@dataclass
class Return(Stmt):
    value: Expr | None


@dataclass
class Exit(Stmt):
    pass


@dataclass
class Empty(Stmt):
    pass


# ---------------------------------------------------------------- declarations


@dataclass
class Decl:
    name: str
    loc: Loc
    annotations: Annotations = field(default_factory=list, kw_only=True)


@dataclass
class Field:
    name: str
    type: Type
    loc: Loc
    annotations: Annotations = field(default_factory=list)


@dataclass
class StructLike(Decl):
    kind: str  # header | header_union | struct
    fields: list[Field]
    type_params: list[str] = field(default_factory=list)


@dataclass
class EnumDecl(Decl):
    members: list[str]
    underlying: Type | None = None  # serializable enum: bit<N>
    values: list[Expr] = field(default_factory=list)


@dataclass
class ErrorDecl(Decl):
    members: list[str]


@dataclass
class MatchKindDecl(Decl):
    members: list[str]


@dataclass
class Typedef(Decl):
    type: Type
    newtype: bool = False  # `type` rather than `typedef`


@dataclass
class ConstDecl(Decl):
    type: Type
    value: Expr


@dataclass
class VarDecl(Decl):
    type: Type
    init: Expr | None


@dataclass
class Param:
    direction: str  # "" | in | out | inout
    type: Type
    name: str
    loc: Loc
    default: Expr | None = None
    annotations: Annotations = field(default_factory=list)


@dataclass
class Method(Decl):
    """An extern method, an extern function, or an extern's constructor (ret=None)."""

    ret: Type | None
    params: list[Param]
    type_params: list[str] = field(default_factory=list)
    abstract: bool = False


@dataclass
class ExternDecl(Decl):
    type_params: list[str]
    methods: list[Method]


@dataclass
class FunctionDecl(Decl):
    ret: Type
    type_params: list[str]
    params: list[Param]
    body: Block


@dataclass
class BlockTypeDecl(Decl):
    """`parser P(...);`, `control C(...);` or `package Pkg(...);` prototypes."""

    kind: str  # parser | control | package
    type_params: list[str]
    params: list[Param]


@dataclass
class Instantiation(Decl):
    type: Type
    args: list[Arg]
    initializer: Block | None = None


@dataclass
class SelectCase:
    keyset: Expr
    state: str
    loc: Loc


@dataclass
class Transition:
    loc: Loc
    state: str | None = None  # direct transition
    select: list[Expr] | None = None
    cases: list[SelectCase] = field(default_factory=list)


@dataclass
class ParserState(Decl):
    stmts: list[Stmt | Decl]
    transition: Transition | None


@dataclass
class ValueSetDecl(Decl):
    type: Type
    size: Expr


@dataclass
class ParserDecl(Decl):
    type_params: list[str]
    params: list[Param]
    ctor_params: list[Param]
    locals: list[Decl]
    states: list[ParserState]


@dataclass
class ActionDecl(Decl):
    params: list[Param]
    body: Block


@dataclass
class KeyElement:
    expr: Expr
    match_kind: str
    loc: Loc
    annotations: Annotations = field(default_factory=list)


@dataclass
class ActionRef:
    name: Expr  # Name (maybe top-level .NoAction)
    args: list[Arg]
    loc: Loc
    annotations: Annotations = field(default_factory=list)


@dataclass
class Entry:
    keyset: Expr  # a ListExpr of keyset expressions, or one
    action: ActionRef
    loc: Loc
    priority: Expr | None = None
    const: bool = False
    annotations: Annotations = field(default_factory=list)


@dataclass
class TableProperty:
    name: str
    value: Any  # list[KeyElement] | list[ActionRef] | ActionRef | list[Entry] | Expr
    loc: Loc
    const: bool = False
    annotations: Annotations = field(default_factory=list)


@dataclass
class TableDecl(Decl):
    properties: list[TableProperty]

    def prop(self, name: str) -> TableProperty | None:
        return next((p for p in self.properties if p.name == name), None)


@dataclass
class ControlDecl(Decl):
    type_params: list[str]
    params: list[Param]
    ctor_params: list[Param]
    locals: list[Decl]
    body: Block


@dataclass
class Program:
    decls: list[Decl]


def show(e: Expr | Type | None) -> str:
    """A compact, fully parenthesised rendering: for messages and tests."""
    match e:
        case None:
            return "_"
        case IntLit(value=v, width=w, signed=s):
            return f"{w}{'s' if s else 'w'}{v}" if w else str(v)
        case BoolLit(value=v):
            return str(v).lower()
        case StrLit(value=v):
            return repr(v)
        case Name(name=n, top=t):
            return ("." if t else "") + n
        case Member(expr=x, name=n):
            return f"{show(x)}.{n}"
        case Index(expr=x, index=i):
            return f"{show(x)}[{show(i)}]"
        case Slice(expr=x, hi=h, lo=lo):
            return f"{show(x)}[{show(h)}:{show(lo)}]"
        case Call(func=f, type_args=ta, args=args):
            targs = f"<{', '.join(show(t) for t in ta)}>" if ta else ""
            shown = ", ".join((f"{a.name}=" if a.name else "") + show(a.value) for a in args)
            return f"{show(f)}{targs}({shown})"
        case Cast(type=t, expr=x):
            return f"(({show(t)}) {show(x)})"
        case Unary(op=op, expr=x):
            return f"({op}{show(x)})"
        case Binary(op=op, left=a, right=b):
            return f"({show(a)} {op} {show(b)})"
        case Ternary(cond=c, then=a, other=b):
            return f"({show(c)} ? {show(a)} : {show(b)})"
        case ListExpr(items=items):
            return "{" + ", ".join(show(i) for i in items) + "}"
        case StructInit(fields=fs):
            return "{" + ", ".join(f"{n} = {show(v)}" for n, v in fs) + "}"
        case Mask(value=v, mask=m):
            return f"({show(v)} &&& {show(m)})"
        case Range(lo=a, hi=b):
            return f"({show(a)} .. {show(b)})"
        case Default():
            return "default"
        case DontCare():
            return "_"
        case TypeExpr(type=t):
            return show(t)
        case BitType(width=None):
            return "int"
        case BitType(width=w, signed=s):
            return f"{'int' if s else 'bit'}<{show(w)}>"
        case VarbitType(width=w):
            return f"varbit<{show(w)}>"
        case NamedType(name=n, args=args):
            return n + (f"<{', '.join(show(a) for a in args)}>" if args else "")
        case StackType(base=b, size=s):
            return f"{show(b)}[{show(s)}]"
        case TupleType(args=args):
            return f"tuple<{', '.join(show(a) for a in args)}>"
        case SimpleType(name=n):
            return n
    return f"<{type(e).__name__}>"
