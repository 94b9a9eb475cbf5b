"""The P4Info as an index: names to ids and widths, the way p4runtime-shell resolves them."""

from __future__ import annotations

from collections.abc import Mapping

from p4.config.v1 import p4info_pb2 as P
from p4.v1 import p4runtime_pb2 as R

from p4rt.entities import Lpm, MatchValue, Range, TableWrite, Ternary, Value, _int, encode


def _by_name(items, kind: str) -> dict[str, object]:
    """Index P4Info objects by full name and by alias (p4runtime-shell accepts either)."""
    out: dict[str, object] = {}
    for it in items:
        out[it.preamble.name] = it
        out.setdefault(it.preamble.alias, it)
    return out


class P4InfoIndex:
    """Names to ids and widths, the way p4runtime-shell resolves them."""

    def __init__(self, p4info: P.P4Info) -> None:
        self.p4info = p4info
        self.tables = _by_name(p4info.tables, "table")
        self.actions = _by_name(p4info.actions, "action")
        self.counters = _by_name(p4info.counters, "counter")
        self.direct_counters = _by_name(p4info.direct_counters, "direct counter")
        self.meters = _by_name(p4info.meters, "meter")
        self.registers = _by_name(p4info.registers, "register")
        self.profiles = _by_name(p4info.action_profiles, "action profile")

    @staticmethod
    def _get(index: Mapping[str, object], kind: str, name: str):
        try:
            return index[name]
        except KeyError:
            raise KeyError(f"P4Info has no {kind} {name!r}") from None

    def table(self, name: str) -> P.Table:
        return self._get(self.tables, "table", name)

    def action(self, name: str) -> P.Action:
        return self._get(self.actions, "action", name)

    def counter(self, name: str) -> P.Counter:
        return self._get(self.counters, "counter", name)

    def register(self, name: str) -> P.Register:
        return self._get(self.registers, "register", name)

    def meter(self, name: str) -> P.Meter:
        return self._get(self.meters, "meter", name)

    def entry(self, w: TableWrite) -> R.TableEntry:
        """A `TableWrite` as a table entry (an empty action: match only, for deletes)."""
        match: dict[str, MatchValue] = {}
        for name, v in w.match:
            if isinstance(v, Ternary):
                match[name] = (v.value, v.mask)
            elif isinstance(v, Range):
                match[name] = (v.low, v.high)
            elif isinstance(v, Lpm):
                match[name] = (v.value, v.prefix)
            else:
                match[name] = v
        return self.table_entry(w.table, match, w.action or None, dict(w.params), priority=w.priority)

    def register_cell(self, name: str, index: int, value: int | None = None) -> R.Entity:
        """A register cell (with a value to write, or without one to read)."""
        r = self.register(name)
        e = R.RegisterEntry(register_id=r.preamble.id)
        e.index.index = index
        if value is not None:
            e.data.bitstring = encode(value, r.type_spec.bitstring.bit.bitwidth)
        return R.Entity(register_entry=e)

    def meter_cell(self, name: str, index: int, rates: tuple[int, int, int, int]) -> R.Entity:
        """A meter cell's configuration (cir, cburst, pir, pburst)."""
        e = R.MeterEntry(meter_id=self.meter(name).preamble.id)
        e.index.index = index
        e.config.cir, e.config.cburst, e.config.pir, e.config.pburst = rates
        return R.Entity(meter_entry=e)

    def table_entry(
        self,
        table: str,
        match: Mapping[str, MatchValue],
        action: str | None = None,
        params: Mapping[str, Value] | None = None,
        priority: int = 0,
        *,
        member: int | None = None,
        group: int | None = None,
    ) -> R.TableEntry:
        """One table entry from names: fields left out of `match` are wildcards."""
        t = self.table(table)
        e = R.TableEntry(table_id=t.preamble.id, priority=priority)
        fields = {f.name: f for f in t.match_fields}
        for name, value in match.items():
            f = fields.get(name)
            if f is None:
                raise KeyError(f"table {table!r} has no match field {name!r} (has {', '.join(fields)})")
            m = e.match.add(field_id=f.id)
            w = f.bitwidth
            kind = f.match_type
            # A don't-care match is left out (P4Runtime 1.4, 9.1.1): zero mask, /0, full range.
            if kind == P.MatchField.EXACT:
                m.exact.value = encode(value, w)
            elif kind == P.MatchField.LPM:
                v, plen = value
                if int(plen) == 0:
                    e.match.pop()
                    continue
                full = (1 << w) - 1
                keep = full ^ ((1 << (w - int(plen))) - 1) if int(plen) <= w else full
                m.lpm.value, m.lpm.prefix_len = encode(_int(v) & keep, w), int(plen)
            elif kind == P.MatchField.TERNARY:
                v, mask = value
                if _int(mask) == 0:
                    e.match.pop()
                    continue
                m.ternary.value, m.ternary.mask = encode(_int(v) & _int(mask), w), encode(mask, w)
            elif kind == P.MatchField.RANGE:
                lo, hi = value
                if _int(lo) == 0 and _int(hi) == (1 << w) - 1:
                    e.match.pop()
                    continue
                m.range.low, m.range.high = encode(lo, w), encode(hi, w)
            elif kind == P.MatchField.OPTIONAL:
                m.optional.value = encode(value, w)
            else:
                raise ValueError(f"table {table!r}: match kind of {name!r} is not supported")
        if member is not None:
            e.action.action_profile_member_id = member
        elif group is not None:
            e.action.action_profile_group_id = group
        elif action is not None:
            e.action.action.CopyFrom(self.action_call(action, params or {}))
        return e

    def action_call(self, action: str, params: Mapping[str, Value]) -> R.Action:
        a = self.action(action)
        call = R.Action(action_id=a.preamble.id)
        known = {p.name: p for p in a.params}
        missing = set(known) - set(params)
        if missing:
            raise KeyError(f"action {action!r} needs {', '.join(sorted(missing))}")
        for name, value in params.items():
            p = known.get(name)
            if p is None:
                raise KeyError(f"action {action!r} has no parameter {name!r}")
            call.params.add(param_id=p.id, value=encode(value, p.bitwidth))
        return call
