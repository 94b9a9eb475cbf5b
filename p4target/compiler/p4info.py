"""P4Info (P4Runtime 1.4) from an elaborated program, with names, ids and aliases
exactly as p4c assigns them, so that either compiler's P4Info drives either switch.

- ids: `@id` when given (its 8-bit resource prefix added), else the Jenkins
  one-at-a-time hash of the control-plane name in the low 24 bits, names taken in
  sorted order, collisions resolved by probing the next hash value;
- aliases: the shortest suffix of dot-separated components unique among all names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from google.protobuf import text_format
from p4.config.v1 import p4info_pb2 as P
from p4.config.v1 import p4types_pb2 as PT

from . import ast as A
from . import types as T
from .errors import P4Error
from .semantics import BlockInfo, Instance, Program, Scope, TableInfo

PREFIX = {
    "action": P.P4Ids.ACTION,
    "table": P.P4Ids.TABLE,
    "value_set": P.P4Ids.VALUE_SET,
    "controller_header": P.P4Ids.CONTROLLER_HEADER,
    "action_profile": P.P4Ids.ACTION_PROFILE,
    "counter": P.P4Ids.COUNTER,
    "direct_counter": P.P4Ids.DIRECT_COUNTER,
    "meter": P.P4Ids.METER,
    "direct_meter": P.P4Ids.DIRECT_METER,
    "register": P.P4Ids.REGISTER,
    "digest": P.P4Ids.DIGEST,
}
MATCH = {
    "exact": P.MatchField.EXACT,
    "lpm": P.MatchField.LPM,
    "ternary": P.MatchField.TERNARY,
    "range": P.MatchField.RANGE,
    "optional": P.MatchField.OPTIONAL,
}
SKIP_ANNOTATIONS = {"name", "id", "hidden", "noWarn"}


def jenkins_hash(name: str) -> int:
    """Bob Jenkins' one-at-a-time hash, 32 bits."""
    h = 0
    for b in name.encode():
        h = (h + b) & 0xFFFFFFFF
        h = (h + (h << 10)) & 0xFFFFFFFF
        h ^= h >> 6
    h = (h + (h << 3)) & 0xFFFFFFFF
    h ^= h >> 11
    return (h + (h << 15)) & 0xFFFFFFFF


def assign_ids(kind: str, names: Iterable[str], fixed: dict[str, int], taken: set[int]) -> dict[str, int]:
    """Ids for one resource kind; `fixed` holds the @id ones (already prefixed)."""
    prefix = PREFIX[kind] << 24
    out = dict(fixed)
    taken |= set(fixed.values())
    for name in sorted(n for n in names if n not in fixed):
        value = jenkins_hash(name)
        start = value
        while prefix | (value & 0xFFFFFF) in taken:
            value = (value + 1) & 0xFFFFFFFF
            if value == start:
                raise P4Error(None, f"no P4Runtime id left for {name}")
        out[name] = prefix | (value & 0xFFFFFF)
        taken.add(out[name])
    return out


def aliases(names: Iterable[str]) -> dict[str, str]:
    """Shortest unique suffix (in dot-separated components) of every name."""
    names = set(names)
    counts: dict[tuple[str, ...], int] = {}
    for n in names:
        parts = n.split(".")
        for k in range(1, len(parts) + 1):
            counts[tuple(parts[-k:])] = counts.get(tuple(parts[-k:]), 0) + 1
    out = {}
    for n in names:
        parts = n.split(".")
        k = next((k for k in range(1, len(parts) + 1) if counts[tuple(parts[-k:])] < 2), len(parts))
        out[n] = ".".join(parts[-k:])
    return out


def render_annotation(a: A.Annotation) -> str:
    if not a.args:
        return f"@{a.name}"
    parts = []
    for x in a.args:
        if isinstance(x, A.StrLit):
            parts.append('"' + x.value.replace('"', '\\"') + '"')
        elif isinstance(x, A.Expr):
            parts.append(A.show(x))
        else:
            parts.append(str(x))
    return f"@{a.name}({', '.join(parts)})"


def _annotations(annos: A.Annotations) -> list[str]:
    return [render_annotation(a) for a in annos if a.name not in SKIP_ANNOTATIONS]


