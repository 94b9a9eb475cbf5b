"""Actions: primitive calls compiled to closures, run with a program counter
(for _jump / _jump_if_zero). Side effects outside the PHV (drop, clone, digest,
counters, registers, …) go through the packet's `Ctx` and the switch's `State`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .expressions import _stack_of, header, operand, union_ids, writer
from .expressions import kind as operand_kind
from .program import MAX_WIDTH, JsonError, Phv, Program, bounded

Prim = Callable[["Ctx", list], int | None]  # returns the next pc, or None for pc+1


@dataclass
class Ctx:
    """Everything about one packet in flight besides its headers."""

    phv: Phv
    payload: bytes = b""
    exit: bool = False
    clone_session: int | None = None
    clone_field_list: int = 0
    clone_kind: str = ""
    resubmit_field_list: int | None = None
    recirculate_field_list: int | None = None
    truncate: int | None = None
    digests: list[tuple[int, list[int]]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)


@dataclass
class Action:
    name: str
    id: int
    widths: list[int]  # runtime data widths
    prims: list[Prim]

    def run(self, ctx: Ctx, data: list) -> None:
        pc, prims = 0, self.prims
        while pc < len(prims):
            nxt = prims[pc](ctx, data)
            if ctx.exit:
                return
            pc = pc + 1 if nxt is None else nxt


def _copy_varbit(phv: Phv, dst: int, src: int) -> None:
    """A varbit field's length travels with its header."""
    if src in phv.varbit_len:
        phv.varbit_len[dst] = phv.varbit_len[src]
    else:
        phv.varbit_len.pop(dst, None)


def compile_action(prog: Program, state: Any, j: dict) -> Action:
    name = j["name"]
    where = f"action {name}"
    widths = [
        bounded(r["bitwidth"], where, "parameter width", 0, MAX_WIDTH) for r in j.get("runtime_data", [])
    ]
    _check_runtime_data(j.get("primitives", []), len(widths), where)
    prims = []
    for k, p in enumerate(j.get("primitives", [])):
        at = f"{where}, primitive {k} ({p.get('op') if isinstance(p, dict) else '?'})"
        prims.append(guarded(at, primitive, prog, state, p, at))
    return Action(name, j["id"], widths, prims)


def _check_runtime_data(j: Any, n: int, where: str) -> None:
    """Every action parameter a primitive reads exists (else the first packet would fail)."""
    if isinstance(j, list):
        for x in j:
            _check_runtime_data(x, n, where)
    elif isinstance(j, dict):
        if j.get("type") == "runtime_data" and not (isinstance(j.get("value"), int) and 0 <= j["value"] < n):
            raise JsonError(f"{where}: parameter {j.get('value')!r} outside the action's {n} parameters")
        for x in j.values():
            _check_runtime_data(x, n, where)


