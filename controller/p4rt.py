"""A typed P4Runtime client for one switch, names resolved through its P4Info.

The controller holds one `SwitchConnection` per switch. It speaks the plain
p4runtime 1.4 protos over grpcio, so it drives srem's reference switch and
`simple_switch_grpc` alike: arbitration by election id, pipeline push, batched
writes whose per-update errors come back as one `WriteError`, and reads.
"""

from __future__ import annotations

import contextlib
import ipaddress
import queue
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import code_pb2, status_pb2
from p4.config.v1 import p4info_pb2 as P
from p4.v1 import p4runtime_pb2 as R
from p4.v1 import p4runtime_pb2_grpc as RG

# Device configs of tens of MB and batches of thousands of updates must pass.
GRPC_OPTIONS = [
    ("grpc.max_send_message_length", 256 << 20),
    ("grpc.max_receive_message_length", 256 << 20),
]

Value = int | str | bytes
# A match value: exact/optional v, lpm (v, prefix_len), ternary (v, mask), range (lo, hi).
MatchValue = Value | tuple[Value, Value]


class P4RuntimeError(Exception):
    """A P4Runtime call the switch refused; `code` is the gRPC status code."""

    def __init__(self, what: str, code: grpc.StatusCode | None, message: str) -> None:
        super().__init__(f"{what}: {code.name if code else 'error'}: {message}")
        self.code = code


@dataclass(frozen=True)
class UpdateError:
    index: int
    code: int
    message: str

    def __str__(self) -> str:
        return f"update {self.index}: {code_pb2.Code.Name(self.code)}: {self.message}"


class WriteError(P4RuntimeError):
    """A Write with at least one failed update; `errors` lists those (index in the batch)."""

    def __init__(self, code: grpc.StatusCode, message: str, errors: list[UpdateError]) -> None:
        shown = "; ".join(str(e) for e in errors[:3]) or message
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__("Write", code, shown + more)
        self.errors = errors


def encode(value: Value, bitwidth: int) -> bytes:
    """A match or parameter value in P4Runtime's canonical bytes.

    Takes ints, bytes, dotted IPv4 / IPv6 strings and colon-separated MAC strings.
    """
    if isinstance(value, bytes):
        v = int.from_bytes(value, "big")
    elif isinstance(value, str):
        if value.count(":") == 5 and len(value) == 17:
            v = int(value.replace(":", ""), 16)
        else:
            try:
                v = int(ipaddress.ip_address(value))
            except ValueError:
                v = int(value, 0)
    else:
        v = int(value)
    if v < 0 or v >> bitwidth:
        raise ValueError(f"value {value!r} does not fit {bitwidth} bits")
    return v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")


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
    """One table entry by names, hashable: {field: int | Ternary | Lpm | Range}, action,
    {param: int}. The form NF entries and the EMAC's entries are written in."""

    table: str
    match: tuple[tuple[str, Any], ...]
    action: str
    params: tuple[tuple[str, int], ...] = ()
    priority: int = 0

    @classmethod
    def of(cls, table: str, match: dict, action: str, params: dict | None = None, priority: int = 0):
        return cls(table, tuple(match.items()), action, tuple((params or {}).items()), priority)


def _int(value: Value) -> int:
    return int.from_bytes(encode(value, 4096), "big")


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


def clone_session(session: int, port: int) -> R.Entity:
    """A clone session with one replica (instance 0) on `port`."""
    e = R.Entity()
    c = e.packet_replication_engine_entry.clone_session_entry
    c.session_id = session
    c.replicas.add(egress_port=port, instance=0)
    return e


def update(kind: str, entity: R.Entity | R.TableEntry) -> R.Update:
    """`update("INSERT", table_entry)`: wrap an entity into an Update."""
    if isinstance(entity, R.TableEntry):
        entity = R.Entity(table_entry=entity)
    return R.Update(type=R.Update.Type.Value(kind), entity=entity)


