"""The P4Runtime gRPC service of one device (the reference switch behind a Runner).

Follows the P4Runtime 1.4 specification: arbitration by election id (the highest is
primary; writes, pipeline changes and packet-out need it), SetForwardingPipelineConfig
with the BMv2 JSON as device config, Write with per-update errors in the status
details, wildcard Read, PacketIn/PacketOut through the @controller_header headers, and
digests with acks.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent import futures

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, status_pb2
from p4.config.v1 import p4info_pb2 as P
from p4.v1 import p4runtime_pb2 as R
from p4.v1 import p4runtime_pb2_grpc as RG

from p4target.switch import JsonError, load
from p4target.switch.runner import Runner

from .codec import CodecError, decode, encode
from .pipeline import Pipeline, RuntimeErr, invalid

log = logging.getLogger("srem.p4runtime")
API_VERSION = "1.4.1"


class _Stream:
    def __init__(self) -> None:
        self.out: queue.Queue = queue.Queue()
        self.election_id: tuple[int, int] | None = None
        self.role = ""
        self.closed = False


def _eid(u: R.Uint128) -> tuple[int, int]:
    return (u.high, u.low)


class P4RuntimeService(RG.P4RuntimeServicer):
    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.device_id = runner.device_id
        self.pipeline: Pipeline | None = None
        self.saved: tuple[P.P4Info, bytes, int] | None = None
        self.cookie = 0
        self.streams: list[_Stream] = []
        self.lock = threading.RLock()
        self.digest_list_id = 0
        self.pending_acks: dict[int, int] = {}
        runner.on_packet_in = self._packet_in
        runner.on_digest = self._digest
        self._stop = threading.Event()
        threading.Thread(target=self._idle_watch, name="idle-timeout", daemon=True).start()

    # -- arbitration ---------------------------------------------------------------
    def primary(self) -> _Stream | None:
        live = [s for s in self.streams if s.election_id is not None and not s.closed]
        return max(live, key=lambda s: s.election_id) if live else None

    def _check_primary(self, device_id: int, election_id: R.Uint128, context) -> None:
        if device_id != self.device_id:
            context.abort(
                grpc.StatusCode.NOT_FOUND, f"unknown device id {device_id} (this is device {self.device_id})"
            )
        p = self.primary()
        if p is None or p.election_id != _eid(election_id):
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                "only the primary client may do this (election id is not the highest)",
            )

    def _announce(self) -> None:
        """Tell every client who is primary (OK for it, ALREADY_EXISTS for the others)."""
        p = self.primary()
        for s in self.streams:
            if s.election_id is None or s.closed:
                continue
            m = R.StreamMessageResponse()
            m.arbitration.device_id = self.device_id
            m.arbitration.election_id.high, m.arbitration.election_id.low = p.election_id
            m.arbitration.status.code = code_pb2.OK if s is p else code_pb2.ALREADY_EXISTS
            m.arbitration.status.message = "is primary" if s is p else "is backup"
            s.out.put(m)

    def StreamChannel(self, request_iterator, context):
        s = _Stream()
        with self.lock:
            self.streams.append(s)

        def reader() -> None:
            try:
                for req in request_iterator:
                    self._stream_request(s, req)
            except grpc.RpcError:
                pass
            finally:
                with self.lock:
                    s.closed = True
                    was_primary = s.election_id is not None
                    if was_primary:
                        self._announce()
                s.out.put(None)

        threading.Thread(target=reader, daemon=True).start()
        while True:
            m = s.out.get()
            if m is None:
                break
            yield m

    def _stream_request(self, s: _Stream, req: R.StreamMessageRequest) -> None:
        kind = req.WhichOneof("update")
        if kind == "arbitration":
            a = req.arbitration
            if a.device_id != self.device_id:
                self._stream_error(s, code_pb2.NOT_FOUND, f"unknown device id {a.device_id}")
                return
            if a.role.name:
                self._stream_error(s, code_pb2.UNIMPLEMENTED, "only the default role is supported")
                return
            with self.lock:
                eid = _eid(a.election_id)
                if any(o is not s and o.election_id == eid and not o.closed for o in self.streams):
                    self._stream_error(
                        s, code_pb2.INVALID_ARGUMENT, f"election id {eid} is taken by another client"
                    )
                    return
                s.election_id = eid
                self._announce()
        elif kind == "packet":
            with self.lock:
                if self.primary() is not s:
                    self._stream_error(
                        s,
                        code_pb2.PERMISSION_DENIED,
                        "packet-out needs the primary client",
                        packet=req.packet,
                    )
                    return
                try:
                    data = self._packet_out_bytes(req.packet)
                except RuntimeErr as e:
                    self._stream_error(s, e.code.value[0], e.message, packet=req.packet)
                    return
            self.runner.inject(self.runner.cpu_port if self.runner.cpu_port is not None else 0, data)
        elif kind == "digest_ack":
            with self.lock:
                self.pending_acks.pop(req.digest_ack.list_id, None)
        else:
            self._stream_error(s, code_pb2.UNIMPLEMENTED, f"stream message {kind} is not supported")

    def _stream_error(self, s: _Stream, code: int, message: str, packet=None) -> None:
        m = R.StreamMessageResponse()
        m.error.canonical_code, m.error.message = code, message
        if packet is not None:
            m.error.packet_out.packet_out.CopyFrom(packet)
        s.out.put(m)

    # -- packets -------------------------------------------------------------------
    def _header(self, name: str):
        if self.pipeline is None:
            return None
        return self.pipeline.controller.get(name)

    def _packet_out_bytes(self, p: R.PacketOut) -> bytes:
        h = self._header("packet_out")
        if h is None:
            if p.metadata:
                raise invalid(
                    'the program has no @controller_header("packet_out"): packet-out takes no metadata'
                )
            return p.payload
        given = {m.metadata_id: m.value for m in p.metadata}
        acc, nbits = 0, 0
        for f in h.metadata:
            v = 0
            if f.id in given:
                try:
                    v = decode(given.pop(f.id), f.bitwidth, f"packet_out.{f.name}")
                except CodecError as e:
                    raise invalid(str(e)) from None
            acc, nbits = (acc << f.bitwidth) | v, nbits + f.bitwidth
        if given:
            raise invalid(f"packet_out: unknown metadata ids {sorted(given)}")
        return acc.to_bytes(nbits // 8, "big") + p.payload

    def _packet_in(self, data: bytes) -> None:
        m = R.StreamMessageResponse()
        h = self._header("packet_in")
        if h is None:
            m.packet.payload = data
        else:
            nbits = sum(f.bitwidth for f in h.metadata)
            v = int.from_bytes(data[: nbits // 8], "big")
            shift = nbits
            for f in h.metadata:
                shift -= f.bitwidth
                m.packet.metadata.append(
                    R.PacketMetadata(metadata_id=f.id, value=encode((v >> shift) & ((1 << f.bitwidth) - 1)))
                )
            m.packet.payload = data[nbits // 8 :]
        with self.lock:
            p = self.primary()
        if p is not None:
            p.out.put(m)

    def _digest(self, name: str, values: list[int]) -> None:
        pl = self.pipeline
        if pl is None or name not in pl.digest_names:
            return
        m = R.StreamMessageResponse()
        with self.lock:
            self.digest_list_id += 1
            m.digest.digest_id, m.digest.list_id = pl.digest_names[name], self.digest_list_id
            m.digest.timestamp = time.time_ns()
            data = m.digest.data.add()
            for v in values:
                data.struct.members.add().bitstring = encode(v)
            self.pending_acks[self.digest_list_id] = m.digest.digest_id
            p = self.primary()
        if p is not None:
            p.out.put(m)

    def _idle_watch(self, period: float = 0.05) -> None:
        """Tell the primary about entries idle longer than their timeout, once per idle spell."""
        while not self._stop.wait(period):
            pl = self.pipeline
            if pl is None:
                continue
            now = time.monotonic()
            note = R.StreamMessageResponse()
            with self.runner.lock:
                for tm in pl.tables.values():
                    if not tm.table.support_timeout:
                        continue
                    for e in tm.table.entries.values():
                        if e.timeout_ms and not e.notified and (now - e.last_hit) * 1000 >= e.timeout_ms:
                            e.notified = True
                            note.idle_timeout_notification.table_entry.append(pl.entry_to_p4rt(tm, e, False))
            if note.idle_timeout_notification.table_entry:
                note.idle_timeout_notification.timestamp = time.time_ns()
                with self.lock:
                    p = self.primary()
                if p is not None:
                    p.out.put(note)

    def stop(self) -> None:
        self._stop.set()

    # -- pipeline --------------------------------------------------------------------
    def Capabilities(self, request, context):
        return R.CapabilitiesResponse(p4runtime_api_version=API_VERSION)

    def SetForwardingPipelineConfig(self, request, context):
        self._check_primary(request.device_id, request.election_id, context)
        A = R.SetForwardingPipelineConfigRequest
        action = request.action
        with self.lock:
            if action == A.COMMIT:
                if self.saved is None:
                    context.abort(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        "COMMIT without a saved config (use VERIFY_AND_SAVE)",
                    )
                info, device, cookie = self.saved
            else:
                cfg = request.config
                info, device, cookie = cfg.p4info, cfg.p4_device_config, cfg.cookie.cookie
            try:
                sw = load(device)
                pipeline = Pipeline(info, device, sw)
            except JsonError as e:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"device config (BMv2 JSON): {e}")
            except RuntimeErr as e:
                context.abort(e.code, e.message)
            if action in (A.VERIFY,):
                return R.SetForwardingPipelineConfigResponse()
            if action == A.VERIFY_AND_SAVE:
                self.saved = (info, device, cookie)
                return R.SetForwardingPipelineConfigResponse()
            if action not in (A.VERIFY_AND_COMMIT, A.COMMIT, A.RECONCILE_AND_COMMIT):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unknown action {action}")
            self.pipeline, self.cookie = pipeline, cookie
            self.runner.set_switch(sw)
        return R.SetForwardingPipelineConfigResponse()

    def GetForwardingPipelineConfig(self, request, context):
        if request.device_id != self.device_id:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown device id {request.device_id}")
        resp = R.GetForwardingPipelineConfigResponse()
        pl = self.pipeline
        if pl is None:
            return resp
        T = R.GetForwardingPipelineConfigRequest
        resp.config.cookie.cookie = self.cookie
        if request.response_type in (T.ALL, T.P4INFO_AND_COOKIE):
            resp.config.p4info.CopyFrom(pl.info)
        if request.response_type in (T.ALL, T.DEVICE_CONFIG_AND_COOKIE):
            resp.config.p4_device_config = pl.device_config
        return resp

    # -- write -----------------------------------------------------------------------
    def Write(self, request, context):
        self._check_primary(request.device_id, request.election_id, context)
        pl = self.pipeline
        if pl is None:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                "no forwarding pipeline: SetForwardingPipelineConfig first",
            )
        atomic = request.atomicity != R.WriteRequest.CONTINUE_ON_ERROR
        errors: list[RuntimeErr | None] = []
        with self.runner.lock, self.lock:
            if atomic:
                # All or nothing: check every update against the state as it will be,
                # then apply; a failure leaves the device untouched.
                for u in request.updates:
                    errors.append(self._try(pl, u, dry=True))
                if any(errors):
                    return self._fail(context, errors, request)
                for u in request.updates:
                    self._update(pl, u, dry=False)
                return R.WriteResponse()
            for u in request.updates:
                errors.append(self._try(pl, u, dry=False))
        if any(errors):
            return self._fail(context, errors, request)
        return R.WriteResponse()

    def _try(self, pl: Pipeline, u: R.Update, dry: bool) -> RuntimeErr | None:
        try:
            self._update(pl, u, dry)
        except RuntimeErr as e:
            return e
        return None

    def _fail(self, context, errors: list[RuntimeErr | None], request):
        details = []
        for e in errors:
            err = R.Error()
            if e is None:
                err.canonical_code = code_pb2.OK
            else:
                err.canonical_code, err.message = e.code.value[0], e.message
            any_ = any_pb2.Any()
            any_.Pack(err)
            details.append(any_)
        first = next(e for e in errors if e is not None)
        status = status_pb2.Status(code=code_pb2.UNKNOWN, message=first.message, details=details)
        context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
        context.abort(grpc.StatusCode.UNKNOWN, first.message)

    def _update(self, pl: Pipeline, u: R.Update, dry: bool) -> None:
        ent = u.entity
        kind = ent.WhichOneof("entity")
        if kind == "table_entry":
            pl.table_write(u.type, ent.table_entry, dry)
        elif kind == "packet_replication_engine_entry":
            self._pre(u.type, ent.packet_replication_engine_entry, dry)
        elif kind == "counter_entry":
            self._counter_write(pl, u, ent.counter_entry, dry)
        elif kind == "register_entry":
            self._register_write(pl, u, ent.register_entry, dry)
        elif kind == "meter_entry":
            self._meter_write(pl, u, ent.meter_entry, dry)
        elif kind == "direct_counter_entry":
            self._direct_counter_write(pl, u, ent.direct_counter_entry, dry)
        elif kind == "direct_meter_entry":
            self._direct_meter_write(pl, u, ent.direct_meter_entry, dry)
        elif kind == "value_set_entry":
            self._value_set_write(pl, u, ent.value_set_entry, dry)
        elif kind == "action_profile_member":
            pl.member_write(u.type, ent.action_profile_member, dry)
        elif kind == "action_profile_group":
            pl.group_write(u.type, ent.action_profile_group, dry)
        elif kind == "digest_entry":
            if ent.digest_entry.digest_id not in pl.digests:
                raise RuntimeErr(grpc.StatusCode.NOT_FOUND, f"unknown digest id {ent.digest_entry.digest_id}")
        else:
            raise RuntimeErr(grpc.StatusCode.UNIMPLEMENTED, f"writing {kind} is not supported")

    def _pre(self, u_type: int, e: R.PacketReplicationEngineEntry, dry: bool) -> None:
        sw = self.runner.switch
        kind = e.WhichOneof("type")
        if kind == "multicast_group_entry":
            g = e.multicast_group_entry
            if g.multicast_group_id == 0:
                raise invalid("multicast group id 0 is reserved")
            store, key = sw.mcast_groups, g.multicast_group_id
            value = [(_replica_port(r), r.instance) for r in g.replicas]
        elif kind == "clone_session_entry":
            c = e.clone_session_entry
            if c.session_id == 0:
                raise invalid("clone session id 0 is reserved")
            store, key = sw.clone_sessions, c.session_id
            value = [(_replica_port(r), r.instance) for r in c.replicas]
        else:
            raise RuntimeErr(grpc.StatusCode.UNIMPLEMENTED, f"{kind} is not supported")
        if u_type == R.Update.INSERT and key in store:
            raise RuntimeErr(grpc.StatusCode.ALREADY_EXISTS, f"{kind} {key} exists already")
        if u_type in (R.Update.MODIFY, R.Update.DELETE) and key not in store:
            raise RuntimeErr(grpc.StatusCode.NOT_FOUND, f"no {kind} {key}")
        if len({v for v in value}) != len(value):
            raise invalid(f"{kind} {key}: duplicate replicas")
        if dry:
            return
        if u_type == R.Update.DELETE:
            del store[key]
        else:
            store[key] = value

    def _indexed(self, items: dict, ident: int, what: str):
        x = items.get(ident)
        if x is None:
            raise RuntimeErr(grpc.StatusCode.NOT_FOUND, f"unknown {what} id {ident}")
        return x

    def _cells(self, items: dict, ident: int, what: str, q, size):
        """(array, index) pairs a read names: one cell, or every cell of one or all arrays."""
        infos = [self._indexed(items, ident, what)] if ident else list(items.values())
        for info in infos:
            n = size(info.preamble.name)
            for k in [q.index.index] if q.HasField("index") else range(n):
                if not 0 <= k < n:
                    raise invalid(f"{what} {info.preamble.name}: index {k} outside 0..{n - 1}")
                yield info, k

    def _counter_write(self, pl: Pipeline, u: R.Update, e: R.CounterEntry, dry: bool) -> None:
        if u.type != R.Update.MODIFY:
            raise invalid("counter entries can only be modified")
        info = self._indexed(pl.counters, e.counter_id, "counter")
        c = self.runner.switch.counters[info.preamble.name]
        if not e.HasField("index"):
            raise invalid("counter writes need an index")
        k = e.index.index
        if not 0 <= k < c.size:
            raise invalid(f"counter {info.preamble.name}: index {k} outside 0..{c.size - 1}")
        if not dry:
            c.packets[k], c.bytes[k] = e.data.packet_count, e.data.byte_count

    def _direct_counter_write(self, pl: Pipeline, u: R.Update, e: R.DirectCounterEntry, dry: bool) -> None:
        if u.type != R.Update.MODIFY:
            raise invalid("direct counter entries can only be modified")
        tm = pl.table(e.table_entry.table_id)
        entry = tm.table.find(pl.match(tm, e.table_entry.match), e.table_entry.priority)
        if entry is None:
            raise RuntimeErr(grpc.StatusCode.NOT_FOUND, "no such table entry")
        if not dry:
            entry.packets, entry.bytes = e.data.packet_count, e.data.byte_count

    def _register_write(self, pl: Pipeline, u: R.Update, e: R.RegisterEntry, dry: bool) -> None:
        if u.type != R.Update.MODIFY:
            raise invalid("register entries can only be modified")
        info = self._indexed(pl.registers, e.register_id, "register")
        width, cells = self.runner.switch.registers[info.preamble.name]
        if not e.HasField("index"):
            raise invalid("register writes need an index")
        k = e.index.index
        if not 0 <= k < len(cells):
            raise invalid(f"register {info.preamble.name}: index {k} outside 0..{len(cells) - 1}")
        if e.data.WhichOneof("data") != "bitstring":
            raise invalid(f"register {info.preamble.name}: data must be a bitstring")
        try:
            v = decode(e.data.bitstring, width, info.preamble.name)
        except CodecError as err:
            raise invalid(str(err)) from None
        if not dry:
            cells[k] = v

    def _meter_config(self, cfg: R.MeterConfig) -> tuple[float, int, float, int]:
        if cfg.cir > cfg.pir:
            raise invalid("meter config: cir must not exceed pir")
        return (float(cfg.cir), int(cfg.cburst), float(cfg.pir), int(cfg.pburst))

    def _meter_write(self, pl: Pipeline, u: R.Update, e: R.MeterEntry, dry: bool) -> None:
        if u.type != R.Update.MODIFY:
            raise invalid("meter entries can only be modified")
        info = self._indexed(pl.meters, e.meter_id, "meter")
        m = self.runner.switch.meters[info.preamble.name]
        idxs = [e.index.index] if e.HasField("index") else list(range(m.size))
        for k in idxs:
            if not 0 <= k < m.size:
                raise invalid(f"meter {info.preamble.name}: index {k} outside 0..{m.size - 1}")
        cfg = self._meter_config(e.config) if e.HasField("config") else None
        if not dry:
            for k in idxs:
                if cfg is None:
                    m.config.pop(k, None)
                else:
                    m.config[k] = cfg
                m.state.pop(k, None)

    def _direct_meter_write(self, pl: Pipeline, u: R.Update, e: R.DirectMeterEntry, dry: bool) -> None:
        if u.type != R.Update.MODIFY:
            raise invalid("direct meter entries can only be modified")
        tm = pl.table(e.table_entry.table_id)
        if tm.table.direct_meter is None:
            raise invalid(f"table {tm.info.preamble.name} has no direct meter")
        entry = tm.table.find(pl.match(tm, e.table_entry.match), e.table_entry.priority)
        if entry is None:
            raise RuntimeErr(grpc.StatusCode.NOT_FOUND, "no such table entry")
        cfg = self._meter_config(e.config) if e.HasField("config") else None
        if not dry:
            m = self.runner.switch.meters[tm.table.direct_meter]
            if cfg is None:
                m.config.pop(entry.handle, None)
            else:
                m.config[entry.handle] = cfg

    def _value_set_write(self, pl: Pipeline, u: R.Update, e: R.ValueSetEntry, dry: bool) -> None:
        if u.type != R.Update.MODIFY:
            raise invalid("value sets can only be modified (the whole set at once)")
        info = self._indexed(pl.value_sets, e.value_set_id, "value set")
        if len(e.members) > info.size:
            raise RuntimeErr(
                grpc.StatusCode.RESOURCE_EXHAUSTED, f"value set {info.preamble.name} holds {info.size} values"
            )
        vals = set()
        for m in e.members:
            acc = 0
            for mf, fm in zip(info.match, m.match, strict=False):
                try:
                    acc = (acc << (8 * ((mf.bitwidth + 7) // 8))) | decode(
                        fm.exact.value, mf.bitwidth, info.preamble.name
                    )
                except CodecError as err:
                    raise invalid(str(err)) from None
            vals.add(acc)
        if not dry:
            self.runner.switch.vsets[info.preamble.name] = vals

    # -- read ------------------------------------------------------------------------
    def Read(self, request, context):
        if request.device_id != self.device_id:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown device id {request.device_id}")
        pl = self.pipeline
        if pl is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "no forwarding pipeline")
        out = R.ReadResponse()
        try:
            with self.runner.lock, self.lock:
                for ent in request.entities:
                    for e in self._read(pl, ent):
                        out.entities.append(e)
        except RuntimeErr as e:
            context.abort(e.code, e.message)
        yield out

    def _read(self, pl: Pipeline, ent: R.Entity):
        kind = ent.WhichOneof("entity")
        sw = self.runner.switch
        if kind == "table_entry":
            q = ent.table_entry
            tms = [pl.table(q.table_id)] if q.table_id else list(pl.tables.values())
            for tm in tms:
                if q.is_default_action:
                    yield R.Entity(table_entry=pl.default_to_p4rt(tm))
                    continue
                for e in _selected(pl, tm, q.match, q.priority):
                    if e is not None:
                        yield R.Entity(table_entry=pl.entry_to_p4rt(tm, e, q.HasField("counter_data")))
        elif kind == "counter_entry":
            q = ent.counter_entry
            for info, k in self._cells(
                pl.counters, q.counter_id, "counter", q, lambda n: sw.counters[n].size
            ):
                c = sw.counters[info.preamble.name]
                r = R.CounterEntry(counter_id=info.preamble.id)
                r.index.index = k
                r.data.packet_count, r.data.byte_count = c.packets[k], c.bytes[k]
                yield R.Entity(counter_entry=r)
        elif kind == "direct_counter_entry":
            q = ent.direct_counter_entry
            tm = pl.table(q.table_entry.table_id)
            for e in _selected(pl, tm, q.table_entry.match, q.table_entry.priority):
                if e is None:
                    raise RuntimeErr(grpc.StatusCode.NOT_FOUND, "no such table entry")
                r = R.DirectCounterEntry()
                r.table_entry.CopyFrom(pl.entry_to_p4rt(tm, e, False))
                r.data.packet_count, r.data.byte_count = e.packets, e.bytes
                yield R.Entity(direct_counter_entry=r)
        elif kind == "register_entry":
            q = ent.register_entry
            sizes = lambda n: len(sw.registers[n][1])
            for info, k in self._cells(pl.registers, q.register_id, "register", q, sizes):
                r = R.RegisterEntry(register_id=info.preamble.id)
                r.index.index = k
                r.data.bitstring = encode(sw.registers[info.preamble.name][1][k])
                yield R.Entity(register_entry=r)
        elif kind == "meter_entry":
            q = ent.meter_entry
            info = self._indexed(pl.meters, q.meter_id, "meter")
            m = sw.meters[info.preamble.name]
            idxs = [q.index.index] if q.HasField("index") else range(m.size)
            for k in idxs:
                r = R.MeterEntry(meter_id=info.preamble.id)
                r.index.index = k
                if k in m.config:
                    cir, cb, pir, pb = m.config[k]
                    r.config.cir, r.config.cburst, r.config.pir, r.config.pburst = int(cir), cb, int(pir), pb
                yield R.Entity(meter_entry=r)
        elif kind == "packet_replication_engine_entry":
            q = ent.packet_replication_engine_entry
            if q.WhichOneof("type") == "multicast_group_entry":
                want, store, kind_, key = (
                    q.multicast_group_entry.multicast_group_id,
                    sw.mcast_groups,
                    "multicast_group_entry",
                    "multicast_group_id",
                )
            else:
                want, store, kind_, key = (
                    q.clone_session_entry.session_id,
                    sw.clone_sessions,
                    "clone_session_entry",
                    "session_id",
                )
            for ident, reps in sorted(store.items()):
                if want and ident != want:
                    continue
                r = R.Entity()
                m = getattr(r.packet_replication_engine_entry, kind_)
                setattr(m, key, ident)
                for port, inst in reps:
                    m.replicas.add(egress_port=port, instance=inst)
                yield r
        elif kind in ("action_profile_member", "action_profile_group"):
            q = getattr(ent, kind)
            infos = (
                [pl.profile(q.action_profile_id)[0]] if q.action_profile_id else list(pl.profiles.values())
            )
            for info in infos:
                prof = sw.profiles[info.preamble.name]
                if kind == "action_profile_member":
                    tm = pl.profile_table(info.preamble.id)
                    for mid, (jid, data) in sorted(prof.members.items()):
                        if q.member_id and mid != q.member_id:
                            continue
                        r = R.ActionProfileMember(action_profile_id=info.preamble.id, member_id=mid)
                        holder = R.TableEntry()
                        pl._set_action(tm, holder, jid, data)
                        r.action.CopyFrom(holder.action.action)
                        yield R.Entity(action_profile_member=r)
                else:
                    for gid, members in sorted(prof.groups.items()):
                        if q.group_id and gid != q.group_id:
                            continue
                        r = R.ActionProfileGroup(action_profile_id=info.preamble.id, group_id=gid)
                        for mid in dict.fromkeys(members):
                            r.members.add(member_id=mid, weight=members.count(mid))
                        yield R.Entity(action_profile_group=r)
        elif kind == "value_set_entry":
            q = ent.value_set_entry
            info = self._indexed(pl.value_sets, q.value_set_id, "value set")
            r = R.ValueSetEntry(value_set_id=info.preamble.id)
            for v in sorted(sw.vsets.get(info.preamble.name, ())):
                member = r.members.add()
                member.match.add(field_id=1).exact.value = encode(v)
            yield R.Entity(value_set_entry=r)
        else:
            raise RuntimeErr(grpc.StatusCode.UNIMPLEMENTED, f"reading {kind} is not supported")


def _replica_port(r: R.Replica) -> int:
    """P4Runtime 1.4 gives a replica's port as `egress_port` or as `port` bytes."""
    if r.WhichOneof("port_kind") == "port":
        return int.from_bytes(r.port, "big")
    return r.egress_port


def serve(runner: Runner, address: str, max_workers: int = 8) -> tuple[grpc.Server, P4RuntimeService, int]:
    """Start the gRPC server; returns it, the service and the bound port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers))
    service = P4RuntimeService(runner)
    RG.add_P4RuntimeServicer_to_server(service, server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    server.start()
    log.info("P4Runtime server for device %d on %s", runner.device_id, address)
    return server, service, port


def _selected(pl: Pipeline, tm, match, priority) -> list:
    """The entries a read names: the one with this match (None if absent), or all in order."""
    if match:
        return [tm.table.find(pl.match(tm, match), priority)]
    return sorted(tm.table.entries.values(), key=lambda x: x.handle)
