"""A typed P4Runtime client for one switch, names resolved through its P4Info.

The controller holds one `SwitchConnection` per switch. It speaks the plain
p4runtime 1.4 protos over grpcio, so it drives srem's reference switch and
`simple_switch_grpc` alike: arbitration by election id, pipeline push, batched
writes whose per-update errors come back as one `WriteError`, and reads.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterable, Sequence

import grpc
from google.rpc import code_pb2
from p4.config.v1 import p4info_pb2 as P
from p4.v1 import p4runtime_pb2 as R
from p4.v1 import p4runtime_pb2_grpc as RG

from p4rt.entities import TableWrite, update
from p4rt.errors import P4RuntimeError, WriteError, _update_errors
from p4rt.schema import P4InfoIndex

# Device configs of tens of MB and batches of thousands of updates must pass.
GRPC_OPTIONS = [
    ("grpc.max_send_message_length", 256 << 20),
    ("grpc.max_receive_message_length", 256 << 20),
]


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

    def packet_out(self, payloads: Iterable[bytes], **metadata: int) -> None:
        """Frames sent on the session's stream as P4Runtime packet-outs, with the named
        fields of the pipeline's @controller_header("packet_out") (e.g. egress_port=0),
        each encoded in its P4Info width. An unknown field or a value too wide is refused
        before anything is sent."""
        if self._closed or self._broken:
            raise P4RuntimeError(f"packet-out on {self.address}", None, "the stream is closed")
        header = next(
            (h for h in self.index().p4info.controller_packet_metadata if h.preamble.name == "packet_out"),
            None,
        )
        if header is None:
            raise P4RuntimeError(f"packet-out on {self.address}", None, 'no @controller_header("packet_out")')
        fields = {m.name: m for m in header.metadata}
        md = []
        for name, value in metadata.items():
            m = fields.get(name)
            if m is None:
                raise P4RuntimeError(
                    f"packet-out on {self.address}",
                    None,
                    f"packet_out has no field {name!r} ({', '.join(fields)})",
                )
            if not 0 <= value < 1 << m.bitwidth:
                raise P4RuntimeError(
                    f"packet-out on {self.address}", None, f"{name} = {value} does not fit {m.bitwidth} bits"
                )
            md.append((m.id, value.to_bytes((m.bitwidth + 7) // 8, "big")))
        for payload in payloads:
            msg = R.StreamMessageRequest()
            msg.packet.payload = payload
            for mid, value in md:
                msg.packet.metadata.add(metadata_id=mid, value=value)
            self._requests.put(msg)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._requests.put(None)
            self.channel.close()

    def __enter__(self) -> SwitchConnection:
        return self

    def __exit__(self, *_) -> None:
        self.close()
