"""A P4Info together with the switch running its BMv2 JSON: id-to-object maps, and
conversion of P4Runtime entities to switch operations and back, with the checks the
P4Runtime specification asks for (each failure a `RuntimeErr` with its gRPC code)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import grpc
from p4.config.v1 import p4info_pb2 as P
from p4.v1 import p4runtime_pb2 as R

from p4target.switch.engine import Switch
from p4target.switch.tables import EntryError, Match, Table

from .codec import CodecError, decode, encode
from .txn import Txn

# Action selector groups: the most members a group may expand to (weights summed),
# whatever the P4Info says, so that a weight cannot make the switch allocate without bound.
MAX_GROUP_WEIGHT = 4096


class RuntimeErr(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def invalid(msg: str) -> RuntimeErr:
    return RuntimeErr(grpc.StatusCode.INVALID_ARGUMENT, msg)


@dataclass
class TableMap:
    info: P.Table
    table: Table
    fields: dict[int, tuple[int, P.MatchField]]  # P4Info field id -> (key position, field)
    actions: dict[int, tuple[int, P.Action, int]]  # P4Info action id -> (JSON action id, action, scope)
    prioritised: bool


class Pipeline:
    def __init__(self, info: P.P4Info, device_config: bytes, switch: Switch) -> None:
        self.info, self.device_config, self.switch = info, device_config, switch
        _unique(info)
        self.actions = {a.preamble.id: a for a in info.actions}
        self.tables: dict[int, TableMap] = {}
        for t in info.tables:
            name = t.preamble.name
            if name not in switch.tables:
                raise invalid(f"P4Info table {name} is not in the device config")
            jt = switch.tables[name]
            if len(t.match_fields) != len(jt.keys):
                raise invalid(
                    f"table {name}: P4Info has {len(t.match_fields)} match fields, the device config {len(jt.keys)}"
                )
            for mf, key in zip(t.match_fields, jt.keys, strict=True):
                _same_key(name, mf, key)
            fields = {m.id: (k, m) for k, m in enumerate(t.match_fields)}
            acts = {}
            for ref in t.action_refs:
                a = self.actions.get(ref.id)
                if a is None:
                    raise invalid(f"table {name}: unknown action id {ref.id}")
                jid = jt.actions.get(a.preamble.name)
                if jid is None:
                    raise invalid(f"table {name}: action {a.preamble.name} is not in the device config")
                widths = switch.action_widths.get(jid, [])
                if [p.bitwidth for p in a.params] != list(widths):
                    raise invalid(
                        f"action {a.preamble.name}: P4Info parameter widths {[p.bitwidth for p in a.params]}"
                        f" contradict the device config's {list(widths)}"
                    )
                acts[ref.id] = (jid, a, ref.scope)
            prio = any(
                m.match_type in (P.MatchField.TERNARY, P.MatchField.RANGE, P.MatchField.OPTIONAL)
                for m in t.match_fields
            )
            self.tables[t.preamble.id] = TableMap(t, jt, fields, acts, prio)
        self.counters = {c.preamble.id: c for c in info.counters}
        self.direct_counters = {c.preamble.id: c for c in info.direct_counters}
        self.meters = {m.preamble.id: m for m in info.meters}
        self.direct_meters = {m.preamble.id: m for m in info.direct_meters}
        self.registers = {r.preamble.id: r for r in info.registers}
        self.digests = {d.preamble.id: d for d in info.digests}
        self.value_sets = {v.preamble.id: v for v in info.value_sets}
        self.controller = {c.preamble.name: c for c in info.controller_packet_metadata}
        for kind, items, where in (("counter", self.counters, switch.counters), ("meter", self.meters, switch.meters),
                                   ("register", self.registers, switch.registers)):  # fmt: skip
            for x in items.values():
                if x.preamble.name not in where:
                    raise invalid(f"P4Info {kind} {x.preamble.name} is not in the device config")
        self.digest_names = {d.preamble.name: d.preamble.id for d in info.digests}
        self.profiles = {p.preamble.id: p for p in info.action_profiles}
        for prof in self.profiles.values():
            if prof.preamble.name not in switch.profiles:
                raise invalid(f"P4Info action profile {prof.preamble.name} is not in the device config")
        # Entry metadata the controller gave (returned by reads), and the defaults the
        # program declared (restored when a controller resets a default entry).
        self._metadata: dict[tuple[str, int], bytes] = {}
        self.initial_defaults = {name: t.default_action for name, t in switch.tables.items()}
        self.digest_config: dict[int, R.DigestEntry.Config] = {}  # digests the controller configured
        hid, fidx = switch.sm["egress_spec"]
        self.port_bits = switch.prog.instances[hid].type.widths[fidx]

    # -- table entries -------------------------------------------------------------
    def table(self, table_id: int) -> TableMap:
        t = self.tables.get(table_id)
        if t is None:
            raise RuntimeErr(grpc.StatusCode.NOT_FOUND, f"unknown table id {table_id}")
        return t

    def match(self, tm: TableMap, fms) -> list[Match]:
        out: list[Match | None] = [None] * len(tm.fields)
        for fm in fms:
            if fm.field_id not in tm.fields:
                raise invalid(f"table {tm.info.preamble.name}: unknown match field id {fm.field_id}")
            k, mf = tm.fields[fm.field_id]
            if out[k] is not None:
                raise invalid(f"table {tm.info.preamble.name}: match field {mf.name} given twice")
            w = mf.bitwidth
            what = f"{tm.info.preamble.name}.{mf.name}"
            kind = fm.WhichOneof("field_match_type")
            try:
                if mf.match_type == P.MatchField.EXACT and kind == "exact":
                    out[k] = Match(value=decode(fm.exact.value, w, what))
                elif mf.match_type == P.MatchField.LPM and kind == "lpm":
                    v, plen = decode(fm.lpm.value, w, what), fm.lpm.prefix_len
                    if not 0 < plen <= w:
                        raise invalid(f"{what}: prefix length {plen} outside 1..{w} (omit the field for /0)")
                    if v & ((1 << (w - plen)) - 1):
                        raise invalid(f"{what}: bits beyond the prefix must be zero")
                    out[k] = Match(value=v, prefix=plen)
                elif mf.match_type == P.MatchField.TERNARY and kind == "ternary":
                    v, m = decode(fm.ternary.value, w, what), decode(fm.ternary.mask, w, what)
                    if m == 0:
                        raise invalid(f"{what}: a zero mask is a don't-care: omit the field")
                    if v & ~m:
                        raise invalid(f"{what}: value has bits outside the mask")
                    out[k] = Match(value=v, mask=m)
                elif mf.match_type == P.MatchField.RANGE and kind == "range":
                    lo, hi = decode(fm.range.low, w, what), decode(fm.range.high, w, what)
                    if lo > hi:
                        raise invalid(f"{what}: low {lo} is above high {hi}")
                    if lo == 0 and hi == (1 << w) - 1:
                        raise invalid(f"{what}: a full range is a don't-care: omit the field")
                    out[k] = Match(lo=lo, hi=hi)
                elif mf.match_type == P.MatchField.OPTIONAL and kind == "optional":
                    out[k] = Match(value=decode(fm.optional.value, w, what), mask=(1 << w) - 1)
                else:
                    raise invalid(
                        f"{what}: a {P.MatchField.MatchType.Name(mf.match_type)} field cannot take a {kind} match"
                    )
            except CodecError as e:
                raise invalid(str(e)) from None
        for pos, mf in tm.fields.values():
            if out[pos] is None:
                if mf.match_type == P.MatchField.EXACT:
                    raise invalid(f"{tm.info.preamble.name}.{mf.name}: an exact field cannot be omitted")
                w = mf.bitwidth
                out[pos] = {
                    P.MatchField.LPM: Match(value=0, prefix=0),
                    P.MatchField.RANGE: Match(lo=0, hi=(1 << w) - 1),
                }.get(mf.match_type, Match(value=0, mask=0))
        return out  # type: ignore[return-value]

    def action(self, tm: TableMap, a: R.TableAction, default: bool) -> tuple[int, list[int]]:
        kind = a.WhichOneof("type")
        if kind != "action":
            raise RuntimeErr(
                grpc.StatusCode.UNIMPLEMENTED,
                f"table {tm.info.preamble.name}: {kind} (action profiles) are not supported yet",
            )
        act = a.action
        if act.action_id not in tm.actions:
            raise invalid(
                f"table {tm.info.preamble.name}: action id {act.action_id} is not one of its actions"
            )
        jid, info, scope = tm.actions[act.action_id]
        if default and scope == P.ActionRef.TABLE_ONLY:
            raise invalid(f"action {info.preamble.name} is @tableonly in {tm.info.preamble.name}")
        if not default and scope == P.ActionRef.DEFAULT_ONLY:
            raise invalid(f"action {info.preamble.name} is @defaultonly in {tm.info.preamble.name}")
        params = {p.id: p for p in info.params}
        values = {}
        for p in act.params:
            if p.param_id not in params:
                raise invalid(f"action {info.preamble.name}: unknown parameter id {p.param_id}")
            if p.param_id in values:
                raise invalid(f"action {info.preamble.name}: parameter {params[p.param_id].name} given twice")
            try:
                values[p.param_id] = decode(
                    p.value, params[p.param_id].bitwidth, f"{info.preamble.name}.{params[p.param_id].name}"
                )
            except CodecError as e:
                raise invalid(str(e)) from None
        missing = [params[i].name for i in params if i not in values]
        if missing:
            raise invalid(f"action {info.preamble.name}: missing parameters {missing}")
        return jid, [values[p.id] for p in info.params]

    # -- action profiles ---------------------------------------------------------------
    def profile(self, profile_id: int):
        info = self.profiles.get(profile_id)
        if info is None:
            raise RuntimeErr(grpc.StatusCode.NOT_FOUND, f"unknown action profile id {profile_id}")
        return info, self.switch.profiles[info.preamble.name]

    def profile_table(self, profile_id: int) -> TableMap:
        """A table using the profile: its actions are the ones members may run."""
        for tm in self.tables.values():
            if tm.info.implementation_id == profile_id:
                return tm
        raise invalid(f"action profile {profile_id} is used by no table")

    def target(
        self, tm: TableMap, a: R.TableAction, default: bool
    ) -> tuple[int, list[int], int | None, int | None]:
        """(action id, data, member, group) of a table entry's action."""
        kind = a.WhichOneof("type")
        impl = tm.info.implementation_id
        name = tm.info.preamble.name
        if not impl:
            if kind != "action":
                raise invalid(f"table {name} has no action profile: give an action, not a {kind}")
            return (*self.action(tm, a, default), None, None)
        if default:
            raise RuntimeErr(
                grpc.StatusCode.UNIMPLEMENTED, f"table {name}: default entries of indirect tables"
            )
        info, prof = self.profile(impl)
        if kind == "action_profile_member_id":
            if a.action_profile_member_id not in prof.members:
                raise RuntimeErr(
                    grpc.StatusCode.NOT_FOUND, f"{info.preamble.name}: no member {a.action_profile_member_id}"
                )
            return -1, [], a.action_profile_member_id, None
        if kind == "action_profile_group_id":
            if not info.with_selector:
                raise invalid(f"{info.preamble.name} has no selector: it has no groups")
            if a.action_profile_group_id not in prof.groups:
                raise RuntimeErr(
                    grpc.StatusCode.NOT_FOUND, f"{info.preamble.name}: no group {a.action_profile_group_id}"
                )
            return -1, [], None, a.action_profile_group_id
        raise invalid(f"table {name} uses action profile {info.preamble.name}: give a member or group id")

    def member_write(self, u_type: int, m: R.ActionProfileMember, txn: Txn) -> None:
        info, prof = self.profile(m.action_profile_id)
        _check_presence(u_type, m.member_id in prof.members, info.preamble.name, f"member {m.member_id}")
        if u_type == R.Update.DELETE:
            used = any(m.member_id in g for g in prof.groups.values()) or any(
                e.member == m.member_id for tm in self.tables.values() if tm.info.implementation_id == m.action_profile_id
                for e in tm.table.entries.values()
            )  # fmt: skip
            if used:
                raise RuntimeErr(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"{info.preamble.name}: member {m.member_id} is in use",
                )
            txn.delete(prof.members, m.member_id)
            return
        if u_type == R.Update.INSERT and len(prof.members) >= max(info.size, 1):
            raise RuntimeErr(
                grpc.StatusCode.RESOURCE_EXHAUSTED, f"{info.preamble.name} is full ({info.size} members)"
            )
        tm = self.profile_table(m.action_profile_id)
        action = self.action(tm, R.TableAction(action=m.action), default=False)
        txn.set(prof.members, m.member_id, action)

    def group_write(self, u_type: int, g: R.ActionProfileGroup, txn: Txn) -> None:
        info, prof = self.profile(g.action_profile_id)
        if not info.with_selector:
            raise invalid(f"{info.preamble.name} has no selector: it has no groups")
        _check_presence(u_type, g.group_id in prof.groups, info.preamble.name, f"group {g.group_id}")
        if u_type == R.Update.DELETE:
            if any(e.group == g.group_id for tm in self.tables.values() if tm.info.implementation_id == g.action_profile_id
                   for e in tm.table.entries.values()):  # fmt: skip
                raise RuntimeErr(
                    grpc.StatusCode.FAILED_PRECONDITION, f"{info.preamble.name}: group {g.group_id} is in use"
                )
            txn.delete(prof.groups, g.group_id)
            return
        if u_type == R.Update.INSERT and len(prof.groups) >= max(info.size, 1):
            raise RuntimeErr(
                grpc.StatusCode.RESOURCE_EXHAUSTED, f"{info.preamble.name} is full ({info.size} groups)"
            )
        txn.set(prof.groups, g.group_id, _group_members(info, prof, g))

    def prepare(self, u: R.Update) -> tuple | None:
        """The part of a table write that reads no state (key and direct action decoded),
        done before the runner lock is taken so that packets wait only for the rest; None
        when there is nothing to prepare or it fails (the write then reports the error)."""
        if u.entity.WhichOneof("entity") != "table_entry" or u.type not in (
            R.Update.INSERT,
            R.Update.MODIFY,
            R.Update.DELETE,
        ):
            return None
        e = u.entity.table_entry
        tm = self.tables.get(e.table_id)
        if tm is None or e.is_default_action:
            return None
        try:
            match = self.match(tm, e.match)
            direct = u.type != R.Update.DELETE and not tm.info.implementation_id
            return match, (*self.action(tm, e.action, default=False), None, None) if direct else None
        except RuntimeErr:
            return None

    def table_write(self, u_type: int, e: R.TableEntry, txn: Txn, pre: tuple | None = None) -> None:
        tm = self.table(e.table_id)
        t = tm.table
        name = tm.info.preamble.name
        if e.is_default_action:
            if u_type != R.Update.MODIFY:
                raise invalid(f"table {name}: the default entry can only be modified")
            if e.match:
                raise invalid(f"table {name}: the default entry has no match")
            if t.default_const or tm.info.const_default_action_id:
                raise RuntimeErr(
                    grpc.StatusCode.PERMISSION_DENIED, f"table {name}: the default action is const"
                )
            new = self.target(tm, e.action, default=True)[:2] if e.HasField("action") else None
            txn.setattrs(t, default_action=self.initial_defaults.get(name) if new is None else new)
            return
        if tm.info.is_const_table:
            raise invalid(f"table {name} is const: its entries cannot change")
        if e.idle_timeout_ns < 0:
            raise invalid(f"table {name}: negative idle timeout {e.idle_timeout_ns}")
        if e.idle_timeout_ns and tm.info.idle_timeout_behavior != P.Table.NOTIFY_CONTROL:
            raise invalid(f"table {name} does not support idle timeout (support_timeout = true)")
        if tm.prioritised and e.priority <= 0 and u_type != R.Update.DELETE:
            raise invalid(f"table {name}: entries need a priority > 0")
        if not tm.prioritised and e.priority != 0:
            raise invalid(f"table {name}: priority must be 0 (no ternary, range or optional field)")
        match = pre[0] if pre else self.match(tm, e.match)
        # The entity is checked whole before the state: a malformed action is INVALID_ARGUMENT
        # whether or not the key exists (DELETE needs only the key).
        target = None
        if u_type != R.Update.DELETE:
            target = pre[1] if pre and pre[1] is not None else self.target(tm, e.action, default=False)
        existing = t.find(match, e.priority)
        if u_type == R.Update.INSERT:
            if existing is not None:
                raise RuntimeErr(grpc.StatusCode.ALREADY_EXISTS, f"table {name}: the entry exists already")
            if len(t.entries) >= t.max_size:
                raise RuntimeErr(
                    grpc.StatusCode.RESOURCE_EXHAUSTED, f"table {name} is full ({t.max_size} entries)"
                )
            jid, data, member, group = target
            try:
                entry = t.add(match, jid, data, e.priority, member, group)
            except EntryError as err:
                raise invalid(str(err)) from None
            txn.on_undo(lambda: t.remove(entry))
            entry.timeout_ms = e.idle_timeout_ns // 1_000_000
            entry.last_hit = time.monotonic()
            if e.metadata:
                txn.set(self._metadata, (name, entry.handle), e.metadata)
        elif u_type == R.Update.MODIFY:
            if existing is None:
                raise RuntimeErr(grpc.StatusCode.NOT_FOUND, f"table {name}: no such entry to modify")
            jid, data, member, group = target
            txn.setattrs(existing, action_id=jid, data=data, member=member, group=group)
            txn.set(self._metadata, (name, existing.handle), e.metadata)
        elif u_type == R.Update.DELETE:
            if existing is None:
                raise RuntimeErr(grpc.StatusCode.NOT_FOUND, f"table {name}: no such entry to delete")
            t.remove(existing)
            txn.on_undo(lambda: t.restore(existing))
            txn.delete(self._metadata, (name, existing.handle))
            if t.direct_meter is not None:
                txn.delete(self.switch.meters[t.direct_meter].config, existing.handle)
        else:
            raise invalid(f"update type {u_type} is not INSERT, MODIFY or DELETE")

    def entry_to_p4rt(self, tm: TableMap, entry, with_counters: bool) -> R.TableEntry:
        e = R.TableEntry(table_id=tm.info.preamble.id)
        by_pos = {pos: mf for pos, mf in tm.fields.values()}
        for pos, m in enumerate(entry.match):
            mf = by_pos[pos]
            w = mf.bitwidth
            fm = R.FieldMatch(field_id=mf.id)
            if mf.match_type == P.MatchField.EXACT:
                fm.exact.value = encode(m.value)
            elif mf.match_type == P.MatchField.LPM:
                if not m.prefix:
                    continue
                fm.lpm.value, fm.lpm.prefix_len = encode(m.value), m.prefix
            elif mf.match_type == P.MatchField.TERNARY:
                if m.mask == 0:
                    continue
                fm.ternary.value, fm.ternary.mask = encode(m.value), encode(m.mask)
            elif mf.match_type == P.MatchField.RANGE:
                if m.lo == 0 and m.hi == (1 << w) - 1:
                    continue
                fm.range.low, fm.range.high = encode(m.lo), encode(m.hi)
            elif mf.match_type == P.MatchField.OPTIONAL:
                if m.mask == 0:
                    continue
                fm.optional.value = encode(m.value)
            e.match.append(fm)
        if entry.member is not None:
            e.action.action_profile_member_id = entry.member
        elif entry.group is not None:
            e.action.action_profile_group_id = entry.group
        else:
            self._set_action(tm, e, entry.action_id, entry.data)
        e.priority = entry.priority if tm.prioritised else 0
        e.idle_timeout_ns = entry.timeout_ms * 1_000_000
        md = self._metadata.get((tm.info.preamble.name, entry.handle))
        if md:
            e.metadata = md
        if with_counters and tm.table.with_counters:
            e.counter_data.packet_count, e.counter_data.byte_count = entry.packets, entry.bytes
        return e

    def _set_action(self, tm: TableMap, e: R.TableEntry, jid: int, data: list[int]) -> None:
        for pid, (j, info, _) in tm.actions.items():
            if j == jid:
                e.action.action.action_id = pid
                for p, v in zip(info.params, data, strict=True):
                    e.action.action.params.append(R.Action.Param(param_id=p.id, value=encode(v)))
                return

    def carry_over(self, old: Pipeline) -> tuple[int, int]:
        """RECONCILE_AND_COMMIT: install what the old pipeline held and still fits this one
        (members, groups, table entries, modified defaults, replication); returns (kept, dropped)."""
        txn = Txn()  # never rolled back: each item lands or is dropped on its own
        kept = dropped = 0

        def attempt(fn, *args) -> None:
            nonlocal kept, dropped
            try:
                fn(*args)
                kept += 1
            except RuntimeErr:
                dropped += 1

        for pid, info in old.profiles.items():
            prof = old.switch.profiles[info.preamble.name]
            try:
                tm = old.profile_table(pid)
            except RuntimeErr:
                continue  # a profile no table uses holds nothing
            for mid, (jid, data) in sorted(prof.members.items()):
                m = R.ActionProfileMember(action_profile_id=pid, member_id=mid)
                holder = R.TableEntry()
                old._set_action(tm, holder, jid, data)
                m.action.CopyFrom(holder.action.action)
                attempt(self.member_write, R.Update.INSERT, m, txn)
            for gid, members in sorted(prof.groups.items()):
                g = R.ActionProfileGroup(action_profile_id=pid, group_id=gid)
                for mid in dict.fromkeys(members):
                    g.members.add(member_id=mid, weight=members.count(mid))
                attempt(self.group_write, R.Update.INSERT, g, txn)
        for tm in old.tables.values():
            if tm.table.default_action != old.initial_defaults.get(tm.info.preamble.name):
                attempt(self.table_write, R.Update.MODIFY, old.default_to_p4rt(tm), txn)
            for e in sorted(tm.table.entries.values(), key=lambda x: x.handle):
                if tm.table.const_entries:
                    continue  # the program's own entries come with the new JSON
                attempt(self.table_write, R.Update.INSERT, old.entry_to_p4rt(tm, e, False), txn)
        for store in ("mcast_groups", "clone_sessions"):
            getattr(self.switch, store).update(getattr(old.switch, store))
        return kept, dropped

    def default_to_p4rt(self, tm: TableMap) -> R.TableEntry:
        e = R.TableEntry(table_id=tm.info.preamble.id, is_default_action=True)
        if tm.table.default_action is not None:
            self._set_action(tm, e, *tm.table.default_action)
        return e


