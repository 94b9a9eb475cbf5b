"""The parser (BMv2 parse states) and the deparser."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .actions import Ctx, guarded, primitive
from .expressions import operand, writer
from .program import HeaderType, JsonError, Phv, Program, Stack, hexint

# A hardware parser gives up on a packet after a bounded amount of work (a parser
# timeout); a program whose states loop without consuming the packet (`transition
# parse_ipv4;` in parse_ipv4) would otherwise hold the switch forever. No real program
# visits anywhere near this many states for one packet (the fabric visits under 20).
MAX_PARSER_STATES = 1024


class ParserError(Exception):
    """Parsing stopped: `code` is the P4 error (PacketTooShort, StackOutOfBounds, …)."""

    def __init__(self, name: str) -> None:
        self.name = name


def unpack(ty: HeaderType, data: bytes, nbits: int, varbits: int = 0) -> list[int]:
    """Field values of a header of `nbits` (whole bytes) from the front of `data`."""
    v = int.from_bytes(data[: nbits // 8], "big")
    out, shift = [], nbits
    for w in ty.widths:
        w = varbits if w < 0 else w
        shift -= w
        out.append((v >> shift) & ((1 << w) - 1))
    return out


def pack(ty: HeaderType, values: list[int], varbits: int = 0) -> bytes:
    acc, n = 0, 0
    for v, w in zip(values, ty.widths, strict=True):
        w = varbits if w < 0 else w
        acc, n = (acc << w) | (v & ((1 << w) - 1)), n + w
    return acc.to_bytes(n // 8, "big") if n else b""


@dataclass
class State:
    name: str
    ops: list[Callable[[Ctx, list, int], int]]  # (ctx, data, offset) -> new offset
    key: list[Callable[[Ctx, int], tuple[int, int]]]  # (value, bit width)
    transitions: list[tuple[str, int, int | None, str | None]]  # kind, value, mask, next


class Parser:
    def __init__(self, prog: Program, state: object, j: dict) -> None:
        self.prog, self.init = prog, j["init_state"]
        self.states: dict[str, State] = {}
        for s in j["parse_states"]:
            self.states[s["name"]] = guarded(f"parse state {s.get('name')}", self._state, s, state)
        if self.init not in self.states:
            raise JsonError(f"parser {j.get('name')}: init state '{self.init}' is not defined")
        for st in self.states.values():
            for *_, nxt in st.transitions:
                if nxt is not None and nxt not in self.states:
                    raise JsonError(f"parse state {st.name}: unknown next state '{nxt}'")
        self.vsets = state.vsets

    def _state(self, s: dict, state) -> State:
        where = f"parse state {s['name']}"
        ops = [guarded(where, self._op, o, where, state) for o in s.get("parser_ops", [])]
        key = [guarded(where, self._key, k, where) for k in s.get("transition_key", [])]
        trans = []
        for t in s.get("transitions", []):
            kind = t.get("type") or ("default" if t.get("value") == "default" else "hexstr")
            if t.get("value") == "default":
                kind = "default"
            if kind == "default":
                trans.append(("default", 0, None, t.get("next_state")))
            elif kind == "hexstr":
                trans.append(
                    (
                        "hexstr",
                        hexint(t["value"]),
                        hexint(t["mask"]) if t.get("mask") else None,
                        t.get("next_state"),
                    )
                )
            elif kind == "parse_vset":
                trans.append(
                    ("vset", t["value"], hexint(t["mask"]) if t.get("mask") else None, t.get("next_state"))
                )
            else:
                raise JsonError(f"{where}: unsupported transition type '{kind}'")
        return State(s["name"], ops, key, trans)

    def _key(self, k: dict, where: str):
        t = k.get("type")
        if t == "lookahead":
            off, width = k["value"]

            def la(ctx: Ctx, offset: int) -> tuple[int, int]:
                return _peek(ctx.payload, offset + off, width), width

            return la
        v = k.get("value")
        if (t == "field" and isinstance(v, list) and len(v) == 2 and isinstance(v[1], str) and "." in v[1]
                and v[0] in self.prog.union_stacks):  # fmt: skip
            # p4c writes `us.last.p.v` as the field ["us", "p.v"]: the last union extracted
            t, k = "union_stack_field", {"type": "union_stack_field", "value": [v[0], *v[1].split(".", 1)]}
        if t == "field":
            hid, fidx = self.prog.field_ref(k["value"], where)
            w = self.prog.instances[hid].type.widths[fidx] if fidx >= 0 else 1
            r = operand(self.prog, k, where)
            return lambda ctx, offset: (r(ctx.phv, []), w)
        if t == "stack_field":
            st = self.prog.stack(k["value"][0], where)
            w = st.type.widths[st.type.index[k["value"][1]]]
            r = operand(self.prog, k, where)
            return lambda ctx, offset: (r(ctx.phv, []), w)
        if t == "union_stack_field":  # [stack, member, field] of the last union extracted
            v = k.get("value")
            if not isinstance(v, list) or len(v) != 3:
                raise JsonError(f"{where}: union_stack_field needs [stack, member, field]")
            ust = self.prog.union_stack(v[0], where)
            if v[1] not in (ust.members or []):
                raise JsonError(f"{where}: union stack {ust.name} has no member {v[1]!r}")
            m = ust.members.index(v[1])
            ids = [u.header_ids[m] for u in ust.unions]
            ty = self.prog.instances[ids[0]].type
            if v[2] not in ty.index:
                raise JsonError(f"{where}: {ty.name} has no field {v[2]!r}")
            f = ty.index[v[2]]
            w = ty.widths[f]

            def last_union_field(ctx: Ctx, offset: int) -> tuple[int, int]:
                n = ctx.phv.stack_next[ust.id]
                return (ctx.phv.headers[ids[n - 1]].values[f] if n else 0), w

            return last_union_field
        raise JsonError(f"{where}: unsupported transition key type {t!r}")

    def _op(self, o: dict, where: str, state):
        op, ps = o.get("op"), o.get("parameters", [])
        prog = self.prog
        if op in ("extract", "extract_VL"):
            target = ps[0]
            length = operand(prog, ps[1], where) if op == "extract_VL" else None
            if target["type"] == "regular":
                inst = prog.header(target["value"], where)
                get = lambda phv: inst.id
                stack = None
            elif target["type"] == "stack":
                stack = prog.stack(target["value"], where)
                inst = prog.instances[stack.header_ids[0]]
                get = None
            elif target["type"] == "union_stack":  # [stack, member]: that member of the next union
                if not isinstance(target.get("value"), list) or len(target["value"]) != 2:
                    raise JsonError(f"{where}: union_stack extract needs [stack, member]")
                ustack = prog.union_stack(target["value"][0], where)
                if target["value"][1] not in (ustack.members or []):
                    raise JsonError(
                        f"{where}: union stack {ustack.name} has no member {target['value'][1]!r}"
                    )
                m = ustack.members.index(target["value"][1])
                stack = Stack(ustack.name, ustack.id, ustack.type, [u.header_ids[m] for u in ustack.unions])
                inst = prog.instances[stack.header_ids[0]]
                get = None
            else:
                raise JsonError(f"{where}: unsupported extract target {target['type']!r}")
            ty = inst.type
            unions = bool(prog.siblings)

            def extract(ctx: Ctx, data: list, offset: int) -> int:
                if stack is not None:
                    n = ctx.phv.stack_next[stack.id]
                    if n >= len(stack.header_ids):
                        raise ParserError("StackOutOfBounds")
                    hid = stack.header_ids[n]
                    ctx.phv.stack_next[stack.id] = n + 1
                else:
                    hid = get(ctx.phv)
                var = length(ctx.phv, data) if length is not None else 0
                nbits = ty.fixed_bits + var
                if nbits % 8:
                    raise ParserError("ParserInvalidArgument")
                if offset // 8 + nbits // 8 > len(ctx.payload):
                    raise ParserError("PacketTooShort")
                h = ctx.phv.headers[hid]
                h.values = unpack(ty, ctx.payload[offset // 8 :], nbits, var)
                h.valid = True
                if unions:  # a member made valid invalidates the rest of its union
                    prog.make_valid(ctx.phv, hid)
                if var:
                    ctx.phv.varbit_len[hid] = var
                return offset + nbits

            return extract
        if op == "set":
            dst = writer(prog, ps[0], where)
            src = ps[1]
            if src.get("type") == "lookahead":
                off, width = src["value"]

                def set_la(ctx: Ctx, data: list, offset: int) -> int:
                    if (offset + off + width + 7) // 8 > len(ctx.payload):
                        raise ParserError("PacketTooShort")
                    dst(ctx.phv, data, _peek(ctx.payload, offset + off, width))
                    return offset

                return set_la
            val = operand(prog, src, where)

            def set_(ctx: Ctx, data: list, offset: int) -> int:
                dst(ctx.phv, data, val(ctx.phv, data))
                return offset

            return set_
        if op == "verify":
            e1 = ps[1]
            if isinstance(e1, int) and not isinstance(e1, bool):  # BMv2 backward compatibility
                e1 = {"type": "hexstr", "value": hex(e1)}
            cond, err = operand(prog, ps[0], where), operand(prog, e1, where)
            names = {v: k for k, v in prog.errors.items()}

            def verify(ctx: Ctx, data: list, offset: int) -> int:
                if not cond(ctx.phv, data):
                    raise ParserError(names.get(err(ctx.phv, data), str(err(ctx.phv, data))))
                return offset

            return verify
        if op in ("advance", "shift"):
            p0 = ps[0] if ps else None
            if op == "shift" and isinstance(p0, int) and not isinstance(p0, bool):  # BMv2: a byte count
                n = lambda phv, data: p0
            else:
                n = operand(prog, p0, where)
            scale = 8 if op == "shift" else 1

            def advance(ctx: Ctx, data: list, offset: int) -> int:
                bits = n(ctx.phv, data) * scale
                if (offset + bits) // 8 > len(ctx.payload):
                    raise ParserError("PacketTooShort")
                return offset + bits

            return advance
        if op == "primitive":
            prim = primitive(prog, state, ps[0], where)

            def call(ctx: Ctx, data: list, offset: int) -> int:
                prim(ctx, data)
                return offset

            return call
        raise JsonError(f"{where}: unsupported parser op '{op}'")

    def run(self, ctx: Ctx) -> tuple[int, str]:
        """Parse ctx.payload; returns (bytes consumed, error name)."""
        offset, name, visits = 0, self.init, 0
        try:
            while name is not None:
                visits += 1
                if visits > MAX_PARSER_STATES:
                    raise ParserError("ParserTimeout")
                st = self.states[name]
                for op in st.ops:
                    offset = op(ctx, [], offset)
                name = self._next(st, ctx, offset)
        except ParserError as e:
            return offset // 8, e.name
        return offset // 8, "NoError"

    def _next(self, st: State, ctx: Ctx, offset: int) -> str | None:
        if not st.key:
            for kind, *_, nxt in st.transitions:
                if kind == "default":
                    return nxt
            raise ParserError("NoMatch")
        parts = [k(ctx, offset) for k in st.key]
        key, nbytes = 0, 0
        for v, w in parts:
            b = (w + 7) // 8
            key, nbytes = (key << (8 * b)) | (v & ((1 << (8 * b)) - 1)), nbytes + b
        for kind, value, mask, nxt in st.transitions:
            if kind == "default":
                return nxt
            if kind == "hexstr":
                if (mask is None and key == value) or (mask is not None and key & mask == value & mask):
                    return nxt
            else:
                m = mask if mask is not None else -1
                if any(key & m == v & m for v in self.vsets.get(value, ())):
                    return nxt
        raise ParserError("NoMatch")


def _peek(data: bytes, bit_offset: int, width: int) -> int:
    start, end = bit_offset // 8, (bit_offset + width + 7) // 8
    chunk = int.from_bytes(data[start:end].ljust(end - start, b"\x00"), "big")
    return (chunk >> ((end - start) * 8 - (bit_offset % 8) - width)) & ((1 << width) - 1)


class Deparser:
    def __init__(self, prog: Program, j: dict) -> None:
        self.prog = prog
        self.order = [prog.header(h, f"deparser {j.get('name')}").id for h in j.get("order", [])]

    def run(self, phv: Phv) -> bytes:
        out = []
        for hid in self.order:
            h = phv.headers[hid]
            if h.valid:
                out.append(pack(self.prog.instances[hid].type, h.values, phv.varbit_len.get(hid, 0)))
        return b"".join(out)