def _id_annotation(prog: Program, kind: str, annos: A.Annotations) -> int | None:
    a = A.annotation(annos, "id")
    if a is None:
        return None
    if len(a.args) != 1 or not isinstance(a.args[0], A.Expr):
        raise P4Error(a.loc, "@id takes one integer")
    v = prog.const_int(a.args[0])
    prefix = PREFIX[kind] << 24
    if v >> 24 and (v & 0xFF000000) != prefix:
        raise P4Error(
            a.loc, f"@id {v:#x} has the wrong 8-bit prefix for a {kind} (expected {PREFIX[kind]:#04x})"
        )
    return v | prefix


@dataclass
class _Symbol:
    kind: str
    name: str
    annotations: A.Annotations
    payload: object = None


@dataclass
class _Symbols:
    items: dict[tuple[str, str], _Symbol] = field(default_factory=dict)

    def add(self, kind: str, name: str, annotations: A.Annotations, payload: object = None) -> None:
        self.items.setdefault((kind, name), _Symbol(kind, name, annotations, payload))

    def of(self, kind: str) -> list[_Symbol]:
        return [s for (k, _), s in self.items.items() if k == kind]


def _walk_calls(node, out: list[A.Call]) -> None:
    """Every call expression under a statement, block or expression."""
    if isinstance(node, A.Call):
        out.append(node)
    if isinstance(node, list):
        for x in node:
            _walk_calls(x, out)
    elif hasattr(node, "__dataclass_fields__"):
        for f in node.__dataclass_fields__:
            if f not in ("loc", "annotations"):
                _walk_calls(getattr(node, f), out)


def _hidden(annos: A.Annotations) -> bool:
    return A.annotation(annos, "hidden") is not None


def _collect(prog: Program) -> _Symbols:
    syms = _Symbols()

    def block(b: BlockInfo) -> None:
        for vs_name, ty, size in b.value_sets.values():
            decl = next(
                d for d in b.decl.locals if isinstance(d, A.ValueSetDecl) and vs_name.endswith(d.name)
            )
            syms.add("value_set", vs_name, decl.annotations, (ty, size))
        for inst in b.instances.values():
            kind = {"action_selector": "action_profile"}.get(inst.type.name, inst.type.name)
            syms.add(kind, inst.name, inst.decl.annotations, inst)
        for t in b.tables.values():
            if _hidden(t.decl.annotations):
                continue
            syms.add("table", t.name, t.decl.annotations, t)
            for _, a in t.actions:
                syms.add("action", a.name, a.decl.annotations, a)
        # Actions called directly from the apply block, digests anywhere.
        calls: list[A.Call] = []
        body = b.decl.body if isinstance(b.decl, A.ControlDecl) else [s.stmts for s in b.decl.states]
        _walk_calls(body, calls)
        for a in b.actions.values():
            _walk_calls(a.decl.body, calls)
        for c in calls:
            if isinstance(c.func, A.Name) and not c.func.top and c.func.name in b.actions:
                a = b.actions[c.func.name]
                if isinstance(b.decl, A.ControlDecl) and _calls_in(b.decl.body, c):
                    syms.add("action", a.name, a.decl.annotations, a)
            if isinstance(c.func, A.Name) and c.func.name == "digest":
                st = _digest_type(prog, c, b)
                syms.add("digest", st.name, list(st.annotations), st)
        for sub in b.subs.values():
            block(sub)

    for b in prog.blocks.values():
        block(b)
    for d in prog.ast.decls:
        if isinstance(d, A.StructLike) and d.kind == "header":
            a = A.annotation(d.annotations, "controller_header")
            if a is not None:
                if not a.args or not isinstance(a.args[0], A.StrLit):
                    raise P4Error(a.loc, '@controller_header needs a name: @controller_header("packet_in")')
                syms.add("controller_header", a.args[0].value, d.annotations, prog.named(d.name, a))
    return syms


def _calls_in(body: A.Block, call: A.Call) -> bool:
    found: list[A.Call] = []
    _walk_calls(body, found)
    return any(c is call for c in found)


