"""Tokens of P4_16, and a token-level preprocessor (#include, #define, #if…).

Working on tokens rather than text keeps every token's true file, line and
column through includes and macro expansion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import Loc, P4Error

KEYWORDS = {
    "abstract", "action", "actions", "apply", "bool", "bit", "const", "control", "default",
    "else", "entries", "enum", "error", "exit", "extern", "false", "header", "header_union",
    "if", "in", "inout", "int", "key", "match_kind", "out", "package", "parser", "priority",
    "return", "select", "state", "string", "struct", "switch", "table", "this", "transition",
    "true", "tuple", "type", "typedef", "value_set", "varbit", "void", "list",
}  # fmt: skip

# Longest first: the scanner takes the first that matches.
PUNCT = [
    "&&&", "|+|", "|-|", "<<", "<=", ">=", "==", "!=", "&&", "||", "++", "..",
    "+", "-", "*", "/", "%", "|", "&", "^", "~", "!", "<", ">", "(", ")", "[", "]",
    "{", "}", ",", ";", ":", ".", "=", "?", "@", "#",
]  # fmt: skip

_PARTS = [
    ("ws", r"[ \t\r\f\v]+"),
    ("nl", r"\n"),
    ("splice", r"\\\r?\n"),  # a backslash ending a line joins the next to it (a long #define)
    ("linecomment", r"//[^\n]*"),
    ("blockcomment", r"/\*.*?\*/"),
    ("number", r"(?:[0-9]+[ws])?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|0[dD][0-9_]+|[0-9][0-9_]*)"),
    ("ident", r"[A-Za-z_][A-Za-z0-9_]*"),
    ("string", r'"(?:[^"\\\n]|\\.)*"'),
    ("punct", "|".join(re.escape(p) for p in PUNCT)),
]
_TOKEN = re.compile("|".join(f"(?P<{k}>{v})" for k, v in _PARTS), re.DOTALL)


@dataclass(frozen=True)
class Token:
    kind: str  # ident | keyword | number | string | punct | eof
    text: str
    loc: Loc
    # True when no space separates this token from the previous one: `>>` is two
    # `>` tokens, a shift only when adjacent, so `bit<bit<8>>` parses as types.
    adjacent: bool = False
    line_start: bool = False

    def is_(self, text: str) -> bool:
        return self.text == text and self.kind in ("punct", "keyword")


def tokenize(text: str, file: str) -> list[Token]:
    out: list[Token] = []
    line, line_pos, pos = 1, 0, 0
    adjacent, line_start = False, True
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            c = text[pos]
            what = (
                f"byte 0x{ord(c) - 0xDC00:02x} that is not UTF-8" if 0xDC80 <= ord(c) <= 0xDCFF else repr(c)
            )
            raise P4Error(Loc(file, line, pos - line_pos + 1), f"unexpected character {what}")
        kind = m.lastgroup
        value = m.group()
        loc = Loc(file, line, pos - line_pos + 1)
        if kind == "nl":
            line, line_pos = line + 1, m.end()
            adjacent, line_start = False, True
        elif kind == "splice":
            line, line_pos = line + 1, m.end()  # the same logical line: line_start stays
            adjacent = False
        elif kind in ("ws", "linecomment"):
            adjacent = False
        elif kind == "blockcomment":
            n = value.count("\n")
            if n:
                line, line_pos = line + n, pos + value.rindex("\n") + 1
            adjacent = False
        else:
            if kind == "ident" and value in KEYWORDS:
                kind = "keyword"
            out.append(Token(kind, value, loc, adjacent, line_start))
            adjacent, line_start = True, False
        pos = m.end()
    if text.count("/*") > text.count("*/"):
        raise P4Error(Loc(file, line, 1), "unterminated comment")
    return out


INCLUDE_DIR = Path(__file__).resolve().parent.parent / "include"
MAX_EXPANSION = 1_000_000  # tokens macros may produce in one file: more is a located error
MAX_MACRO_DEPTH = 100  # macros expanding macros


def read_source(path: Path) -> str:
    """A source file's text. Bytes that are not UTF-8 are kept as surrogate escapes: inside
    comments and strings they pass (as p4c lets them), anywhere else the lexer names them."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise P4Error(None, f"cannot read {path}: {e.strerror or e}") from None
    return data.decode("utf-8", errors="surrogateescape")


