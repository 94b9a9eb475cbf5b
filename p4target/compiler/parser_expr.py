"""The P4_16 expression grammar: precedence climbing, unary and primary expressions, casts,
brace lists, arguments and postfix (members, indexes, slices, calls)."""

from __future__ import annotations

from . import ast as A
from .errors import P4Error
from .parser_base import BINARY, TokenCursor, _nested, parse_int


class ExpressionParser(TokenCursor):
    """Expressions; declarations and statements are in `Parser` (parser.py)."""

    # -- expressions ---------------------------------------------------------
    def expression(self) -> A.Expr:
        cond = self.binary(1)
        if self.accept("?"):
            then = self.expression()
            self.expect(":")
            return A.Ternary(cond.loc, cond, then, self.expression())
        return cond

    def _binop(self) -> str | None:
        t = self.peek()
        if t.kind != "punct":
            return None
        if t.text == ">" and self.at(">", 1) and self.peek(1).adjacent:
            return ">>"
        return t.text if t.text in BINARY else None

    def binary(self, min_prec: int) -> A.Expr:
        left = self.unary()
        while True:
            op = self._binop()
            if op is None or BINARY[op] < min_prec:
                return left
            t = self.next()
            if op == ">>":
                self.next()
            right = self.binary(BINARY[op] + 1)
            left = A.Binary(t.loc, op, left, right)

    @_nested
    def unary(self) -> A.Expr:
        t = self.peek()
        if t.kind == "punct" and t.text in ("!", "~", "-", "+"):
            self.next()
            return A.Unary(t.loc, t.text, self.unary())
        if t.is_("(") and self.type_start(1) and self._cast_follows():
            self.next()
            ty = self.type_()
            self.expect(")")
            return A.Cast(t.loc, ty, self.unary())
        return self.postfix(self.primary())

    def _cast_follows(self) -> bool:
        start = self.pos
        try:
            self.next()
            self.type_()
            if not self.at(")"):
                return False
            nxt = self.peek(1)
            # `(T) x` casts; `(x) + y` with x a value does not reach here (x is no type).
            return not (nxt.kind == "punct" and nxt.text in BINARY and nxt.text not in ("-", "+"))
        except P4Error:
            return False
        finally:
            self.pos = start

    def primary(self) -> A.Expr:
        t = self.peek()
        if t.kind == "number":
            self.next()
            return parse_int(t.text, t.loc)
        if t.kind == "string":
            self.next()
            try:
                return A.StrLit(t.loc, bytes(t.text[1:-1], "utf-8").decode("unicode_escape"))
            except UnicodeError:  # bytes that are not UTF-8, or a bad escape, inside the string
                raise P4Error(
                    t.loc, "a string literal with bytes that are not UTF-8 or a bad escape"
                ) from None
        if t.is_("true") or t.is_("false"):
            self.next()
            return A.BoolLit(t.loc, t.text == "true")
        if t.is_("("):
            self.next()
            e = self.expression()
            self.expect(")")
            return e
        if t.is_("{"):
            return self.brace_expr()
        if t.is_("."):
            self.next()
            name = self.ident("a name after '.'")
            return A.Name(name.loc, name.text, top=True)
        if t.kind == "keyword" and t.text in ("bit", "int", "varbit", "bool", "string", "tuple"):
            return A.TypeExpr(t.loc, self.type_())
        if t.kind == "keyword" and t.text in ("error", "this", "default"):
            self.next()
            return A.Default(t.loc) if t.text == "default" else A.Name(t.loc, t.text)
        if t.kind == "ident":
            self.next()
            if t.text == "_":
                return A.DontCare(t.loc)
            if self.is_type_name(t.text) and self.at("<") and not self._is_less_than():
                return A.TypeExpr(t.loc, A.NamedType(t.loc, t.text, self.type_args()))
            return A.Name(t.loc, t.text)
        raise P4Error(t.loc, f"expected an expression, found '{t.text}'")

    def _is_less_than(self) -> bool:
        start = self.pos
        try:
            self.type_args()
            return False
        except P4Error:
            return True
        finally:
            self.pos = start

    @_nested
    def brace_expr(self) -> A.Expr:
        t = self.expect("{")
        if self.accept("}"):
            return A.ListExpr(t.loc, [])
        if self.peek().kind in ("ident", "keyword") and self.at("=", 1):
            fields = []
            while True:
                name = self.ident("a field name", keywords_ok=True).text
                self.expect("=")
                fields.append((name, self.expression()))
                if not self.accept(","):
                    break
                if self.at("}"):
                    break
            self.expect("}")
            return A.StructInit(t.loc, fields)
        items = [self.expression()]
        while self.accept(","):
            if self.at("}"):
                break
            items.append(self.expression())
        self.expect("}")
        return A.ListExpr(t.loc, items)

    def arguments(self) -> list[A.Arg]:
        self.expect("(")
        out = []
        while not self.accept(")"):
            t = self.peek()
            if t.kind in ("ident", "keyword") and self.at("=", 1) and not self.at("==", 1):
                self.next()
                self.next()
                out.append(A.Arg(self.expression(), t.text))
            elif t.kind == "ident" and t.text == "_" and (self.at(",", 1) or self.at(")", 1)):
                self.next()
                out.append(A.Arg(None))
            else:
                out.append(A.Arg(self.expression()))
            if not self.at(")"):
                self.expect(",")
        return out

    def postfix(self, e: A.Expr) -> A.Expr:
        while True:
            t = self.peek()
            if t.is_("."):
                self.next()
                name = self.ident("a member name", keywords_ok=True)
                e = A.Member(name.loc, e, name.text)
            elif t.is_("["):
                self.next()
                idx = self.expression()
                if self.accept(":"):
                    lo = self.expression()
                    self.expect("]")
                    e = A.Slice(t.loc, e, idx, lo)
                else:
                    self.expect("]")
                    e = A.Index(t.loc, e, idx)
            elif t.is_("("):
                e = A.Call(t.loc, e, [], self.arguments())
            elif t.is_("<") and self._generic_call_follows():
                targs = self.type_args()
                e = A.Call(t.loc, e, targs, self.arguments())
            else:
                return e

    def _generic_call_follows(self) -> bool:
        start = self.pos
        try:
            self.type_args()
            return self.at("(")
        except P4Error:
            return False
        finally:
            self.pos = start
