"""Controls to pipelines: tables, conditionals, hidden tables, action profiles, const entries."""

from __future__ import annotations

from .. import ast as A
from .. import types as T
from ..errors import P4Error
from ..semantics import BlockInfo, TableInfo
from ..sugar import switch_to_ifs
from .model import (
    HASH_ALGOS,
    JSON,
    Bound,
    Env,
    Field,
    _local_inits,
    _n_directional,
    _src,
    bits,
    padded_hex,
)


class Controls:
    """Pipelines of tables and conditionals.
    Methods of `Builder` (program.py); they reach the others through `self`."""

    # -- controls -> pipelines -------------------------------------------------------
    def pipeline(self, b: BlockInfo, name: str) -> JSON:
        self._tables: list[JSON] = []
        self._conds: list[JSON] = []
        self._profiles: list[JSON] = []
        self._ctl = b
        env = self.block_env(b)
        body = A.Block(b.decl.body.loc, self.inliner.stmts(_local_inits(b.decl) + b.decl.body.stmts))
        self.predeclare(body, env, b.name)
        first = self.lower(body.stmts, env, None, None)
        return {"name": name, "id": len(self._pipelines), "source_info": _src(b.decl),
                "init_table": first, "tables": self._tables, "action_profiles": self._profiles,
                "conditionals": self._conds}  # fmt: skip

    def predeclare(self, node, env: Env, where: str) -> None:
        """Give every local of an apply block its storage before lowering, which runs
        backwards through the statements (a later `if` may read an earlier local)."""
        if isinstance(node, A.VarDecl):
            if node.name in env.names:
                raise P4Error(
                    node.loc, f"'{node.name}' is declared twice in {where}; BMv2 flattens scopes, rename one"
                )
            env.names[node.name] = self.layout(
                self.prog.resolve(node.type), f"{where}.{node.name}", metadata=True
            )
            self._predeclared.add(id(node))
        elif isinstance(node, list):
            for x in node:
                self.predeclare(x, env, where)
        elif isinstance(node, A.Block):
            self.predeclare(node.stmts, env, where)
        elif isinstance(node, A.If):
            self.predeclare(node.then, env, where)
            self.predeclare(node.other, env, where)
        elif isinstance(node, A.Switch):
            for c in node.cases:
                self.predeclare(c.body, env, where)

    def lower(self, stmts: list, env: Env, nxt: str | None, ret: str | None) -> str | None:
        """Control-flow nodes for `stmts` continuing to `nxt`; `return` goes to `ret`."""
        node = nxt
        pending: list = []  # consecutive plain statements, gathered into one hidden action

        def flush(after: str | None) -> str | None:
            if not pending:
                return after
            stmts_ = list(reversed(pending))
            pending.clear()
            return self.hidden_table(stmts_, env, after)

        for s in reversed(stmts):
            if self.plain(s, env):
                pending.append(s)
                continue
            node = flush(node)
            node = self.lower_one(s, env, node, ret)
        return flush(node)

    def plain(self, s, env: Env) -> bool:
        """A statement that becomes primitives of a hidden action (no table, no branching on one)."""
        match s:
            case A.Assign() | A.VarDecl() | A.ConstDecl() | A.Empty() | A.Exit():
                return True
            case A.CallStmt(call=c):
                return not (self._table_apply(c, env) or self._sub_apply(c, env))
        return False

    def _table_apply(self, c: A.Expr, env: Env) -> TableInfo | None:
        if (
            isinstance(c, A.Call)
            and isinstance(c.func, A.Member)
            and c.func.name == "apply"
            and isinstance(c.func.expr, A.Name)
        ):
            return env.block.tables.get(c.func.expr.name) if env.block else None
        return None

    def _sub_apply(self, c: A.Expr, env: Env) -> BlockInfo | None:
        if (
            isinstance(c, A.Call)
            and isinstance(c.func, A.Member)
            and c.func.name == "apply"
            and isinstance(c.func.expr, A.Name)
        ):
            return env.block.subs.get(c.func.expr.name) if env.block else None
        return None

    def lower_one(self, s, env: Env, nxt: str | None, ret: str | None) -> str | None:
        match s:
            case A.Block(stmts=stmts):
                return self.lower(stmts, env, nxt, ret)
            case A.Return(value=None):
                return ret
            case A.CallStmt(call=c):
                t = self._table_apply(c, env)
                if t is not None:
                    return self.table_node(t, {a.name: nxt for _, a in t.actions}, nxt)
                sub = self._sub_apply(c, env)
                senv = Env({}, None, sub)
                base = self.block_env(sub)
                senv.names.update(base.names)
                for p, a in zip(sub.decl.params, c.args, strict=True):
                    if p.direction in ("in", "") and not self._is_location(a.value, env):
                        # A value, such as a constant: typed as the parameter is.
                        senv.names[p.name] = Bound(A.Cast(a.value.loc, p.type, a.value), env)
                    else:
                        senv.names[p.name] = self.storage(a.value, env)
                    if not sub.tables:
                        continue
                    # Its tables' actions are compiled once, in its own environment: bind there too.
                    prev = base.names.get(p.name)
                    if prev is not None and prev != senv.names[p.name]:
                        raise P4Error(c.loc, f"{sub.name} is applied twice with different arguments")
                    base.names[p.name] = senv.names[p.name]
                body = A.Block(
                    sub.decl.body.loc, self.inliner.stmts(_local_inits(sub.decl) + sub.decl.body.stmts)
                )
                self.predeclare(body, senv, sub.name)
                return self.lower(body.stmts, senv, nxt, nxt)
            case A.If(cond=c, then=a, other=b):
                hit = self._hit_test(c, env)
                if hit is not None:
                    t, on_hit = hit
                    yes = self.lower([a], env, nxt, ret)
                    no = self.lower([b], env, nxt, ret) if b is not None else nxt
                    branches = (
                        {"__HIT__": yes, "__MISS__": no} if on_hit else {"__HIT__": no, "__MISS__": yes}
                    )
                    return self.table_node(t, branches, nxt)
                yes = self.lower([a], env, nxt, ret)
                no = self.lower([b], env, nxt, ret) if b is not None else nxt
                name = self.unique(f"node_{self._next_cond_id() + 2}")
                self._conds.append({"name": name, "id": len(self._all_conds), "source_info": _src(s),
                                    "expression": self.cond(c, env), "true_next": yes, "false_next": no})  # fmt: skip
                self._all_conds.append(name)
                return name
            case A.Switch(expr=A.Member(expr=call, name="action_run"), cases=cases):
                t = self._table_apply(call, env)
                if t is None:
                    raise P4Error(s.loc, "switch needs table.apply().action_run")
                branches: dict[str, str | None] = {}
                default = nxt
                pending_labels: list = []
                for case in cases:
                    pending_labels.append(case.label)
                    if case.body is None:
                        continue
                    target = self.lower(case.body.stmts, env, nxt, ret)
                    for label in pending_labels:
                        if isinstance(label, A.Default):
                            default = target
                        else:
                            a = self.prog.action(label, env.block)
                            if a.name not in {x.name for _, x in t.actions}:
                                raise P4Error(label.loc, f"{a.name} is not an action of table {t.name}")
                            branches[a.name] = target
                    pending_labels = []
                return self.table_node(t, {a.name: branches.get(a.name, default) for _, a in t.actions}, nxt)
            case A.Switch():
                pre, chain = self.value_switch(s, env)
                return self.lower([*pre, chain], env, nxt, ret)
        raise P4Error(s.loc, f"unsupported statement in a control: {type(s).__name__}")

    def value_switch(self, s: A.Switch, env: Env) -> tuple[list, A.Stmt]:
        """switch on an integer, enum or error value: an if-chain on the value, read once."""
        ty = self.type_of(s.expr, env)
        if not isinstance(ty, T.Bits | T.EnumT) and not (isinstance(ty, T.Ty) and str(ty) == "error"):
            raise P4Error(s.expr.loc, f"cannot switch on {A.show(s.expr)} of type {ty}")
        if self._is_location(s.expr, env):
            return [], switch_to_ifs(s, s.expr)
        name = f"$switch{len(self.scalars)}"
        env.names[name] = self.scalar(f"switch{len(self.scalars)}", ty)
        tmp = A.Name(s.expr.loc, name)
        return [A.Assign(s.loc, tmp, s.expr)], switch_to_ifs(s, tmp)

    def _hit_test(self, c: A.Expr, env: Env) -> tuple[TableInfo, bool] | None:
        neg = False
        while isinstance(c, A.Unary) and c.op == "!":
            c, neg = c.expr, not neg
        if isinstance(c, A.Member) and c.name in ("hit", "miss"):
            t = self._table_apply(c.expr, env)
            if t is None:
                raise P4Error(c.loc, f"{A.show(c)}: expected table.apply().{c.name}")
            return t, (c.name == "hit") != neg
        return None

    def _next_cond_id(self) -> int:
        self._cond_count = getattr(self, "_cond_count", 0) + 1
        return self._cond_count - 1

    def hidden_table(self, stmts: list, env: Env, nxt: str | None) -> str:
        """A keyless table whose const default action runs `stmts` (as p4c's tbl_act)."""
        aname = self.unique(f"act_{len(self.actions)}")
        aid = self.action(aname, stmts, env, [])
        name = self.unique(f"tbl_{aname}")
        self._tables.append({
            "name": name, "id": self._next_table_id(), "source_info": _src(stmts[0]), "key": [], "match_type": "exact",
            "type": "simple", "max_size": 1024, "with_counters": False, "support_timeout": False, "direct_meters": None,
            "action_ids": [aid], "actions": [aname], "base_default_next": nxt, "next_tables": {aname: nxt},
            "default_entry": {"action_id": aid, "action_const": True, "action_data": [], "action_entry_const": True},
        })  # fmt: skip
        return name

    def _next_table_id(self) -> int:
        self._table_count = getattr(self, "_table_count", 0) + 1
        return self._table_count - 1

    def table_node(self, t: TableInfo, next_by_action: dict[str, str | None], base_next: str | None) -> str:
        """The table's JSON (once per application site: a table applied twice is an error)."""
        if any(x["name"] == t.name for x in self._tables):
            raise P4Error(
                t.decl.loc, f"table {t.name} is applied more than once; BMv2 allows one application per table"
            )
        env = self.block_env(t.block)
        keys, kinds, computed = [], [], []
        for elem, name, ty in t.keys:
            if elem.match_kind == "selector":
                continue
            if not self._plain_key(elem.expr, env):
                # A computed key (a constant, arithmetic, a slice…): a hidden action
                # evaluates it into metadata just before the table, as p4c does.
                tmp = self.scalar(f"{t.name}.key{len(keys)}", ty)
                tmp_name = f"$key.{t.name}.{len(keys)}"
                env.names[tmp_name] = tmp
                computed.append(A.Assign(elem.loc, A.Name(elem.loc, tmp_name), elem.expr))
                elem = A.KeyElement(A.Name(elem.loc, tmp_name), elem.match_kind, elem.loc, elem.annotations)
            keys.append(self.key_element(elem, name, env))
            kinds.append(elem.match_kind)
        match_type = "exact"
        if "range" in kinds:
            match_type = "range"
        elif "ternary" in kinds or "optional" in kinds or kinds.count("lpm") > 1:
            match_type = "ternary"
        elif "lpm" in kinds:
            match_type = "lpm"
        aids = [self.p4_action(a, t.block, r) for r, a in t.actions]
        by_name = self._table_actions[t.name] = {
            a.name: aid for (_, a), aid in zip(t.actions, aids, strict=True)
        }
        names = [a.name for _, a in t.actions]
        j: JSON = {
            "name": t.name, "id": self._next_table_id(), "source_info": _src(t.decl), "key": keys,
            "match_type": match_type, "type": "simple", "max_size": t.size or 1024,
            "with_counters": t.counters is not None, "support_timeout": t.support_timeout,
            "direct_meters": t.meters.name if t.meters is not None else None,
            "action_ids": aids, "actions": names, "base_default_next": base_next,
        }  # fmt: skip
        if "__HIT__" in next_by_action:
            j["next_tables"] = next_by_action
        else:
            j["next_tables"] = {n: next_by_action.get(n, base_next) for n in names}
        if t.implementation is not None:
            selector = [e for e, _, _ in t.keys if e.match_kind == "selector"]
            prof = t.implementation
            is_sel = prof.type.name == "action_selector"
            j["type"] = "indirect_ws" if is_sel else "indirect"
            j["action_profile"] = prof.name
            if not any(p["name"] == prof.name for p in self._profiles):
                pj: JSON = {
                    "name": prof.name,
                    "id": len(self._all_profiles),
                    "max_size": prof.args[1] if is_sel else prof.args[0],
                }
                if is_sel:
                    pj["selector"] = {"algo": HASH_ALGOS[prof.args[0][1]],
                                      "input": [{"type": "field", "value": self.field_of(e.expr, env, e.expr)["value"]} for e in selector]}  # fmt: skip
                self._profiles.append(pj)
                self._all_profiles.append(pj)
        if t.default is not None:
            ref, a = t.default
            aid = by_name[a.name] if a.name in by_name else self.p4_action(a, t.block, ref)
            args = ref.args[_n_directional(a) :]
            data = [self.action_arg(x.value, ty) for x, (_, ty) in zip(args, a.params, strict=False)]
            if len(args) != len(a.params):
                raise P4Error(ref.loc, f"default action {a.name} needs {len(a.params)} arguments")
            j["default_entry"] = {"action_id": aid, "action_const": t.default_const, "action_data": data,
                                  "action_entry_const": t.default_const}  # fmt: skip
        if t.entries:
            j["entries"] = [self.entry(t, e, k, keys) for k, e in enumerate(t.entries)]
            for e, p in zip(j["entries"], self.entry_priorities(t), strict=True):
                e["priority"] = p
        self._tables.append(j)
        return self.hidden_table(computed, env, t.name) if computed else t.name

    def entry_priorities(self, t: TableInfo) -> list[int]:
        """BMv2 priorities (a lower number wins) of a table's entries, after p4c's
        EntryPriorities: without explicit priorities the first entry wins; with them the
        largest wins unless `largest_priority_wins = false`; an entry without one takes the
        previous one's, `priority_delta` further from winning; `const entries` have none."""
        if all(e.priority is None for e in t.entries):
            return list(range(1, len(t.entries) + 1))
        first = next(e for e in t.entries if e.priority is not None)
        if t.entries_const:
            raise P4Error(first.loc, "a table with 'const' entries cannot have priorities")
        if t.entries[0].priority is None:
            raise P4Error(t.entries[0].loc, "the first entry must have a priority when others have one")
        largest = self._table_int(t, "largest_priority_wins", 1) != 0
        delta = self._table_int(t, "priority_delta", 1)
        ps: list[int] = []
        for e in t.entries:
            p = (
                self.prog.const_int(e.priority)
                if e.priority is not None
                else ps[-1] + (-delta if largest else delta)
            )
            if not 0 <= p < 1 << 31:
                raise P4Error(e.loc, f"entry priority {p} is out of range")
            ps.append(p)
        top_ = max(ps)
        return [top_ + 1 - p for p in ps] if largest else [p + 1 for p in ps]

    def _table_int(self, t: TableInfo, prop: str, default: int) -> int:
        p = t.decl.prop(prop)
        if p is None:
            return default
        v = self.prog.const(p.value)
        return int(v) if isinstance(v, bool | int) else default

    def _plain_key(self, e: A.Expr, env: Env) -> bool:
        """A key BMv2 can match directly: a field, `field & mask`, or isValid()."""
        if isinstance(e, A.Binary) and e.op == "&":
            try:
                self.prog.const_int(e.right)
                e = e.left
            except P4Error:
                return False
        if isinstance(e, A.Call) and isinstance(e.func, A.Member) and e.func.name == "isValid":
            return True
        try:
            return isinstance(self.storage(e, env), Field)
        except P4Error:
            return False

    def action_arg(self, e: A.Expr, ty: T.Ty) -> str:
        v = self.prog.const(e)
        if isinstance(v, tuple):
            v = self.enum_value(self.prog.named(v[0], e), v[1]) if v[0] != "error" else self.errors[v[1]]
        return hex(int(v) & ((1 << bits(ty)) - 1))

    def key_element(self, elem: A.KeyElement, name: str, env: Env) -> JSON:
        e, mask = elem.expr, None
        if isinstance(e, A.Binary) and e.op == "&":
            mask = self.prog.const_int(e.right)
            e = e.left
        if isinstance(e, A.Call) and isinstance(e.func, A.Member) and e.func.name == "isValid":
            s = self.storage(e.func.expr, env)
            return {"match_type": elem.match_kind if elem.match_kind != "optional" else "ternary", "name": name,
                    "target": [s.inst, "$valid$"], "mask": None}  # fmt: skip
        try:
            s = self.storage(e, env)
        except P4Error:
            s = None
        if not isinstance(s, Field):
            raise P4Error(
                elem.loc, f"table keys must be fields (or field & mask, isValid()), not {A.show(elem.expr)}"
            )
        kind = elem.match_kind if elem.match_kind != "optional" else "ternary"
        return {"match_type": kind, "name": name, "target": [s.inst, s.name],
                "mask": padded_hex([(mask, bits(s.ty))]) if mask is not None else None}  # fmt: skip

    def entry(self, t: TableInfo, e: A.Entry, k: int, keys: list[JSON]) -> JSON:
        items = e.keyset.items if isinstance(e.keyset, A.ListExpr) else [e.keyset]
        real = [(elem, ty) for elem, _, ty in t.keys if elem.match_kind != "selector"]
        if len(items) != len(real):
            raise P4Error(e.loc, f"entry has {len(items)} key values, table {t.name} has {len(real)} keys")
        mk = []
        for item, (elem, ty) in zip(items, real, strict=True):
            w = bits(ty)
            full = (1 << w) - 1
            kind = elem.match_kind
            if kind == "exact":
                if isinstance(item, A.DontCare | A.Default | A.Mask | A.Range):
                    raise P4Error(item.loc, f"an exact key needs a value, not {A.show(item)}")
                mk.append({"match_type": "exact", "key": padded_hex([(self.prog.const_int(item), w)])})
            elif kind == "lpm":
                if isinstance(item, A.DontCare | A.Default):
                    mk.append({"match_type": "lpm", "key": padded_hex([(0, w)]), "prefix_length": 0})
                elif isinstance(item, A.Mask):
                    v, m = self.prog.const_int(item.value), self.prog.const_int(item.mask)
                    plen = bin(m & full).count("1")
                    if m & full != (full >> (w - plen)) << (w - plen):
                        raise P4Error(item.loc, "an lpm mask must be a prefix")
                    mk.append({"match_type": "lpm", "key": padded_hex([(v & m, w)]), "prefix_length": plen})
                else:
                    mk.append(
                        {
                            "match_type": "lpm",
                            "key": padded_hex([(self.prog.const_int(item), w)]),
                            "prefix_length": w,
                        }
                    )
            elif kind in ("ternary", "optional"):
                if isinstance(item, A.DontCare | A.Default):
                    v, m = 0, 0
                elif isinstance(item, A.Mask):
                    v, m = self.prog.const_int(item.value), self.prog.const_int(item.mask)
                else:
                    v, m = self.prog.const_int(item), full
                mk.append(
                    {"match_type": "ternary", "key": padded_hex([(v & m, w)]), "mask": padded_hex([(m, w)])}
                )
            elif kind == "range":
                if isinstance(item, A.DontCare | A.Default):
                    lo, hi = 0, full
                elif isinstance(item, A.Range):
                    lo, hi = self.prog.const_int(item.lo), self.prog.const_int(item.hi)
                else:
                    lo = hi = self.prog.const_int(item)
                mk.append(
                    {"match_type": "range", "start": padded_hex([(lo, w)]), "end": padded_hex([(hi, w)])}
                )
        ref = e.action
        a = self.prog.action(ref, t.block)
        if a.name not in {x.name for _, x in t.actions}:
            raise P4Error(ref.loc, f"{a.name} is not an action of table {t.name}")
        args = ref.args[_n_directional(a) :]
        if len(args) != len(a.params):
            raise P4Error(ref.loc, f"action {a.name} takes {len(a.params)} arguments, got {len(args)}")
        data = [self.action_arg(x.value, ty) for x, (_, ty) in zip(args, a.params, strict=True)]
        prio = self.prog.const_int(e.priority) if e.priority is not None else k + 1
        aid = self._table_actions[t.name][a.name]
        return {"source_info": _src(e), "match_key": mk,
                "action_entry": {"action_id": aid, "action_data": data}, "priority": prio}  # fmt: skip
