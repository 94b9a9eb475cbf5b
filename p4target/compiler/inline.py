"""Function calls lowered to statements, left to right, with short-circuit order kept.

Before the BMv2 back end sees a block, every call to a P4 function is replaced by
its body: arguments are evaluated into temporaries in order, `in`/`inout` copied in,
`out`/`inout` copied back after the body, `return e` stores e and sets a flag that
guards the statements after it. A call on the right of `&&` / `||`, or in a branch of
`?:`, runs only when that operand is evaluated, as P4 requires.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from . import ast as A
from .errors import P4Error

_fresh = itertools.count()


def _name(loc, base: str) -> A.Name:
    return A.Name(loc, f"${base}{next(_fresh)}")


def _bool(loc) -> A.Type:
    return A.SimpleType(loc, "bool")


def _callees(node, names: set[str]) -> set[str]:
    """Functions (among `names`) called anywhere inside `node`, walked without recursion."""
    found: set[str] = set()
    stack = [node]
    while stack:
        x = stack.pop()
        if isinstance(x, A.Call) and isinstance(x.func, A.Name) and x.func.name in names:
            found.add(x.func.name)
        if isinstance(x, list | tuple):
            stack.extend(x)
        elif hasattr(x, "__dataclass_fields__"):
            stack.extend(getattr(x, f) for f in x.__dataclass_fields__ if f != "loc")
    return found


def check_recursion(functions: dict[str, A.FunctionDecl]) -> None:
    """P4 has no recursion: a function that reaches itself through calls is an error
    (inlining it would never end)."""
    calls = {n: _callees(f.body, set(functions)) for n, f in functions.items()}
    for start, f in functions.items():
        path, seen, todo = {start: [start]}, {start}, [start]
        while todo:
            cur = todo.pop()
            for nxt in sorted(calls[cur]):
                if nxt == start:
                    chain = " -> ".join([*path[cur], start])
                    raise P4Error(f.loc, f"function {start} calls itself ({chain}); P4 has no recursion")
                if nxt not in seen:
                    seen.add(nxt)
                    path[nxt] = [*path[cur], nxt]
                    todo.append(nxt)


class Inliner:
    def __init__(self, functions: dict[str, A.FunctionDecl]) -> None:
        check_recursion(functions)
        self.functions = functions

    def _impure(self, e) -> bool:
        """Does evaluating `e` call a P4 function or apply a table?"""
        if isinstance(e, A.Call) and isinstance(e.func, A.Name) and e.func.name in self.functions:
            return True
        if _hit_test(e):
            return True
        if isinstance(e, list):
            return any(self._impure(x) for x in e)
        if isinstance(e, A.Arg):
            return self._impure(e.value)
        if isinstance(e, A.Expr):
            return any(self._impure(getattr(e, f)) for f in e.__dataclass_fields__ if f != "loc")
        return False

    # -- expressions -> (statements first, then a call-free expression) ---------------
    def expr(self, e, pre: list):
        if not self._impure(e):
            return e
        if _hit_test(e):
            # t.apply().hit inside a larger expression: apply the table first, keep the answer.
            tmp = _name(e.loc, "hit")
            pre.append(A.VarDecl(tmp.name, e.loc, _bool(e.loc), A.BoolLit(e.loc, False)))
            pre.append(A.If(e.loc, e, A.Block(e.loc, [A.Assign(e.loc, tmp, A.BoolLit(e.loc, True))]), None))
            return tmp
        if isinstance(e, A.Call) and isinstance(e.func, A.Name) and e.func.name in self.functions:
            return self.call(e, pre, want_value=True)
        if isinstance(e, A.Binary) and e.op in ("&&", "||") and self._impure(e.right):
            tmp = _name(e.loc, "sc")
            pre.append(A.VarDecl(tmp.name, e.loc, _bool(e.loc), self.expr(e.left, pre)))
            right: list = []
            rv = self.expr(e.right, right)
            right.append(A.Assign(e.loc, tmp, rv))
            cond = tmp if e.op == "&&" else A.Unary(e.loc, "!", tmp)
            pre.append(A.If(e.loc, cond, A.Block(e.loc, right), None))
            return tmp
        if isinstance(e, A.Ternary) and (self._impure(e.then) or self._impure(e.other)):
            ty = self._type_of_branch(e)
            tmp = _name(e.loc, "mux")
            pre.append(A.VarDecl(tmp.name, e.loc, ty, None))
            cond = self.expr(e.cond, pre)
            a: list = []
            a.append(A.Assign(e.loc, tmp, self.expr(e.then, a)))
            b: list = []
            b.append(A.Assign(e.loc, tmp, self.expr(e.other, b)))
            pre.append(A.If(e.loc, cond, A.Block(e.loc, a), A.Block(e.loc, b)))
            return tmp
        if isinstance(e, A.Call):
            return A.Call(
                e.loc,
                self.expr(e.func, pre),
                e.type_args,
                [A.Arg(self.expr(x.value, pre), x.name) for x in e.args],
            )
        changes = {}
        for f in e.__dataclass_fields__:
            v = getattr(e, f)
            if f != "loc" and isinstance(v, A.Expr):
                changes[f] = self.expr(v, pre)
            elif f != "loc" and isinstance(v, list) and v and isinstance(v[0], A.Expr):
                changes[f] = [self.expr(x, pre) for x in v]
        return type(e)(**{**{f: getattr(e, f) for f in e.__dataclass_fields__}, **changes})

    def _type_of_branch(self, e: A.Ternary) -> A.Type:
        for x in (e.then, e.other):
            if isinstance(x, A.Call) and isinstance(x.func, A.Name) and x.func.name in self.functions:
                return self.functions[x.func.name].ret
        raise P4Error(e.loc, "a ?: whose branches call functions needs one branch to be a call")

    def call(self, c: A.Call, pre: list, want_value: bool):
        f = self.functions[c.func.name]
        if len(c.args) != len(f.params):
            raise P4Error(c.loc, f"function {f.name} takes {len(f.params)} arguments, got {len(c.args)}")
        rename: dict[str, A.Expr] = {}
        copy_back = []
        for p, a in zip(f.params, c.args, strict=True):
            tmp = _name(c.loc, f"{f.name}_{p.name}_")
            # An out/inout argument is one location: calls in its indices run once, here.
            arg = self.expr(a.value, pre)
            value = arg if p.direction in ("", "in", "inout") else None
            pre.append(A.VarDecl(tmp.name, c.loc, p.type, value))
            rename[p.name] = tmp
            if p.direction in ("out", "inout"):
                copy_back.append(A.Assign(c.loc, arg, tmp))
        ret = None
        if not (isinstance(f.ret, A.SimpleType) and f.ret.name == "void"):
            ret = _name(c.loc, f"{f.name}_ret")
            pre.append(A.VarDecl(ret.name, c.loc, f.ret, None))
        flag = _name(c.loc, f"{f.name}_returned")
        pre.append(A.VarDecl(flag.name, c.loc, _bool(c.loc), A.BoolLit(c.loc, False)))
        body = _Renamer(rename).stmts(f.body.stmts)
        pre.extend(self._returns(body, ret, flag))
        pre.extend(copy_back)
        if want_value and ret is None:
            raise P4Error(c.loc, f"function {f.name} returns nothing")
        return ret

    def _returns(self, stmts: list, ret: A.Name | None, flag: A.Name) -> list:
        """`return e` -> ret = e; flag = true; and what follows it runs only if not flag."""
        out: list = []
        for k, s in enumerate(stmts):
            if isinstance(s, A.Return):
                if s.value is not None and ret is not None:
                    out.append(A.Assign(s.loc, ret, s.value))
                out.append(A.Assign(s.loc, flag, A.BoolLit(s.loc, True)))
                return out  # nothing after a return runs
            out.append(self._returns_in(s, ret, flag))
            if _may_return(s) and k + 1 < len(stmts):
                rest = self._returns(stmts[k + 1 :], ret, flag)
                out.append(A.If(s.loc, A.Unary(s.loc, "!", flag), A.Block(s.loc, rest), None))
                return out
        return out

    def _returns_in(self, s, ret, flag):
        if isinstance(s, A.Block):
            return A.Block(s.loc, self._returns(s.stmts, ret, flag))
        if isinstance(s, A.If):
            then = A.Block(s.loc, self._returns([s.then], ret, flag))
            other = A.Block(s.loc, self._returns([s.other], ret, flag)) if s.other is not None else None
            return A.If(s.loc, s.cond, then, other)
        return s

    # -- statements ----------------------------------------------------------------------
    def stmts(self, stmts: list) -> list:
        out: list = []
        for s in stmts:
            out.extend(self.stmt(s))
        return out

    def stmt(self, s) -> list:
        pre: list = []
        match s:
            case A.Block(stmts=ss):
                return [A.Block(s.loc, self.stmts(ss), s.annotations)]
            case A.If(cond=c, then=t, other=o):
                bare = c
                while isinstance(bare, A.Unary) and bare.op == "!":
                    bare = bare.expr
                cond = c if _hit_test(bare) else self.expr(c, pre)  # `if (t.apply().hit)` is native
                then = A.Block(t.loc, self.stmt(t))
                other = A.Block(o.loc, self.stmt(o)) if o is not None else None
                return [*pre, A.If(s.loc, cond, then, other)]
            case A.Assign(target=t, value=v):
                t = self.expr(t, pre)  # the left-hand side is evaluated first (calls in its indices)
                if isinstance(v, A.Call) and isinstance(v.func, A.Name) and v.func.name in self.functions:
                    r = self.call(v, pre, want_value=True)
                    return [*pre, A.Assign(s.loc, t, r)]
                value = self.expr(v, pre)  # fills `pre` first: evaluate before unpacking it
                return [*pre, A.Assign(s.loc, t, value)]
            case A.CallStmt(call=c) if isinstance(c.func, A.Name) and c.func.name in self.functions:
                self.call(c, pre, want_value=False)
                return pre
            case A.CallStmt(call=c):
                call = self.expr(c, pre)
                return [*pre, A.CallStmt(s.loc, call)]
            case A.VarDecl(init=init) if init is not None:
                value = self.expr(init, pre)
                return [*pre, A.VarDecl(s.name, s.loc, s.type, value, annotations=s.annotations)]
            case A.Switch(cases=cases):
                new = [
                    A.SwitchCase(
                        x.label, A.Block(x.body.loc, self.stmts(x.body.stmts)) if x.body else None, x.loc
                    )
                    for x in cases
                ]
                return [A.Switch(s.loc, s.expr, new)]
            case A.Return(value=v) if v is not None:
                value = self.expr(v, pre)
                return [*pre, A.Return(s.loc, value)]
        return [s]


def _hit_test(e) -> bool:
    """`t.apply().hit` or `.miss`."""
    return (
        isinstance(e, A.Member)
        and e.name in ("hit", "miss")
        and isinstance(e.expr, A.Call)
        and isinstance(e.expr.func, A.Member)
        and e.expr.func.name == "apply"
    )


def _may_return(s) -> bool:
    if isinstance(s, A.Return):
        return True
    if isinstance(s, A.Block):
        return any(_may_return(x) for x in s.stmts)
    if isinstance(s, A.If):
        return _may_return(s.then) or (s.other is not None and _may_return(s.other))
    return False


class _Renamer:
    """A function body with its parameters and locals renamed to fresh temporaries."""

    def __init__(self, names: dict[str, A.Expr]) -> None:
        self.names = dict(names)

    def stmts(self, stmts: list) -> list:
        return [self.stmt(s) for s in stmts]

    def stmt(self, s):
        if isinstance(s, A.VarDecl | A.ConstDecl):
            new = _name(s.loc, f"local_{s.name}_")
            init = self.expr(s.init if isinstance(s, A.VarDecl) else s.value)
            self.names[s.name] = new
            return A.VarDecl(new.name, s.loc, s.type, init)
        if isinstance(s, A.Block):
            return A.Block(s.loc, self.stmts(s.stmts), s.annotations)
        if isinstance(s, A.If):
            return A.If(s.loc, self.expr(s.cond), self.stmt(s.then), self.stmt(s.other) if s.other else None)
        if isinstance(s, A.Assign):
            return A.Assign(s.loc, self.expr(s.target), self.expr(s.value))
        if isinstance(s, A.CallStmt):
            return A.CallStmt(s.loc, self.expr(s.call))
        if isinstance(s, A.Return):
            return A.Return(s.loc, self.expr(s.value) if s.value is not None else None)
        return s

    def expr(self, e):
        return substitute(e, lambda n: self.names.get(n.name))


def substitute(e, replace: Callable[[A.Name], A.Expr | None]):
    """`e` with every (non-top-level) name for which `replace` gives an expression replaced."""
    if e is None:
        return None
    if isinstance(e, A.Name) and not e.top:
        r = replace(e)
        return e if r is None else r
    if isinstance(e, A.Arg):
        return A.Arg(substitute(e.value, replace), e.name)
    if not isinstance(e, A.Expr):
        return e
    changes = {}
    for f in e.__dataclass_fields__:
        v = getattr(e, f)
        if f == "loc":
            continue
        if isinstance(v, A.Expr | A.Arg):
            changes[f] = substitute(v, replace)
        elif isinstance(v, list):
            changes[f] = [substitute(x, replace) if isinstance(x, A.Expr | A.Arg) else x for x in v]
    return type(e)(**{**{f: getattr(e, f) for f in e.__dataclass_fields__}, **changes})