_IF_OPS = {
    "|": int.__or__, "^": int.__xor__, "&": int.__and__, "<<": int.__lshift__, ">>": int.__rshift__,
    "+": int.__add__, "-": int.__sub__, "*": int.__mul__, "%": int.__mod__,
}  # fmt: skip


def _apply(op: str, v: int, r: int) -> int:
    if op in _IF_OPS:
        return _IF_OPS[op](v, r)
    if op == "/":
        return abs(v) // abs(r) * (1 if (v < 0) == (r < 0) else -1)  # C truncates toward zero
    return int({"||": bool(v) or bool(r), "&&": bool(v) and bool(r), "==": v == r, "!=": v != r,
                "<": v < r, ">": v > r, "<=": v <= r, ">=": v >= r}[op])  # fmt: skip


def _ifexpr(toks: list[str], at: Token) -> int:
    """Value of a #if expression of integers (after defined() and macros are replaced):
    C's operators, evaluated here rather than by Python's eval."""
    pos = 0
    bin_ops = [["||"], ["&&"], ["|"], ["^"], ["&"], ["==", "!="], ["<", ">", "<=", ">="], ["<<", ">>"],
               ["+", "-"], ["*", "/", "%"]]  # fmt: skip

    def bad() -> P4Error:
        return P4Error(at.loc, "cannot evaluate #if condition")

    def peek() -> str | None:
        return toks[pos] if pos < len(toks) else None

    def primary(depth: int) -> int:
        nonlocal pos
        if depth > 200:
            raise bad()
        t = peek()
        pos += 1
        if t == "(":
            v = ternary(depth + 1)
            if peek() != ")":
                raise bad()
            pos += 1
            return v
        if t in ("!", "~", "-", "+"):
            v = primary(depth + 1)
            return {"!": int(not v), "~": ~v, "-": -v, "+": v}[t]
        if not t or not t[0].isdigit():
            raise bad()
        t = t.rstrip("uUlL")
        try:
            return int(t, 8) if len(t) > 1 and t[0] == "0" and t[1].isdigit() else int(t, 0)
        except ValueError:
            raise bad() from None

    def binary(level: int, depth: int) -> int:
        nonlocal pos
        if level == len(bin_ops):
            return primary(depth)
        v = binary(level + 1, depth)
        while peek() in bin_ops[level]:
            op = toks[pos]
            pos += 1
            r = binary(level + 1, depth)
            if op in ("/", "%") and r == 0:
                raise P4Error(at.loc, "division by zero in #if")
            if op in ("<<", ">>") and not 0 <= r <= 64:
                raise P4Error(at.loc, "shift out of range in #if")
            v = _apply(op, v, r)
            if abs(v) > 1 << 64:
                raise P4Error(at.loc, "#if value out of range")
        return v

    def ternary(depth: int) -> int:
        nonlocal pos
        c = binary(0, depth)
        if peek() == "?":
            pos += 1
            a = ternary(depth + 1)
            if peek() != ":":
                raise bad()
            pos += 1
            b = ternary(depth + 1)
            return a if c else b
        return c

    if not toks:
        return 0
    v = ternary(0)
    if pos != len(toks):
        raise bad()
    return v


