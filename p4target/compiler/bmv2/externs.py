"""Externs: hashes, digests, field lists, registers, counters, meters, clone / recirculate, checksums."""

from __future__ import annotations

from typing import Any

from .. import ast as A
from .. import types as T
from ..errors import P4Error
from ..semantics import BlockInfo
from .model import (
    HASH_ALGOS,
    JSON,
    Env,
    Field,
    Header,
    Struct,
    _src,
    bits,
    hexstr,
    top,
)


class Externs:
    """Extern calls, calculations, field lists, checksums, stateful arrays.
    Methods of `Builder` (program.py); they reach the others through `self`."""

    def field_of(self, e: A.Expr, env: Env, at: A.Expr) -> JSON:
        s = self.storage(e, env)
        if not isinstance(s, Field):
            raise P4Error(at.loc, f"{A.show(e)} must be a field")
        return {"type": "field", "value": [s.inst, s.name]}

    def algorithm(self, e: A.Expr) -> str:
        v = self.prog.const(e)
        if not (isinstance(v, tuple) and v[0] == "HashAlgorithm"):
            raise P4Error(e.loc, f"expected a HashAlgorithm, found {A.show(e)}")
        return HASH_ALGOS[v[1]]

    def calculation(self, name: str, algo: str, data: A.Expr, env: Env, payload: bool = False) -> str:
        items = data.items if isinstance(data, A.ListExpr) else [data]
        inputs = []
        for x in items:
            try:
                s = self.storage(x, env)
            except P4Error:
                s = None
            if isinstance(s, Field):
                inputs.append({"type": "field", "value": [s.inst, s.name]})
            elif isinstance(s, Header):
                inputs.append({"type": "header", "value": s.inst})
            else:
                v = self.prog.const(x)
                ty = self.type_of(x, env)
                w = bits(ty)
                # BMv2 copies bitwidth bits from the constant's bytes: "0x0" for a bit<16> made it
                # read a byte past the constant (wrong UDP checksums on real BMv2), so write every byte.
                inputs.append({"type": "hexstr", "value": f"0x{v & ((1 << w) - 1):0{2 * ((w + 7) // 8)}x}",
                               "bitwidth": w})  # fmt: skip
        if payload:
            inputs.append({"type": "payload", "value": None})
        name = self.unique(name)
        self.calculations.append({"name": name, "id": len(self.calculations), "algo": algo, "input": inputs})
        return name

    def digest(self, c: A.Call, args: list, env: Env, out: list[JSON]) -> None:
        ty = self.prog.resolve(c.type_args[0]) if c.type_args else self.type_of(args[1], env)
        if not isinstance(ty, T.StructT):
            raise P4Error(c.loc, "digest needs a struct type: write digest<T>(receiver, data)")
        # Snapshot the values now into metadata of the digest's type; the learn list reads them.
        tmp = self.layout(ty, f"digest.{ty.name}.{len(self.learn_lists)}", metadata=True)
        if isinstance(args[1], A.ListExpr | A.StructInit):
            self.assign(tmp, args[1], env, out, c)
        else:
            self.assign_storage(tmp, self.storage(args[1], env), out, c)
        lid = next((x["id"] for x in self.learn_lists if x["name"] == ty.name), None)
        if lid is None:
            lid = len(self.learn_lists) + 1
            self.learn_lists.append({"id": lid, "name": ty.name, "elements": [
                {"type": "field", "value": [tmp.members[f].inst, tmp.members[f].name]} for f, _ in ty.fields]})  # fmt: skip
        else:
            # A second digest of the same type reuses the first one's snapshot fields.
            first = self.learn_lists[lid - 1]["elements"]
            for (f, _), el in zip(ty.fields, first, strict=True):
                out.append({"op": "assign", "parameters": [{"type": "field", "value": el["value"]},
                                                           {"type": "field", "value": [tmp.members[f].inst, tmp.members[f].name]}]})  # fmt: skip
        out.append(
            {"op": "generate_digest", "parameters": [top(self.data(args[0], env, T.Bits(32))), hexstr(lid)]}
        )

    def field_list_arg(self, name: str, args: list, env: Env, at: A.Call) -> int:
        """Field list id for clone/resubmit/recirculate: the @field_list index, or 0 for none."""
        if not args:
            return 0
        if name.endswith("preserving_field_list"):
            idx = self.prog.const_int(args[-1])
            self.field_list(idx)
            return idx
        # The deprecated forms name the fields themselves: an anonymous field list, numbered
        # above bit<8> so that it never meets a @field_list index.
        fields: list[JSON] = []

        def gather(s: Any, at: Any) -> None:
            if isinstance(s, Field):
                fields.append({"type": "field", "value": [s.inst, s.name]})
            elif isinstance(s, Struct):
                for m in s.members.values():
                    gather(m, at)
            else:
                raise P4Error(at.loc, f"{name}(): {A.show(at)} is not a field or a struct of fields")

        data = args[-1]
        for x in data.items if isinstance(data, A.ListExpr) else [data]:
            gather(self.storage(x, env), x)
        if not fields:
            return 0
        idx = 0x100 + sum(1 for x in self.field_lists if x["id"] >= 0x100)
        self.field_lists.append({"id": idx, "name": f"fl_{name}_{idx - 0x100}", "elements": fields})
        return idx

    def field_list(self, idx: int) -> None:
        if any(x["id"] == idx for x in self.field_lists):
            return
        elements = []

        def walk(s: Any, ty: T.StructT) -> None:
            for fname, _ in ty.fields:
                d = next((f for f in self.prog.decls[ty.name].fields if f.name == fname), None)
                m = s.members[fname]
                if isinstance(m, Struct):
                    walk(m, m.ty)
                elif d is not None and any(
                    a.name == "field_list" and any(self.prog.const(x) == idx for x in a.args)
                    for a in d.annotations
                ):
                    elements.append({"type": "field", "value": [m.inst, m.name]})

        walk(self.meta, self.m_ty)
        self.field_lists.append({"id": idx, "name": f"field_list{idx}", "elements": elements})

    def extern_method(self, inst, method: str, args: list, c: A.Call, env: Env, out: list[JSON]) -> None:
        kind = inst.type.name
        ref = {"counter": "counter_array", "meter": "meter_array", "register": "register_array"}.get(kind)
        if kind == "counter" and method == "count":
            out.append(
                {
                    "op": "count",
                    "parameters": [
                        {"type": ref, "value": inst.name},
                        top(self.data(args[0], env, T.Bits(32))),
                    ],
                }
            )
        elif kind == "direct_counter" and method == "count":
            pass  # BMv2 counts direct counters on every hit of their table
        elif kind == "meter" and method == "execute_meter":
            out.append({"op": "execute_meter", "parameters": [{"type": ref, "value": inst.name},
                        top(self.data(args[0], env, T.Bits(32))), self.field_of(args[1], env, c)]})  # fmt: skip
        elif kind == "direct_meter" and method == "read":
            self.meter_targets[inst.name] = self.field_of(args[0], env, c)["value"]
        elif kind == "register" and method == "read":
            out.append({"op": "register_read", "parameters": [self.field_of(args[0], env, c), {"type": ref, "value": inst.name},
                        top(self.data(args[1], env, T.Bits(32)))]})  # fmt: skip
        elif kind == "register" and method == "write":
            out.append({"op": "register_write", "parameters": [{"type": ref, "value": inst.name},
                        top(self.data(args[0], env, T.Bits(32))), top(self.data(args[1], env, inst.type.args[0]))]})  # fmt: skip
        else:
            raise P4Error(c.loc, f"{kind}.{method}() is not supported")

    def checksums_of(self, b: BlockInfo, verify: bool) -> None:
        env = self.block_env(b)
        for st in b.decl.body.stmts:
            match st:
                case A.CallStmt(call=A.Call(func=A.Name(name=n), args=args)) if n in (
                    "verify_checksum", "update_checksum", "verify_checksum_with_payload", "update_checksum_with_payload"):  # fmt: skip
                    if n.startswith("verify") != verify:
                        raise P4Error(
                            st.loc,
                            f"{n}() belongs in the {'ComputeChecksum' if verify else 'VerifyChecksum'} control",
                        )
                    cond, data, target, algo = (a.value for a in args)
                    calc = self.calculation(
                        f"calc_{len(self.calculations)}",
                        self.algorithm(algo),
                        data,
                        env,
                        payload=n.endswith("payload"),
                    )
                    try:
                        always = self.prog.const(cond) is True
                    except P4Error:
                        always = False
                    self.checksums.append({
                        "name": f"cksum_{len(self.checksums)}", "id": len(self.checksums), "source_info": _src(st),
                        "target": self.field_of(target, env, target)["value"], "type": "generic", "calculation": calc,
                        "verify": verify, "update": not verify, "if_cond": None if always else self.cond(cond, env),
                    })  # fmt: skip
                case A.Empty():
                    pass
                case _:
                    raise P4Error(st.loc, "checksum controls may only call verify_checksum / update_checksum")

    def arrays(self) -> None:
        tables = {t["name"]: t for p in self._pipelines for t in p["tables"]}
        blocks = [b for b in self.prog.blocks.values()]
        seen = list(blocks)
        while seen:
            b = seen.pop()
            seen.extend(b.subs.values())
            blocks.extend(b.subs.values())
        for b in blocks:
            bound = {}
            for t in b.tables.values():
                for inst in (t.counters, t.meters):
                    if inst is not None:
                        bound[inst.name] = t
            for inst in b.instances.values():
                kind = inst.type.name
                if kind == "counter":
                    self.counter_arrays.append({"name": inst.name, "id": len(self.counter_arrays), "is_direct": False,
                                                "size": inst.args[0], "source_info": _src(inst.decl)})  # fmt: skip
                elif kind == "direct_counter":
                    t = bound.get(inst.name)
                    if t is None:
                        raise P4Error(
                            inst.decl.loc,
                            f"direct_counter {inst.local} is not attached to a table (counters = {inst.local})",
                        )
                    self.counter_arrays.append({"name": inst.name, "id": len(self.counter_arrays), "is_direct": True,
                                                "binding": t.name, "size": tables.get(t.name, {}).get("max_size", 1024),
                                                "source_info": _src(inst.decl)})  # fmt: skip
                elif kind in ("meter", "direct_meter"):
                    mtype = next(a[1] for a in inst.args if isinstance(a, tuple))
                    j = {"name": inst.name, "id": len(self.meter_arrays), "source_info": _src(inst.decl),
                         "is_direct": kind == "direct_meter", "rate_count": 2, "type": mtype}  # fmt: skip
                    if kind == "meter":
                        j["size"] = inst.args[0]
                    else:
                        t = bound.get(inst.name)
                        if t is None:
                            raise P4Error(
                                inst.decl.loc,
                                f"direct_meter {inst.local} is not attached to a table (meters = {inst.local})",
                            )
                        j["binding"] = t.name
                        j["size"] = tables.get(t.name, {}).get("max_size", 1024)
                        j["result_target"] = self.meter_targets.get(inst.name)
                        if j["result_target"] is None:
                            raise P4Error(
                                inst.decl.loc,
                                f"direct_meter {inst.local} is never read ({inst.local}.read(field) in an action of {t.name})",
                            )
                    self.meter_arrays.append(j)
                elif kind == "register":
                    self.register_arrays.append({"name": inst.name, "id": len(self.register_arrays), "size": inst.args[0],
                                                 "bitwidth": bits(inst.type.args[0]), "source_info": _src(inst.decl)})  # fmt: skip
