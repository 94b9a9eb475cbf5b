"""P4Runtime entities other than table entries and action profiles, written and read
against a `Pipeline`: replication, counters, meters, registers, value sets, digests.

Every write records its inverse in a `Txn`; every refusal is a `RuntimeErr` with the
code the P4Runtime specification gives (a missing object NOT_FOUND, an index outside an
array OUT_OF_RANGE, a malformed value INVALID_ARGUMENT).
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from p4.v1 import p4runtime_pb2 as R

from .codec import CodecError, decode, encode
from .pipeline import Pipeline, RuntimeErr, invalid
from .txn import Txn

MAX_REPLICAS = 1024  # per multicast group or clone session
MAX_MCAST_GROUP = 0xFFFF  # standard_metadata.mcast_grp is 16 bits
MAX_CLONE_SESSION = 32767  # simple_switch's mirroring sessions
UPDATE_TYPES = (R.Update.INSERT, R.Update.MODIFY, R.Update.DELETE)


def not_found(msg: str) -> RuntimeErr:
    return RuntimeErr(grpc.StatusCode.NOT_FOUND, msg)


def out_of_range(msg: str) -> RuntimeErr:
    return RuntimeErr(grpc.StatusCode.OUT_OF_RANGE, msg)


def write(pl: Pipeline, u: R.Update, txn: Txn, pre: tuple | None = None) -> None:
    """Apply one update (raises RuntimeErr; what it changed is in `txn`); `pre` is what
    `Pipeline.prepare` made of it."""
    if u.type not in UPDATE_TYPES:
        raise invalid(f"update type {u.type} is not INSERT, MODIFY or DELETE")
    ent = u.entity
    kind = ent.WhichOneof("entity")
    if kind is None:
        raise invalid("the update names no entity")
    if kind == "table_entry":
        pl.table_write(u.type, ent.table_entry, txn, pre)
    elif kind == "action_profile_member":
        pl.member_write(u.type, ent.action_profile_member, txn)
    elif kind == "action_profile_group":
        pl.group_write(u.type, ent.action_profile_group, txn)
    elif kind == "packet_replication_engine_entry":
        _pre_write(pl, u.type, ent.packet_replication_engine_entry, txn)
    elif kind == "digest_entry":
        _digest_write(pl, u.type, ent.digest_entry, txn)
    elif kind in _MODIFY_ONLY:
        if u.type != R.Update.MODIFY:
            raise invalid(f"{kind} can only be modified")
        _MODIFY_ONLY[kind](pl, getattr(ent, kind), txn)
    else:
        raise RuntimeErr(grpc.StatusCode.UNIMPLEMENTED, f"writing {kind} is not supported")


# -- replication ---------------------------------------------------------------------------
def replica_port(r: R.Replica, bits: int) -> int:
    """P4Runtime 1.4 gives a replica's port as `egress_port` or as `port` bytes."""
    if r.WhichOneof("port_kind") == "port":
        try:
            port = decode(r.port, bits, "replica port")
        except CodecError as e:
            raise invalid(str(e)) from None
    else:
        port = r.egress_port
    if port >> bits:
        raise invalid(f"replica port {port} does not fit the switch's {bits}-bit ports")
    return port


