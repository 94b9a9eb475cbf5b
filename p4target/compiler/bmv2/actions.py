"""Actions and statements: P4 actions, assignments and calls as BMv2 primitives."""

from __future__ import annotations

from typing import Any

from .. import ast as A
from .. import types as T
from ..errors import P4Error
from ..semantics import ActionInfo, BlockInfo
from .model import (
    JSON,
    PRIMITIVE_EXTERNS,
    Bound,
    DynField,
    DynHeader,
    Env,
    Field,
    Header,
    Runtime,
    SliceRef,
    Stack,
    Struct,
    Union,
    UnionStack,
    _expr,
    _n_directional,
    bits,
    header_param,
    hexstr,
    is_bool,
    top,
)


class Actions:
    """Actions, statement lists, assignments, calls.
    Methods of `Builder` (program.py); they reach the others through `self`."""

    # -- actions -----------------------------------------------------------------
    def action(
        self, name: str, body: list, env: Env, runtime: list[JSON], source: A.Decl | None = None
    ) -> int:
        """Emit an action; `body` is a list of statements lowered in `env`. Returns its id."""
        prims: list[JSON] = []
        self.statements(body, env, prims, name)
        aid = len(self.actions)
        self.actions.append({"name": name, "id": aid, "runtime_data": runtime, "primitives": prims})
        return aid

    def p4_action(self, a: ActionInfo, block: BlockInfo, ref: A.ActionRef | None = None) -> int:
        """The action of a P4 `action` declaration, once per block and per binding of its
        directional parameters (`actions = { set(hdr.x); }` binds `out` ones in the table)."""
        n_dir = _n_directional(a)
        bound = [x.value for x in ref.args[:n_dir]] if ref is not None else []
        if len(bound) != n_dir:
            raise P4Error(
                (ref or a.decl).loc, f"action {a.name}: its directional parameters must be bound here"
            )
        key = f"{block.name}/{a.name}/" + ",".join(A.show(x) for x in bound)
        if key in self._action_ids:
            return self._action_ids[key]
        benv = self.block_env(block)
        env = Env({}, benv, block)
        runtime = []
        for k, p in enumerate(a.decl.params):
            if k < n_dir:
                if p.direction == "in":
                    env.names[p.name] = Bound(bound[k], benv)
                else:
                    env.names[p.name] = self.storage(bound[k], benv)
                continue
            if p.direction:
                raise P4Error(p.loc, f"action {a.name}: directional parameters must come first")
            ty = self.prog.resolve(p.type)
            env.names[p.name] = Runtime(k - n_dir, ty)
            runtime.append({"name": p.name, "bitwidth": bits(ty)})
        aid = self.action(a.name, self.inliner.stmts(a.decl.body.stmts), env, runtime, a.decl)
        self._action_ids[key] = aid
        return aid

    def statements(self, stmts: list, env: Env, out: list[JSON], where: str) -> None:
        """Lower statements into primitives; if/else become _jump_if_zero / _jump."""
        returns: list[int] = []
        self._stmts(stmts, env, out, where, returns)
        for k in returns:
            out[k]["parameters"][0] = hexstr(len(out))

    def _stmts(self, stmts: list, env: Env, out: list[JSON], where: str, returns: list[int]) -> None:
        for s in stmts:
            self._stmt(s, env, out, where, returns)

    def _stmt(self, s, env: Env, out: list[JSON], where: str, returns: list[int]) -> None:
        match s:
            case A.Block(stmts=stmts):
                self._stmts(stmts, env.child() if False else env, out, where, returns)
            case A.Empty():
                pass
            case A.VarDecl(name=n, type=t, init=init):
                if id(s) not in self._predeclared:
                    env.names[n] = self.layout(self.prog.resolve(t), f"{where}.{n}", metadata=True)
                if init is not None:
                    self.assign(env.lookup(n), init, env, out, s)
            case A.ConstDecl(name=n, value=v):
                env.names[n] = Bound(v, env)
            case A.Assign(target=t, value=v):
                self.assign(self.storage(t, env), v, env, out, s, t)
            case A.CallStmt(call=c):
                self.call(c, env, out, where, returns)
            case A.If(cond=c, then=a, other=b):
                jz = len(out)
                out.append(
                    {"op": "_jump_if_zero", "parameters": [top(_expr("b2d", None, self.cond(c, env))), None]}
                )
                self._stmt(a, env, out, where, returns)
                if b is not None:
                    jmp = len(out)
                    out.append({"op": "_jump", "parameters": [None]})
                    out[jz]["parameters"][1] = hexstr(len(out))
                    self._stmt(b, env, out, where, returns)
                    out[jmp]["parameters"][0] = hexstr(len(out))
                else:
                    out[jz]["parameters"][1] = hexstr(len(out))
            case A.Switch(expr=e) if not (isinstance(e, A.Member) and e.name == "action_run"):
                pre, chain = self.value_switch(s, env)
                for x in [*pre, chain]:
                    self._stmt(x, env, out, where, returns)
            case A.Exit():
                out.append({"op": "exit", "parameters": []})
            case A.Return(value=None):
                returns.append(len(out))
                out.append({"op": "_jump", "parameters": [None]})
            case _:
                raise P4Error(s.loc, f"{type(s).__name__.lower()} statements are not supported in actions")

    def assign(
        self, dst: Any, value: A.Expr, env: Env, out: list[JSON], at, target: A.Expr | None = None
    ) -> None:
        if isinstance(dst, Field | DynField | SliceRef) and isinstance(dst.ty, T.Bits):
            try:
                vty = self.type_of(value, env)
            except P4Error:
                vty = None
            if isinstance(vty, T.Bits) and vty.width != dst.ty.width:
                raise P4Error(at.loc, f"cannot assign a {vty} value to a {dst.ty} location (cast it)")
        match dst:
            case DynField(ty=ty):
                j = (
                    self.data(value, env, ty)
                    if not is_bool(ty)
                    else _expr("b2d", None, self.cond(value, env))
                )
                # An l-value expression, wrapped twice as behavioral-model's JSON_format.md shows.
                out.append(
                    {"op": "assign", "parameters": [{"type": "expression", "value": dst.json()}, top(j)]}
                )
            case Field(ty=ty):
                j = (
                    self.data(value, env, ty)
                    if not is_bool(ty)
                    else _expr("b2d", None, self.cond(value, env))
                )
                out.append(
                    {"op": "assign", "parameters": [{"type": "field", "value": [dst.inst, dst.name]}, top(j)]}
                )
            case Header():
                if isinstance(value, A.StructInit | A.ListExpr):
                    out.append({"op": "add_header", "parameters": [{"type": "header", "value": dst.inst}]})
                    items = (
                        value.fields
                        if isinstance(value, A.StructInit)
                        else list(zip([f for f, _ in dst.ty.fields], value.items, strict=True))
                    )
                    for fname, fv in items:
                        self.assign(Field(dst.inst, fname, dst.ty.field(fname)), fv, env, out, at)
                    return
                src = self.storage(value, env)
                if not isinstance(src, Header | DynHeader):
                    raise P4Error(at.loc, f"cannot assign {A.show(value)} to header {dst.inst}")
                out.append({"op": "assign_header", "parameters": [header_param(dst), header_param(src)]})
            case DynHeader():
                src = self.storage(value, env)
                if not isinstance(src, Header | DynHeader):
                    raise P4Error(at.loc, f"cannot assign {A.show(value)} to a header")
                out.append({"op": "assign_header", "parameters": [header_param(dst), header_param(src)]})
            case Struct(members=ms):
                if isinstance(value, A.StructInit):
                    for fname, fv in value.fields:
                        self.assign(ms[fname], fv, env, out, at)
                    return
                if isinstance(value, A.ListExpr):
                    for (fname, _), fv in zip(dst.ty.fields, value.items, strict=True):
                        self.assign(ms[fname], fv, env, out, at)
                    return
                src = self.storage(value, env)
                if not isinstance(src, Struct):
                    raise P4Error(at.loc, f"cannot assign {A.show(value)} to a struct")
                for fname in ms:
                    self.assign_storage(ms[fname], src.members[fname], out, at)
            case Union():
                src = self.storage(value, env)
                if not isinstance(src, Union) or src.ty.name != dst.ty.name:
                    raise P4Error(at.loc, f"cannot assign {A.show(value)} to header union {dst.name}")
                self.assign_storage(dst, src, out, at)
            case Stack():
                src = self.storage(value, env)
                out.append(
                    {
                        "op": "assign_header_stack",
                        "parameters": [
                            {"type": "header_stack", "value": dst.name},
                            {"type": "header_stack", "value": src.name},
                        ],
                    }
                )
            case SliceRef(base=b, hi=hi, lo=lo, ty=ty):
                # read-modify-write: base = (base & ~mask) | ((value << lo) & mask)
                w = bits(b.ty)
                mask = ((1 << (hi - lo + 1)) - 1) << lo
                cur, _ = self.read(b, at)
                v = self.data(value, env, ty)
                new = _expr("|", _expr("&", cur, hexstr(((1 << w) - 1) & ~mask)),
                            _expr("&", _expr("<<", v, hexstr(lo)) if lo else v, hexstr(mask)))  # fmt: skip
                dst_j = (
                    {"type": "field", "value": [b.inst, b.name]}
                    if isinstance(b, Field)
                    else {"type": "expression", "value": b.json()}
                )
                out.append({"op": "assign", "parameters": [dst_j, top(new)]})
            case UnionStack():
                src = self.storage(value, env)
                if not isinstance(src, UnionStack) or src.ty != dst.ty:
                    raise P4Error(at.loc, f"cannot assign {A.show(value)} to a stack of header unions")
                out.append({"op": "assign_union_stack", "parameters": [
                    {"type": "header_union_stack", "value": dst.name}, {"type": "header_union_stack", "value": src.name}]})  # fmt: skip
            case Runtime():
                raise P4Error(at.loc, "action parameters are read-only")
            case _:
                raise P4Error(at.loc, f"cannot assign to {A.show(target) if target else 'this'}")

    def assign_storage(self, dst: Any, src: Any, out: list[JSON], at) -> None:
        if isinstance(dst, Field):
            out.append(
                {
                    "op": "assign",
                    "parameters": [
                        {"type": "field", "value": [dst.inst, dst.name]},
                        {"type": "field", "value": [src.inst, src.name]},
                    ],
                }
            )
        elif isinstance(dst, Header):
            out.append(
                {
                    "op": "assign_header",
                    "parameters": [
                        {"type": "header", "value": dst.inst},
                        {"type": "header", "value": src.inst},
                    ],
                }
            )
        elif isinstance(dst, Struct | Union):
            # A union member by member: copying the valid one invalidates the others.
            for f in dst.members:
                self.assign_storage(dst.members[f], src.members[f], out, at)

    # -- calls -------------------------------------------------------------------
    def call(self, c: A.Call, env: Env, out: list[JSON], where: str, returns: list[int]) -> None:
        f = c.func
        args = [a.value for a in c.args]
        if isinstance(f, A.Member):
            inst = env.lookup(f.expr.name) if isinstance(f.expr, A.Name) else None
            if inst is not None and type(inst).__name__ == "Instance":
                return self.extern_method(inst, f.name, args, c, env, out)
            target = self.storage(f.expr, env)
            if isinstance(target, Header) and f.name in ("setValid", "setInvalid"):
                op = "add_header" if f.name == "setValid" else "remove_header"
                out.append({"op": op, "parameters": [{"type": "header", "value": target.inst}]})
                return
            if isinstance(target, Stack | UnionStack) and f.name in ("push_front", "pop_front"):
                n = self.prog.const_int(args[0])
                kind = "header_stack" if isinstance(target, Stack) else "header_union_stack"
                out.append({"op": "push" if f.name == "push_front" else "pop",
                            "parameters": [{"type": kind, "value": target.name}, hexstr(n)]})  # fmt: skip
                return
            raise P4Error(c.loc, f"unsupported call {A.show(c)}")
        if not isinstance(f, A.Name):
            raise P4Error(c.loc, f"unsupported call {A.show(c)}")
        name = f.name
        block = env.block
        if block is not None and name in block.actions and not f.top:
            return self.inline_action(block.actions[name].decl, args, env, out, where)
        if isinstance(self.prog.decls.get(name), A.ActionDecl):
            return self.inline_action(self.prog.decls[name], args, env, out, where)
        if name in PRIMITIVE_EXTERNS:
            params = []
            if name == "mark_to_drop":
                params = [{"type": "header", "value": self.sm.inst}]
            elif name == "truncate":
                params = [top(self.data(args[0], env, T.Bits(32)))]
            else:  # assert / assume take data (BMv2 core primitives)
                params = [top(_expr("b2d", None, self.cond(args[0], env)))]
            out.append({"op": PRIMITIVE_EXTERNS[name], "parameters": params})
            return
        if name == "log_msg":
            fmt = self.prog.const(args[0])
            values = []
            if len(args) > 1:
                items = args[1].items if isinstance(args[1], A.ListExpr) else [args[1]]
                values = [top(self.data(x, env)) for x in items]
            out.append(
                {
                    "op": "log_msg",
                    "parameters": [
                        {"type": "string", "value": fmt},
                        {"type": "parameters_vector", "value": values},
                    ],
                }
            )
            return
        if name == "hash":
            dst = self.field_of(args[0], env, c)
            algo = self.algorithm(args[1])
            calc = self.calculation(f"calc_{len(self.calculations)}", algo, args[3], env)
            out.append({"op": "modify_field_with_hash_based_offset", "parameters": [
                dst, top(self.data(args[2], env, dst_ty := self.type_of(args[0], env))), {"type": "calculation", "value": calc},
                top(self.data(args[4], env, T.Bits(max(bits(dst_ty), 32))))]})  # fmt: skip
            return
        if name == "random":
            dst = self.field_of(args[0], env, c)
            ty = self.type_of(args[0], env)
            out.append(
                {
                    "op": "modify_field_rng_uniform",
                    "parameters": [dst, top(self.data(args[1], env, ty)), top(self.data(args[2], env, ty))],
                }
            )
            return
        if name == "digest":
            return self.digest(c, args, env, out)
        if name in ("clone", "clone_preserving_field_list", "clone3"):
            kind = self.prog.const(args[0])
            op = (
                "clone_ingress_pkt_to_egress"
                if kind == ("CloneType", "I2E")
                else "clone_egress_pkt_to_egress"
            )
            fl = self.field_list_arg(name, args[2:], env, c)
            out.append({"op": op, "parameters": [top(self.data(args[1], env, T.Bits(32))), hexstr(fl)]})
            return
        if name in (
            "resubmit",
            "resubmit_preserving_field_list",
            "recirculate",
            "recirculate_preserving_field_list",
        ):
            fl = self.field_list_arg(name, args, env, c)
            out.append({"op": name.split("_")[0], "parameters": [hexstr(fl)]})
            return
        if name == "verify":
            raise P4Error(c.loc, "verify() can only be called in a parser")
        if name in (
            "verify_checksum",
            "update_checksum",
            "verify_checksum_with_payload",
            "update_checksum_with_payload",
        ):
            raise P4Error(c.loc, f"{name}() belongs in the checksum controls of V1Switch")
        raise P4Error(c.loc, f"unsupported call {A.show(c)}")

    def inline_action(self, decl: A.ActionDecl, args: list, env: Env, out: list[JSON], where: str) -> None:
        if len(args) != len(decl.params):
            raise P4Error(decl.loc, f"action {decl.name} takes {len(decl.params)} arguments, got {len(args)}")
        inner = Env({}, self.block_env(env.block) if env.block else None, env.block)
        for p, a in zip(decl.params, args, strict=True):
            if p.direction in ("out", "inout"):
                inner.names[p.name] = self.storage(a, env)
            else:
                inner.names[p.name] = Bound(a, env)
        returns: list[int] = []
        body: list[JSON] = []
        self._stmts(self.inliner.stmts(decl.body.stmts), inner, body, f"{where}.{decl.name}", returns)
        base = len(out)
        for k in returns:
            body[k]["parameters"][0] = hexstr(len(body))
        for prim in body:  # jumps inside the inlined body are relative to it
            if prim["op"] in ("_jump", "_jump_if_zero"):
                idx = -1
                prim["parameters"][idx] = hexstr(int(prim["parameters"][idx]["value"], 16) + base)
        out.extend(body)