def _check_presence(u_type: int, exists: bool, profile: str, item: str) -> None:
    """INSERT needs the item absent; MODIFY and DELETE need it present."""
    if u_type == R.Update.INSERT and exists:
        raise RuntimeErr(grpc.StatusCode.ALREADY_EXISTS, f"{profile}: {item} exists already")
    if u_type != R.Update.INSERT and not exists:
        raise RuntimeErr(grpc.StatusCode.NOT_FOUND, f"{profile}: no {item}")


def _group_members(info: P.ActionProfile, prof, g: R.ActionProfileGroup) -> list[int]:
    """A group's members repeated by weight; weights > 0, members once, sized as P4Info says."""
    name = info.preamble.name
    seen: set[int] = set()
    total = 0
    for mem in g.members:
        if mem.member_id in seen:
            raise invalid(f"{name}: group {g.group_id} names member {mem.member_id} twice")
        seen.add(mem.member_id)
        if mem.weight <= 0:
            raise invalid(
                f"{name}: group {g.group_id}: member {mem.member_id} has weight {mem.weight} (must be > 0)"
            )
        if mem.member_id not in prof.members:
            raise RuntimeErr(grpc.StatusCode.NOT_FOUND, f"{name}: no member {mem.member_id}")
        total += mem.weight
    by_members = info.WhichOneof("selector_size_semantics") == "sum_of_members"
    size = len(seen) if by_members else total
    limit = info.max_group_size or MAX_GROUP_WEIGHT
    if size > min(limit, MAX_GROUP_WEIGHT):
        what = "members" if by_members else "summed weights"
        raise RuntimeErr(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"{name}: group {g.group_id} has {size} {what}, the most is {min(limit, MAX_GROUP_WEIGHT)}",
        )
    return [mem.member_id for mem in g.members for _ in range(mem.weight)]