class Preprocessor:
    """#include "x" / <x>, #define (object- and function-like) and #undef,
    #if/#ifdef/#ifndef/#elif/#else/#endif."""

    def __init__(self, include_dirs: list[Path] | None = None, defines: dict[str, str] | None = None) -> None:
        self.include_dirs = [*(include_dirs or []), INCLUDE_DIR]
        self.macros: dict[str, list[Token]] = {}
        self.fmacros: dict[str, tuple[list[str], list[Token]]] = {}  # name -> (parameters, body)
        self.included: set[Path] = set()
        self.budget = MAX_EXPANSION
        for k, v in (defines or {}).items():
            self.macros[k] = tokenize(v, "<command line>")

    def run(self, path: Path, text: str | None = None) -> list[Token]:
        path = path.resolve() if text is None else path
        if text is None:
            text = read_source(path)
        tokens = tokenize(text, str(path))
        out: list[Token] = []
        self._process(tokens, path, out)
        return out

    def _lines(self, tokens: list[Token], i: int) -> tuple[list[Token], int]:
        """The directive starting at tokens[i] ('#'), up to the end of its line."""
        j = i + 1
        while j < len(tokens) and not tokens[j].line_start:
            j += 1
        return tokens[i + 1 : j], j

    def _process(self, tokens: list[Token], path: Path, out: list[Token]) -> None:
        # Stack of (active, taken) for nested conditionals.
        stack: list[tuple[bool, bool, Loc]] = []
        active = True
        pending: list[Token] = []  # program text since the last directive, expanded in one go
        i = 0
        while i < len(tokens):
            t = tokens[i]
            if t.is_("#") and t.line_start:
                out.extend(self._expand(pending, set()))
                pending = []
                line, i = self._lines(tokens, i)
                if not line:
                    continue
                d, rest = line[0].text, line[1:]
                if d in ("ifdef", "ifndef", "if"):
                    cond = self._cond(d, rest, line[0]) if active else False
                    stack.append((active, cond, line[0].loc))
                    active = active and cond
                elif d in ("elif", "else"):
                    if not stack:
                        raise P4Error(line[0].loc, f"#{d} without #if")
                    outer, taken, opened = stack[-1]
                    cond = (not taken) and (d == "else" or self._cond("if", rest, line[0]))
                    stack[-1] = (outer, taken or cond, opened)
                    active = outer and cond
                elif d == "endif":
                    if not stack:
                        raise P4Error(line[0].loc, "#endif without #if")
                    active = stack.pop()[0]
                elif not active:
                    continue
                elif d == "include":
                    self._include(rest, line[0], path, out)
                elif d == "define":
                    if not rest or rest[0].kind not in ("ident", "keyword"):
                        raise P4Error(line[0].loc, "#define needs a name")
                    name = rest[0].text
                    self.macros.pop(name, None)
                    self.fmacros.pop(name, None)
                    if len(rest) > 1 and rest[1].is_("(") and rest[1].adjacent:
                        self.fmacros[name] = self._params(rest)
                    else:
                        self.macros[name] = rest[1:]
                elif d == "undef":
                    self.macros.pop(rest[0].text if rest else "", None)
                    self.fmacros.pop(rest[0].text if rest else "", None)
                elif d == "error":
                    raise P4Error(line[0].loc, "#error " + " ".join(x.text for x in rest))
                elif d in ("pragma", "line"):
                    continue
                else:
                    raise P4Error(line[0].loc, f"unknown directive #{d}")
                continue
            if active:
                pending.append(t)
            i += 1
        out.extend(self._expand(pending, set()))
        if stack:
            raise P4Error(stack[-1][2], f"#{'if'} without #endif")

    @staticmethod
    def _params(rest: list[Token]) -> tuple[list[str], list[Token]]:
        """`NAME(a, b) body` of a function-like #define."""
        params: list[str] = []
        k = 2
        while k < len(rest) and not rest[k].is_(")"):
            p = rest[k]
            if p.kind not in ("ident", "keyword"):
                raise P4Error(p.loc, f"bad macro parameter {p.text!r}")
            params.append(p.text)
            k += 1
            if k < len(rest) and rest[k].is_(","):
                k += 1
        if k >= len(rest):
            raise P4Error(rest[0].loc, f"#define {rest[0].text}: missing ')'")
        body = rest[k + 1 :]
        for b in body:
            if b.is_("#"):
                raise P4Error(b.loc, "# and ## in macro bodies are not supported")
        return params, body

    @staticmethod
    def _args(toks: list[Token], i: int, at: Token) -> tuple[list[list[Token]], int]:
        """The arguments of a macro call whose '(' is toks[i]; and the index after ')'."""
        args: list[list[Token]] = [[]]
        depth = 0
        for j in range(i, len(toks)):
            t = toks[j]
            if t.is_("("):
                depth += 1
                if depth == 1:
                    continue
            elif t.is_(")"):
                depth -= 1
                if depth == 0:
                    return args, j + 1
            elif t.is_(",") and depth == 1:
                args.append([])
                continue
            args[-1].append(t)
        raise P4Error(at.loc, f"unterminated call to macro {at.text}")

    def _expand(self, toks: list[Token], expanding: set[str]) -> list[Token]:
        """Macro expansion; expanded tokens report where the macro was used."""
        out: list[Token] = []
        i = 0
        if expanding and len(expanding) > MAX_MACRO_DEPTH:
            raise P4Error(toks[0].loc if toks else None, f"macros nested more than {MAX_MACRO_DEPTH} deep")
        if expanding:  # only what macros produce counts: a large program without macros is no expansion
            self.budget -= len(toks)
            if self.budget < 0:
                raise P4Error(
                    toks[0].loc if toks else None,
                    f"macro expansion produces more than {MAX_EXPANSION} tokens (macros: {', '.join(sorted(expanding))})",
                )
        while i < len(toks):
            t = toks[i]
            name = t.text if t.kind in ("ident", "keyword") and t.text not in expanding else None
            if name in self.fmacros and i + 1 < len(toks) and toks[i + 1].is_("("):
                params, body = self.fmacros[name]
                args, i = self._args(toks, i + 1, t)
                if args == [[]] and not params:
                    args = []
                if len(args) != len(params):
                    raise P4Error(t.loc, f"macro {name} takes {len(params)} arguments, got {len(args)}")
                sub: list[Token] = []
                for b in body:
                    if b.kind in ("ident", "keyword") and b.text in params:
                        arg = self._expand(args[params.index(b.text)], expanding)
                        sub.extend(replace(a, loc=t.loc, adjacent=b.adjacent if k == 0 else a.adjacent)
                                   for k, a in enumerate(arg))  # fmt: skip
                    else:
                        sub.append(replace(b, loc=t.loc))
                if sub:
                    sub[0] = replace(sub[0], adjacent=t.adjacent)
                out.extend(self._expand(sub, expanding | {name}))
                continue
            if name in self.macros:
                body = [replace(m, loc=t.loc, adjacent=t.adjacent if k == 0 else m.adjacent)
                        for k, m in enumerate(self.macros[name])]  # fmt: skip
                out.extend(self._expand(body, expanding | {name}))
            else:
                out.append(t)
            i += 1
        return out

    def _cond(self, d: str, rest: list[Token], at: Token) -> bool:
        if d in ("ifdef", "ifndef"):
            if not rest:
                raise P4Error(at.loc, f"#{d} needs a name")
            return (rest[0].text in self.macros) == (d == "ifdef")
        # #if: defined(X), macros (expanded), integers and C's operators.
        expr: list[str] = []
        k = 0
        while k < len(rest):
            t = rest[k]
            if t.text == "defined":
                try:
                    if rest[k + 1].is_("("):
                        name, k = rest[k + 2].text, k + 4
                    else:
                        name, k = rest[k + 1].text, k + 2
                except IndexError:
                    raise P4Error(at.loc, "defined needs a name") from None
                expr.append("1" if name in self.macros or name in self.fmacros else "0")
                continue
            if t.kind in ("ident", "keyword"):
                body = self._expand([t], set())
                expr.extend(x.text if x.kind in ("number", "punct") else "0" for x in body)
            elif t.text == ">" and expr and expr[-1] == ">" and t.adjacent:
                expr[-1] = ">>"  # the lexer splits >> (for nested type arguments)
            else:
                expr.append(t.text)
            k += 1
        return bool(_ifexpr(expr, at))

    def _include(self, rest: list[Token], at: Token, path: Path, out: list[Token]) -> None:
        if rest and rest[0].kind == "string":
            name, local = rest[0].text[1:-1], True
        elif rest and rest[0].is_("<"):
            name, local = "".join(x.text for x in rest[1:-1]), False
        else:
            raise P4Error(at.loc, '#include needs "file" or <file>')
        dirs = ([path.parent] if local else []) + self.include_dirs
        if not name or "\0" in name or len(name) > 1024:
            raise P4Error(at.loc, f"bad include file name {name[:60]!r}")
        for d in dirs:
            try:
                f = (d / name).resolve()
                found = f.is_file()
            except (OSError, ValueError, RuntimeError):
                found = False
            if found:
                if f in self.included:
                    return  # architecture files are guarded; include once
                self.included.add(f)
                self._process(tokenize(read_source(f), str(f)), f, out)
                return
        raise P4Error(at.loc, f"cannot find include file {name!r}")
