"""Resolved P4 types: what a type name, typedef or width expression stands for."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Ty:
    pass


@dataclass(frozen=True)
class Bits(Ty):
    width: int
    signed: bool = False

    def __str__(self) -> str:
        return f"{'int' if self.signed else 'bit'}<{self.width}>"


@dataclass(frozen=True)
class InfInt(Ty):
    """An integer literal or constant with no width yet: it takes its context's."""

    def __str__(self) -> str:
        return "int"


@dataclass(frozen=True)
class Varbit(Ty):
    max_width: int

    def __str__(self) -> str:
        return f"varbit<{self.max_width}>"


@dataclass(frozen=True)
class Simple(Ty):
    name: str  # bool | string | void | error | match_kind | _

    def __str__(self) -> str:
        return self.name


BOOL = Simple("bool")
STRING = Simple("string")
VOID = Simple("void")
ERROR = Simple("error")
MATCH_KIND = Simple("match_kind")
DONTCARE = Simple("_")


@dataclass(frozen=True, eq=False)
class StructT(Ty):
    """header, header_union or struct; identity is the declaration."""

    kind: str
    name: str
    fields: tuple[tuple[str, Ty], ...] = field(default=())
    annotations: tuple = field(default=(), compare=False)

    def field(self, name: str) -> Ty | None:
        return next((t for n, t in self.fields if n == name), None)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class StackT(Ty):
    elem: Ty
    size: int

    def __str__(self) -> str:
        return f"{self.elem}[{self.size}]"


@dataclass(frozen=True, eq=False)
class EnumT(Ty):
    name: str
    members: tuple[str, ...]
    underlying: Bits | None = None
    values: tuple[int, ...] = ()

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class ExternT(Ty):
    name: str
    args: tuple[Ty, ...] = ()

    def __str__(self) -> str:
        return self.name + (f"<{', '.join(map(str, self.args))}>" if self.args else "")


@dataclass(frozen=True)
class TupleT(Ty):
    items: tuple[Ty, ...]

    def __str__(self) -> str:
        return f"tuple<{', '.join(map(str, self.items))}>"


@dataclass(frozen=True)
class BlockT(Ty):
    """A parser or control type (a declaration or a prototype), by name."""

    kind: str
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class TypeVar(Ty):
    name: str

    def __str__(self) -> str:
        return self.name


def width_of(t: Ty) -> int:
    """Bits a value of `t` takes in a key, an action parameter or a header."""
    match t:
        case Bits(width=w):
            return w
        case Simple(name="bool"):
            return 1
        case EnumT(underlying=Bits(width=w)):
            return w
        case StructT(fields=fs):
            return sum(width_of(f) for _, f in fs)
        case Varbit(max_width=w):
            return w
    raise TypeError(f"{t} has no fixed width")
