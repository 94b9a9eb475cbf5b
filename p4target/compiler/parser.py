"""A recursive-descent parser for P4_16.

Like p4c's grammar it needs to know which identifiers name types: `T x;` declares,
`a < b` compares, `f<T>(x)` calls a generic. Type names are collected as they are
declared (and type parameters per scope); `<` after a non-type is tried as type
arguments only when a call follows, else it is less-than.
"""

from __future__ import annotations

from pathlib import Path

from . import ast as A
from .errors import P4Error
from .lexer import Preprocessor
from .parser_base import DIRECTIONS, _nested, check_depth, parse_int
from .parser_expr import ExpressionParser

__all__ = ["Parser", "parse_file", "parse_int", "parse_text"]


class Parser(ExpressionParser):
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
                if body is not None:  # p4c: a syntax error; a second body must never replace the first
                    raise P4Error(
                        at.loc, f"control {name.text} has a second apply block (first at {body.loc})"
                    )
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
            first = next((q for q in props if q.name == pname), None)
            if first is not None:  # as p4c: the second one would otherwise be silently dropped
                raise P4Error(
                    p.loc, f"table {name.text}: property '{pname}' is given twice (first at {first.loc})"
                )
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
