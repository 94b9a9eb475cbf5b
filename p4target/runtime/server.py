"""The P4Runtime gRPC service of one device (the reference switch behind a Runner).

Follows the P4Runtime 1.4 specification and simple_switch_grpc: arbitration per role
by the highest election id ever seen (`arbitration`), SetForwardingPipelineConfig with
the BMv2 JSON (plain or in a p4.tmp.P4DeviceConfig) as device config, Write with
per-update errors and the three atomicity modes, wildcard Read, PacketIn/PacketOut
through the @controller_header headers, and digests with acks.

Locks, always taken in this order and never the other way round:
  1. `self.lock`     control plane: one Write, Read or pipeline change at a time;
  2. `runner.lock`   data plane: held by each packet, and by a Write only while it
                     changes tables (in short chunks, so packets keep flowing; for a
                     whole DATAPLANE_ATOMIC batch, so no packet sees half of it);
  3. `arbiter.lock`  a leaf: streams and the primary.
The data plane calls back (packet-in, digests) after releasing the runner lock.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from concurrent import futures

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, status_pb2
from p4.v1 import p4runtime_pb2 as R
from p4.v1 import p4runtime_pb2_grpc as RG

from p4target.switch import JsonError, load
from p4target.switch.runner import Runner

from . import entities
from .arbitration import Arbiter, Stream, StreamAbort
from .codec import CodecError, decode, device_json, encode
from .pipeline import Pipeline, RuntimeErr, invalid
from .txn import Txn

log = logging.getLogger("srem.p4runtime")
API_VERSION = "1.4.1"
CHUNK = 64  # updates applied per hold of the runner lock (packets pass in between)
READ_CHUNK = 1000  # entities per ReadResponse
DETAILS_BUDGET = 4000  # bytes of status details: clients take 8 KiB of headers, base64 grows them
MAX_FRAME = 65535  # bytes of a packet-out
FREEZE_EVERY = 5000  # updates between two gc.freeze() (see _settle)
MAX_MESSAGE = 256 * 1024 * 1024  # device configs of tens of MB and large batches
ATOMICITY = (
    R.WriteRequest.CONTINUE_ON_ERROR,
    R.WriteRequest.ROLLBACK_ON_ERROR,
    R.WriteRequest.DATAPLANE_ATOMIC,
)


class _End:
    """The last item of a stream's outbox: why it ends (None: the client left)."""

    def __init__(self, abort: StreamAbort | None) -> None:
        self.abort = abort


