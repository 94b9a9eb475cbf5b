"""The P4_16 parser's ground: token cursor, literal integers, nesting and depth limits."""

from __future__ import annotations

from . import ast as A
from .errors import Loc, P4Error
from .lexer import Token

BINARY = {
    "||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, ">": 4, "<=": 4, ">=": 4,
    "|": 5, "^": 6, "&": 7, "<<": 8, ">>": 8,
    "++": 9, "+": 9, "-": 9, "|+|": 9, "|-|": 9, "*": 10, "/": 10, "%": 10,
}  # fmt: skip
TYPE_KEYWORDS = {"bit", "int", "varbit", "bool", "string", "error", "void", "tuple", "match_kind", "list"}
DIRECTIONS = {"in", "out", "inout"}


class _Backtrack(Exception):
    pass


def parse_int(text: str, loc: Loc) -> A.IntLit:
    t = text.replace("_", "")
    width, signed = None, False
    for sep in ("w", "s"):
        if sep in t and t.split(sep, 1)[0].isdigit() and not t.lower().startswith("0x"):
            w, t = t.split(sep, 1)
            width, signed = int(w), sep == "s"
            break
    lower = t.lower()
    base = {"0x": 16, "0b": 2, "0o": 8, "0d": 10}.get(lower[:2], 10)
    digits = t[2:] if base != 10 or lower.startswith("0d") else t
    try:
        value = int(digits, base)
    except ValueError:
        raise P4Error(loc, f"bad integer literal {text!r}") from None
    if width is not None and width == 0:
        raise P4Error(loc, "a width must be positive")
    return A.IntLit(loc, value, width, signed)


MAX_NESTING = 200  # parentheses, blocks, unary operators, type arguments inside each other
MAX_DEPTH = 400  # depth of the syntax tree (long operator chains nest too)


def _nested(method):
    """Count how deep the parser recurses: past MAX_NESTING is a located error, not a
    RecursionError."""

    def wrapper(self, *args, **kwargs):
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                raise P4Error(self.peek().loc, f"nested more than {MAX_NESTING} levels deep")
            return method(self, *args, **kwargs)
        finally:
            self.depth -= 1

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


def check_depth(prog: A.Program) -> None:
    """The syntax tree, walked without recursion: deeper than MAX_DEPTH is a located error
    (later passes recurse over it)."""
    stack: list[tuple[object, int, object]] = [(prog, 0, None)]
    while stack:
        node, d, loc = stack.pop()
        loc = getattr(node, "loc", None) or loc
        if d > MAX_DEPTH:
            raise P4Error(loc, f"expression or statement nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, list | tuple):
            stack.extend((x, d, loc) for x in node)
        elif hasattr(node, "__dataclass_fields__"):
            stack.extend((getattr(node, f), d + 1, loc) for f in node.__dataclass_fields__ if f != "loc")


class TokenCursor:
    """The token stream and the type names in scope; `Parser` (parser.py) builds on it."""

    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.depth = 0
        self.pos = 0
        end = tokens[-1].loc if tokens else Loc("<input>", 1, 1)
        self.eof = Token("eof", "<end of input>", end)
        self.types: set[str] = set()
        self.scopes: list[set[str]] = []

    # -- token helpers -------------------------------------------------------
    def peek(self, k: int = 0) -> Token:
        i = self.pos + k
        return self.toks[i] if i < len(self.toks) else self.eof

    def next(self) -> Token:
        t = self.peek()
        self.pos += 1
        return t

    def at(self, text: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t.text == text and t.kind in ("punct", "keyword")

    def accept(self, text: str) -> Token | None:
        return self.next() if self.at(text) else None

    def expect(self, text: str, what: str | None = None) -> Token:
        if not self.at(text):
            t = self.peek()
            raise P4Error(t.loc, f"expected '{text}'{' ' + what if what else ''}, found '{t.text}'")
        return self.next()

    def ident(self, what: str = "a name", keywords_ok: bool = False) -> Token:
        t = self.peek()
        if t.kind == "ident" or (keywords_ok and t.kind == "keyword"):
            return self.next()
        raise P4Error(t.loc, f"expected {what}, found '{t.text}'")

    def is_type_name(self, name: str) -> bool:
        return name in self.types or any(name in s for s in self.scopes)

    def type_start(self, k: int = 0) -> bool:
        t = self.peek(k)
        if t.kind == "keyword" and t.text in TYPE_KEYWORDS:
            return True
        if t.kind == "ident" and self.is_type_name(t.text):
            return True
        return t.is_(".") and self.peek(k + 1).kind == "ident" and self.is_type_name(self.peek(k + 1).text)