def _pre_write(pl: Pipeline, u_type: int, e: R.PacketReplicationEngineEntry, txn: Txn) -> None:
    sw = pl.switch
    kind = e.WhichOneof("type")
    if kind == "multicast_group_entry":
        x = e.multicast_group_entry
        key, store, top = x.multicast_group_id, sw.mcast_groups, MAX_MCAST_GROUP
    elif kind == "clone_session_entry":
        x = e.clone_session_entry
        key, store, top = x.session_id, sw.clone_sessions, MAX_CLONE_SESSION
    else:
        raise invalid("a replication entry needs a multicast group or a clone session")
    if not 0 < key <= top:
        raise invalid(f"{kind} id {key} outside 1..{top}")
    if u_type == R.Update.INSERT and key in store:
        raise RuntimeErr(grpc.StatusCode.ALREADY_EXISTS, f"{kind} {key} exists already")
    if u_type != R.Update.INSERT and key not in store:
        raise not_found(f"no {kind} {key}")
    if u_type == R.Update.DELETE:
        txn.delete(store, key)
        return
    if len(x.replicas) > MAX_REPLICAS:
        raise RuntimeErr(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"{kind} {key}: {len(x.replicas)} replicas, the most is {MAX_REPLICAS}",
        )
    bits = pl.port_bits
    value = [(replica_port(r, bits), r.instance) for r in x.replicas]
    if len(set(value)) != len(value):
        raise invalid(f"{kind} {key}: duplicate replicas")
    txn.set(store, key, value)


# -- indexed arrays ----------------------------------------------------------------------
def _indexed(items: dict, ident: int, what: str):
    x = items.get(ident)
    if x is None:
        raise not_found(f"unknown {what} id {ident}")
    return x


def _indices(e, n: int, what: str) -> list[int] | range:
    """The cells an entry names: its index (checked), or all of them."""
    if not e.HasField("index"):
        return range(n)
    k = e.index.index
    if not 0 <= k < n:
        raise out_of_range(f"{what}: index {k} outside 0..{n - 1}")
    return [k]


def _counter_write(pl: Pipeline, e: R.CounterEntry, txn: Txn) -> None:
    info = _indexed(pl.counters, e.counter_id, "counter")
    c = pl.switch.counters[info.preamble.name]
    for k in _indices(e, c.size, f"counter {info.preamble.name}"):
        old = (c.packets[k], c.bytes[k])
        c.packets[k], c.bytes[k] = e.data.packet_count, e.data.byte_count
        txn.on_undo(lambda k=k, old=old: (c.packets.__setitem__(k, old[0]), c.bytes.__setitem__(k, old[1])))


def _register_write(pl: Pipeline, e: R.RegisterEntry, txn: Txn) -> None:
    info = _indexed(pl.registers, e.register_id, "register")
    width, cells = pl.switch.registers[info.preamble.name]
    idx = _indices(e, len(cells), f"register {info.preamble.name}")
    if e.data.WhichOneof("data") != "bitstring":
        raise invalid(f"register {info.preamble.name}: data must be a bitstring")
    try:
        v = decode(e.data.bitstring, width, info.preamble.name)
    except CodecError as err:
        raise invalid(str(err)) from None
    for k in idx:
        old = cells[k]
        cells[k] = v
        txn.on_undo(lambda k=k, old=old: cells.__setitem__(k, old))


def _meter_config(cfg: R.MeterConfig) -> tuple[float, int, float, int]:
    if min(cfg.cir, cfg.cburst, cfg.pir, cfg.pburst) < 0:
        raise invalid("meter config: rates and bursts must not be negative")
    if cfg.cir > cfg.pir:
        raise invalid("meter config: cir must not exceed pir")
    return (float(cfg.cir), int(cfg.cburst), float(cfg.pir), int(cfg.pburst))


def _meter_write(pl: Pipeline, e: R.MeterEntry, txn: Txn) -> None:
    info = _indexed(pl.meters, e.meter_id, "meter")
    m = pl.switch.meters[info.preamble.name]
    idx = _indices(e, m.size, f"meter {info.preamble.name}")
    cfg = _meter_config(e.config) if e.HasField("config") else None
    for k in idx:
        if cfg is None:
            txn.delete(m.config, k)
        else:
            txn.set(m.config, k, cfg)
        txn.delete(m.state, k)


def _entry_of(pl: Pipeline, te: R.TableEntry):
    tm = pl.table(te.table_id)
    entry = tm.table.find(pl.match(tm, te.match), te.priority)
    if entry is None:
        raise not_found(f"table {tm.info.preamble.name}: no such entry")
    return tm, entry


