"""A small P4Runtime client with names resolved through the P4Info: what the EMAC needs
from a switch (tables, registers, counters, clone sessions, action-profile groups), and a
base for the controller. Works the same against srem's switch and simple_switch_grpc."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from p4.config.v1 import p4info_pb2 as I
from p4.v1 import p4runtime_pb2 as R
from p4.v1 import p4runtime_pb2_grpc as RG


class P4RuntimeError(Exception):
    """A request the switch refused, with its message."""


def canon(value: int, bits: int) -> bytes:
    """P4Runtime's canonical bytestring: big-endian, no leading zero bytes (at least one)."""
    if value < 0 or value >> bits:
        raise ValueError(f"{value} does not fit {bits} bits")
    n = max(1, (value.bit_length() + 7) // 8)
    return value.to_bytes(n, "big")


@dataclass(frozen=True)
class Ternary:
    value: int
    mask: int


@dataclass(frozen=True)
class Lpm:
    value: int
    prefix: int


@dataclass(frozen=True)
class Range:
    low: int
    high: int


@dataclass(frozen=True)
class TableWrite:
    """One table entry by names: {field: int | Ternary | Lpm | Range}, action, {param: int}."""

    table: str
    match: tuple[tuple[str, Any], ...]
    action: str
    params: tuple[tuple[str, int], ...] = ()
    priority: int = 0

    @classmethod
    def of(cls, table: str, match: dict, action: str, params: dict | None = None, priority: int = 0):
        return cls(table, tuple(match.items()), action, tuple((params or {}).items()), priority)


class Info:
    """P4Info lookups by full name or alias."""

    def __init__(self, p4info: I.P4Info) -> None:
        self.p4info = p4info
        self.objs: dict[tuple[str, str], Any] = {}
        for kind in ("tables", "actions", "registers", "counters", "meters", "action_profiles"):
            for o in getattr(p4info, kind):
                self.objs[(kind, o.preamble.name)] = o
                self.objs.setdefault((kind, o.preamble.alias), o)

    def get(self, kind: str, name: str):
        try:
            return self.objs[(kind, name)]
        except KeyError:
            raise P4RuntimeError(f"the P4Info has no {kind[:-1].replace('_', ' ')} named '{name}'") from None


class SwitchClient:
    """One switch: arbitration (primary by election id), pipeline, writes and reads."""

    def __init__(self, addr: str, device_id: int = 0, election: int = 1, timeout: float = 10.0) -> None:
        self.addr, self.device_id, self.election = addr, device_id, election
        self.channel = grpc.insecure_channel(addr)
        self.stub = RG.P4RuntimeStub(self.channel)
        self.info: Info | None = None
        self._requests: queue.Queue = queue.Queue()
        self._arb: queue.Queue = queue.Queue()
        stream = self.stub.StreamChannel(iter(self._requests.get, None))

        def pump() -> None:
            try:
                for r in stream:
                    if r.WhichOneof("update") == "arbitration":
                        self._arb.put(r.arbitration)
            except grpc.RpcError:
                pass  # the channel closed

        threading.Thread(target=pump, daemon=True, name=f"p4rt-{addr}").start()
        m = R.StreamMessageRequest()
        m.arbitration.device_id = device_id
        m.arbitration.election_id.low = election
        self._requests.put(m)
        try:
            arb = self._arb.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise P4RuntimeError(f"{addr}: no arbitration answer within {timeout} s") from None
        if arb.status.code != 0:
            self.close()
            raise P4RuntimeError(f"{addr}: not primary ({arb.status.message})")

    def close(self) -> None:
        self._requests.put(None)
        self.channel.close()

    def _eid(self, req):
        req.device_id = self.device_id
        req.election_id.low = self.election
        return req

    # -- pipeline -----------------------------------------------------------------------------
    def set_pipeline(self, device_config: bytes, p4info: I.P4Info) -> None:
        req = self._eid(
            R.SetForwardingPipelineConfigRequest(
                action=R.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT
            )
        )
        req.config.p4info.CopyFrom(p4info)
        req.config.p4_device_config = device_config
        self.stub.SetForwardingPipelineConfig(req)
        self.info = Info(p4info)

    def use_pipeline(self, p4info: I.P4Info) -> None:
        self.info = Info(p4info)

    # -- encoding -------------------------------------------------------------------------------
    def table_entry(self, w: TableWrite) -> R.TableEntry:
        assert self.info is not None, "set or use a pipeline first"
        t = self.info.get("tables", w.table)
        fields = {f.name: f for f in t.match_fields}
        te = R.TableEntry(table_id=t.preamble.id, priority=w.priority)
        for name, v in w.match:
            f = fields.get(name)
            if f is None:
                raise P4RuntimeError(f"table {w.table} has no key '{name}' (keys: {', '.join(fields)})")
            m = te.match.add(field_id=f.id)
            bits = f.bitwidth
            if isinstance(v, Ternary):
                if v.mask == 0:
                    te.match.pop()  # a wildcard ternary is omitted
                    continue
                m.ternary.value, m.ternary.mask = canon(v.value & v.mask, bits), canon(v.mask, bits)
            elif isinstance(v, Lpm):
                if v.prefix == 0:
                    te.match.pop()
                    continue
                m.lpm.value, m.lpm.prefix_len = canon(v.value, bits), v.prefix
            elif isinstance(v, Range):
                if (v.low, v.high) == (0, (1 << bits) - 1):
                    te.match.pop()
                    continue
                m.range.low, m.range.high = canon(v.low, bits), canon(v.high, bits)
            else:
                m.exact.value = canon(int(v), bits)
        if w.action:
            self._action(te.action.action, w.action, dict(w.params))
        return te

    def _action(self, msg: R.Action, name: str, params: dict[str, int]) -> None:
        assert self.info is not None
        a = self.info.get("actions", name)
        msg.action_id = a.preamble.id
        known = {p.name: p for p in a.params}
        for p in a.params:
            if p.name not in params:
                raise P4RuntimeError(f"action {name}: parameter '{p.name}' is missing")
            msg.params.add(param_id=p.id, value=canon(int(params[p.name]), p.bitwidth))
        extra = set(params) - set(known)
        if extra:
            raise P4RuntimeError(f"action {name} has no parameter {', '.join(sorted(extra))}")

    # -- writes ---------------------------------------------------------------------------------
    def write(self, updates: Iterable[R.Update], atomic: bool = False) -> None:
        req = self._eid(R.WriteRequest())
        if atomic:
            req.atomicity = R.WriteRequest.ROLLBACK_ON_ERROR
        req.updates.extend(updates)
        if not req.updates:
            return
        try:
            self.stub.Write(req)
        except grpc.RpcError as e:
            raise P4RuntimeError(f"{self.addr}: write refused: {e.details()}") from None

    def update(self, kind: int, entity_field: str, msg) -> R.Update:
        u = R.Update(type=kind)
        getattr(u.entity, entity_field).CopyFrom(msg)
        return u

    def insert(self, writes: Iterable[TableWrite], kind: int = R.Update.INSERT) -> None:
        self.write([self.update(kind, "table_entry", self.table_entry(w)) for w in writes])

    def set_default(self, table: str, action: str, params: dict | None = None) -> None:
        assert self.info is not None
        te = R.TableEntry(table_id=self.info.get("tables", table).preamble.id, is_default_action=True)
        self._action(te.action.action, action, params or {})
        self.write([self.update(R.Update.MODIFY, "table_entry", te)])

    def register_write(self, name: str, index: int, value: int) -> None:
        assert self.info is not None
        r = self.info.get("registers", name)
        bits = r.type_spec.bitstring.bit.bitwidth
        e = R.RegisterEntry(register_id=r.preamble.id)
        e.index.index = index
        e.data.bitstring = canon(value, bits)
        self.write([self.update(R.Update.MODIFY, "register_entry", e)])

    def register_read(self, name: str, index: int) -> int:
        assert self.info is not None
        e = R.Entity()
        e.register_entry.register_id = self.info.get("registers", name).preamble.id
        e.register_entry.index.index = index
        (got,) = self._read([e])
        return int.from_bytes(got.register_entry.data.bitstring, "big")

    def counter_read(self, name: str) -> dict[int, tuple[int, int]]:
        """Every cell of an indirect counter: index -> (packets, bytes)."""
        assert self.info is not None
        e = R.Entity()
        e.counter_entry.counter_id = self.info.get("counters", name).preamble.id
        return {
            x.counter_entry.index.index: (x.counter_entry.data.packet_count, x.counter_entry.data.byte_count)
            for x in self._read([e])
        }

    def clone_session(self, session: int, port: int, kind: int = R.Update.INSERT) -> None:
        e = R.PacketReplicationEngineEntry()
        e.clone_session_entry.session_id = session
        e.clone_session_entry.replicas.add(egress_port=port, instance=0)
        self.write([self.update(kind, "packet_replication_engine_entry", e)])

    def meter_config(self, name: str, index: int, cir: int, cburst: int, pir: int, pburst: int) -> None:
        assert self.info is not None
        e = R.MeterEntry(meter_id=self.info.get("meters", name).preamble.id)
        e.index.index = index
        e.config.cir, e.config.cburst, e.config.pir, e.config.pburst = cir, cburst, pir, pburst
        self.write([self.update(R.Update.MODIFY, "meter_entry", e)])

    def ecmp_group(self, profile: str, group: int, members: list[tuple[int, str, dict]]) -> None:
        """An action-selector group of members (member id, action, params)."""
        assert self.info is not None
        pid = self.info.get("action_profiles", profile).preamble.id
        ups = []
        for mid, action, params in members:
            m = R.ActionProfileMember(action_profile_id=pid, member_id=mid)
            self._action(m.action, action, params)
            ups.append(self.update(R.Update.INSERT, "action_profile_member", m))
        g = R.ActionProfileGroup(action_profile_id=pid, group_id=group, max_size=max(1, len(members)))
        for mid, _, _ in members:
            g.members.add(member_id=mid, weight=1)
        ups.append(self.update(R.Update.INSERT, "action_profile_group", g))
        self.write(ups)

    def group_entry(self, table: str, match: dict, group: int, priority: int = 0) -> R.TableEntry:
        te = self.table_entry(TableWrite.of(table, match, ""))
        te.action.action_profile_group_id = group
        te.priority = priority
        return te

    def read_entries(self, table: str) -> list[R.TableEntry]:
        """Every entry of a table, as the switch holds it (for read-back checks)."""
        assert self.info is not None
        e = R.Entity()
        e.table_entry.table_id = self.info.get("tables", table).preamble.id
        return [x.table_entry for x in self._read([e])]

    def _read(self, entities: list[R.Entity]) -> list[R.Entity]:
        req = R.ReadRequest(device_id=self.device_id)
        req.entities.extend(entities)
        try:
            return [e for resp in self.stub.Read(req) for e in resp.entities]
        except grpc.RpcError as e:
            raise P4RuntimeError(f"{self.addr}: read refused: {e.details()}") from None
