"""The loaded program's model: header types and instances, stacks, unions, the PHV,
and the `Program` that indexes them, read from BMv2 JSON (`load_types`).

The execution modules (expressions, actions, hashes, parse, tables, profiles, engine)
are built on this model; it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class JsonError(ValueError):
    """A BMv2 JSON that cannot be loaded: names the object and the problem."""


MAX_WIDTH = 1 << 16  # bits of one field, register cell or parameter
MAX_CELLS = 1 << 24  # cells of one register, counter or meter array


def bounded(value: Any, where: str, what: str, low: int, high: int) -> int:
    """An integer of the JSON within [low, high], or a JsonError naming it."""
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise JsonError(f"{where}: {what} {value!r} is not an integer") from None
    if not low <= v <= high:
        raise JsonError(f"{where}: {what} {v} outside {low}..{high}")
    return v


def hexint(s: str | int) -> int:
    if isinstance(s, int):
        return s
    s = s.strip()
    neg = s.startswith("-")
    v = int(s[1:] if neg else s, 16)
    return -v if neg else v


# ---------------------------------------------------------------- packet state


class Header:
    """One header instance: field values (unsigned ints) and validity."""

    __slots__ = ("valid", "values")

    def __init__(self, nfields: int, valid: bool) -> None:
        self.values = [0] * nfields
        self.valid = valid


@dataclass
class HeaderType:
    name: str
    fields: list[str]
    widths: list[int]  # -1 for the variable-length field
    signed: list[bool]
    index: dict[str, int]

    @property
    def fixed_bits(self) -> int:
        return sum(w for w in self.widths if w > 0)


@dataclass
class Instance:
    name: str
    id: int
    type: HeaderType
    metadata: bool


class Phv:
    """Headers of one packet, by id; metadata headers are always valid."""

    __slots__ = ("headers", "stack_next", "varbit_len")

    def __init__(self, prog: Program) -> None:
        self.headers = [Header(len(i.type.fields), i.metadata) for i in prog.instances]
        self.stack_next = [0] * len(prog.stacks)
        self.varbit_len: dict[int, int] = {}

    def copy(self) -> Phv:
        p = Phv.__new__(Phv)
        p.headers = []
        for h in self.headers:
            c = Header.__new__(Header)
            c.values, c.valid = list(h.values), h.valid
            p.headers.append(c)
        p.stack_next = list(self.stack_next)
        p.varbit_len = dict(self.varbit_len)
        return p


@dataclass
class Union:
    name: str
    id: int
    header_ids: list[int]
    type_name: str = ""


@dataclass
class Stack:
    """A header stack, or (with `unions`) a stack of header unions; `id` indexes the PHV's
    next-index counters either way."""

    name: str
    id: int
    type: HeaderType
    header_ids: list[int]
    unions: list[Union] | None = None
    members: list[str] | None = None  # a union stack's member names, in union order

    @property
    def elements(self) -> list[list[int]]:
        """The header ids of each element: one header, or every member of a union."""
        if self.unions is None:
            return [[h] for h in self.header_ids]
        return [u.header_ids for u in self.unions]


# ---------------------------------------------------------------- the program


@dataclass
class Program:
    raw: dict
    types: dict[str, HeaderType] = field(default_factory=dict)
    instances: list[Instance] = field(default_factory=list)
    by_name: dict[str, Instance] = field(default_factory=dict)
    stacks: list[Stack] = field(default_factory=list)
    stack_by_name: dict[str, Stack] = field(default_factory=dict)
    unions: dict[str, Union] = field(default_factory=dict)
    union_stacks: dict[str, Stack] = field(default_factory=dict)
    # header id -> the other members of its union: making one valid invalidates them
    siblings: dict[int, tuple[int, ...]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    aliases: dict[str, tuple[int, int]] = field(default_factory=dict)

    def field_ref(self, ref: list, where: str) -> tuple[int, int]:
        """(header id, field index) of a ["header", "field"] reference."""
        try:
            inst_name, fname = ref
        except (TypeError, ValueError):
            raise JsonError(f"{where}: bad field reference {ref!r}") from None
        inst = self.by_name.get(inst_name)
        if inst is None:
            raise JsonError(f"{where}: unknown header instance '{inst_name}'")
        if fname == "$valid$":
            return inst.id, -1
        if fname not in inst.type.index:
            raise JsonError(f"{where}: header '{inst_name}' has no field '{fname}'")
        return inst.id, inst.type.index[fname]

    def header(self, name: str, where: str) -> Instance:
        return _named(self.by_name, name, "header instance", where)

    def stack(self, name: str, where: str) -> Stack:
        return _named(self.stack_by_name, name, "header stack", where)

    def union(self, name: str, where: str) -> Union:
        return _named(self.unions, name, "header union", where)

    def union_stack(self, name: str, where: str) -> Stack:
        return _named(self.union_stacks, name, "header union stack", where)

    def make_valid(self, phv: Phv, hid: int) -> None:
        """Mark a header valid; in a union, the member valid before becomes invalid (BMv2)."""
        phv.headers[hid].valid = True
        for other in self.siblings.get(hid, ()):
            phv.headers[other].valid = False

    def sm(self, fname: str) -> tuple[int, int]:
        """A standard_metadata field (through field_aliases where the JSON has them)."""
        inst = self.by_name.get("standard_metadata")
        if inst is not None and fname in inst.type.index:
            return inst.id, inst.type.index[fname]
        for alias in (
            f"standard_metadata.{fname}",
            f"intrinsic_metadata.{fname}",
            f"queueing_metadata.{fname}",
        ):
            if alias in self.aliases:
                return self.aliases[alias]
        return -1, -1


def _named(objects: dict, name: str, kind: str, where: str) -> Any:
    found = objects.get(name)
    if found is None:
        raise JsonError(f"{where}: unknown {kind} '{name}'")
    return found


def load_types(prog: Program) -> None:
    j = prog.raw
    for t in j.get("header_types", []):
        names, widths, signed = [], [], []
        for f in t["fields"]:
            names.append(f[0])
            widths.append(
                -1
                if f[1] == "*"
                else bounded(f[1], f"header type {t['name']}", f"width of {f[0]}", 0, MAX_WIDTH)
            )
            signed.append(bool(f[2]) if len(f) > 2 else False)
        prog.types[t["name"]] = HeaderType(
            t["name"], names, widths, signed, {n: k for k, n in enumerate(names)}
        )
    headers = sorted(j.get("headers", []), key=lambda h: h["id"])
    if headers and not 0 <= headers[0]["id"] <= headers[-1]["id"] < 4 * len(headers) + 64:
        raise JsonError(f"headers: ids must be small non-negative integers, found {headers[-1]['id']}")
    gap = HeaderType("$unused", [], [], [], {})
    for h in headers:
        if h["id"] < len(prog.instances):
            raise JsonError(f"header {h['name']}: id {h['id']} is used twice")
        while len(prog.instances) < h["id"]:  # BMv2 allows gaps between header ids
            prog.instances.append(Instance(f"$unused{len(prog.instances)}", len(prog.instances), gap, True))
        ty = prog.types.get(h["header_type"])
        if ty is None:
            raise JsonError(f"header {h['name']}: unknown header type '{h['header_type']}'")
        inst = Instance(h["name"], h["id"], ty, bool(h.get("metadata", False)))
        prog.instances.append(inst)
        prog.by_name[inst.name] = inst
    for s in j.get("header_stacks", []):
        ty = prog.types.get(s["header_type"])
        if ty is None:
            raise JsonError(f"header stack {s['name']}: unknown header type '{s['header_type']}'")
        st = Stack(s["name"], len(prog.stacks), ty, list(s["header_ids"]))
        prog.stacks.append(st)
        prog.stack_by_name[st.name] = st
    union_types = {t["name"]: [m[0] for m in t.get("headers", [])] for t in j.get("header_union_types", [])}
    by_id: dict[int, Union] = {}
    for u in j.get("header_unions", []):
        ids = list(u.get("header_ids", []))
        for i in ids:
            if not isinstance(i, int) or not 0 <= i < len(prog.instances):
                raise JsonError(f"header union {u.get('name')}: unknown header id {i!r}")
            if i in prog.siblings:
                raise JsonError(f"header union {u.get('name')}: header id {i} is already in a union")
        un = Union(u["name"], len(prog.unions), ids, u.get("union_type", ""))
        prog.unions[un.name] = un
        by_id[u.get("id", un.id)] = un
        for i in ids:
            prog.siblings[i] = tuple(k for k in ids if k != i)
    for us in j.get("header_union_stacks", []):
        where = f"header union stack {us.get('name')}"
        unions = []
        for i in us.get("header_union_ids", []):
            if i not in by_id:
                raise JsonError(f"{where}: unknown header union id {i!r}")
            unions.append(by_id[i])
        members = union_types.get(us.get("union_type"))
        if members is None:
            raise JsonError(f"{where}: unknown union type {us.get('union_type')!r}")
        if not unions or any(len(u.header_ids) != len(members) for u in unions):
            raise JsonError(f"{where}: its unions do not match union type {us.get('union_type')!r}")
        st = Stack(us["name"], len(prog.stacks), HeaderType("$union", [], [], [], {}), [], unions, members)
        prog.stacks.append(st)
        prog.union_stacks[st.name] = st
    prog.errors = {name: v for name, v in j.get("errors", [])}
    for alias, ref in j.get("field_aliases", []):
        prog.aliases[alias] = prog.field_ref(ref, f"field alias {alias}")