class P4RuntimeService(RG.P4RuntimeServicer):
    def __init__(
        self,
        runner: Runner,
        max_streams: int = 16,
        max_streams_per_client: int = 4,
        outbox_limit: int = 1024,
        arbitration_timeout: float = 30.0,
    ) -> None:
        self.runner = runner
        self.device_id = runner.device_id
        self.pipeline: Pipeline | None = None
        self.saved: tuple[Pipeline, int] | None = None
        self.cookie = 0
        self.lock = threading.Lock()
        self.arbiter = Arbiter(runner.device_id, max_streams, max_streams_per_client, outbox_limit)
        self.arbitration_timeout = arbitration_timeout
        self.digest_list_id = 0
        self._since_freeze = 0
        self.pending_acks: dict[int, int] = {}
        runner.on_packet_in = self._packet_in
        runner.on_digest = self._digest
        self._stop = threading.Event()
        threading.Thread(target=self._idle_watch, name="idle-timeout", daemon=True).start()

    # -- streams ---------------------------------------------------------------------
    def StreamChannel(self, request_iterator, context):
        try:
            s = self.arbiter.open(context.peer())
        except StreamAbort as e:
            context.abort(e.code, e.message)

        def reader() -> None:
            end = None
            try:
                for req in request_iterator:
                    self._stream_request(s, req)
            except StreamAbort as e:
                end = e
            except grpc.RpcError:
                pass
            except Exception as e:  # a bug must end this stream, not the server
                log.exception("stream request failed")
                end = StreamAbort(grpc.StatusCode.INTERNAL, f"internal error: {type(e).__name__}")
            s.out.put(_End(end), final=True)

        threading.Thread(target=reader, name="p4rt-stream", daemon=True).start()
        opened = time.monotonic()
        try:
            while True:
                try:
                    m = s.out.get(timeout=0.5)
                except TimeoutError:
                    if not context.is_active():
                        return
                    # read each time: a timeout lowered by the operator applies to waiting streams too
                    if not s.arbitrated and time.monotonic() > opened + self.arbitration_timeout:
                        context.abort(
                            grpc.StatusCode.DEADLINE_EXCEEDED,
                            f"no arbitration message within {self.arbitration_timeout:g} s",
                        )
                    continue
                if isinstance(m, _End):
                    if m.abort is not None:
                        context.abort(m.abort.code, m.abort.message)
                    return
                yield m
        finally:
            self.arbiter.close(s)

    def _stream_request(self, s: Stream, req: R.StreamMessageRequest) -> None:
        kind = req.WhichOneof("update")
        if kind == "arbitration":
            self.arbiter.arbitrate(s, req.arbitration)
        elif not s.arbitrated:
            raise StreamAbort(
                grpc.StatusCode.FAILED_PRECONDITION, "the first stream message must be arbitration"
            )
        elif kind == "packet":
            if self.arbiter.primary(s.role) is not s:
                self._stream_error(
                    s, code_pb2.PERMISSION_DENIED, "packet-out needs the primary client", req.packet
                )
                return
            try:
                data = self._packet_out_bytes(req.packet)
            except RuntimeErr as e:
                echo = req.packet if len(req.packet.payload) <= MAX_FRAME else None
                self._stream_error(s, e.code.value[0], e.message, echo)
                return
            self.runner.inject(self.runner.cpu_port if self.runner.cpu_port is not None else 0, data)
        elif kind == "digest_ack":
            with self.arbiter.lock:
                self.pending_acks.pop(req.digest_ack.list_id, None)
        else:
            self._stream_error(s, code_pb2.UNIMPLEMENTED, f"stream message {kind} is not supported")

    def _stream_error(self, s: Stream, code: int, message: str, packet=None) -> None:
        m = R.StreamMessageResponse()
        m.error.canonical_code, m.error.message = code, message
        if packet is not None:
            m.error.packet_out.packet_out.CopyFrom(packet)
        s.out.put(m)

    # -- packets -------------------------------------------------------------------
    def _header(self, name: str):
        pl = self.pipeline
        return None if pl is None else pl.controller.get(name)

    def _packet_out_bytes(self, p: R.PacketOut) -> bytes:
        if len(p.payload) > MAX_FRAME:
            raise invalid(f"packet-out payload of {len(p.payload)} bytes: a frame has {MAX_FRAME} at most")
        h = self._header("packet_out")
        if h is None:
            if p.metadata:
                raise invalid(
                    'the program has no @controller_header("packet_out"): packet-out takes no metadata'
                )
            return p.payload
        given = {}
        for m in p.metadata:
            if m.metadata_id in given:
                raise invalid(f"packet_out: metadata id {m.metadata_id} given twice")
            given[m.metadata_id] = m.value
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
        return acc.to_bytes((nbits + 7) // 8, "big") + p.payload

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
        self.arbiter.to_primary(m)

    def _digest(self, name: str, values: list[int]) -> None:
        pl = self.pipeline
        if pl is None or name not in pl.digest_names:
            return
        m = R.StreamMessageResponse()
        with self.arbiter.lock:
            self.digest_list_id += 1
            m.digest.digest_id, m.digest.list_id = pl.digest_names[name], self.digest_list_id
            if len(self.pending_acks) < 4096:  # a client that never acks cannot grow this
                self.pending_acks[self.digest_list_id] = m.digest.digest_id
        m.digest.timestamp = time.time_ns()
        data = m.digest.data.add()
        for v in values:
            data.struct.members.add().bitstring = encode(v)
        self.arbiter.to_primary(m)

    def _idle_watch(self, period: float = 0.05) -> None:
        """Tell the primary about entries idle longer than their timeout, once per idle spell."""
        while not self._stop.wait(period):
            pl = self.pipeline
            if pl is None:
                continue
            now = time.monotonic()
            note = R.StreamMessageResponse()
            with self.runner.lock:  # tables change only under it
                for tm in pl.tables.values():
                    if not tm.table.support_timeout:
                        continue
                    for e in tm.table.entries.values():
                        if e.timeout_ms and not e.notified and (now - e.last_hit) * 1000 >= e.timeout_ms:
                            e.notified = True
                            note.idle_timeout_notification.table_entry.append(pl.entry_to_p4rt(tm, e, False))
            if note.idle_timeout_notification.table_entry:
                note.idle_timeout_notification.timestamp = time.time_ns()
                self.arbiter.to_primary(note)

    def stop(self) -> None:
        self._stop.set()

    # -- pipeline --------------------------------------------------------------------
    def _device(self, device_id: int) -> None:
        if device_id != self.device_id:
            raise RuntimeErr(
                grpc.StatusCode.NOT_FOUND, f"unknown device id {device_id} (this is device {self.device_id})"
            )

    def _primary_only(self, request) -> None:
        self._device(request.device_id)
        self.arbiter.check(request.role, request.election_id if request.HasField("election_id") else None)

    def Capabilities(self, request, context):
        return R.CapabilitiesResponse(p4runtime_api_version=API_VERSION)

    def SetForwardingPipelineConfig(self, request, context):
        try:
            self._primary_only(request)
            self._set_pipeline(request)
        except RuntimeErr as e:
            context.abort(e.code, e.message)
        return R.SetForwardingPipelineConfigResponse()

    def _set_pipeline(self, request) -> None:
        A = R.SetForwardingPipelineConfigRequest
        action = request.action
        if action not in (A.VERIFY, A.VERIFY_AND_SAVE, A.VERIFY_AND_COMMIT, A.COMMIT, A.RECONCILE_AND_COMMIT):
            raise invalid(f"unknown pipeline config action {action}")
        with self.lock:
            self._primary_only(request)  # again: the primary may have changed while we waited
            if action == A.COMMIT:
                if request.HasField("config"):  # P4Runtime 1.4, 7.2.1: COMMIT carries no config
                    raise invalid("COMMIT takes no config: it commits the one VERIFY_AND_SAVE saved")
                if self.saved is None:
                    raise RuntimeErr(
                        grpc.StatusCode.NOT_FOUND, "COMMIT without a saved config (VERIFY_AND_SAVE first)"
                    )
                pipeline, cookie = self.saved
                self.saved = None
            else:
                pipeline, cookie = self._build(request.config), request.config.cookie.cookie
            if action == A.VERIFY:
                return
            if action == A.VERIFY_AND_SAVE:
                self.saved = (pipeline, cookie)
                return
            if action == A.RECONCILE_AND_COMMIT and self.pipeline is not None:
                kept, dropped = pipeline.carry_over(self.pipeline)
                log.info("pipeline reconciled: %d items kept, %d did not fit", kept, dropped)
            with self.runner.lock:
                self.pipeline, self.cookie = pipeline, cookie
                self.runner.set_switch(pipeline.switch)

    def _build(self, cfg) -> Pipeline:
        try:
            sw = load(device_json(cfg.p4_device_config))
        except (CodecError, JsonError) as e:
            raise invalid(f"device config: {e}") from None
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as e:
            # JSON that is well formed but not shaped as BMv2 JSON.
            raise invalid(f"device config (BMv2 JSON) is malformed: {type(e).__name__}: {e}") from None
        try:
            return Pipeline(cfg.p4info, cfg.p4_device_config, sw)
        except RuntimeErr:
            raise
        except Exception as e:  # a P4Info this code did not foresee: refuse it, say why
            raise invalid(f"P4Info does not fit the device config: {type(e).__name__}: {e}") from None

    def GetForwardingPipelineConfig(self, request, context):
        if request.device_id != self.device_id:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown device id {request.device_id}")
        resp = R.GetForwardingPipelineConfigResponse()
        with self.lock:
            pl, cookie = self.pipeline, self.cookie
        if pl is None:
            return resp
        T = R.GetForwardingPipelineConfigRequest
        resp.config.cookie.cookie = cookie
        if request.response_type in (T.ALL, T.P4INFO_AND_COOKIE):
            resp.config.p4info.CopyFrom(pl.info)
        if request.response_type in (T.ALL, T.DEVICE_CONFIG_AND_COOKIE):
            resp.config.p4_device_config = pl.device_config
        return resp

    # -- write -----------------------------------------------------------------------
    def Write(self, request, context):
        try:
            self._primary_only(request)
            if request.atomicity not in ATOMICITY:
                raise invalid(f"unknown atomicity {request.atomicity}")
            with self.lock:
                self._primary_only(request)  # again: the primary may have changed while we waited
                pl = self.pipeline
                if pl is None:
                    raise RuntimeErr(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        "no forwarding pipeline: SetForwardingPipelineConfig first",
                    )
                errors = self._apply(pl, request.updates, request.atomicity)
                self._settle(len(request.updates))
        except RuntimeErr as e:
            context.abort(e.code, e.message)
        if any(errors):
            self._fail(context, errors, grpc.StatusCode.UNKNOWN)
        return R.WriteResponse()

    def _settle(self, n: int) -> None:
        """Table entries live long and are many: once enough have arrived, move everything
        alive to the collector's permanent generation, so that its full collections (which
        scan every tracked object while holding the GIL, seconds for a million entries)
        do not stall packets. Garbage is freed by reference counting as before."""
        self._since_freeze += n
        if self._since_freeze >= FREEZE_EVERY:
            self._since_freeze = 0
            gc.freeze()

    def _apply(self, pl: Pipeline, updates, atomicity: int) -> list[RuntimeErr | None]:
        """Apply a batch in order, each update checked against the state as the batch left
        it. Atomic modes undo everything at the first failure; the others only that update."""
        txn = Txn()
        errors: list[RuntimeErr | None] = []
        hold = atomicity == R.WriteRequest.DATAPLANE_ATOMIC
        prepared = [pl.prepare(u) for u in updates]  # packets flow meanwhile
        lock = self.runner.lock
        lock.acquire()
        try:
            for k, u in enumerate(updates):
                if k % CHUNK == 0 and k and not hold:
                    lock.release()
                    time.sleep(0)  # let a waiting packet take the lock
                    lock.acquire()
                mark = txn.mark()
                try:
                    entities.write(pl, u, txn, prepared[k])
                    errors.append(None)
                    continue
                except RuntimeErr as e:
                    err = e
                except Exception as e:  # a bug: refuse this update, keep the server
                    log.exception("update %d failed", k)
                    err = RuntimeErr(grpc.StatusCode.INTERNAL, f"internal error: {type(e).__name__}: {e}")
                txn.rollback(mark)
                errors.append(err)
                if atomicity != R.WriteRequest.CONTINUE_ON_ERROR:
                    txn.rollback()
                    return _aborted(errors, len(updates))
        finally:
            lock.release()
        return errors

    def _fail(self, context, errors: list[RuntimeErr | None], code: grpc.StatusCode):
        """Abort with one p4.v1.Error per item in order; when that would pass gRPC's header
        limit, with the first failures only, each naming its item, and say so."""
        failed = [(k, e) for k, e in enumerate(errors) if e is not None and e.code != grpc.StatusCode.ABORTED]
        if not failed:
            failed = [(k, e) for k, e in enumerate(errors) if e is not None]
        details = _packed((k, e) for k, e in enumerate(errors))
        message = failed[0][1].message[:500]
        if details is None:
            details = _packed(((k, e) for k, e in failed), numbered=True) or []
            message += (
                f" ({len(failed)} of {len(errors)} failed; details for the first {len(details)}, numbered)"
            )
        elif len(failed) > 1:
            message += f" ({len(failed)} of {len(errors)} failed)"
        status = status_pb2.Status(code=code.value[0], message=message, details=details)
        context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
        context.abort(code, message)

    # -- read ------------------------------------------------------------------------
    def Read(self, request, context):
        try:
            self._device(request.device_id)
            if request.role not in self.arbiter.roles:
                raise RuntimeErr(grpc.StatusCode.NOT_FOUND, f"unknown role '{request.role}'")
            with self.lock:
                pl = self.pipeline
                if pl is None:
                    raise RuntimeErr(grpc.StatusCode.FAILED_PRECONDITION, "no forwarding pipeline")
                found: list[R.Entity] = []
                errors: list[RuntimeErr | None] = []
                for ent in request.entities:
                    try:
                        found.extend(entities.read(pl, ent))
                        errors.append(None)
                    except RuntimeErr as e:
                        errors.append(e)
        except RuntimeErr as e:
            context.abort(e.code, e.message)
        if any(errors):
            # One entity: its own code; several: UNKNOWN with one error per entity.
            code = (
                next(e for e in errors if e is not None).code if len(errors) == 1 else grpc.StatusCode.UNKNOWN
            )
            self._fail(context, errors, code)
        for k in range(0, max(len(found), 1), READ_CHUNK):
            yield R.ReadResponse(entities=found[k : k + READ_CHUNK])


def _packed(items, numbered: bool = False) -> list | None:
    """p4.v1.Error details within DETAILS_BUDGET: all of them, or None (numbered: as many as fit)."""
    out, size = [], 0
    for k, e in items:
        err = R.Error(canonical_code=code_pb2.OK)
        if e is not None:
            err.canonical_code = e.code.value[0]
            err.message = (f"update {k}: " if numbered else "") + e.message[:300]
        any_ = any_pb2.Any()
        any_.Pack(err)
        size += any_.ByteSize() + 4
        if size > DETAILS_BUDGET:
            return out if numbered else None
        out.append(any_)
    return out


def _aborted(errors: list, n: int) -> list[RuntimeErr | None]:
    """An atomic batch that failed at its last update: the others did not happen."""
    k = len(errors) - 1
    before = RuntimeErr(grpc.StatusCode.ABORTED, f"rolled back: update {k} of the batch failed")
    after = RuntimeErr(grpc.StatusCode.ABORTED, f"not applied: update {k} of the batch failed")
    return [before] * k + [errors[k]] + [after] * (n - k - 1)


def serve(
    runner: Runner,
    address: str,
    max_streams: int = 16,
    unary_workers: int = 8,
    **limits,
) -> tuple[grpc.Server, P4RuntimeService, int]:
    """Start the gRPC server; returns it, the service and the bound port.

    Each stream holds a worker thread for its life, so the pool has one per allowed
    stream plus `unary_workers`: however many streams are open, unary RPCs are served.
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_streams + unary_workers, thread_name_prefix="p4rt"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE),
        ],
    )
    service = P4RuntimeService(runner, max_streams=max_streams, **limits)
    RG.add_P4RuntimeServicer_to_server(service, server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    server.start()
    log.info("P4Runtime server for device %d on %s", runner.device_id, address)
    return server, service, port