def _direct_counter_write(pl: Pipeline, e: R.DirectCounterEntry, txn: Txn) -> None:
    tm, entry = _entry_of(pl, e.table_entry)
    if not tm.table.with_counters:
        raise invalid(f"table {tm.info.preamble.name} has no direct counter")
    txn.setattrs(entry, packets=e.data.packet_count, bytes=e.data.byte_count)


def _direct_meter_write(pl: Pipeline, e: R.DirectMeterEntry, txn: Txn) -> None:
    tm, entry = _entry_of(pl, e.table_entry)
    if tm.table.direct_meter is None:
        raise invalid(f"table {tm.info.preamble.name} has no direct meter")
    cfg = _meter_config(e.config) if e.HasField("config") else None
    m = pl.switch.meters[tm.table.direct_meter]
    if cfg is None:
        txn.delete(m.config, entry.handle)
    else:
        txn.set(m.config, entry.handle, cfg)


def _value_set_write(pl: Pipeline, e: R.ValueSetEntry, txn: Txn) -> None:
    info = _indexed(pl.value_sets, e.value_set_id, "value set")
    name = info.preamble.name
    if len(e.members) > info.size:
        raise RuntimeErr(grpc.StatusCode.RESOURCE_EXHAUSTED, f"value set {name} holds {info.size} values")
    fields = {mf.id: mf for mf in info.match}
    vals = set()
    for n, member in enumerate(e.members):
        given = {}
        for fm in member.match:
            if fm.field_id not in fields:
                raise invalid(f"value set {name}: member {n}: unknown match field id {fm.field_id}")
            if fm.field_id in given:
                raise invalid(f"value set {name}: member {n}: match field {fm.field_id} given twice")
            if fm.WhichOneof("field_match_type") != "exact":
                raise invalid(f"value set {name}: member {n}: match field {fm.field_id} must be exact")
            given[fm.field_id] = fm.exact.value
        missing = [mf.name for mf in info.match if mf.id not in given]
        if missing:
            raise invalid(f"value set {name}: member {n} lacks match fields {missing}")
        acc = 0
        for mf in info.match:
            try:
                v = decode(given[mf.id], mf.bitwidth, f"{name}.{mf.name}")
            except CodecError as err:
                raise invalid(str(err)) from None
            acc = (acc << (8 * ((mf.bitwidth + 7) // 8))) | v
        vals.add(acc)
    txn.set(pl.switch.vsets, name, vals)


def _digest_write(pl: Pipeline, u_type: int, e: R.DigestEntry, txn: Txn) -> None:
    _indexed(pl.digests, e.digest_id, "digest")
    have = e.digest_id in pl.digest_config
    if u_type == R.Update.INSERT and have:
        raise RuntimeErr(grpc.StatusCode.ALREADY_EXISTS, f"digest {e.digest_id} is configured already")
    if u_type != R.Update.INSERT and not have:
        raise not_found(f"digest {e.digest_id} is not configured")
    if u_type == R.Update.DELETE:
        txn.delete(pl.digest_config, e.digest_id)
        return
    c = e.config
    if min(c.max_timeout_ns, c.max_list_size, c.ack_timeout_ns) < 0:
        raise invalid(f"digest {e.digest_id}: timeouts and list size must not be negative")
    txn.set(pl.digest_config, e.digest_id, R.DigestEntry.Config().FromString(c.SerializeToString()))


_MODIFY_ONLY = {
    "counter_entry": _counter_write,
    "register_entry": _register_write,
    "meter_entry": _meter_write,
    "direct_counter_entry": _direct_counter_write,
    "direct_meter_entry": _direct_meter_write,
    "value_set_entry": _value_set_write,
}


# -- reads ---------------------------------------------------------------------------------
def read(pl: Pipeline, ent: R.Entity) -> Iterator[R.Entity]:
    kind = ent.WhichOneof("entity")
    if kind is None:
        raise invalid("the read names no entity")
    fn = _READS.get(kind)
    if fn is None:
        raise RuntimeErr(grpc.StatusCode.UNIMPLEMENTED, f"reading {kind} is not supported")
    return fn(pl, getattr(ent, kind))


def _all_or_one(items: dict, ident: int, what: str) -> list:
    return [_indexed(items, ident, what)] if ident else list(items.values())


def _selected(pl: Pipeline, tm, match, priority) -> list:
    """The entries a read names: the one with this match (None if absent), or all in order."""
    if match:
        return [tm.table.find(pl.match(tm, match), priority)]
    return sorted(tm.table.entries.values(), key=lambda x: x.handle)


def _read_tables(pl: Pipeline, q: R.TableEntry):
    tms = [pl.table(q.table_id)] if q.table_id else list(pl.tables.values())
    for tm in tms:
        if q.is_default_action:
            yield R.Entity(table_entry=pl.default_to_p4rt(tm))
            continue
        for e in _selected(pl, tm, q.match, q.priority):
            if e is not None:
                yield R.Entity(table_entry=pl.entry_to_p4rt(tm, e, q.HasField("counter_data")))


def _read_counters(pl: Pipeline, q: R.CounterEntry):
    for info in _all_or_one(pl.counters, q.counter_id, "counter"):
        c = pl.switch.counters[info.preamble.name]
        for k in _indices(q, c.size, f"counter {info.preamble.name}"):
            r = R.CounterEntry(counter_id=info.preamble.id)
            r.index.index = k
            r.data.packet_count, r.data.byte_count = c.packets[k], c.bytes[k]
            yield R.Entity(counter_entry=r)


def _read_registers(pl: Pipeline, q: R.RegisterEntry):
    for info in _all_or_one(pl.registers, q.register_id, "register"):
        cells = pl.switch.registers[info.preamble.name][1]
        for k in _indices(q, len(cells), f"register {info.preamble.name}"):
            r = R.RegisterEntry(register_id=info.preamble.id)
            r.index.index = k
            r.data.bitstring = encode(cells[k])
            yield R.Entity(register_entry=r)


def _set_config(cfg: R.MeterConfig, values: tuple | None) -> None:
    if values is not None:
        cir, cb, pir, pb = values
        cfg.cir, cfg.cburst, cfg.pir, cfg.pburst = int(cir), cb, int(pir), pb


def _read_meters(pl: Pipeline, q: R.MeterEntry):
    for info in _all_or_one(pl.meters, q.meter_id, "meter"):
        m = pl.switch.meters[info.preamble.name]
        for k in _indices(q, m.size, f"meter {info.preamble.name}"):
            r = R.MeterEntry(meter_id=info.preamble.id)
            r.index.index = k
            _set_config(r.config, m.config.get(k))
            yield R.Entity(meter_entry=r)


def _direct_tables(pl: Pipeline, q, has) -> list:
    if q.table_entry.table_id:
        tm = pl.table(q.table_entry.table_id)
        if not has(tm):
            raise invalid(f"table {tm.info.preamble.name} has no such direct resource")
        return [tm]
    return [tm for tm in pl.tables.values() if has(tm)]


def _read_direct_counters(pl: Pipeline, q: R.DirectCounterEntry):
    for tm in _direct_tables(pl, q, lambda tm: tm.table.with_counters):
        for e in _selected(pl, tm, q.table_entry.match, q.table_entry.priority):
            if e is None:
                raise not_found("no such table entry")
            r = R.DirectCounterEntry()
            r.table_entry.CopyFrom(pl.entry_to_p4rt(tm, e, False))
            r.data.packet_count, r.data.byte_count = e.packets, e.bytes
            yield R.Entity(direct_counter_entry=r)


def _read_direct_meters(pl: Pipeline, q: R.DirectMeterEntry):
    for tm in _direct_tables(pl, q, lambda tm: tm.table.direct_meter is not None):
        m = pl.switch.meters[tm.table.direct_meter]
        for e in _selected(pl, tm, q.table_entry.match, q.table_entry.priority):
            if e is None:
                raise not_found("no such table entry")
            r = R.DirectMeterEntry()
            r.table_entry.CopyFrom(pl.entry_to_p4rt(tm, e, False))
            _set_config(r.config, m.config.get(e.handle))
            yield R.Entity(direct_meter_entry=r)


def _read_pre(pl: Pipeline, q: R.PacketReplicationEngineEntry):
    sw = pl.switch
    if q.WhichOneof("type") == "clone_session_entry":
        want, store, kind, key = (
            q.clone_session_entry.session_id,
            sw.clone_sessions,
            "clone_session_entry",
            "session_id",
        )
    else:
        want, store, kind, key = (
            q.multicast_group_entry.multicast_group_id, sw.mcast_groups, "multicast_group_entry", "multicast_group_id"
        )  # fmt: skip
    for ident, reps in sorted(store.items()):
        if want and ident != want:
            continue
        r = R.Entity()
        m = getattr(r.packet_replication_engine_entry, kind)
        setattr(m, key, ident)
        for port, inst in reps:
            m.replicas.add(egress_port=port, instance=inst)
        yield r


def _read_members(pl: Pipeline, q: R.ActionProfileMember):
    infos = [pl.profile(q.action_profile_id)[0]] if q.action_profile_id else list(pl.profiles.values())
    for info in infos:
        prof = pl.switch.profiles[info.preamble.name]
        for mid, (jid, data) in sorted(prof.members.items()):
            if q.member_id and mid != q.member_id:
                continue
            r = R.ActionProfileMember(action_profile_id=info.preamble.id, member_id=mid)
            holder = R.TableEntry()
            pl._set_action(pl.profile_table(info.preamble.id), holder, jid, data)
            r.action.CopyFrom(holder.action.action)
            yield R.Entity(action_profile_member=r)


def _read_groups(pl: Pipeline, q: R.ActionProfileGroup):
    infos = [pl.profile(q.action_profile_id)[0]] if q.action_profile_id else list(pl.profiles.values())
    for info in infos:
        for gid, members in sorted(pl.switch.profiles[info.preamble.name].groups.items()):
            if q.group_id and gid != q.group_id:
                continue
            r = R.ActionProfileGroup(action_profile_id=info.preamble.id, group_id=gid)
            for mid in dict.fromkeys(members):
                r.members.add(member_id=mid, weight=members.count(mid))
            yield R.Entity(action_profile_group=r)


def _read_value_sets(pl: Pipeline, q: R.ValueSetEntry):
    for info in _all_or_one(pl.value_sets, q.value_set_id, "value set"):
        r = R.ValueSetEntry(value_set_id=info.preamble.id)
        for v in sorted(pl.switch.vsets.get(info.preamble.name, ())):
            member = r.members.add()
            member.match.add(field_id=1).exact.value = encode(v)
        yield R.Entity(value_set_entry=r)


def _read_digests(pl: Pipeline, q: R.DigestEntry):
    if q.digest_id:
        _indexed(pl.digests, q.digest_id, "digest")
    for did, cfg in sorted(pl.digest_config.items()):
        if not q.digest_id or did == q.digest_id:
            yield R.Entity(digest_entry=R.DigestEntry(digest_id=did, config=cfg))


_READS = {
    "table_entry": _read_tables,
    "counter_entry": _read_counters,
    "register_entry": _read_registers,
    "meter_entry": _read_meters,
    "direct_counter_entry": _read_direct_counters,
    "direct_meter_entry": _read_direct_meters,
    "packet_replication_engine_entry": _read_pre,
    "action_profile_member": _read_members,
    "action_profile_group": _read_groups,
    "value_set_entry": _read_value_sets,
    "digest_entry": _read_digests,
}