def _digest_type(prog: Program, c: A.Call, b: BlockInfo) -> T.StructT:
    if c.type_args:
        ty = prog.resolve(c.type_args[0])
    elif len(c.args) == 2 and c.args[1].value is not None and not isinstance(c.args[1].value, A.ListExpr):
        scope = b.scope
        for a in b.actions.values():  # the data may be an action parameter's field
            s = Scope({p.name: prog.resolve(p.type) for p in a.decl.params}, b.scope)
            try:
                ty = prog.type_of(c.args[1].value, s)
                break
            except P4Error:
                continue
        else:
            ty = prog.type_of(c.args[1].value, scope)
    else:
        raise P4Error(c.loc, "digest needs a struct type: write digest<T>(receiver, data)")
    if not isinstance(ty, T.StructT) or ty.kind != "struct":
        raise P4Error(c.loc, f"digest data must be a struct, not {ty}")
    return ty


def _bits_spec(ty: T.Ty) -> PT.P4DataTypeSpec:
    spec = PT.P4DataTypeSpec()
    if isinstance(ty, T.Bits) and ty.signed:
        spec.bitstring.int.bitwidth = ty.width
    else:
        spec.bitstring.bit.bitwidth = T.width_of(ty)
    return spec


def _preamble(msg, sym: _Symbol, ids: dict, alias: dict) -> None:
    msg.preamble.id = ids[sym.kind][sym.name]
    msg.preamble.name = sym.name
    msg.preamble.alias = alias[sym.name]
    msg.preamble.annotations.extend(_annotations(sym.annotations))


def build(prog: Program) -> P.P4Info:
    syms = _collect(prog)
    taken: set[int] = set()
    ids: dict[str, dict[str, int]] = {}
    for kind in sorted(PREFIX, key=lambda k: PREFIX[k]):
        fixed = {}
        for s in syms.of(kind):
            v = _id_annotation(prog, kind, s.annotations)
            if v is not None:
                if v in taken or v in fixed.values():
                    raise P4Error(A.annotation(s.annotations, "id").loc, f"@id {v:#x} is given twice")
                fixed[s.name] = v
        ids[kind] = assign_ids(kind, [s.name for s in syms.of(kind)], fixed, taken)
    alias = aliases(n for _, n in syms.items)
    info = P.P4Info()
    info.pkg_info.arch = "v1model"

    for s in syms.of("action"):
        a = info.actions.add()
        _preamble(a, s, ids, alias)
        for k, (name, ty) in enumerate(s.payload.params, 1):
            p = a.params.add()
            p.id, p.name, p.bitwidth = k, name, T.width_of(ty)
    for s in syms.of("table"):
        _table(info.tables.add(), s, s.payload, ids, alias)
    for kind, field_name in (("counter", "counters"), ("direct_counter", "direct_counters")):
        for s in syms.of(kind):
            c = getattr(info, field_name).add()
            _preamble(c, s, ids, alias)
            inst: Instance = s.payload
            unit = _enum_arg(inst, "CounterType")
            c.spec.unit = {"packets": P.CounterSpec.PACKETS, "bytes": P.CounterSpec.BYTES,
                           "packets_and_bytes": P.CounterSpec.BOTH}[unit]  # fmt: skip
            if kind == "counter":
                c.size = inst.args[0]
            else:
                c.direct_table_id = _bound_table(syms, ids, inst, "counters")
    for kind, field_name in (("meter", "meters"), ("direct_meter", "direct_meters")):
        for s in syms.of(kind):
            m = getattr(info, field_name).add()
            _preamble(m, s, ids, alias)
            inst = s.payload
            m.spec.unit = {"packets": P.MeterSpec.PACKETS, "bytes": P.MeterSpec.BYTES}[
                _enum_arg(inst, "MeterType")
            ]
            if kind == "meter":
                m.size = inst.args[0]
            else:
                m.direct_table_id = _bound_table(syms, ids, inst, "meters")
    for s in syms.of("register"):
        r = info.registers.add()
        _preamble(r, s, ids, alias)
        inst = s.payload
        r.type_spec.CopyFrom(_bits_spec(inst.type.args[0]))
        r.size = inst.args[0]
    for s in syms.of("action_profile"):
        p = info.action_profiles.add()
        _preamble(p, s, ids, alias)
        inst = s.payload
        users = [t for t in syms.of("table") if t.payload.implementation is inst]
        p.table_ids.extend(sorted(ids["table"][t.name] for t in users))
        p.with_selector = inst.type.name == "action_selector"
        p.size = inst.args[1] if p.with_selector else inst.args[0]
    for s in syms.of("digest"):
        d = info.digests.add()
        _preamble(d, s, ids, alias)
        st: T.StructT = s.payload
        d.type_spec.struct.name = st.name
        spec = info.type_info.structs[st.name]
        for fname, fty in st.fields:
            m = spec.members.add()
            m.name = fname
            m.type_spec.CopyFrom(_bits_spec(fty))
    for s in syms.of("controller_header"):
        c = info.controller_packet_metadata.add()
        _preamble(c, s, ids, alias)
        for k, (fname, fty) in enumerate(s.payload.fields, 1):
            m = c.metadata.add()
            m.id, m.name, m.bitwidth = k, fname, T.width_of(fty)
    for s in syms.of("value_set"):
        v = info.value_sets.add()
        _preamble(v, s, ids, alias)
        ty, size = s.payload
        v.size = size
        members = ty.fields if isinstance(ty, T.StructT) else [("", ty)]
        for k, (fname, fty) in enumerate(members, 1):
            m = v.match.add()
            m.id, m.bitwidth, m.match_type = k, T.width_of(fty), P.MatchField.EXACT
            if fname:
                m.name = fname
    return info


