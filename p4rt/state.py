"""Switch state as sets of P4Runtime entities: diff, ordered apply with rollback, verify.

The controller never writes "what changed" by hand: it computes the complete desired
state of every switch, reads what is installed, and applies the difference.

- `key(entity)` is an entity's identity (a table entry's table, match and priority; a
  member's or group's id; a multicast group's or clone session's id), `canonical`
  its comparable content (fields a read adds, like counters, are cleared).
- `diff(installed, desired)` gives inserts, modifies and deletes.
- `apply(changes)` writes every switch's changes in make-before-break phases: first
  every insert on every switch (new hops exist before anything steers to them), then
  every modify (the switch-over), then every delete (the old path goes last). Within a
  phase, resources a table entry points at (members, groups, replication) are written
  before the entries and removed after them. If a switch refuses a write, everything
  already applied is undone in reverse order, so the previous state stays in force,
  and the switch's error is raised.
- `verify` reads back and reports what differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from p4.v1 import p4runtime_pb2 as R

from p4rt.client import SwitchConnection
from p4rt.entities import update
from p4rt.errors import P4RuntimeError, WriteError

Key = tuple
BATCH = 500  # updates per Write: large enough to be fast, small enough to stay under limits

# Order of kinds when creating; deletion uses the reverse.
_KIND_ORDER = {
    "action_profile_member": 0,
    "action_profile_group": 1,
    "packet_replication_engine_entry": 2,
    "meter_entry": 3,
    "table_entry": 4,
}


def canonical(e: R.Entity) -> R.Entity:
    """A copy without what reads add (counter data, idle times), match fields sorted."""
    c = R.Entity()
    c.CopyFrom(e)
    if c.WhichOneof("entity") == "table_entry":
        t = c.table_entry
        t.ClearField("counter_data")
        t.ClearField("meter_counter_data")
        t.ClearField("time_since_last_hit")
        fields = sorted(t.match, key=lambda m: m.field_id)
        del t.match[:]
        t.match.extend(fields)
    elif c.WhichOneof("entity") == "meter_entry":
        c.meter_entry.ClearField("counter_data")
    return c


def key(e: R.Entity) -> Key:
    kind = e.WhichOneof("entity")
    if kind == "table_entry":
        t = e.table_entry
        if t.is_default_action:
            return (kind, t.table_id, "default")
        match = tuple(sorted((m.field_id, m.SerializeToString(deterministic=True)) for m in t.match))
        return (kind, t.table_id, match, t.priority)
    if kind == "action_profile_member":
        m = e.action_profile_member
        return (kind, m.action_profile_id, m.member_id)
    if kind == "action_profile_group":
        g = e.action_profile_group
        return (kind, g.action_profile_id, g.group_id)
    if kind == "meter_entry":
        return (kind, e.meter_entry.meter_id, e.meter_entry.index.index)
    if kind == "packet_replication_engine_entry":
        p = e.packet_replication_engine_entry
        which = p.WhichOneof("type")
        ident = (
            p.multicast_group_entry.multicast_group_id
            if which == "multicast_group_entry"
            else (p.clone_session_entry.session_id)
        )
        return (kind, which, ident)
    raise ValueError(f"the controller does not manage {kind} entities")


def _index(entities: Iterable[R.Entity]) -> dict[Key, R.Entity]:
    out: dict[Key, R.Entity] = {}
    for e in entities:
        c = canonical(e)
        k = key(c)
        if k in out:
            raise ValueError(f"the desired state names one entity twice: {k}")
        out[k] = c
    return out


@dataclass
class Changes:
    """What turns one switch's installed state into its desired state."""

    inserts: list[R.Entity] = field(default_factory=list)
    modifies: list[tuple[R.Entity, R.Entity]] = field(default_factory=list)  # (old, new)
    deletes: list[R.Entity] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.inserts) + len(self.modifies) + len(self.deletes)


def _sort(entities: list[R.Entity], reverse: bool = False) -> list[R.Entity]:
    return sorted(entities, key=lambda e: _KIND_ORDER[e.WhichOneof("entity")], reverse=reverse)


def diff(installed: Iterable[R.Entity], desired: Iterable[R.Entity]) -> Changes:
    have, want = _index(installed), _index(desired)
    ch = Changes()
    for k, e in want.items():
        old = have.get(k)
        if old is None:
            ch.inserts.append(e)
        elif old.SerializeToString(deterministic=True) != e.SerializeToString(deterministic=True):
            ch.modifies.append((old, e))
    ch.deletes = [e for k, e in have.items() if k not in want]
    ch.inserts = _sort(ch.inserts)
    ch.modifies.sort(key=lambda p: _KIND_ORDER[p[1].WhichOneof("entity")])
    ch.deletes = _sort(ch.deletes, reverse=True)
    return ch


def _default_entry(e: R.Entity) -> bool:
    return e.WhichOneof("entity") == "table_entry" and e.table_entry.is_default_action


def _modify_only(e: R.Entity) -> bool:
    """Entities that always exist (a table's default, a meter cell): only MODIFY applies."""
    return _default_entry(e) or e.WhichOneof("entity") == "meter_entry"


def _reset(e: R.Entity) -> R.Update:
    """What deleting a modify-only entity means: a meter cell back to unconfigured."""
    c = R.Entity()
    c.CopyFrom(e)
    c.meter_entry.ClearField("config")
    return update("MODIFY", c)


