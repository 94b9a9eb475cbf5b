"""A recursive-descent parser for P4_16.

Like p4c's grammar it needs to know which identifiers name types: `T x;` declares,
`a < b` compares, `f<T>(x)` calls a generic. Type names are collected as they are
declared (and type parameters per scope); `<` after a non-type is tried as type
arguments only when a call follows, else it is less-than.
"""

from __future__ import annotations

from pathlib import Path

from . import ast as A
from .errors import Loc, P4Error
from .lexer import Preprocessor, Token

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


class Parser:
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

    # -- program -------------------------------------------------------------
    def program(self) -> A.Program:
        decls = []
        while self.peek().kind != "eof":
            if self.accept(";"):
                continue
            decls.append(self.declaration())
        return A.Program(decls)

    def annotations(self) -> A.Annotations:
        out = []
        while self.at("@"):
            at = self.next()
            name = self.ident("an annotation name", keywords_ok=True).text
            args: list = []
            if self.at("(") and self.peek().adjacent:
                args = self.annotation_body()
            elif self.at("["):
                args = self.raw_balanced("[", "]")
            out.append(A.Annotation(name, args, at.loc))
        return out

    def annotation_body(self) -> list:
        start = self.pos
        self.expect("(")
        try:
            args = []
            if not self.at(")"):
                args.append(self.expression())
                while self.accept(","):
                    args.append(self.expression())
            self.expect(")")
            return args
        except P4Error:
            self.pos = start
            return self.raw_balanced("(", ")")

    def raw_balanced(self, open_: str, close: str) -> list:
        self.expect(open_)
        depth, out = 1, []
        while True:
            t = self.next()
            if t.kind == "eof":
                raise P4Error(t.loc, f"unbalanced '{open_}' in annotation")
            if t.is_(open_):
                depth += 1
            elif t.is_(close):
                depth -= 1
                if depth == 0:
                    return out
            out.append(t.text)

    def declaration(self) -> A.Decl:
        annos = self.annotations()
        t = self.peek()
        kw = t.text if t.kind == "keyword" else None
        if kw == "const":
            d = self.const_decl()
        elif kw in ("typedef", "type"):
            d = self.typedef()
        elif kw in ("header", "header_union", "struct"):
            d = self.struct_like()
        elif kw == "enum":
            d = self.enum_decl()
        elif kw == "error" and self.at("{", 1):
            self.next()
            d = A.ErrorDecl("error", t.loc, self.ident_list())
        elif kw == "match_kind" and self.at("{", 1):
            self.next()
            d = A.MatchKindDecl("match_kind", t.loc, self.ident_list())
        elif kw == "extern":
            d = self.extern_decl()
        elif kw in ("parser", "control"):
            d = self.parser_or_control()
        elif kw == "package":
            self.next()
            name = self.ident("a package name")
            self.types.add(name.text)
            tps = self.type_params()
            d = A.BlockTypeDecl(name.text, name.loc, "package", tps, self.params())
            self.pop_scope(tps)
            self.expect(";")
        elif kw == "action":
            d = self.action_decl()
        else:
            d = self.typed_decl(top=True)
        d.annotations = annos + d.annotations
        return d

    # -- types ---------------------------------------------------------------
    def type_params(self) -> list[str]:
        if not self.at("<"):
            return []
        self.next()
        names = [self.ident("a type parameter").text]
        while self.accept(","):
            names.append(self.ident("a type parameter").text)
        self.expect(">")
        self.scopes.append(set(names))
        return names

    def pop_scope(self, tps: list[str]) -> None:
        if tps:
            self.scopes.pop()

    def width(self) -> A.Expr:
        t = self.peek()
        if t.kind == "number":
            self.next()
            return parse_int(t.text, t.loc)
        if self.at("("):
            self.next()
            e = self.expression()
            self.expect(")")
            return e
        if t.kind == "ident":
            self.next()
            return A.Name(t.loc, t.text)
        raise P4Error(t.loc, f"expected a width, found '{t.text}'")

    @_nested
    def type_(self) -> A.Type:
        t = self.peek()
        if t.kind == "keyword" and t.text in ("bit", "int", "varbit"):
            self.next()
            if self.accept("<"):
                w = self.width()
                self.expect(">")
            elif t.text == "bit":
                w = A.IntLit(t.loc, 1)
            elif t.text == "int":
                w = None
            else:
                raise P4Error(t.loc, "varbit needs a maximum width: varbit<N>")
            ty: A.Type = (
                A.VarbitType(t.loc, w) if t.text == "varbit" else A.BitType(t.loc, w, t.text == "int")
            )
        elif t.kind == "keyword" and t.text in ("bool", "string", "error", "void", "match_kind"):
            self.next()
            ty = A.SimpleType(t.loc, t.text)
        elif t.kind == "keyword" and t.text in ("tuple", "list"):
            self.next()
            ty = A.TupleType(t.loc, self.type_args())
        elif t.kind == "ident" and t.text == "_":
            self.next()
            ty = A.SimpleType(t.loc, "_")
        elif t.kind == "ident" or t.is_("."):
            top = bool(self.accept("."))
            name = self.ident("a type name")
            ty = A.NamedType(name.loc, ("." if top else "") + name.text)
            if self.at("<"):
                ty.args = self.type_args()
        else:
            raise P4Error(t.loc, f"expected a type, found '{t.text}'")
        while self.at("[") and not self.at("]", 1):
            self.next()
            size = self.expression()
            self.expect("]")
            ty = A.StackType(ty.loc, ty, size)
        return ty

    def type_args(self) -> list[A.Type]:
        self.expect("<")
        args = []
        if not self.at(">"):
            args.append(self.type_arg())
            while self.accept(","):
                args.append(self.type_arg())
        self.expect(">")
        return args

    def type_arg(self) -> A.Type:
        t = self.peek()
        if t.kind == "number":  # non-type argument (rare): keep as a width
            self.next()
            return A.BitType(t.loc, parse_int(t.text, t.loc))
        return self.type_()

    # -- declarations --------------------------------------------------------
    def const_decl(self) -> A.ConstDecl:
        self.expect("const")
        ty = self.type_()
        name = self.ident("a constant name")
        self.expect("=")
        value = self.initializer()
        self.expect(";")
        return A.ConstDecl(name.text, name.loc, ty, value)

    def typedef(self) -> A.Typedef:
        kw = self.next()
        ty = self.type_()
        name = self.ident("a type name")
        self.types.add(name.text)
        self.expect(";")
        return A.Typedef(name.text, name.loc, ty, kw.text == "type")

    def struct_like(self) -> A.StructLike:
        kw = self.next()
        name = self.ident(f"a {kw.text} name")
        self.types.add(name.text)
        tps = self.type_params()
        self.expect("{")
        fields = []
        while not self.accept("}"):
            annos = self.annotations()
            ty = self.type_()
            fname = self.ident("a field name", keywords_ok=True)
            self.expect(";")
            fields.append(A.Field(fname.text, ty, fname.loc, annos))
        self.pop_scope(tps)
        return A.StructLike(name.text, name.loc, kw.text, fields, tps)

    def ident_list(self) -> list[str]:
        self.expect("{")
        names = []
        while not self.accept("}"):
            names.append(self.ident("a member name").text)
            if not self.at("}"):
                self.expect(",")
        return names

    def enum_decl(self) -> A.EnumDecl:
        self.expect("enum")
        under = self.type_() if self.at("bit") or self.at("int") else None
        name = self.ident("an enum name")
        self.types.add(name.text)
        if under is None:
            return A.EnumDecl(name.text, name.loc, self.ident_list())
        self.expect("{")
        members, values = [], []
        while not self.accept("}"):
            members.append(self.ident("a member name").text)
            self.expect("=")
            values.append(self.expression())
            if not self.at("}"):
                self.expect(",")
        return A.EnumDecl(name.text, name.loc, members, under, values)

    def params(self) -> list[A.Param]:
        self.expect("(")
        out = []
        while not self.accept(")"):
            annos = self.annotations()
            d = self.peek()
            direction = self.next().text if d.kind == "keyword" and d.text in DIRECTIONS else ""
            ty = self.type_()
            name = self.ident("a parameter name", keywords_ok=True)
            default = self.expression() if self.accept("=") else None
            out.append(A.Param(direction, ty, name.text, name.loc, default, annos))
            if not self.at(")"):
                self.expect(",")
        return out

    def extern_decl(self) -> A.Decl:
        self.expect("extern")
        t = self.peek()
        # `extern Name {` / `extern Name<T> {` declares an object; else a function.
        is_object = t.kind == "ident" and (self.at("{", 1) or (self.at("<", 1) and self._generic_object()))
        if not is_object:
            annos = self.annotations()
            m = self.method_prototype(None)
            m.annotations = annos + m.annotations
            return m
        name = self.next()
        self.types.add(name.text)
        tps = self.type_params()
        self.expect("{")
        methods = []
        while not self.accept("}"):
            annos = self.annotations()
            m = self.method_prototype(name.text)
            m.annotations = annos
            methods.append(m)
        self.pop_scope(tps)
        return A.ExternDecl(name.text, name.loc, tps, methods)

    def _generic_object(self) -> bool:
        depth, k = 0, 1
        while True:
            t = self.peek(k)
            if t.kind == "eof":
                return False
            if t.is_("<"):
                depth += 1
            elif t.is_(">"):
                depth -= 1
                if depth == 0:
                    return self.at("{", k + 1)
            k += 1

    def method_prototype(self, extern_name: str | None) -> A.Method:
        abstract = bool(self.accept("abstract"))
        t = self.peek()
        if extern_name and t.text == extern_name and self.at("(", 1):  # constructor
            self.next()
            params = self.params()
            self.expect(";")
            return A.Method(t.text, t.loc, None, params)
        # `T read<T>()`: a type reads as a name wherever it stands, so the return type
        # parses before its type parameters are known; they scope the parameters.
        ret = self.type_()
        name = self.ident("a method name", keywords_ok=True)
        tps = self.type_params()
        params = self.params()
        self.expect(";")
        self.pop_scope(tps)
        return A.Method(name.text, name.loc, ret, params, tps, abstract)

    def parser_or_control(self) -> A.Decl:
        kw = self.next()
        annos = self.annotations()
        name = self.ident(f"a {kw.text} name")
        self.types.add(name.text)
        tps = self.type_params()
        params = self.params()
        if self.accept(";"):
            self.pop_scope(tps)
            return A.BlockTypeDecl(name.text, name.loc, kw.text, tps, params, annotations=annos)
        ctor = self.params() if self.at("(") else []
        self.expect("{")
        locals_: list[A.Decl] = []
        if kw.text == "parser":
            states = []
            while not self.accept("}"):
                a = self.annotations()
                if self.at("state"):
                    s = self.state()
                    s.annotations = a
                    states.append(s)
                else:
                    d = self.local_decl()
                    d.annotations = a + d.annotations
                    locals_.append(d)
            self.pop_scope(tps)
            return A.ParserDecl(name.text, name.loc, tps, params, ctor, locals_, states, annotations=annos)
        body = None
        while not self.accept("}"):
            a = self.annotations()
            if self.at("apply"):
                at = self.next()
                body = self.block()
                body.loc = at.loc
                continue
            if self.at("table"):
                d = self.table()
            elif self.at("action"):
                d = self.action_decl()
            else:
                d = self.local_decl()
            d.annotations = a + d.annotations
            locals_.append(d)
        if body is None:
            raise P4Error(name.loc, f"control {name.text} has no apply block")
        self.pop_scope(tps)
        return A.ControlDecl(name.text, name.loc, tps, params, ctor, locals_, body, annotations=annos)

    def local_decl(self) -> A.Decl:
        if self.at("const"):
            return self.const_decl()
        if self.at("value_set"):
            t = self.next()
            self.expect("<")
            ty = self.type_()
            self.expect(">")
            self.expect("(")
            size = self.expression()
            self.expect(")")
            name = self.ident("a value_set name")
            self.expect(";")
            return A.ValueSetDecl(name.text, t.loc, ty, size)
        return self.typed_decl(top=False)

    def typed_decl(self, top: bool) -> A.Decl:
        """`T x [= e];`, `T(args) x;` (instantiation) or, at top level, `T f(params) {…}`."""
        t = self.peek()
        if not self.type_start() and not (t.kind == "ident" and self.at("(", 1)):
            raise P4Error(t.loc, f"expected a declaration, found '{t.text}'")
        ty = self.type_()
        if self.at("("):
            args = self.arguments()
            name = self.ident("an instance name", keywords_ok=True)
            init = self.block() if self.accept("=") else None
            self.expect(";")
            return A.Instantiation(name.text, name.loc, ty, args, init)
        name = self.ident("a name", keywords_ok=True)
        if top and (self.at("(") or self.at("<")):
            tps = self.type_params()
            params = self.params()
            body = self.block()
            self.pop_scope(tps)
            return A.FunctionDecl(name.text, name.loc, ty, tps, params, body)
        init = self.initializer() if self.accept("=") else None
        self.expect(";")
        return A.VarDecl(name.text, name.loc, ty, init)

    def initializer(self) -> A.Expr:
        return self.expression()

    def action_decl(self) -> A.ActionDecl:
        self.expect("action")
        name = self.ident("an action name", keywords_ok=True)
        params = self.params()
        return A.ActionDecl(name.text, name.loc, params, self.block())

    # -- parser states -------------------------------------------------------
    def state(self) -> A.ParserState:
        self.expect("state")
        name = self.ident("a state name", keywords_ok=True)
        self.expect("{")
        stmts: list = []
        transition = None
        while not self.accept("}"):
            if self.at("transition"):
                transition = self.transition()
                if not self.at("}"):
                    raise P4Error(self.peek().loc, "the transition must end the state")
                continue
            stmts.append(self.stmt_or_decl())
        return A.ParserState(name.text, name.loc, stmts, transition)

    def transition(self) -> A.Transition:
        t = self.expect("transition")
        if self.at("select"):
            self.next()
            self.expect("(")
            exprs = [self.expression()]
            while self.accept(","):
                exprs.append(self.expression())
            self.expect(")")
            self.expect("{")
            cases = []
            while not self.accept("}"):
                self.annotations()
                loc = self.peek().loc
                keyset = self.keyset()
                self.expect(":")
                state = self.ident("a state name", keywords_ok=True).text
                self.expect(";")
                cases.append(A.SelectCase(keyset, state, loc))
            return A.Transition(t.loc, None, exprs, cases)
        state = self.ident("a state name", keywords_ok=True).text
        self.expect(";")
        return A.Transition(t.loc, state)

    def keyset(self) -> A.Expr:
        if self.at("("):  # a tuple of keysets: (k1, k2)
            start = self.pos
            self.next()
            items = [self.simple_keyset()]
            if self.at(","):
                while self.accept(","):
                    items.append(self.simple_keyset())
                self.expect(")")
                return A.ListExpr(items[0].loc, items)
            self.pos = start
        return self.simple_keyset()

    def simple_keyset(self) -> A.Expr:
        t = self.peek()
        if self.accept("default"):
            return A.Default(t.loc)
        if t.kind == "ident" and t.text == "_" and not self.at(".", 1):
            self.next()
            return A.DontCare(t.loc)
        e = self.expression()
        if self.accept("&&&"):
            return A.Mask(e.loc, e, self.expression())
        if self.accept(".."):
            return A.Range(e.loc, e, self.expression())
        return e

    # -- tables --------------------------------------------------------------
    def table(self) -> A.TableDecl:
        self.expect("table")
        name = self.ident("a table name", keywords_ok=True)
        if self.accept("("):  # `table t() { ... }`: an older spelling p4c still takes
            self.expect(")")
        self.expect("{")
        props = []
        while not self.accept("}"):
            annos = self.annotations()
            const = bool(self.accept("const"))
            p = self.peek()
            pname = self.ident("a table property", keywords_ok=True).text
            self.expect("=")
            if pname == "key":
                value: object = self.key_elements()
            elif pname == "actions":
                value = self.action_list()
            elif pname == "entries":
                value = self.entries(const)
            elif pname == "default_action":
                value = self.action_ref()
                self.expect(";")
            else:
                value = self.expression()
                self.expect(";")
            props.append(A.TableProperty(pname, value, p.loc, const, annos))
        return A.TableDecl(name.text, name.loc, props)

    def key_elements(self) -> list[A.KeyElement]:
        self.expect("{")
        out = []
        while not self.accept("}"):
            e = self.expression()
            self.expect(":")
            kind = self.ident("a match kind", keywords_ok=True).text
            annos = self.annotations()
            self.expect(";")
            out.append(A.KeyElement(e, kind, e.loc, annos))
        return out

    def action_ref(self) -> A.ActionRef:
        annos = self.annotations()
        t = self.peek()
        top = bool(self.accept("."))
        name = self.ident("an action name", keywords_ok=True)
        args = self.arguments() if self.at("(") else []
        return A.ActionRef(A.Name(name.loc, name.text, top), args, t.loc, annos)

    def action_list(self) -> list[A.ActionRef]:
        self.expect("{")
        out = []
        while not self.accept("}"):
            out.append(self.action_ref())
            self.expect(";")
        return out

    def entries(self, const: bool) -> list[A.Entry]:
        self.expect("{")
        out = []
        while not self.accept("}"):
            annos = self.annotations()
            entry_const = bool(self.accept("const"))
            priority = None
            if self.at("priority") and self.at("=", 1):
                self.next()
                self.next()
                priority = self.expression()
                self.expect(":")
            loc = self.peek().loc
            keyset = self.keyset()
            self.expect(":")
            action = self.action_ref()
            self.expect(";")
            out.append(A.Entry(keyset, action, loc, priority, const or entry_const, annos))
        return out

    # -- statements ----------------------------------------------------------
    def block(self) -> A.Block:
        t = self.expect("{")
        stmts = []
        while not self.accept("}"):
            if self.peek().kind == "eof":
                raise P4Error(t.loc, "unclosed '{'")
            stmts.append(self.stmt_or_decl())
        return A.Block(t.loc, stmts)

    @_nested
    def stmt_or_decl(self) -> A.Stmt | A.Decl:
        annos = self.annotations()
        t = self.peek()
        if t.is_("{"):
            b = self.block()
            b.annotations = annos
            return b
        if t.is_("const"):
            return self.const_decl()
        if t.is_("if"):
            self.next()
            self.expect("(")
            cond = self.expression()
            self.expect(")")
            then = self.statement()
            other = self.statement() if self.accept("else") else None
            return A.If(t.loc, cond, then, other)
        if t.is_("switch"):
            return self.switch()
        if t.is_("return"):
            self.next()
            value = None if self.at(";") else self.expression()
            self.expect(";")
            return A.Return(t.loc, value)
        if t.is_("exit"):
            self.next()
            self.expect(";")
            return A.Exit(t.loc)
        if t.is_(";"):
            self.next()
            return A.Empty(t.loc)
        if self.type_start() and self._declaration_follows():
            d = self.typed_decl(top=False)
            d.annotations = annos
            return d
        e = self.expression()
        if self.accept("="):
            value = self.expression()
            self.expect(";")
            return A.Assign(t.loc, e, value)
        self.expect(";")
        if not isinstance(e, A.Call):
            raise P4Error(t.loc, "expected an assignment or a call")
        return A.CallStmt(t.loc, e)

    def _declaration_follows(self) -> bool:
        """After a type comes a name (declaration) or `(` (instantiation); a type name
        followed by `.` is an expression (`MyEnum.A`, `error.NoError`)."""
        start = self.pos
        try:
            self.type_()
            return (self.peek().kind in ("ident", "keyword") and not self.at(".")) or self.at("(")
        except P4Error:
            return False
        finally:
            self.pos = start

    def statement(self) -> A.Stmt:
        s = self.stmt_or_decl()
        if isinstance(s, A.Decl):
            raise P4Error(s.loc, "a declaration cannot stand here; put it in a block")
        return s

    def switch(self) -> A.Switch:
        t = self.expect("switch")
        self.expect("(")
        e = self.expression()
        self.expect(")")
        self.expect("{")
        cases = []
        while not self.accept("}"):
            loc = self.peek().loc
            if self.accept("default"):
                label: A.Expr = A.Default(loc)
            else:
                label = self.expression()
            self.expect(":")
            body = self.block() if self.at("{") else None
            cases.append(A.SwitchCase(label, body, loc))
        return A.Switch(t.loc, e, cases)

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


def parse_text(text: str, file: str = "<input>", include_dirs: list[Path] | None = None) -> A.Program:
    pp = Preprocessor(include_dirs)
    prog = Parser(pp.run(Path(file), text)).program()
    check_depth(prog)
    return prog


def parse_file(
    path: str | Path, include_dirs: list[Path] | None = None, defines: dict[str, str] | None = None
) -> A.Program:
    pp = Preprocessor(include_dirs, defines)
    prog = Parser(pp.run(Path(path))).program()
    check_depth(prog)
    return prog
