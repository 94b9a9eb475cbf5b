"""STF tests (p4c's simple test format) against the reference switch.

    add TABLE [PRIORITY] FIELD:VALUE … ACTION(ARG:VALUE, …)
    setdefault TABLE ACTION(ARG:VALUE, …)
    packet PORT HEX…            expect PORT [HEX… [$]]
    mirroring_add SESSION PORT  mc_mgrp_create GROUP
    mc_node_create RID PORT…    mc_node_associate GROUP NODE
    check_counter NAME(INDEX) [packets|bytes] OP VALUE    (OP: == != < <= > >=)
    register_write NAME INDEX VALUE                       register_read NAME INDEX
Values are decimal or 0x/0b/0o; ternary values may use * digits (don't care) or
VALUE&&&MASK; lpm values VALUE/LENGTH. Expected packets may use * hex digits; a
trailing $ requires the exact length, otherwise the packet may be longer. Packets to
ports that no packet or expect line names are not observed (p4c's driver gives the
switch no such port). Table,
action and field names resolve by suffix, as p4c's STF driver does.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field

from .switch.engine import Switch
from .switch.tables import Match, Table

_OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
        ">=": operator.ge}  # fmt: skip


class StfError(ValueError):
    """A malformed STF line: names the line and the problem."""


@dataclass
class StfResult:
    failures: list[str] = field(default_factory=list)
    packets_in: int = 0
    packets_out: int = 0

    @property
    def passed(self) -> bool:
        return not self.failures


def _int(text: str) -> int:
    t = text.strip().replace("_", "")
    neg = t.startswith("-")
    t = t.lstrip("-")
    base = {"0x": 16, "0b": 2, "0o": 8}.get(t[:2].lower(), 10)
    v = int(t[2:] if base != 10 else t, base)
    return -v if neg else v


def _digits(text: str) -> tuple[str, int, int]:
    """(digits, bits per digit, base) of a 0x/0b/0o literal."""
    t = text.strip().lower()
    for p, bits, base in (("0x", 4, 16), ("0b", 1, 2), ("0o", 3, 8)):
        if t.startswith(p):
            return t[2:], bits, base
    raise StfError(f"'{text}': wildcards need a 0x, 0b or 0o value")


def _wild(text: str) -> tuple[int, int]:
    """VALUE and MASK from a literal with * digits."""
    digits, bits, base = _digits(text)
    v = m = 0
    for d in digits:
        v <<= bits
        m <<= bits
        if d != "*":
            v |= int(d, base)
            m |= (1 << bits) - 1
    return v, m


def _by_suffix(names, wanted: str, what: str) -> str:
    if wanted in names:
        return wanted
    hits = [n for n in names if n.endswith("." + wanted)]
    if len(hits) != 1:
        raise StfError(f"{what} '{wanted}' is {'ambiguous' if hits else 'unknown'}")
    return hits[0]


class StfRunner:
    def __init__(self, sw: Switch) -> None:
        self.sw = sw
        self.nodes: dict[int, tuple[int, list[int]]] = {}  # node handle -> (rid, ports)
        self.outputs: dict[int, list[bytes]] = {}
        self.expects: dict[int, list[str]] = {}
        self.any_ports: set[int] = set()

    def _counter(self, name: str):
        return self.sw.counters[_by_suffix(self.sw.counters, name, "counter")]

    def _register(self, rest: str, nwords: int) -> tuple:
        words = rest.split()
        if len(words) != nwords:
            raise StfError(f"expected {nwords} words after the command, found '{rest}'")
        name = _by_suffix(self.sw.registers, words[0], "register")
        index = _int(words[1])
        if not 0 <= index < len(self.sw.registers[name][1]):
            raise StfError(f"register {name}: index {index} is out of range")
        return (name, index, *words[2:])

    def check_counter(self, rest: str) -> None:
        m = re.fullmatch(r"([\w.$]+)\((\w+)\)\s*(packets|bytes)?\s*(==|!=|<=|>=|<|>)\s*(\w+)", rest)
        if not m:
            raise StfError(f"expected NAME(INDEX) [packets|bytes] OP VALUE, found '{rest}'")
        c = self._counter(m.group(1))
        index, kind, op, want = _int(m.group(2)), m.group(3) or "packets", m.group(4), _int(m.group(5))
        if not 0 <= index < c.size:
            raise StfError(f"counter {c.name}: index {index} is out of range")
        got = (c.packets if kind == "packets" else c.bytes)[index]
        if not _OPS[op](got, want):
            self.result.failures.append(f"counter {c.name}[{index}] {kind}: {got}, expected {op} {want}")

    def table(self, name: str) -> Table:
        return self.sw.tables[_by_suffix(self.sw.tables, name, "table")]

    def action(self, t: Table, text: str) -> tuple[int, list[int]]:
        m = re.fullmatch(r"\s*([\w.$]+)\s*\((.*)\)\s*", text)
        if not m:
            raise StfError(f"expected ACTION(ARG:VALUE, …), found '{text}'")
        aname = _by_suffix(t.actions, m.group(1), f"action of {t.name}")
        aid = t.actions[aname]
        params = [
            r["name"] for r in next(a for a in self.sw.prog.raw["actions"] if a["id"] == aid)["runtime_data"]
        ]
        given = {}
        for part in filter(None, (p.strip() for p in m.group(2).split(","))):
            k, _, v = part.partition(":")
            if k.strip() not in params:
                raise StfError(f"action {aname} has no parameter '{k.strip()}'")
            given[k.strip()] = _int(v)
        missing = [p for p in params if p not in given]
        if missing:
            raise StfError(f"action {aname}: missing {missing}")
        return aid, [given[p] for p in params]

    def key(self, t: Table, words: list[str]) -> list[Match]:
        names = []
        for k in t.keys:
            inst = self.sw.prog.instances[k.hid]
            target = f"{inst.name}.{'$valid$' if k.fidx < 0 else inst.type.fields[k.fidx]}"
            names.append({k.name, target, target.replace("[", "$").replace("]", "")})
        match: list[Match | None] = [None] * len(t.keys)
        for w in words:
            fname, _, value = w.partition(":")
            fname = re.sub(r"\$(\d+)", r"[\1]", fname)  # STF writes stack[0].f as stack$0.f
            pos = [i for i, ns in enumerate(names) if any(n == fname or n.endswith("." + fname) for n in ns)]
            if len(pos) != 1:
                raise StfError(f"table {t.name}: key field '{fname}' is {'ambiguous' if pos else 'unknown'}")
            k = t.keys[pos[0]]
            full = (1 << k.width) - 1
            if k.match_type == "lpm":
                if "/" in value:
                    v, _, plen = value.partition("/")
                    match[pos[0]] = Match(value=_int(v), prefix=int(plen))
                else:
                    v, m = _wild(value) if "*" in value else (_int(value), full)
                    match[pos[0]] = Match(value=v & m, prefix=bin(m).count("1"))
            elif k.match_type == "ternary":
                if "&&&" in value:
                    v, _, m = value.partition("&&&")
                    match[pos[0]] = Match(value=_int(v) & _int(m), mask=_int(m))
                elif "*" in value:
                    v, m = _wild(value)
                    match[pos[0]] = Match(value=v, mask=m)
                else:
                    match[pos[0]] = Match(value=_int(value), mask=full)
            elif k.match_type == "range":
                lo, _, hi = value.partition("->")
                match[pos[0]] = Match(lo=_int(lo), hi=_int(hi or lo))
            else:
                match[pos[0]] = Match(value=_int(value))
        for i, k in enumerate(t.keys):
            if match[i] is None:
                full = (1 << k.width) - 1
                match[i] = {
                    "lpm": Match(value=0, prefix=0),
                    "ternary": Match(value=0, mask=0),
                    "range": Match(lo=0, hi=full),
                }.get(k.match_type, Match(value=0))
        return match  # type: ignore[return-value]

    def line(self, text: str) -> None:
        text = text.split("#", 1)[0].strip()
        if not text:
            return
        cmd, _, rest = text.partition(" ")
        rest = rest.strip()
        if cmd == "add":
            name, _, rest = rest.partition(" ")
            t = self.table(name)
            words = rest.split()
            prio = 0
            if words and re.fullmatch(r"\d+", words[0]):
                prio = int(words.pop(0))
            k = next((i for i, w in enumerate(words) if "(" in w), None)
            if k is None:
                raise StfError("add: no ACTION(…) in the line")
            action_text = " ".join(words[k:])
            if "=" in action_text.split(")")[-1]:
                action_text = action_text.rsplit("=", 1)[0]
            aid, data = self.action(t, action_text)
            t.add(self.key(t, words[:k]), aid, data, priority=prio)
        elif cmd == "setdefault":
            name, _, rest = rest.partition(" ")
            t = self.table(name)
            t.default_action = self.action(t, rest)
        elif cmd == "packet":
            port, _, data = rest.partition(" ")
            pkt = bytes.fromhex("".join(data.split()))
            self.result.packets_in += 1
            for eport, out in self.sw.process(int(port), pkt):
                self.outputs.setdefault(eport, []).append(out)
        elif cmd == "expect":
            port, _, data = rest.partition(" ")
            data = "".join(data.split())
            if data:
                self.expects.setdefault(int(port), []).append(data)
            else:
                self.any_ports.add(int(port))
        elif cmd == "mirroring_add":
            session, port = (int(x) for x in rest.split()[:2])
            self.sw.clone_sessions[session] = [(port, 0)]
        elif cmd == "mc_mgrp_create":
            self.sw.mcast_groups.setdefault(int(rest.split()[0]), [])
        elif cmd == "mc_node_create":
            parts = [int(x) for x in rest.split()]
            self.nodes[len(self.nodes)] = (parts[0], parts[1:])
        elif cmd == "mc_node_associate":
            grp, node = (int(x) for x in rest.split()[:2])
            rid, ports = self.nodes[node]
            self.sw.mcast_groups.setdefault(grp, []).extend((p, rid) for p in ports)
        elif cmd == "check_counter":
            self.check_counter(rest)
        elif cmd == "register_write":
            name, index, value = self._register(rest, 3)
            width, cells = self.sw.registers[name]
            cells[index] = _int(value) & ((1 << width) - 1)
        elif cmd in ("register_read", "counter_read"):
            self._register(rest, 2) if cmd == "register_read" else self._counter(rest.split()[0])
        elif cmd == "wait":
            pass  # packets are processed synchronously: there is nothing to wait for
        else:
            raise StfError(f"unknown STF command '{cmd}'")

    def run(self, text: str) -> StfResult:
        self.result = StfResult()
        for n, line in enumerate(text.splitlines(), 1):
            try:
                self.line(line)
            except (StfError, ValueError) as e:
                raise StfError(f"line {n}: {e}") from None
        for port, wanted in sorted(self.expects.items()):
            got = self.outputs.get(port, [])
            if len(got) != len(wanted):
                self.result.failures.append(f"port {port}: expected {len(wanted)} packets, got {len(got)}")
            for k, (w, g) in enumerate(zip(wanted, got, strict=False)):
                if not _same(w, g.hex()):
                    self.result.failures.append(f"port {port}, packet {k}: expected {w}, got {g.hex()}")
        # Like p4c's driver, the switch has only the ports the test names in packet or
        # expect lines: what goes to any other port leaves no trace.
        named = {int(m) for m in re.findall(r"^\s*(?:packet|expect)\s+(\d+)", text, re.MULTILINE)}
        for port, got in sorted(self.outputs.items()):
            self.result.packets_out += len(got)
            if port in named and port not in self.expects and port not in self.any_ports:
                self.result.failures.append(
                    f"port {port}: {len(got)} unexpected packets, first {got[0].hex()}"
                )
        return self.result


def _same(wanted: str, got: str) -> bool:
    wanted = wanted.lower()
    exact = wanted.endswith("$")
    wanted = wanted.rstrip("$")
    if len(got) < len(wanted) or (exact and len(got) != len(wanted)):
        return False
    return all(w == "*" or w == g for w, g in zip(wanted, got, strict=False))


def run_stf(sw: Switch, text: str) -> StfResult:
    return StfRunner(sw).run(text)