def _steps(ch: Changes) -> list[list[R.Update]]:
    """The three phases of one switch as lists of updates."""
    ins = [update("MODIFY" if _modify_only(e) else "INSERT", e) for e in ch.inserts]
    mod = [update("MODIFY", new) for _, new in ch.modifies]
    # A default action is left as it is; a meter cell is reset.
    dels = [
        _reset(e) if e.WhichOneof("entity") == "meter_entry" else update("DELETE", e)
        for e in ch.deletes
        if not _default_entry(e)
    ]
    return [ins, mod, dels]


def _undo(u: R.Update, old: R.Entity | None) -> R.Update:
    if u.type == R.Update.INSERT:
        return update("DELETE", u.entity)
    if u.type == R.Update.DELETE:
        return update("INSERT", u.entity)
    assert old is not None
    return update("MODIFY", old)


class ApplyError(Exception):
    """A switch refused part of a change; everything applied before was undone."""

    def __init__(self, switch: str, cause: P4RuntimeError, rolled_back: int, rollback_errors: list[str]):
        msg = f"{switch}: {cause}; rolled back {rolled_back} updates"
        if rollback_errors:
            msg += f" ({len(rollback_errors)} could not be undone: {rollback_errors[0]})"
        super().__init__(msg)
        self.switch, self.cause = switch, cause
        self.rollback_errors = rollback_errors


@dataclass
class ApplyReport:
    writes: int = 0  # updates sent
    batches: int = 0


def apply(conns: Mapping[str, SwitchConnection], changes: Mapping[str, Changes]) -> ApplyReport:
    """Apply every switch's changes in make-before-break phases; all or nothing."""
    report = ApplyReport()
    done: list[tuple[str, R.Update, R.Entity | None]] = []  # for rollback, in order
    olds = {name: {key(new): old for old, new in ch.modifies} for name, ch in changes.items()}
    steps = {name: _steps(ch) for name, ch in changes.items()}
    for phase in range(3):
        for name in sorted(steps):
            updates = steps[name][phase]
            for i in range(0, len(updates), BATCH):
                batch = updates[i : i + BATCH]
                try:
                    conns[name].write(batch, atomicity=R.WriteRequest.CONTINUE_ON_ERROR)
                except WriteError as e:
                    failed = {err.index for err in e.errors}
                    # The updates of this batch that did succeed must be undone too.
                    for j, u in enumerate(batch):
                        if j not in failed:
                            done.append((name, u, olds[name].get(key(u.entity))))
                    rolled, errs = _rollback(conns, done)
                    raise ApplyError(name, e, rolled, errs) from None
                except P4RuntimeError as e:
                    rolled, errs = _rollback(conns, done)
                    raise ApplyError(name, e, rolled, errs) from None
                report.writes += len(batch)
                report.batches += 1
                done.extend((name, u, olds[name].get(key(u.entity))) for u in batch)
    return report


def _rollback(conns: Mapping[str, SwitchConnection], done: list) -> tuple[int, list[str]]:
    errors: list[str] = []
    for name, u, old in reversed(done):
        try:
            conns[name].write([_undo(u, old)])
        except P4RuntimeError as e:
            errors.append(f"{name}: {e}")
    return len(done), errors


def read_state(conn: SwitchConnection, extra: Iterable[R.Entity] = ()) -> list[R.Entity]:
    """Everything the controller manages on one switch, as installed.

    A wildcard read leaves default entries out (P4Runtime 1.4, 9.1.4), and meter cells
    are not entries of a set: the `extra` ones (a default entry, a meter cell) are read
    one by one, and a meter cell without configuration counts as absent. The entries of a
    const table (the program's own, e.g. fabric.p4's lb_slot) are nobody's to manage and
    are left out.
    """
    want = [
        R.Entity(table_entry=R.TableEntry()),
        R.Entity(action_profile_member=R.ActionProfileMember()),
        R.Entity(action_profile_group=R.ActionProfileGroup()),
    ]
    const = {t.preamble.id for t in conn.p4info.p4info.tables if t.is_const_table} if conn.p4info else set()
    out = []
    for e in want:
        out.extend(g for g in conn.read([e]) if g.table_entry.table_id not in const)
    pre = R.Entity()
    pre.packet_replication_engine_entry.multicast_group_entry.multicast_group_id = 0
    out.extend(conn.read([pre]))
    cl = R.Entity()
    cl.packet_replication_engine_entry.clone_session_entry.session_id = 0
    out.extend(conn.read([cl]))
    for e in extra:
        for got in conn.read([e]):
            if got.WhichOneof("entity") == "meter_entry" and not got.meter_entry.HasField("config"):
                continue
            out.append(got)
    return out


def verify(conn: SwitchConnection, desired: Iterable[R.Entity]) -> Changes:
    """What still differs between the switch and its desired state (empty when none)."""
    desired = list(desired)
    return diff(read_state(conn, _reads_of(desired)), desired)


def _reads_of(entities: Iterable[R.Entity]) -> list[R.Entity]:
    """The reads that find the modify-only entities of a desired state."""
    out = []
    for e in entities:
        if _default_entry(e):
            out.append(
                R.Entity(table_entry=R.TableEntry(table_id=e.table_entry.table_id, is_default_action=True))
            )
        elif e.WhichOneof("entity") == "meter_entry":
            m = R.MeterEntry(meter_id=e.meter_entry.meter_id)
            m.index.index = e.meter_entry.index.index
            out.append(R.Entity(meter_entry=m))
    return out