class SwitchConnection:
    """The controller's session with one switch: a stream, arbitration, and RPCs."""

    def __init__(
        self,
        address: str,
        device_id: int,
        election_id: tuple[int, int] = (0, 1),
        *,
        timeout: float = 10.0,
        claim: bool = True,
        require_primary: bool = True,
    ) -> None:
        self.address, self.device_id, self.election_id = address, device_id, election_id
        self.timeout, self.claim, self.require_primary = timeout, claim, require_primary
        self.highest: tuple[int, int] = (0, 0)  # the highest election id the switch reported
        self.channel = grpc.insecure_channel(address, options=GRPC_OPTIONS)
        self.stub = RG.P4RuntimeStub(self.channel)
        self._requests: queue.Queue = queue.Queue()
        self._arbitration: queue.Queue = queue.Queue()
        self.packets_in: queue.Queue = queue.Queue(maxsize=10_000)
        self._closed = False
        self._broken = False  # the stream ended: the switch went away or dropped us
        self._stream = self.stub.StreamChannel(iter(self._requests.get, None))
        threading.Thread(target=self._pump, name=f"p4rt-{address}", daemon=True).start()
        self.p4info: P4InfoIndex | None = None
        self._arbitrate()

    def _pump(self) -> None:
        try:
            for r in self._stream:
                kind = r.WhichOneof("update")
                if kind == "arbitration":
                    self._arbitration.put(r.arbitration)
                elif kind == "packet":
                    # Nobody reads packet-ins: drop them and keep the stream alive.
                    with contextlib.suppress(queue.Full):
                        self.packets_in.put_nowait(r.packet)
        except grpc.RpcError as e:
            self._arbitration.put(e)
        finally:
            self._broken = True

    def _arbitrate(self) -> None:
        """Become primary. Switches remember the highest election id they ever saw
        (P4Runtime 1.4, 5.3): a restarted controller whose id is lower becomes a backup
        with no primary (NOT_FOUND). With `claim`, it then asks again with one above
        the highest, which the switch reports; it never preempts a live primary."""
        answer = self._ask(self.election_id)
        self.highest = (answer.election_id.high, answer.election_id.low)
        if answer.status.code == code_pb2.NOT_FOUND and self.claim:
            highest = (answer.election_id.high, answer.election_id.low)
            n = ((highest[0] << 64) | highest[1]) + 1
            self.election_id = (n >> 64, n & ((1 << 64) - 1))
            answer = self._ask(self.election_id)
            self.highest = (answer.election_id.high, answer.election_id.low)
        if answer.status.code != code_pb2.OK and self.require_primary:
            self.close()
            raise P4RuntimeError(
                f"arbitration with {self.address}",
                grpc.StatusCode.PERMISSION_DENIED,
                f"not primary: {answer.status.message}",
            )

    def _ask(self, election_id: tuple[int, int]) -> R.MasterArbitrationUpdate:
        m = R.StreamMessageRequest()
        m.arbitration.device_id = self.device_id
        m.arbitration.election_id.high, m.arbitration.election_id.low = election_id
        self._requests.put(m)
        try:
            r = self._arbitration.get(timeout=self.timeout)
        except queue.Empty:
            self.close()
            raise P4RuntimeError(
                f"arbitration with {self.address}", grpc.StatusCode.DEADLINE_EXCEEDED, "no answer"
            ) from None
        # The switch may have announced more since (a primary change): the last word counts.
        while not isinstance(r, grpc.RpcError):
            try:
                r = self._arbitration.get(timeout=0.05)
            except queue.Empty:
                break
        if isinstance(r, grpc.RpcError):
            self.close()
            raise P4RuntimeError(f"arbitration with {self.address}", r.code(), r.details() or "")
        return r

    def _call(self, what: str, fn, req):
        try:
            return fn(req, timeout=self.timeout)
        except grpc.RpcError as e:
            raise P4RuntimeError(f"{what} on {self.address}", e.code(), e.details() or "") from None

    def _eid(self, req):
        req.device_id = self.device_id
        req.election_id.high, req.election_id.low = self.election_id
        return req

    def set_pipeline(self, p4info: P.P4Info, device_config: bytes, cookie: int = 0) -> None:
        """VERIFY_AND_COMMIT a pipeline (BMv2 JSON as the device config)."""
        req = self._eid(
            R.SetForwardingPipelineConfigRequest(
                action=R.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT
            )
        )
        req.config.p4info.CopyFrom(p4info)
        req.config.p4_device_config = device_config
        req.config.cookie.cookie = cookie
        self._call("SetForwardingPipelineConfig", self.stub.SetForwardingPipelineConfig, req)
        self.p4info = P4InfoIndex(p4info)

    def alive(self) -> bool:
        return not (self._closed or self._broken)

    def use_p4info(self, p4info: P.P4Info) -> None:
        """Resolve names through this P4Info (the switch runs it already)."""
        self.p4info = P4InfoIndex(p4info)

    def pipeline_cookie(self) -> int | None:
        """The cookie of the switch's pipeline; None when it has none."""
        req = R.GetForwardingPipelineConfigRequest(
            device_id=self.device_id, response_type=R.GetForwardingPipelineConfigRequest.COOKIE_ONLY
        )
        try:
            r = self.stub.GetForwardingPipelineConfig(req, timeout=self.timeout)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.FAILED_PRECONDITION:
                return None
            raise P4RuntimeError(
                f"GetForwardingPipelineConfig on {self.address}", e.code(), e.details() or ""
            ) from None
        return r.config.cookie.cookie if r.config.HasField("cookie") else None

    def fetch_pipeline(self) -> P.P4Info | None:
        """The switch's P4Info (None when it has no pipeline); resolves names from it."""
        req = R.GetForwardingPipelineConfigRequest(
            device_id=self.device_id, response_type=R.GetForwardingPipelineConfigRequest.P4INFO_AND_COOKIE
        )
        r = self._call("GetForwardingPipelineConfig", self.stub.GetForwardingPipelineConfig, req)
        if not r.config.HasField("p4info"):
            return None
        self.p4info = P4InfoIndex(r.config.p4info)
        return r.config.p4info

    def write(self, updates: Sequence[R.Update], atomicity: int = R.WriteRequest.CONTINUE_ON_ERROR) -> None:
        req = self._eid(R.WriteRequest(atomicity=atomicity))
        req.updates.extend(updates)
        try:
            self.stub.Write(req, timeout=self.timeout)
        except grpc.RpcError as e:
            raise WriteError(e.code(), e.details() or "", _update_errors(e)) from None

    def read(self, entities: Iterable[R.Entity]) -> list[R.Entity]:
        req = R.ReadRequest(device_id=self.device_id)
        req.entities.extend(entities)
        try:
            return [e for resp in self.stub.Read(req, timeout=self.timeout) for e in resp.entities]
        except grpc.RpcError as e:
            raise P4RuntimeError(f"Read on {self.address}", e.code(), e.details() or "") from None

    def read_table(self, table: str | None = None) -> list[R.TableEntry]:
        """Every entry of one table (or of all tables)."""
        tid = self.p4info.table(table).preamble.id if table and self.p4info else 0
        return [e.table_entry for e in self.read([R.Entity(table_entry=R.TableEntry(table_id=tid))])]

    # -- conveniences: one entity, written or read by names ---------------------------------
    def index(self) -> P4InfoIndex:
        if self.p4info is None:
            raise P4RuntimeError(f"names on {self.address}", None, "no pipeline: push or fetch one first")
        return self.p4info

    def insert(self, writes: Iterable[TableWrite], kind: str = "INSERT") -> None:
        """Table entries by names in one batch (kind: INSERT, MODIFY or DELETE)."""
        self.write([update(kind, self.index().entry(w)) for w in writes])

    def register_write(self, name: str, index: int, value: int) -> None:
        self.write([update("MODIFY", self.index().register_cell(name, index, value))])

    def register_read(self, name: str, index: int) -> int:
        (got,) = self.read([self.index().register_cell(name, index)])
        return int.from_bytes(got.register_entry.data.bitstring, "big")

    def counter_read(self, name: str) -> dict[int, tuple[int, int]]:
        """Every cell of an indirect counter: index -> (packets, bytes)."""
        e = R.Entity()
        e.counter_entry.counter_id = self.index().counter(name).preamble.id
        return {
            x.counter_entry.index.index: (x.counter_entry.data.packet_count, x.counter_entry.data.byte_count)
            for x in self.read([e])
        }

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._requests.put(None)
            self.channel.close()

    def __enter__(self) -> SwitchConnection:
        return self

    def __exit__(self, *_) -> None:
        self.close()


def _update_errors(e: grpc.RpcError) -> list[UpdateError]:
    """The per-update `p4.v1.Error` details in a failed Write's status trailer."""
    for key, value in e.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        st = status_pb2.Status.FromString(value)
        out = []
        for i, d in enumerate(st.details):
            err = R.Error()
            if d.Unpack(err) and err.canonical_code != code_pb2.OK:
                out.append(UpdateError(i, err.canonical_code, err.message))
        return out
    return []
