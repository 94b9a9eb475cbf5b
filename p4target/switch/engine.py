"""The v1model switch (simple_switch semantics) over a loaded BMv2 JSON program.

`Switch.process(port, bytes)` runs one packet through parser, checksum verification,
ingress, the traffic manager (drop, unicast, multicast), egress, checksum update and
deparser, and returns the packets it sends as [(port, bytes)].
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

from .actions import Action, Ctx, compile_action
from .expressions import operand, writer
from .hashes import Calculation
from .parse import MAX_PARSER_STATES, Deparser, Parser, pack
from .profiles import ActionProfile
from .program import MAX_CELLS, MAX_WIDTH, JsonError, Phv, Program, bounded, hexint, load_types
from .queues import TrafficManager
from .tables import Entry, Table, build_table

log = logging.getLogger("srem.switch")
DROP_PORT = 511
QUEUEING_FIELDS = ("enq_timestamp", "enq_qdepth", "deq_timedelta", "deq_qdepth",
                   "ingress_global_timestamp", "egress_global_timestamp")  # fmt: skip
NORMAL, INGRESS_CLONE, EGRESS_CLONE, COALESCED, RECIRC, REPLICATION, RESUBMIT = range(7)


@dataclass
class Conditional:
    name: str
    cond: object
    true_next: str | None
    false_next: str | None


@dataclass
class Pipeline:
    name: str
    init: str | None
    tables: dict[str, Table]
    conditionals: dict[str, Conditional]


@dataclass
class Counter:
    name: str
    size: int
    direct_table: str | None
    packets: list[int] = field(default_factory=list)
    bytes: list[int] = field(default_factory=list)


@dataclass
class Meter:
    name: str
    size: int
    kind: str  # packets | bytes
    direct_table: str | None
    result: object = None
    # Per index: (cir, cburst, pir, pburst) in units/s and units, and bucket state.
    config: dict[int, tuple[float, int, float, int]] = field(default_factory=dict)
    state: dict[int, list[float]] = field(default_factory=dict)


@dataclass
class Checksum:
    name: str
    target: tuple[int, int]
    calc: Calculation
    verify: bool
    update: bool
    cond: object


class Switch:
    def __init__(self, raw: dict) -> None:
        self.prog = prog = Program(raw)
        load_types(prog)
        self.drop_port = DROP_PORT
        self.rng = random.Random(0)
        self.registers: dict[str, tuple[int, list[int]]] = {}
        self.counters: dict[str, Counter] = {}
        self.meters: dict[str, Meter] = {}
        self.calculations: dict[str, Calculation] = {}
        self.vsets: dict[str, set[int]] = {}
        self.vset_width: dict[str, int] = {}
        self.mcast_groups: dict[int, list[tuple[int, int]]] = {}  # group -> [(port, rid)]
        self.clone_sessions: dict[int, list[tuple[int, int]]] = {}  # session -> [(port, rid)]
        self.learn_lists: dict[int, list[tuple[int, int]]] = {}
        self.field_lists: dict[int, list[tuple[int, int]]] = {}
        self.digests: list[tuple[str, list[int]]] = []
        self.errors: list[str] = []  # run-time faults (the packet was dropped)
        self.parser_timeouts = 0  # parses ended by the parser's work bound (ParserTimeout)
        for r in raw.get("register_arrays", []):
            where = f"register {r['name']}"
            width = bounded(r["bitwidth"], where, "bitwidth", 0, MAX_WIDTH)
            self.registers[r["name"]] = (width, [0] * bounded(r["size"], where, "size", 0, MAX_CELLS))
        for c in raw.get("counter_arrays", []):
            n = bounded(c.get("size", 0), f"counter {c['name']}", "size", 0, MAX_CELLS)
            self.counters[c["name"]] = Counter(
                c["name"], n, c.get("binding") if c.get("is_direct") else None, [0] * n, [0] * n
            )
        for c in raw.get("calculations", []):
            self.calculations[c["name"]] = Calculation(prog, c)
        for v in raw.get("parse_vsets", []):
            self.vsets[v["name"]] = set()
            self.vset_width[v["name"]] = int(v["compressed_bitwidth"])
        for ll in raw.get("learn_lists", []):
            self.learn_lists[int(ll["id"])] = [
                prog.field_ref(e["value"], f"learn list {ll['name']}") for e in ll["elements"]
            ]
        self.learn_names = {int(ll["id"]): ll["name"] for ll in raw.get("learn_lists", [])}
        for fl in raw.get("field_lists", []):
            self.field_lists[int(fl["id"])] = [
                prog.field_ref(e["value"], f"field list {fl['name']}")
                for e in fl["elements"]
                if e["type"] == "field"
            ]
        for m in raw.get("meter_arrays", []):
            meter = Meter(
                m["name"],
                bounded(m.get("size", 0), f"meter {m['name']}", "size", 0, MAX_CELLS),
                m.get("type", "packets"),
                m.get("binding") if m.get("is_direct") else None,
            )
            if m.get("is_direct") and m.get("result_target"):
                meter.result = writer(
                    prog, {"type": "field", "value": m["result_target"]}, f"meter {m['name']}"
                )
            self.meters[m["name"]] = meter
        self.profiles: dict[str, ActionProfile] = {}
        self.actions: dict[int, Action] = {}
        for a in raw.get("actions", []):
            self.actions[a["id"]] = compile_action(prog, self, a)
        names = {k: a.name for k, a in self.actions.items()}
        widths = {k: a.widths for k, a in self.actions.items()}
        self.action_widths = widths
        self.pipelines: dict[str, Pipeline] = {}
        self.tables: dict[str, Table] = {}
        for p in raw.get("pipelines", []):
            tables = {t["name"]: build_table(prog, t, names, widths) for t in p.get("tables", [])}
            conds = {
                c["name"]: Conditional(c["name"], operand(prog, c["expression"], f"conditional {c['name']}"), c.get("true_next"), c.get("false_next"))
                for c in p.get("conditionals", [])
            }  # fmt: skip
            _check_graph(p["name"], tables, conds)
            if p.get("init_table") is not None and p["init_table"] not in {*tables, *conds}:
                raise JsonError(f"pipeline {p['name']}: unknown init_table '{p['init_table']}'")
            self.pipelines[p["name"]] = Pipeline(p["name"], p.get("init_table"), tables, conds)
            for ap in p.get("action_profiles", []):
                sel = ap.get("selector")
                calc = None
                if sel:
                    calc = Calculation(
                        prog, {"name": f"{ap['name']}.selector", "algo": sel["algo"], "input": sel["input"]}
                    )
                self.profiles[ap["name"]] = ActionProfile(ap["name"], int(ap.get("max_size", 0)), calc)
            self.tables.update(tables)
        for name in ("ingress", "egress"):
            if name not in self.pipelines:
                raise JsonError(f"no '{name}' pipeline: not a v1model program")
        if not raw.get("parsers") or not raw.get("deparsers"):
            raise JsonError("a v1model program needs a parser and a deparser")
        self.parser = Parser(prog, self, raw["parsers"][0])
        self.deparser = Deparser(prog, raw["deparsers"][0])
        self.checksums = []
        for c in raw.get("checksums", []):
            where = f"checksum {c['name']}"
            if c["calculation"] not in self.calculations:
                raise JsonError(f"{where}: unknown calculation '{c['calculation']}'")
            cond = operand(prog, c["if_cond"], where) if c.get("if_cond") else None
            self.checksums.append(Checksum(c["name"], prog.field_ref(c["target"], where), self.calculations[c["calculation"]],
                                           bool(c.get("verify", True)), bool(c.get("update", True)), cond))  # fmt: skip
        self.sm = {f: prog.sm(f) for f in ("ingress_port", "egress_spec", "egress_port", "instance_type", "packet_length",
                                           "mcast_grp", "egress_rid", "checksum_error", "parser_error", "priority",
                                           *QUEUEING_FIELDS)}  # fmt: skip
        self.tm = TrafficManager()  # egress queues and timestamps (queues.py)
        self.t0: float | None = None  # time 0 of the µs timestamps: the first packet's
        for f in ("ingress_port", "egress_spec", "egress_port"):
            if self.sm[f][0] < 0:
                raise JsonError(f"standard_metadata has no field '{f}'")

    # -- externs used by actions ---------------------------------------------------
    def require(self, kind: str, name: str, where: str) -> None:
        table = {
            "counter": self.counters,
            "meter": self.meters,
            "register": self.registers,
            "calculation": self.calculations,
        }[kind]
        if name not in table:
            raise JsonError(f"{where}: unknown {kind} '{name}'")

    def count(self, name: str, index: int, ctx: Ctx) -> None:
        c = self.counters[name]
        if 0 <= index < c.size:
            c.packets[index] += 1
            c.bytes[index] += ctx.packet_length

    def execute_meter(self, name: str, index: int, ctx: Ctx) -> int:
        m = self.meters[name]
        cfg = m.config.get(index)
        if cfg is None:
            return 0  # an unconfigured meter marks everything GREEN
        return _tr_tcm(m, index, cfg, 1 if m.kind == "packets" else ctx.packet_length, ctx.now)

    def register_read(self, name: str, index: int) -> int:
        _w, cells = self.registers[name]
        return cells[index] if 0 <= index < len(cells) else 0

    def register_write(self, name: str, index: int, value: int) -> None:
        w, cells = self.registers[name]
        if 0 <= index < len(cells):
            cells[index] = value & ((1 << w) - 1)

    def learn_values(self, lid: int, phv: Phv) -> list[int]:
        return [phv.headers[h].values[f] for h, f in self.learn_lists.get(lid, [])]

    # -- packet processing -----------------------------------------------------------
    def _set(self, phv: Phv, f: str, v: int) -> None:
        hid, fidx = self.sm[f]
        if hid >= 0:
            ty = self.prog.instances[hid].type
            phv.headers[hid].values[fidx] = v & ((1 << ty.widths[fidx]) - 1)

    def _get(self, phv: Phv, f: str) -> int:
        hid, fidx = self.sm[f]
        return phv.headers[hid].values[fidx] if hid >= 0 else 0

    def apply(self, pipeline: Pipeline, ctx: Ctx) -> None:
        node = pipeline.init
        phv = ctx.phv
        while node is not None and not ctx.exit:
            t = pipeline.tables.get(node)
            if t is None:
                c = pipeline.conditionals[node]
                node = c.true_next if c.cond(phv, []) else c.false_next
                continue
            e, action = self._match(t, phv)
            if e is not None:
                aid, data, hit = action[0], action[1], True
                e.last_hit, e.notified = ctx.now, False
                if t.with_counters:
                    e.packets += 1
                    e.bytes += ctx.packet_length
                if t.direct_meter:
                    self._direct_meter(t, e, ctx)
            elif t.default_action is not None:
                aid, data, hit = t.default_action[0], t.default_action[1], False
                if t.with_counters:
                    t.default_packets += 1
                    t.default_bytes += ctx.packet_length
            else:
                aid, data, hit = None, [], False
            if aid is not None:
                self.actions[aid].run(ctx, data)
            if "__HIT__" in t.next_tables or "__MISS__" in t.next_tables:
                node = t.next_tables.get("__HIT__" if hit else "__MISS__")
            else:
                node = (
                    t.next_tables.get(self.actions[aid].name, t.base_default_next)
                    if aid is not None
                    else t.base_default_next
                )

    def _match(self, t: Table, phv: Phv) -> tuple[Entry | None, tuple[int, list[int]] | None]:
        """The entry that matches and the action it runs; indirect entries go through
        their action profile (an empty group counts as a miss)."""
        e = t.lookup(phv)
        if e is None:
            return None, None
        if e.member is None and e.group is None:
            return e, (e.action_id, e.data)
        picked = self.profiles[t.implementation].resolve(e.member, e.group, phv)
        return (e, picked) if picked is not None else (None, None)

    def _direct_meter(self, t: Table, e: Entry, ctx: Ctx) -> None:
        m = self.meters[t.direct_meter]
        cfg = m.config.get(e.handle)
        color = (
            0
            if cfg is None
            else _tr_tcm(m, e.handle, cfg, 1 if m.kind == "packets" else ctx.packet_length, ctx.now)
        )
        if m.result is not None:
            m.result(ctx.phv, [], color)

    def _checksums(self, ctx: Ctx, verify: bool, headers_bytes=None) -> bool:
        ok = True
        for c in self.checksums:
            if not (c.verify if verify else c.update):
                continue
            if c.cond is not None and not c.cond(ctx.phv, []):
                continue
            payload = self._payload_after(ctx, c.calc) if c.calc.payload else b""
            v = c.calc.compute(ctx.phv, payload)
            hid, fidx = c.target
            w = self.prog.instances[hid].type.widths[fidx]
            if verify:
                if ctx.phv.headers[hid].values[fidx] != v & ((1 << w) - 1):
                    ok = False
            else:
                ctx.phv.headers[hid].values[fidx] = v & ((1 << w) - 1)
        return ok

    def _payload_after(self, ctx: Ctx, calc: Calculation) -> bytes:
        """Headers after the last one the calculation reads, then the payload."""
        used = {p[1] for p in calc.parts if p[0] in ("field", "header")}
        order = self.deparser.order
        last = max((k for k, h in enumerate(order) if h in used), default=-1)
        rest = []
        for hid in order[last + 1 :]:
            h = ctx.phv.headers[hid]
            if h.valid:
                rest.append(pack(self.prog.instances[hid].type, h.values, ctx.phv.varbit_len.get(hid, 0)))
        return b"".join(rest) + ctx.payload[ctx.parsed :]

    def process(self, port: int, data: bytes, now: float = 0.0) -> list[tuple[int, bytes]]:
        """Ingress at `now`, then egress of every queued packet due by `now` (this one too,
        unless a queue's rate holds it back: `release` lets it out later)."""
        out: list[tuple[int, bytes]] = []
        if self.t0 is None:
            self.t0 = now
        try:
            self._ingress(port, data, NORMAL, None, out, now, depth=0)
        except Exception as e:  # e.g. a stack index out of bounds, a failed assert: drop this packet only
            self.errors.append(f"packet on port {port} dropped: {type(e).__name__}: {e}")
            return self.release(now)
        return out + self.release(now)

    def release(self, now: float, port: int | None = None) -> list[tuple[int, bytes]]:
        """Egress of the queued packets due by `now`, in the order they leave their queues;
        with `port`, of that port's next packet only (its transmitter is free for one)."""
        out: list[tuple[int, bytes]] = []
        while (nxt := self.tm.pop_next(now, port)) is not None:
            (ctx, itype, depth), eport, enq, leave, left = nxt
            if port is not None:
                leave = now  # a transmitter took it when it was free: it leaves now, not when due
            ctx.now = leave
            self._set(ctx.phv, "deq_timedelta", round((leave - enq) * 1e6))
            self._set(ctx.phv, "deq_qdepth", left)
            self._set(ctx.phv, "egress_global_timestamp", self._us(leave))
            try:
                self._egress(ctx, eport, itype, out, depth)
            except Exception as e:  # as in ingress: this packet only
                self.errors.append(f"packet for port {eport} dropped in egress: {type(e).__name__}: {e}")
            if port is not None:
                break
        return out

    def _us(self, t: float) -> int:
        """BMv2's timestamps: microseconds since the switch started (here: its first packet)."""
        return max(0, round((t - (self.t0 if self.t0 is not None else t)) * 1e6))

    def _enqueue(self, ctx: Ctx, port: int, instance_type: int, out: list, depth: int) -> None:
        """Into the port's egress queue; egress runs when it leaves (release)."""
        if depth > 16:
            return
        us = self._us(ctx.now)
        self._set(ctx.phv, "enq_timestamp", us)
        if self.tm.passthrough(port):  # no queue can form: egress now (deq metadata stay 0)
            if self._get(ctx.phv, "priority") >= self.tm.nq:
                self.tm.drops["priority"] += 1
                return
            self._set(ctx.phv, "enq_qdepth", 0)
            self._set(ctx.phv, "egress_global_timestamp", us)
            self._egress(ctx, port, instance_type, out, depth)
            return
        self._set(ctx.phv, "enq_qdepth", self.tm.size(port))
        # a full queue or a priority beyond the port's queues drops it (counted in tm.drops)
        self.tm.enqueue(port, self._get(ctx.phv, "priority"), (ctx, instance_type, depth), ctx.now)

    def _new_ctx(self, port: int, data: bytes, instance_type: int, now: float) -> Ctx:
        phv = Phv(self.prog)
        ctx = Ctx(phv, data)
        ctx.packet_length = len(data)
        ctx.now = now
        self._set(phv, "ingress_port", port)
        self._set(phv, "packet_length", len(data))
        self._set(phv, "instance_type", instance_type)
        # As simple_switch: only a packet received on a port is stamped; a recirculated,
        # resubmitted or cloned one starts from reset metadata (0) unless a field list keeps it.
        if instance_type == NORMAL:
            self._set(phv, "ingress_global_timestamp", self._us(now))
        return ctx

    def _preserved(self, ctx: Ctx, field_list: int) -> list:
        return [(hf, ctx.phv.headers[hf[0]].values[hf[1]]) for hf in self.field_lists.get(field_list, [])]

    def _parse(self, ctx: Ctx) -> None:
        ctx.parsed, err = self.parser.run(ctx)
        if err == "ParserTimeout":
            # Counted and warned once; the packet goes on to ingress with the error, as
            # v1model does with every parser error, and the switch keeps serving.
            self.parser_timeouts += 1
            if self.parser_timeouts == 1:
                log.warning(
                    "parser %s visited more than %d states for one packet: ended with ParserTimeout "
                    "(logged once; counted in parser_timeouts)",
                    self.parser.init,
                    MAX_PARSER_STATES,
                )
        if err != "NoError" and self.sm["parser_error"][0] >= 0:
            self._set(ctx.phv, "parser_error", self.prog.errors.get(err, 0))

    def _ingress(
        self, port: int, data: bytes, instance_type: int, preserved, out: list, now: float, depth: int
    ) -> None:
        if depth > 16:
            return  # a resubmit/recirculate loop ends here, as a safety net
        ctx = self._new_ctx(port, data, instance_type, now)
        for (h, f), v in preserved or []:
            ctx.phv.headers[h].values[f] = v
        self._parse(ctx)
        if not self._checksums(ctx, verify=True):
            self._set(ctx.phv, "checksum_error", 1)
        self.apply(self.pipelines["ingress"], ctx)
        ctx.exit = False
        session, kind = ctx.clone_session, ctx.clone_kind
        ctx.clone_session = None
        if session is not None and kind == "I2E" and session in self.clone_sessions:
            # The clone is the packet as received, parsed again, with the field list.
            keep = self._preserved(ctx, ctx.clone_field_list)
            for eport, rid in self.clone_sessions[session]:
                c = self._new_ctx(port, data, INGRESS_CLONE, now)
                for (h, f), v in keep:
                    c.phv.headers[h].values[f] = v
                self._parse(c)
                self._set(c.phv, "egress_rid", rid)
                self._enqueue(c, eport, INGRESS_CLONE, out, depth + 1)
        self.digests.extend((self.learn_names.get(lid, str(lid)), vals) for lid, vals in ctx.digests)
        if ctx.resubmit_field_list is not None:
            self._ingress(
                port, data, RESUBMIT, self._preserved(ctx, ctx.resubmit_field_list), out, now, depth + 1
            )
            return
        grp = self._get(ctx.phv, "mcast_grp")
        if grp:
            for eport, rid in self.mcast_groups.get(grp, []):
                c = self._copy(ctx)
                self._set(c.phv, "egress_rid", rid)
                self._enqueue(c, eport, REPLICATION, out, depth)
            return
        spec = self._get(ctx.phv, "egress_spec")
        if spec != self.drop_port:
            self._enqueue(ctx, spec, NORMAL, out, depth)

    def _copy(self, ctx: Ctx, reset_metadata: bool = False) -> Ctx:
        c = Ctx(ctx.phv.copy(), ctx.payload)
        c.parsed, c.packet_length, c.now = ctx.parsed, ctx.packet_length, ctx.now
        if reset_metadata:
            for inst, h in zip(self.prog.instances, c.phv.headers, strict=True):
                if inst.metadata:
                    h.values = [0] * len(h.values)
        return c

    def _egress(self, ctx: Ctx, port: int, instance_type: int, out: list, depth: int) -> None:
        if depth > 16:
            return
        ctx.exit = False
        self._set(ctx.phv, "egress_port", port)
        self._set(ctx.phv, "egress_spec", self.drop_port + 1)  # so that only mark_to_drop drops here
        self._set(ctx.phv, "instance_type", instance_type)
        self._set(ctx.phv, "packet_length", ctx.packet_length)
        self._set(ctx.phv, "egress_global_timestamp", int(ctx.now * 1e6))
        self.apply(self.pipelines["egress"], ctx)
        session = ctx.clone_session
        if session is not None and ctx.clone_kind == "E2E" and session in self.clone_sessions:
            # Headers as egress left them, metadata reset but for the field list.
            keep = self._preserved(ctx, ctx.clone_field_list)
            for eport, rid in self.clone_sessions[session]:
                c = self._copy(ctx, reset_metadata=True)
                for (h, f), v in keep:
                    c.phv.headers[h].values[f] = v
                self._set(c.phv, "egress_rid", rid)
                self._enqueue(c, eport, EGRESS_CLONE, out, depth + 1)
        ctx.clone_session = None
        if self._get(ctx.phv, "egress_spec") == self.drop_port:
            return
        self._checksums(ctx, verify=False)
        data = self.deparser.run(ctx.phv) + ctx.payload[ctx.parsed :]
        if ctx.truncate is not None and ctx.truncate < len(data):
            data = data[: ctx.truncate]
        if ctx.recirculate_field_list is not None:
            # Back to ingress as the deparsed bytes; metadata reset (ingress port 0).
            self._ingress(
                0, data, RECIRC, self._preserved(ctx, ctx.recirculate_field_list), out, ctx.now, depth + 1
            )
            return
        out.append((port, data))


def _check_graph(pipeline: str, tables: dict, conds: dict) -> None:
    """Every next node exists and the control flow is a DAG, as BMv2 needs: a table that
    leads back to itself would loop forever on the first packet."""
    succ: dict[str, list[str]] = {}
    for t in tables.values():
        succ[t.name] = [n for n in [*t.next_tables.values(), t.base_default_next] if n is not None]
    for c in conds.values():
        succ[c.name] = [n for n in (c.true_next, c.false_next) if n is not None]
    for name, nexts in succ.items():
        for n in nexts:
            if n not in succ:
                raise JsonError(f"pipeline {pipeline}: {name}: unknown next node '{n}'")
    state: dict[str, int] = {}  # 1 on the path, 2 done
    for root in succ:
        stack = [(root, iter(succ[root]))]
        if state.get(root):
            continue
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                raise JsonError(
                    f"pipeline {pipeline}: {node} leads back to {nxt}: the control flow has a loop"
                )
            elif not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))


def _tr_tcm(m: Meter, index: int, cfg: tuple, units: int, now: float) -> int:
    """Two-rate three-color marker (RFC 2698, color-blind): 0 green, 1 yellow, 2 red."""
    cir, cburst, pir, pburst = cfg
    st = m.state.setdefault(index, [float(cburst), float(pburst), now])
    tc, tp, last = st
    dt = max(0.0, now - last)
    tc, tp = min(cburst, tc + cir * dt), min(pburst, tp + pir * dt)
    if tp < units:
        color = 2
    elif tc < units:
        color, tp = 1, tp - units
    else:
        color, tc, tp = 0, tc - units, tp - units
    m.state[index] = [tc, tp, now]
    return color


__all__ = ["DROP_PORT", "Switch", "hexint"]
