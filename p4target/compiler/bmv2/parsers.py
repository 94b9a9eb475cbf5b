"""Parsers and the deparser: parse states, extracts, transitions and select keys, emit order."""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import ast as A
from .. import types as T
from ..errors import P4Error
from ..inline import substitute
from ..semantics import BlockInfo
from .model import (
    JSON,
    Bound,
    Env,
    Field,
    Header,
    Stack,
    Struct,
    Union,
    UnionStack,
    _expr,
    _local_inits,
    _product,
    _range_to_masks,
    _src,
    bits,
    hexstr,
    is_bool,
    padded_hex,
    parser_src,
)


class Parsers:
    """Parser states and transitions, the deparser.
    Methods of `Builder` (program.py); they reach the others through `self`."""

    # -- parser ------------------------------------------------------------------
    def parser_json(self, b: BlockInfo) -> JSON:
        env = self.block_env(b)
        if "start" not in {st.name for st in b.decl.states}:
            raise P4Error(b.decl.loc, f"parser {b.name} has no start state")
        flat = self.parser_states(b, env, {}, _local_inits(b.decl), 0)
        names = {st.name for st, *_ in flat}
        states = []
        for st, senv, rename in flat:
            ops: list[JSON] = []
            for s in self.inliner.stmts(st.stmts):
                self.parser_stmt(s, senv, ops, f"{b.name}.{st.name}")
            key, transitions = self.transitions(st, senv, ops, names, rename)
            states.append({"name": st.name, "id": len(self._states), "parser_ops": ops,
                           "transition_key": key, "transitions": transitions, "source_info": _src(st)})  # fmt: skip
            self._states.append(st.name)
        return {"name": "parser", "id": 0, "init_state": "start", "parse_states": states}

    def parser_states(
        self, b: BlockInfo, env: Env, rename: dict[str, str | None], inits: list, depth: int
    ) -> list[tuple[A.ParserState, Env, dict]]:
        """A parser's states, each with its environment and state renaming; a sub-parser
        applied in a state (`sub.apply(...)`) is inlined as p4c does: the state is cut at
        the call, the sub-parser's states follow (renamed), and its accept continues with
        the rest of the calling state."""
        if depth > 16:
            raise P4Error(b.decl.loc, "sub-parsers nested more than 16 deep")
        out: list[tuple[A.ParserState, Env, dict]] = []
        for st in b.decl.states:
            if st.name in ("accept", "reject"):
                raise P4Error(st.loc, f"a parser cannot define the state '{st.name}'")
            name = rename.get(st.name, st.name) or st.name
            stmts = (inits if st.name == "start" else []) + list(st.stmts)
            part, k = 0, 0
            while True:
                cut = next((i for i in range(k, len(stmts)) if self._sub_parser_call(stmts[i], b)), None)
                here = name if part == 0 else f"{name}$after{part}"
                if cut is None:
                    out.append((A.ParserState(here, st.loc, stmts[k:], st.transition), env, rename))
                    break
                call = stmts[cut].call
                inst = call.func.expr.name
                sub = b.subs[inst]
                nxt = f"{name}$after{part + 1}"
                sub_rename: dict[str, str | None] = {
                    x.name: f"{name}${inst}${x.name}" for x in sub.decl.states
                }
                sub_rename["accept"] = nxt
                start = sub_rename.get("start")
                if start is None:
                    raise P4Error(sub.decl.loc, f"parser {sub.name} has no start state")
                out.append((A.ParserState(here, st.loc, stmts[k:cut], A.Transition(call.loc, state=start)),
                            env, {start: start}))  # fmt: skip
                out.extend(self.parser_states(sub, self.sub_env(sub, call, env), sub_rename,
                                              _local_inits(sub.decl), depth + 1))  # fmt: skip
                part, k = part + 1, cut + 1
        return out

    def _sub_parser_call(self, s, b: BlockInfo) -> bool:
        return (
            isinstance(s, A.CallStmt)
            and isinstance(s.call.func, A.Member)
            and s.call.func.name == "apply"
            and isinstance(s.call.func.expr, A.Name)
            and s.call.func.expr.name in b.subs
            and b.subs[s.call.func.expr.name].kind == "parser"
        )

    def sub_env(self, sub: BlockInfo, call: A.Call, env: Env) -> Env:
        """The sub-parser's names: its parameters bound to the caller's arguments."""
        if len(call.args) != len(sub.decl.params):
            raise P4Error(
                call.loc, f"{sub.name} takes {len(sub.decl.params)} arguments, got {len(call.args)}"
            )
        base = self.block_env(sub)
        senv = Env(dict(base.names), None, sub)
        for p, a in zip(sub.decl.params, call.args, strict=True):
            if self._is_packet(a.value, env):
                senv.names[p.name] = env.lookup(a.value.name)
            elif p.direction in ("in", "") and not self._is_location(a.value, env):
                senv.names[p.name] = Bound(A.Cast(a.value.loc, p.type, a.value), env)
            else:
                senv.names[p.name] = self.storage(a.value, env)
        return senv

    def parser_stmt(self, s, env: Env, ops: list[JSON], where: str) -> None:
        if isinstance(s, A.CallStmt):
            s = A.CallStmt(s.loc, self._hoist(s.call, env, ops, where))
        elif isinstance(s, A.Assign) and self._lookahead(s.value, env) is None:
            s = A.Assign(s.loc, s.target, self._hoist(s.value, env, ops, where))
        match s:
            case A.CallStmt(call=A.Call(func=A.Member(expr=pkt, name=m), args=args)) if self._is_packet(
                pkt, env
            ):
                vals = [a.value for a in args]
                if m == "extract":
                    target = self.storage(vals[0], env)
                    if isinstance(target, tuple) and target[0] == "stack_ref" and target[2] == "next":
                        if isinstance(target[1], UnionStack):
                            raise P4Error(s.loc, f"extract into a member of {A.show(vals[0])}, not the union")
                        param = {"type": "stack", "value": target[1].name}
                    elif isinstance(target, tuple) and target[0] == "union_stack_ref" and target[2] == "next":
                        param = {"type": "union_stack", "value": [target[1].name, target[3]]}
                    elif isinstance(target, Header):
                        param = {"type": "regular", "value": target.inst}
                    else:
                        raise P4Error(s.loc, f"cannot extract into {A.show(vals[0])}")
                    if len(vals) == 2:
                        ops.append(
                            {
                                "op": "extract_VL",
                                "parameters": [
                                    param,
                                    {"type": "expression", "value": self.data(vals[1], env, T.Bits(32))},
                                ],
                            }
                        )
                    else:
                        ops.append({"op": "extract", "parameters": [param]})
                elif m == "advance":
                    ops.append(
                        {"op": "advance", "parameters": [parser_src(self.data(vals[0], env, T.Bits(32)))]}
                    )
                else:
                    raise P4Error(s.loc, f"packet_in.{m}() cannot be called as a statement")
            case A.CallStmt(call=A.Call(func=A.Name(name="verify"), args=args)):
                err = self.prog.const(args[1].value)
                if not (isinstance(err, tuple) and err[0] == "error"):
                    raise P4Error(args[1].loc, "verify() needs an error constant, like error.NoMatch")
                ops.append(
                    {
                        "op": "verify",
                        "parameters": [self.cond(args[0].value, env), hexstr(self.errors[err[1]])],
                    }
                )
            case A.Assign(target=t, value=v):
                dst = self.storage(t, env)
                la = self._lookahead(v, env)
                if isinstance(dst, Field) and la is not None:
                    ops.append(
                        {"op": "set", "parameters": [{"type": "field", "value": [dst.inst, dst.name]}, la]}
                    )
                elif isinstance(dst, Field):
                    j = (
                        self.data(v, env, dst.ty)
                        if not is_bool(dst.ty)
                        else _expr("b2d", None, self.cond(v, env))
                    )
                    ops.append(
                        {
                            "op": "set",
                            "parameters": [{"type": "field", "value": [dst.inst, dst.name]}, parser_src(j)],
                        }
                    )
                else:
                    prims: list[JSON] = []
                    self.assign(dst, v, env, prims, s, t)
                    ops.extend({"op": "primitive", "parameters": [p]} for p in prims)
            case A.VarDecl(name=n, type=t, init=init):
                ty = self.prog.resolve(t)
                env.names[n] = self.layout(ty, f"{where}.{n}", metadata=True)
                if init is not None:
                    self.parser_stmt(A.Assign(s.loc, A.Name(s.loc, n), init), env, ops, where)
            case A.Block(stmts=stmts):
                for x in stmts:
                    self.parser_stmt(x, env, ops, where)
            case A.Empty():
                pass
            case A.CallStmt(call=A.Call(func=A.Member(expr=A.Name(name=n), name="apply"))) if (
                env.block is not None and n in env.block.subs
            ):
                raise P4Error(
                    s.loc, f"apply the sub-parser {n} as a statement of a state, not inside a block"
                )
            case A.CallStmt(call=c):
                prims = []
                self.call(c, env, prims, where, [])
                ops.extend({"op": "primitive", "parameters": [p]} for p in prims)
            case _:
                raise P4Error(
                    s.loc, f"{type(s).__name__.lower()} statements are not supported in parser states"
                )

    def _is_packet(self, e: A.Expr, env: Env) -> bool:
        return (
            isinstance(e, A.Name)
            and isinstance(env.lookup(e.name), tuple)
            and env.lookup(e.name)[0] == "packet"
        )

    def _lookahead(self, e: A.Expr, env: Env) -> JSON | None:
        """`pkt.lookahead<T>()` of a bit type, or a field of a header-typed one, as a
        BMv2 lookahead operand [bit offset, width]; None for anything else."""
        field = None
        if isinstance(e, A.Member):
            field, e = e.name, e.expr
        is_la = isinstance(e, A.Call) and isinstance(e.func, A.Member) and e.func.name == "lookahead"
        if not (is_la and self._is_packet(e.func.expr, env)):
            return None
        if not e.type_args:
            raise P4Error(e.loc, "lookahead needs a type: lookahead<T>()")
        ty = self.prog.resolve(e.type_args[0])
        if field is None:
            return {"type": "lookahead", "value": [0, bits(ty)]}
        if not isinstance(ty, T.StructT):
            raise P4Error(e.loc, f"{ty} has no field '{field}'")
        offset = 0
        for fname, fty in ty.fields:
            if fname == field:
                return {"type": "lookahead", "value": [offset, bits(fty)]}
            offset += bits(fty)
        raise P4Error(e.loc, f"{ty} has no field '{field}'")

    def _hoist(self, e, env: Env, ops: list[JSON], where: str):
        """Replace lookaheads inside an expression by temporaries set just before it
        (BMv2 reads the packet ahead only in `set` ops and transition keys)."""
        la = self._lookahead(e, env) if isinstance(e, A.Expr) else None
        if la is not None:
            tmp = self.scalar(f"{where}.lookahead{len(self.scalars)}", T.Bits(la["value"][1]))
            ops.append({"op": "set", "parameters": [{"type": "field", "value": [tmp.inst, tmp.name]}, la]})
            name = f"$lookahead{len(self.scalars)}"
            env.names[name] = tmp
            return A.Name(e.loc, name)
        if isinstance(e, list):
            return [self._hoist(x, env, ops, where) for x in e]
        if isinstance(e, A.Arg):
            return A.Arg(self._hoist(e.value, env, ops, where), e.name)
        if isinstance(e, A.Expr):
            changes = {
                f: self._hoist(getattr(e, f), env, ops, where)
                for f in e.__dataclass_fields__
                if f != "loc" and isinstance(getattr(e, f), A.Expr | list)
            }
            return dataclasses.replace(e, **changes) if changes else e
        return e

    def transitions(
        self, st: A.ParserState, env: Env, ops: list[JSON], names: set[str], rename: dict | None = None
    ) -> tuple[list, list]:
        tr = st.transition

        def target(name: str, at) -> str | None:
            if rename and name in rename:  # a sub-parser's states, and its accept (the caller's rest)
                return rename[name]
            if name == "accept":
                return None
            if name == "reject":
                self.warnings.append(
                    f"{at.loc}: warning: explicit transition to reject is not supported by BMv2; it accepts"
                )
                return None
            if name not in names:
                raise P4Error(at.loc, f"unknown state '{name}'")
            return name

        if tr is None:
            return [], [{"value": "default", "mask": None, "next_state": None}]
        if tr.state is not None:
            return [], [{"value": "default", "mask": None, "next_state": target(tr.state, tr)}]
        key, widths = [], []
        for k, e in enumerate(tr.select):
            ty = self.type_of(e, env)
            w = bits(ty)
            widths.append(w)
            la = self._lookahead(e, env)
            if la is not None:
                key.append(la)
                continue
            try:
                s = self.storage(e, env)
            except P4Error:
                s = None
            if isinstance(s, Field):
                key.append({"type": "field", "value": [s.inst, s.name]})
            elif isinstance(s, tuple) and s[0] == "stack_field":
                key.append({"type": "stack_field", "value": [s[1].name, s[2]]})
            elif isinstance(s, tuple) and s[0] == "union_stack_field":
                key.append({"type": "union_stack_field", "value": [s[1].name, s[2], s[3]]})
            else:  # any other expression: computed into a temporary first
                tmp = self.scalar(f"{st.name}.select{k}", T.Bits(w))
                ops.append(
                    {
                        "op": "set",
                        "parameters": [
                            {"type": "field", "value": [tmp.inst, tmp.name]},
                            self.data(e, env, T.Bits(w)),
                        ],
                    }
                )
                key.append({"type": "field", "value": [tmp.inst, tmp.name]})
        out = []
        for case in tr.cases:
            items = (
                case.keyset.items
                if isinstance(case.keyset, A.ListExpr) and len(tr.select) > 1
                else [case.keyset]
            )
            if len(items) == 1 and isinstance(items[0], A.Default | A.DontCare):
                items = items * len(widths)  # default matches every key
            if len(items) != len(widths):
                raise P4Error(case.loc, f"the keyset has {len(items)} values for {len(widths)} select keys")
            nxt = target(case.state, case)
            if len(items) == 1 and isinstance(items[0], A.Name) and isinstance(env.lookup(items[0].name), tuple) \
                    and env.lookup(items[0].name)[0] == "value_set":  # fmt: skip
                out.append(
                    {
                        "type": "parse_vset",
                        "value": env.lookup(items[0].name)[1],
                        "mask": None,
                        "next_state": nxt,
                    }
                )
                continue
            choices = [
                self.keyset_values(self.with_consts(x, env), w) for x, w in zip(items, widths, strict=True)
            ]
            for combo in _product(choices):
                if all(m == 0 for _, m in combo):
                    out.append({"value": "default", "mask": None, "next_state": nxt})
                    continue
                full = all(m == (1 << w) - 1 for (_, m), w in zip(combo, widths, strict=True))
                out.append({"type": "hexstr", "value": padded_hex([(v, w) for (v, _), w in zip(combo, widths, strict=True)]),
                            "mask": None if full else padded_hex([(m, w) for (_, m), w in zip(combo, widths, strict=True)]),
                            "next_state": nxt})  # fmt: skip
        return key, out

    def _is_location(self, e: A.Expr, env: Env) -> bool:
        try:
            return not isinstance(self.storage(e, env), Bound)
        except P4Error:
            return False

    def with_consts(self, e: A.Expr, env: Env) -> A.Expr:
        """`e` with the block's own constants (`const` inside a parser or control) inlined."""

        def value(n: A.Name) -> A.Expr | None:
            b = env.lookup(n.name)
            return self.with_consts(b.expr, b.env) if isinstance(b, Bound) else None

        return substitute(e, value)

    def keyset_values(self, e: A.Expr, w: int) -> list[tuple[int, int]]:
        """(value, mask) pairs matching a keyset element; ranges split into prefixes."""
        full = (1 << w) - 1
        if isinstance(e, A.Default | A.DontCare):
            return [(0, 0)]
        if isinstance(e, A.Mask):
            v, m = self.prog.const_int(e.value), self.prog.const_int(e.mask)
            return [(v & m & full, m & full)]
        if isinstance(e, A.Range):
            lo, hi = self.prog.const_int(e.lo), self.prog.const_int(e.hi)
            if not 0 <= lo <= hi <= full:
                raise P4Error(e.loc, f"range {lo}..{hi} does not fit {w} bits")
            return _range_to_masks(lo, hi, w)
        v = self.prog.const(e)
        if isinstance(v, tuple):
            v = self.enum_value(self.prog.named(v[0], e), v[1]) if v[0] != "error" else self.errors[v[1]]
        return [(int(v) & full, full)]

    # -- deparser and checksums -------------------------------------------------
    def deparser_json(self, b: BlockInfo) -> JSON:
        env = self.block_env(b)
        order: list[str] = []

        def emit(s: Any, at) -> None:
            match s:
                case Header(inst=i):
                    order.append(i)
                case Stack(name=n, ty=ty):
                    order.extend(f"{n}[{k}]" for k in range(ty.size))
                case Union(members=ms):
                    order.extend(h.inst for h in ms.values())
                case UnionStack(unions=us):
                    order.extend(h.inst for u in us for h in u.members.values())
                case Struct(members=ms):
                    for m in ms.values():
                        emit(m, at)
                case _:
                    raise P4Error(at.loc, "emit() takes a header, a header stack or a struct of headers")

        for st in b.decl.body.stmts:
            match st:
                case A.CallStmt(call=A.Call(func=A.Member(expr=pkt, name="emit"), args=[arg])) if (
                    self._is_packet(pkt, env)
                ):
                    emit(self.storage(arg.value, env), st)
                case A.Empty():
                    pass
                case _:
                    raise P4Error(st.loc, "a BMv2 deparser may only call packet.emit(...)")
        return {"name": "deparser", "id": 0, "order": order, "primitives": []}