def _enum_arg(inst: Instance, enum: str) -> str:
    for a in inst.args:
        if isinstance(a, tuple) and a[0] == enum:
            return a[1]
    raise P4Error(inst.decl.loc, f"{inst.type.name} {inst.local} needs a {enum} argument")


def _bound_table(syms: _Symbols, ids: dict, inst: Instance, prop: str) -> int:
    users = [t for t in syms.of("table") if getattr(t.payload, prop) is inst]
    if len(users) != 1:
        raise P4Error(
            inst.decl.loc,
            f"{inst.type.name} {inst.local} must be attached to exactly one table ({prop} = {inst.local}), found {len(users)}",
        )
    return ids["table"][users[0].name]


def _table(t: P.Table, s: _Symbol, info: TableInfo, ids: dict, alias: dict) -> None:
    _preamble(t, s, ids, alias)
    k = 0
    seen: dict[str, object] = {}
    for elem, name, ty in info.keys:
        if elem.match_kind == "selector":
            continue
        if name in seen:  # P4Runtime names match fields: two of one name cannot both be set
            raise P4Error(
                elem.loc, f"table {s.name}: key field '{name}' is given twice (first at {seen[name]})"
            )
        seen[name] = elem.loc
        if elem.match_kind not in MATCH:
            raise P4Error(elem.loc, f"match kind '{elem.match_kind}' is not supported by v1model tables")
        k += 1
        m = t.match_fields.add()
        m.id, m.name, m.bitwidth, m.match_type = k, name, T.width_of(ty), MATCH[elem.match_kind]
        m.annotations.extend(_annotations(elem.annotations))
    for ref, a in info.actions:
        r = t.action_refs.add()
        r.id = ids["action"][a.name]
        if A.annotation(ref.annotations, "defaultonly"):
            r.scope = P.ActionRef.DEFAULT_ONLY
        elif A.annotation(ref.annotations, "tableonly"):
            r.scope = P.ActionRef.TABLE_ONLY
        r.annotations.extend(_annotations(ref.annotations))
    if info.default and info.default_const:
        t.const_default_action_id = ids["action"][info.default[1].name]
    if info.implementation is not None:
        kind = "action_profile"
        t.implementation_id = ids[kind][info.implementation.name]
    for inst, kind in ((info.counters, "direct_counter"), (info.meters, "direct_meter")):
        if inst is not None:
            t.direct_resource_ids.append(ids[kind][inst.name])
    t.size = info.size if info.size is not None else 1024
    if info.support_timeout:
        t.idle_timeout_behavior = P.Table.NOTIFY_CONTROL
    if info.entries:
        t.has_initial_entries = True
        t.is_const_table = info.entries_const


def to_text(info: P.P4Info) -> str:
    return text_format.MessageToString(info)
