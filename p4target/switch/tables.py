"""Match-action tables: exact, lpm, ternary, range (and optional as ternary) keys,
entries with priorities, a default entry, and the direct counters of a hit."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from .expressions import reader
from .program import JsonError, Phv, Program, bounded, hexint


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
    timeout_ms: int = 0
    last_hit: float = 0.0  # monotonic seconds (insertion counts as a hit)
    notified: bool = False  # idle-timeout notification sent since the last hit
    # Indirect tables: the entry names an action profile member or group instead.
    member: int | None = None
    group: int | None = None


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
    support_timeout: bool = False
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

    def _ident(self, match: list[Match], priority: int) -> tuple:
        """What makes an entry unique: its whole key, and its priority where it matters."""
        return (
            *((m.value, m.mask, m.prefix, m.lo, m.hi) for m in match),
            priority if self._prioritised() else 0,
        )

    def find(self, match: list[Match], priority: int = 0) -> Entry | None:
        """The installed entry with exactly this key (and priority where it matters)."""
        h = self._ids.get(self._ident(match, priority))
        return self.entries.get(h) if h is not None else None

    def _prioritised(self) -> bool:
        return self._prio

    def add(
        self,
        match: list[Match],
        action_id: int,
        data: list[int],
        priority: int = 0,
        member: int | None = None,
        group: int | None = None,
    ) -> Entry:
        if member is None and group is None:
            self.check(match, action_id, data, self.action_widths)
        if len(self.entries) >= self.max_size:
            raise EntryError(f"table {self.name} is full ({self.max_size} entries)")
        if self.find(match, priority) is not None:
            raise EntryError(f"table {self.name}: an entry with this key exists already")
        self._next_handle += 1
        e = Entry(self._next_handle, match, action_id, list(data), priority, member=member, group=group)
        self.restore(e)
        return e

    def restore(self, e: Entry) -> None:
        """Index an entry (a new one, or one removed before, handle and counters kept).
        Exact and single-LPM tables: O(1); the others: one bisect into a sorted list."""
        self.entries[e.handle] = e
        self._ids[self._ident(e.match, e.priority)] = e.handle
        if self._is_exact():
            self._exact[self._exact_key(e.match)] = e.handle
        elif self._lpm is not None:
            plen = self._plen(e)
            if plen not in self._by_len:
                self._by_len[plen] = {}
                self._lens = sorted(self._by_len, reverse=True)
            self._by_len[plen][self._lpm_key([m.value for m in e.match], plen)] = e.handle
        else:
            self._tss_add(e)

    def _plen(self, e: Entry) -> int:
        m = e.match[self._lpm]
        return self.keys[self._lpm].width if m.prefix is None else m.prefix

    def remove(self, e: Entry) -> None:
        del self.entries[e.handle]
        self._ids.pop(self._ident(e.match, e.priority), None)
        if self._is_exact():
            self._exact.pop(self._exact_key(e.match), None)
        elif self._lpm is not None:
            plen = self._plen(e)
            bucket = self._by_len.get(plen, {})
            bucket.pop(self._lpm_key([m.value for m in e.match], plen), None)
            if not bucket:
                self._by_len.pop(plen, None)
                self._lens = sorted(self._by_len, reverse=True)
        else:
            self._tss_remove(e)

    def clear(self) -> None:
        self.entries.clear()
        self._ids.clear()
        self._exact.clear()
        self._by_len.clear()
        self._lens = []
        self._groups.clear()
        self._order = []

    def _is_exact(self) -> bool:
        return self._exact_only

    def _lpm_index(self) -> int | None:
        """Position of the only lpm key when all others are exact (then lookups use
        one dict per prefix length, longest first), else None."""
        kinds = [k.match_type for k in self.keys]
        if kinds.count("lpm") == 1 and all(t in ("exact", "valid", "lpm") for t in kinds):
            return kinds.index("lpm")
        return None

    def _lpm_key(self, values: list[int], plen: int) -> tuple:
        i = self._lpm
        k = self.keys[i]
        shift = k.width - plen
        return (*values[:i], values[i] >> shift << shift if plen else 0, *values[i + 1 :])

    # -- lookup ----------------------------------------------------------------------
    _lpm: int | None = None
    _prio: bool = False
    _exact_only: bool = True
    _ids: dict = field(default_factory=dict)
    _by_len: dict = field(default_factory=dict)
    _lens: list[int] = field(default_factory=list)
    # Tuple space search: mask combination -> _Group; _order is the groups best-first.
    _groups: dict = field(default_factory=dict)
    _order: list = field(default_factory=list)

    def index_shape(self) -> None:
        """Fix the lookup structure from the key kinds (call once the keys are set)."""
        self._lpm = self._lpm_index()
        self._prio = any(k.match_type in ("ternary", "range") for k in self.keys)
        self._exact_only = all(k.match_type in ("exact", "valid") for k in self.keys)

    def lookup(self, phv: Phv) -> Entry | None:
        if not self.keys:
            return None
        vals = self.key_values(phv)
        if self._exact_only:
            h = self._exact.get(tuple(vals))
            return self.entries.get(h) if h is not None else None
        if self._lpm is not None:
            for plen in self._lens:
                h = self._by_len[plen].get(self._lpm_key(vals, plen))
                if h is not None:
                    return self.entries[h]
            return None
        # Tuple space search: one hash per distinct mask combination, groups visited
        # best-first; range keys are checked within a bucket (kept best-first).
        best, best_rank = None, None
        for g in self._order:
            if best_rank is not None and g.ranks[-1] <= best_rank:
                break
            for rank, e in g.buckets.get(tuple(v & m for v, m in zip(vals, g.masks, strict=True)), ()):
                if best_rank is not None and rank <= best_rank:
                    break
                if not g.ranged or all(
                    k.match_type != "range" or m.lo <= v <= m.hi
                    for k, m, v in zip(self.keys, e.match, vals, strict=True)
                ):
                    best, best_rank = e, rank
                    break
        return best

    def _rank(self, e: Entry) -> tuple:
        # Ternary/range: the highest priority wins; otherwise the longest prefix.
        # Ties go to the older entry.
        if self._prio:
            return (e.priority, -e.handle)
        return (sum(m.prefix or 0 for m in e.match), -e.handle)

    def _masks(self, e: Entry) -> tuple:
        out = []
        for k, m in zip(self.keys, e.match, strict=True):
            full = (1 << k.width) - 1
            if k.match_type in ("exact", "valid"):
                out.append(full)
            elif k.match_type == "lpm":
                p = k.width if m.prefix is None else m.prefix
                out.append(full >> (k.width - p) << (k.width - p) if p else 0)
            elif k.match_type == "range":
                out.append(0)
            else:
                out.append(m.mask & full)
        return tuple(out)

    def _tss_add(self, e: Entry) -> None:
        masks = self._masks(e)
        key = tuple(m.value & mk for m, mk in zip(e.match, masks, strict=True))
        g = self._groups.get(masks)
        if g is None:
            g = self._groups[masks] = _Group(masks, any(k.match_type == "range" for k in self.keys))
        rank = self._rank(e)
        old_top = g.ranks[-1] if g.ranks else None
        # Buckets are best-first: insert by descending rank.
        bucket = g.buckets.setdefault(key, [])
        bisect.insort(bucket, (rank, e), key=lambda x: _neg(x[0]))
        bisect.insort(g.ranks, rank)
        if old_top is None or rank > old_top:
            self._reorder()

    def _tss_remove(self, e: Entry) -> None:
        masks = self._masks(e)
        key = tuple(m.value & mk for m, mk in zip(e.match, masks, strict=True))
        g = self._groups[masks]
        rank = self._rank(e)
        bucket = g.buckets[key]
        bucket.remove((rank, e))
        if not bucket:
            del g.buckets[key]
        top = g.ranks[-1]
        del g.ranks[bisect.bisect_left(g.ranks, rank)]
        if not g.ranks:
            del self._groups[masks]
            self._reorder()
        elif rank == top:
            self._reorder()

    def _reorder(self) -> None:
        # Few groups (distinct mask combinations), so a full sort is cheap.
        self._order = sorted(self._groups.values(), key=lambda g: g.ranks[-1], reverse=True)


def _neg(rank: tuple) -> tuple:
    return tuple(-x for x in rank)


@dataclass(eq=False)
class _Group:
    """Entries sharing one combination of masks: hashed by their masked key."""

    masks: tuple
    ranged: bool
    buckets: dict = field(default_factory=dict)  # masked key -> [(rank, entry)] best-first
    ranks: list = field(default_factory=list)  # every entry's rank, ascending


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
        max_size=bounded(j.get("max_size", 1024), where, "max_size", 0, 1 << 31), default_action=default, default_const=const,
        with_counters=bool(j.get("with_counters", False)), direct_meter=j.get("direct_meters"),
        implementation=j.get("action_profile") if j.get("type", "simple") != "simple" else None,
        support_timeout=bool(j.get("support_timeout", False)),
    )  # fmt: skip
    t._readers = readers
    t.action_widths = action_widths
    t.index_shape()
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