_KINDS = {
    P.MatchField.EXACT: ("exact", "valid"),
    P.MatchField.LPM: ("lpm",),
    P.MatchField.TERNARY: ("ternary",),
    P.MatchField.RANGE: ("range",),
    P.MatchField.OPTIONAL: ("ternary",),  # BMv2 runs optional as ternary
}


def _same_key(table: str, mf: P.MatchField, key) -> None:
    """A P4Info match field must agree with the device config's key in kind and width."""
    kinds = _KINDS.get(mf.match_type)
    if kinds is not None and key.match_type not in kinds:
        raise invalid(
            f"table {table}: P4Info field {mf.name} is {P.MatchField.MatchType.Name(mf.match_type)},"
            f" the device config's key {key.name} is {key.match_type}"
        )
    if mf.bitwidth != key.width and key.mask is None:  # a masked key (a slice) has its own width
        raise invalid(
            f"table {table}: P4Info field {mf.name} has {mf.bitwidth} bits, the device config's key"
            f" {key.name} {key.width}"
        )


def _unique(info: P.P4Info) -> None:
    """No two objects of one P4Info share an id, and no two of one kind a name."""
    ids: dict[int, str] = {}
    for kind in ("tables", "actions", "action_profiles", "counters", "direct_counters", "meters",
                 "direct_meters", "controller_packet_metadata", "value_sets", "registers", "digests"):  # fmt: skip
        names: set[str] = set()
        for x in getattr(info, kind):
            pre = x.preamble
            if pre.name in names:
                raise invalid(f"P4Info {kind}: {pre.name} appears twice")
            names.add(pre.name)
            if pre.id in ids:
                raise invalid(f"P4Info: id {pre.id:#x} is used by {ids[pre.id]} and {pre.name}")
            ids[pre.id] = pre.name
