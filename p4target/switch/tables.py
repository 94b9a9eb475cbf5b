"""Match-action tables: exact, lpm, ternary, range (and optional as ternary) keys,
entries with priorities, a default entry, and the direct counters of a hit."""

from __future__ import annotations

from dataclasses import dataclass, field

from .expressions import reader
from .program import JsonError, Phv, Program, hexint


@dataclass
class KeyField:
    match_type: str  # exact | lpm | ternary | range | valid
    hid: int
    fidx: int
    width: int
    mask: int | None
    name: str


@dataclass
class Match:
    """One key field's part of an entry: value and mask (exact/ternary/lpm) or range."""

    value: int = 0
    mask: int = -1
    prefix: int | None = None
    lo: int = 0
    hi: int = -1


@dataclass
class Entry:
    handle: int
    match: list[Match]
    action_id: int
    data: list[int]
    priority: int = 0
    # Packets/bytes of the direct counter, when the table has one.
    packets: int = 0
    bytes: int = 0
    idle_ns: int = 0
    timeout_ms: int = 0


class EntryError(ValueError):
    """An entry that does not fit its table (wrong fields, widths or action)."""


@dataclass
class Table:
    name: str
    id: int
    keys: list[KeyField]
    match_type: str
    actions: dict[str, int]  # action name -> id
    action_ids: set[int]
    next_tables: dict[str, str | None]
    base_default_next: str | None
    max_size: int
    default_action: tuple[int, list[int]] | None
    default_const: bool
    with_counters: bool
    direct_meter: str | None
    implementation: str | None  # action profile name (indirect tables)
    const_entries: bool = False
    entries: dict[int, Entry] = field(default_factory=dict)
    _exact: dict[tuple, int] = field(default_factory=dict)
    _next_handle: int = 0
    _readers: list = field(default_factory=list)
    default_packets: int = 0
    default_bytes: int = 0
    action_widths: dict[int, list[int]] = field(default_factory=dict)

    def key_values(self, phv: Phv) -> list[int]:
        return [r(phv, None) for r in self._readers]

    # -- entries -------------------------------------------------------------------
    def check(
        self, match: list[Match], action_id: int, data: list[int], action_widths: dict[int, list[int]]
    ) -> None:
        if len(match) != len(self.keys):
            raise EntryError(f"table {self.name}: {len(match)} match fields, the table has {len(self.keys)}")
        for m, k in zip(match, self.keys, strict=True):
            top = (1 << k.width) - 1
            if (
                m.value & ~top
                or (m.mask != -1 and m.mask & ~top)
                or m.lo > top
                or (m.hi != -1 and m.hi > top)
            ):
                raise EntryError(f"table {self.name}: value of {k.name} does not fit {k.width} bits")
            if k.match_type == "lpm" and m.prefix is not None and not 0 <= m.prefix <= k.width:
                raise EntryError(
                    f"table {self.name}: prefix length {m.prefix} of {k.name} outside 0..{k.width}"
                )
        if action_id not in self.action_ids:
            raise EntryError(f"table {self.name}: action id {action_id} is not one of the table's actions")
        widths = action_widths[action_id]
        if len(data) != len(widths):
            raise EntryError(f"table {self.name}: the action takes {len(widths)} parameters, got {len(data)}")
        for v, w in zip(data, widths, strict=True):
            if v < 0 or v >> w:
                raise EntryError(f"table {self.name}: action data {v:#x} does not fit {w} bits")

    def _exact_key(self, match: list[Match]) -> tuple:
        return tuple(m.value for m in match)

    def find(self, match: list[Match], priority: int = 0) -> Entry | None:
        """The installed entry with exactly this key (and priority where it matters)."""
        if self.match_type in ("exact",) and all(k.match_type in ("exact", "valid") for k in self.keys):
            h = self._exact.get(self._exact_key(match))
            return self.entries.get(h) if h is not None else None
        for e in self.entries.values():
            if e.match == match and (e.priority == priority or not self._prioritised()):
                return e
        return None

    def _prioritised(self) -> bool:
        return any(k.match_type in ("ternary", "range") for k in self.keys)

    def add(self, match: list[Match], action_id: int, data: list[int], priority: int = 0) -> Entry:
        self.check(match, action_id, data, self.action_widths)
        if len(self.entries) >= self.max_size:
            raise EntryError(f"table {self.name} is full ({self.max_size} entries)")
        if self.find(match, priority) is not None:
            raise EntryError(f"table {self.name}: an entry with this key exists already")
        self._next_handle += 1
        e = Entry(self._next_handle, match, action_id, list(data), priority)
        self.entries[e.handle] = e
        if self._is_exact():
            self._exact[self._exact_key(match)] = e.handle
        self._order = None
        return e

    def remove(self, e: Entry) -> None:
        del self.entries[e.handle]
        if self._is_exact():
            self._exact.pop(self._exact_key(e.match), None)
        self._order = None

    def clear(self) -> None:
        self.entries.clear()
        self._exact.clear()
        self._order = None

    def _is_exact(self) -> bool:
        return all(k.match_type in ("exact", "valid") for k in self.keys)

    # -- lookup ----------------------------------------------------------------------
    _order: list[Entry] | None = None

    def lookup(self, phv: Phv) -> Entry | None:
        if not self.keys:
            return None
        vals = self.key_values(phv)
        if self._is_exact():
            h = self._exact.get(tuple(vals))
            return self.entries.get(h) if h is not None else None
        if self._order is None:
            # Most specific first: longest prefix for lpm, highest priority (lowest
            # number in BMv2) for ternary/range, insertion order to break ties.
            if self._prioritised():
                self._order = sorted(self.entries.values(), key=lambda e: (-e.priority, e.handle))
            else:
                self._order = sorted(
                    self.entries.values(), key=lambda e: (-sum(m.prefix or 0 for m in e.match), e.handle)
                )
        for e in self._order:
            if all(_hit(k, m, v) for k, m, v in zip(self.keys, e.match, vals, strict=True)):
                return e
        return None


