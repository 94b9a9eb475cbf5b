"""Shared by the P4Runtime tests: a bare client over the plain protos, a device (runner,
in-process ports, real gRPC server on loopback) and entry builders."""

import contextlib
import json
import queue
import threading
from pathlib import Path

import grpc
from google.rpc import status_pb2
from p4.v1 import p4runtime_pb2 as R
from p4.v1 import p4runtime_pb2_grpc as RG

from p4target.runtime.server import serve
from p4target.switch.ports import QueuePort
from p4target.switch.runner import Runner

P4 = Path(__file__).parent / "p4"


class Client:
    """A bare P4Runtime client: a stub and a stream with a queue of responses."""

    def __init__(self, addr: str, device_id: int, election: int | None, role: str = "") -> None:
        self.channel = grpc.insecure_channel(addr)
        self.stub = RG.P4RuntimeStub(self.channel)
        self.device_id, self.election, self.role = device_id, election, role
        self.requests: queue.Queue = queue.Queue()
        self.responses: queue.Queue = queue.Queue()
        stream = self.stub.StreamChannel(iter(self.requests.get, None))

        def pump() -> None:
            try:
                for r in stream:
                    self.responses.put(r)
            except grpc.RpcError as e:
                self.responses.put(e)  # the stream ended: `next` raises it

        threading.Thread(target=pump, daemon=True).start()
        m = R.StreamMessageRequest()
        m.arbitration.device_id = device_id
        if election is not None:
            m.arbitration.election_id.low = election
        if role:
            m.arbitration.role.name = role
        self.requests.put(m)

    def next(self, kind: str, timeout: float = 5.0):
        while True:
            r = self.responses.get(timeout=timeout)
            if isinstance(r, grpc.RpcError):
                raise r
            if r.WhichOneof("update") == kind:
                return getattr(r, kind)

    def eid(self, req):
        req.device_id = self.device_id
        if self.election is not None:
            req.election_id.low = self.election
        req.role = self.role
        return req

    def set_pipeline(self, compiled) -> None:
        req = self.eid(
            R.SetForwardingPipelineConfigRequest(
                action=R.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT
            )
        )
        req.config.p4info.CopyFrom(compiled.p4info)

        req.config.p4_device_config = json.dumps(compiled.json).encode()
        req.config.cookie.cookie = 42
        self.stub.SetForwardingPipelineConfig(req)

    def write(self, *updates, atomicity=R.WriteRequest.CONTINUE_ON_ERROR):
        req = self.eid(R.WriteRequest(atomicity=atomicity))
        req.updates.extend(updates)
        return self.stub.Write(req)

    def read(self, *entities):
        req = R.ReadRequest(device_id=self.device_id)
        req.entities.extend(entities)
        return [e for resp in self.stub.Read(req) for e in resp.entities]

    def close(self) -> None:
        self.requests.put(None)
        self.channel.close()


def details(err: grpc.RpcError) -> list[R.Error]:
    raw_status = dict(err.trailing_metadata())["grpc-status-details-bin"]
    st = status_pb2.Status.FromString(raw_status)
    out = []
    for d in st.details:
        e = R.Error()
        d.Unpack(e)
        out.append(e)
    return out


@contextlib.contextmanager
def device(**limits):
    """A running switch (device 7, CPU port 255, in-process ports 1-8) behind srem's server:
    yields (client factory, ports, service); everything is stopped afterwards."""
    runner = Runner(device_id=7, cpu_port=255)
    ports = {n: QueuePort(n) for n in range(1, 9)}
    for p in ports.values():
        runner.add_port(p)
    runner.start()
    server, service, port = serve(runner, "127.0.0.1:0", **limits)
    clients = []

    def client(election: int | None, device_id: int = 7, role: str = "") -> Client:
        c = Client(f"127.0.0.1:{port}", device_id, election, role)
        clients.append(c)
        return c

    client.port = port  # type: ignore[attr-defined]
    try:
        yield client, ports, service
    finally:
        for c in clients:
            c.close()
        server.stop(grace=0)
        service.stop()
        runner.stop()


def primary(client, compiled) -> Client:
    """A primary controller (election id 1) that has set `compiled` as the pipeline."""
    c = client(election=1)
    c.next("arbitration")
    c.set_pipeline(compiled)
    return c


def ids(compiled):
    info = compiled.p4info
    return {x.preamble.name: x.preamble.id for x in [*info.tables, *info.actions, *info.registers, *info.counters,
                                                     *info.digests, *info.controller_packet_metadata]}  # fmt: skip


def lpm_entry(compiled, prefix: bytes, plen: int, port: int, mac: bytes = b"\x02" * 6) -> R.Update:
    i = ids(compiled)
    u = R.Update(type=R.Update.INSERT)
    te = u.entity.table_entry
    te.table_id = i["MyIngress.ipv4_lpm"]
    fm = te.match.add(field_id=1)
    fm.lpm.value, fm.lpm.prefix_len = prefix, plen
    te.action.action.action_id = i["MyIngress.ipv4_forward"]
    te.action.action.params.add(param_id=1, value=mac)
    te.action.action.params.add(param_id=2, value=port.to_bytes(2, "big"))
    return u