def guarded(where: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run a load-time builder; a malformed JSON object (missing key, wrong shape) becomes a
    JsonError naming where it is, never a Python traceback."""
    try:
        return fn(*args)
    except JsonError:
        raise
    except (KeyError, TypeError, IndexError, ValueError, AttributeError) as e:
        raise JsonError(f"{where}: malformed JSON ({type(e).__name__}: {e})") from None


def primitive(prog: Program, state: Any, p: dict, where: str) -> Prim:
    if not isinstance(p, dict):
        raise JsonError(f"{where}: a primitive must be an object")
    op = p.get("op")
    ps = p.get("parameters", [])
    if not isinstance(ps, list):
        raise JsonError(f"{where}: parameters must be a list")

    def arg(k: int):
        if k >= len(ps):
            raise JsonError(f"{where}: missing parameter {k}")
        return operand(prog, ps[k], where)

    sm = prog.sm
    if op == "assign":
        dst, src = writer(prog, ps[0], where), arg(1)

        def assign(ctx: Ctx, data: list) -> None:
            dst(ctx.phv, data, src(ctx.phv, data))

        return assign
    if op == "assign_union" or (op == "assign_header" and operand_kind(ps[0] if ps else None) == "union"):
        du, su = union_ids(prog, ps[0], where), union_ids(prog, ps[1], where)

        def assign_union(ctx: Ctx, data: list) -> None:
            for di, si in zip(du(ctx.phv, data), su(ctx.phv, data), strict=True):
                hd, hs = ctx.phv.headers[di], ctx.phv.headers[si]
                hd.values, hd.valid = list(hs.values), hs.valid
                _copy_varbit(ctx.phv, di, si)

        return assign_union
    if op == "assign_header":
        d, s = header(prog, ps[0], where), header(prog, ps[1], where)

        def assign_header(ctx: Ctx, data: list) -> None:
            di, si = d(ctx.phv, data), s(ctx.phv, data)
            hd, hs = ctx.phv.headers[di], ctx.phv.headers[si]
            hd.values = list(hs.values)
            if hs.valid:
                prog.make_valid(ctx.phv, di)
            else:
                hd.valid = False
            _copy_varbit(ctx.phv, di, si)

        return assign_header
    if op in ("assign_header_stack", "assign_union_stack"):
        unions = op == "assign_union_stack"
        d, s = _stack_of(prog, ps[0], where, unions), _stack_of(prog, ps[1], where, unions)
        pairs = [
            (a, b) for ea, eb in zip(d.elements, s.elements, strict=True) for a, b in zip(ea, eb, strict=True)
        ]
        if len(d.elements) != len(s.elements):
            raise JsonError(f"{where}: stacks of different sizes")

        def assign_stack(ctx: Ctx, data: list) -> None:
            for a, b in pairs:
                ctx.phv.headers[a].values = list(ctx.phv.headers[b].values)
                ctx.phv.headers[a].valid = ctx.phv.headers[b].valid
                _copy_varbit(ctx.phv, a, b)
            ctx.phv.stack_next[d.id] = ctx.phv.stack_next[s.id]

        return assign_stack
    if op in ("add_header", "remove_header"):
        h = header(prog, ps[0], where)
        valid = op == "add_header"

        def set_valid(ctx: Ctx, data: list) -> None:
            hid = h(ctx.phv, data)
            hdr = ctx.phv.headers[hid]
            if not valid:
                hdr.valid = False
                return
            if not hdr.valid:
                hdr.values = [0] * len(hdr.values)  # BMv2 zeroes a header made valid
            prog.make_valid(ctx.phv, hid)

        return set_valid
    if op in ("push", "pop"):
        st = _stack_of(prog, ps[0], where, unions=True)
        n = arg(1)
        elems = st.elements  # a header, or every member of a union, moves as one element

        def shift(ctx: Ctx, data: list) -> None:
            k = n(ctx.phv, data)
            hs = [[ctx.phv.headers[i] for i in e] for e in elems]
            snap = [[(list(h.values), h.valid) for h in e] for e in hs]
            size = len(hs)
            for i in range(size):
                src = i - k if op == "push" else i + k
                for m, h in enumerate(hs[i]):
                    if 0 <= src < size:
                        h.values, h.valid = list(snap[src][m][0]), snap[src][m][1]
                    else:
                        h.values, h.valid = [0] * len(h.values), False  # vacated: invalid
            nxt = ctx.phv.stack_next[st.id]
            ctx.phv.stack_next[st.id] = min(size, nxt + k) if op == "push" else max(0, nxt - k)

        return shift
    if op == "_jump":
        target = arg(0)
        return lambda ctx, data: target(ctx.phv, data)
    if op == "_jump_if_zero":
        cond, target = arg(0), arg(1)
        return lambda ctx, data: target(ctx.phv, data) if not cond(ctx.phv, data) else None
    if op == "exit":

        def do_exit(ctx: Ctx, data: list) -> None:
            ctx.exit = True

        return do_exit
    if op == "mark_to_drop":
        spec, grp = sm("egress_spec"), sm("mcast_grp")

        def drop(ctx: Ctx, data: list) -> None:
            ctx.phv.headers[spec[0]].values[spec[1]] = state.drop_port
            if grp[0] >= 0:
                ctx.phv.headers[grp[0]].values[grp[1]] = 0

        return drop
    if op in ("drop", "_drop"):  # P4_14-era name
        return primitive(prog, state, {"op": "mark_to_drop", "parameters": []}, where)
    if op == "count":
        name, idx = ps[0]["value"], arg(1)
        state.require("counter", name, where)

        def count(ctx: Ctx, data: list) -> None:
            state.count(name, idx(ctx.phv, data), ctx)

        return count
    if op == "execute_meter":
        name, idx, dst = ps[0]["value"], arg(1), writer(prog, ps[2], where)
        state.require("meter", name, where)

        def meter(ctx: Ctx, data: list) -> None:
            dst(ctx.phv, data, state.execute_meter(name, idx(ctx.phv, data), ctx))

        return meter
    if op == "register_read":
        dst, name, idx = writer(prog, ps[0], where), ps[1]["value"], arg(2)
        state.require("register", name, where)

        def reg_read(ctx: Ctx, data: list) -> None:
            dst(ctx.phv, data, state.register_read(name, idx(ctx.phv, data)))

        return reg_read
    if op == "register_write":
        name, idx, val = ps[0]["value"], arg(1), arg(2)
        state.require("register", name, where)

        def reg_write(ctx: Ctx, data: list) -> None:
            state.register_write(name, idx(ctx.phv, data), val(ctx.phv, data))

        return reg_write
    if op == "modify_field_with_hash_based_offset":
        dst, base, calc, size = writer(prog, ps[0], where), arg(1), ps[2]["value"], arg(3)
        state.require("calculation", calc, where)

        def hashed(ctx: Ctx, data: list) -> None:
            n = size(ctx.phv, data)
            h = state.calculations[calc].compute(ctx.phv)
            dst(ctx.phv, data, base(ctx.phv, data) + (h % n if n else 0))

        return hashed
    if op == "modify_field_rng_uniform":
        dst, lo, hi = writer(prog, ps[0], where), arg(1), arg(2)

        def rng(ctx: Ctx, data: list) -> None:
            a, b = lo(ctx.phv, data), hi(ctx.phv, data)
            dst(ctx.phv, data, state.rng.randint(min(a, b), max(a, b)))

        return rng
    if op == "generate_digest":
        _receiver, lid = arg(0), arg(1)

        def digest(ctx: Ctx, data: list) -> None:
            ctx.digests.append((lid(ctx.phv, data), state.learn_values(lid(ctx.phv, data), ctx.phv)))

        return digest
    if op in ("clone_ingress_pkt_to_egress", "clone_egress_pkt_to_egress"):
        session, fl = arg(0), arg(1) if len(ps) > 1 else (lambda phv, data: 0)
        kind = "I2E" if op.startswith("clone_ingress") else "E2E"

        def clone(ctx: Ctx, data: list) -> None:
            ctx.clone_session, ctx.clone_field_list, ctx.clone_kind = (
                session(ctx.phv, data),
                fl(ctx.phv, data),
                kind,
            )

        return clone
    if op == "resubmit":
        fl = arg(0) if ps else (lambda phv, data: 0)

        def resubmit(ctx: Ctx, data: list) -> None:
            ctx.resubmit_field_list = fl(ctx.phv, data)

        return resubmit
    if op == "recirculate":
        fl = arg(0) if ps else (lambda phv, data: 0)

        def recirculate(ctx: Ctx, data: list) -> None:
            ctx.recirculate_field_list = fl(ctx.phv, data)

        return recirculate
    if op == "truncate":
        n = arg(0)

        def trunc(ctx: Ctx, data: list) -> None:
            ctx.truncate = n(ctx.phv, data)

        return trunc
    if op == "log_msg":
        fmt = ps[0]["value"]
        values = [_shown(prog, x, where) for x in ps[1]["value"]] if len(ps) > 1 else []

        def log(ctx: Ctx, data: list) -> None:
            parts = fmt.split("{}")
            vals = [v(ctx.phv, data) for v in values]
            ctx.logs.append("".join(p + (vals[k] if k < len(vals) else "") for k, p in enumerate(parts)))

        return log
    if op in ("assert", "assume"):
        cond = arg(0)

        def check(ctx: Ctx, data: list) -> None:
            if not cond(ctx.phv, data):
                raise AssertionError(f"{op} failed in {where}")

        return check
    raise JsonError(f"{where}: unsupported primitive '{op}'")


def _shown(prog: Program, x: Any, where: str) -> Callable[[Phv, list], str]:
    """One log_msg argument as text: a value, a header or struct (its fields), or a list of them
    (p4c writes struct and tuple arguments as nested lists)."""
    if isinstance(x, list):
        parts = [_shown(prog, y, where) for y in x]
        return lambda phv, data: "{" + ", ".join(f(phv, data) for f in parts) + "}"
    if isinstance(x, dict) and x.get("type") == "header":
        hid = prog.header(x.get("value"), where).id
        names = prog.instances[hid].type.fields
        return lambda phv, data: (
            "{" + ", ".join(f"{n}: {v}" for n, v in zip(names, phv.headers[hid].values, strict=True)) + "}"
        )
    f = operand(prog, x, where)
    return lambda phv, data: str(f(phv, data))


__all__ = ["Action", "Ctx", "compile_action"]