def _hit(k: KeyField, m: Match, v: int) -> bool:
    t = k.match_type
    if t in ("exact", "valid"):
        return v == m.value
    if t == "range":
        return m.lo <= v <= m.hi
    if t == "lpm":
        if m.prefix is None:
            return v == m.value
        shift = k.width - m.prefix
        return (v >> shift) == (m.value >> shift)
    return (v & m.mask) == (m.value & m.mask)


def _masked(r, mask: int):
    return lambda phv, d: r(phv, d) & mask


def build_table(
    prog: Program, j: dict, action_names: dict[int, str], action_widths: dict[int, list[int]]
) -> Table:
    name = j["name"]
    where = f"table {name}"
    keys, readers = [], []
    for k in j.get("key", []):
        mt = k["match_type"]
        if mt not in ("exact", "lpm", "ternary", "range", "valid", "optional"):
            raise JsonError(f"{where}: unsupported match type '{mt}'")
        target = k["target"]
        if mt == "valid":
            inst = prog.header(target if isinstance(target, str) else target[0], where)
            hid, fidx, width = inst.id, -1, 1
        else:
            hid, fidx = prog.field_ref(target, where)
            width = 1 if fidx < 0 else prog.instances[hid].type.widths[fidx]
        mask = hexint(k["mask"]) if k.get("mask") else None
        keys.append(
            KeyField(
                "ternary" if mt == "optional" else mt,
                hid,
                fidx,
                width,
                mask,
                k.get("name", ".".join(target) if isinstance(target, list) else target),
            )
        )
        r = reader(prog, hid, fidx)
        readers.append(_masked(r, mask) if mask is not None else r)
    ids = list(j.get("action_ids", []))
    for a in ids:
        if a not in action_names:
            raise JsonError(f"{where}: unknown action id {a}")
    default = None
    const = False
    de = j.get("default_entry")
    if de is not None:
        if de["action_id"] not in action_names:
            raise JsonError(f"{where}: default entry uses unknown action id {de['action_id']}")
        default = (de["action_id"], [hexint(x) for x in de.get("action_data", [])])
        const = bool(de.get("action_const", False))
    t = Table(
        name=name, id=j.get("id", 0), keys=keys, match_type=j.get("match_type", "exact"),
        actions={action_names[a]: a for a in ids}, action_ids=set(ids),
        next_tables=dict(j.get("next_tables", {})), base_default_next=j.get("base_default_next"),
        max_size=int(j.get("max_size", 1024)), default_action=default, default_const=const,
        with_counters=bool(j.get("with_counters", False)), direct_meter=j.get("direct_meters"),
        implementation=j.get("action_profile") if j.get("type", "simple") != "simple" else None,
    )  # fmt: skip
    t._readers = readers
    t.action_widths = action_widths
    for k, e in enumerate(j.get("entries", [])):
        match = []
        for km, _kf in zip(e["match_key"], keys, strict=True):
            mt = km["match_type"]
            if mt in ("exact", "valid"):
                match.append(Match(value=hexint(km["key"]) if mt == "exact" else int(bool(km["key"]))))
            elif mt == "lpm":
                match.append(Match(value=hexint(km["key"]), prefix=int(km["prefix_length"])))
            elif mt == "ternary":
                match.append(Match(value=hexint(km["key"]), mask=hexint(km["mask"])))
            elif mt == "range":
                match.append(Match(lo=hexint(km["start"]), hi=hexint(km["end"])))
            else:
                raise JsonError(f"{where}: entry {k}: unsupported match type '{mt}'")
        ae = e["action_entry"]
        # BMv2: a lower number is a higher priority; store as "higher wins".
        prio = -int(e.get("priority", k + 1))
        t.add(match, ae["action_id"], [hexint(x) for x in ae.get("action_data", [])], prio)
    t.const_entries = bool(j.get("entries"))
    return t
