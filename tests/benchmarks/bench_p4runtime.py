"""`make bench`, P4Runtime part: table writes per second through srem's server over
loopback gRPC, one update per request and 100 per request, against a bare RPC
(Capabilities) measured in the same run."""

from __future__ import annotations

import json
import queue
import time
from pathlib import Path

import grpc
from p4.v1 import p4runtime_pb2 as R
from p4.v1 import p4runtime_pb2_grpc as RG

from p4target.compiler.driver import compile_p4
from p4target.runtime.server import serve
from p4target.switch.runner import Runner
from tests.benchmarks.report import report

P4 = Path(__file__).resolve().parent.parent / "p4"


def main() -> None:
    compiled = compile_p4(P4 / "three_tables.p4")
    runner = Runner(device_id=0)
    server, _, port = serve(runner, "127.0.0.1:0")
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = RG.P4RuntimeStub(channel)
    reqs: queue.Queue = queue.Queue()
    arb = R.StreamMessageRequest()
    arb.arbitration.election_id.low = 1
    reqs.put(arb)
    stream = stub.StreamChannel(iter(reqs.get, None))
    next(stream)
    cfg = R.SetForwardingPipelineConfigRequest(action=R.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT)
    cfg.election_id.low = 1
    cfg.config.p4info.CopyFrom(compiled.p4info)
    cfg.config.p4_device_config = json.dumps(compiled.json).encode()
    stub.SetForwardingPipelineConfig(cfg)
    ids = {x.preamble.name: x.preamble.id for x in [*compiled.p4info.tables, *compiled.p4info.actions]}
    n = [0]

    def update() -> R.Update:
        n[0] += 1
        u = R.Update(type=R.Update.INSERT)
        te = u.entity.table_entry
        te.table_id = ids["I.macs"]
        te.match.add(field_id=1).exact.value = n[0].to_bytes(6, "big")
        te.action.action.action_id = ids["I.set_class"]
        te.action.action.params.add(param_id=1, value=b"\x01")
        return u

    def timed(fn, count: int) -> float:
        t0 = time.perf_counter()
        for _ in range(count):
            fn()
        return time.perf_counter() - t0

    rows = {}
    dt = timed(lambda: stub.Capabilities(R.CapabilitiesRequest()), 500)
    rows["bare RPC (Capabilities)"] = 500 / dt
    runner.switch.tables["I.macs"].max_size = 10**6

    def single() -> None:
        w = R.WriteRequest(updates=[update()])
        w.election_id.low = 1
        stub.Write(w)

    rows["writes/s, 1 per request"] = 500 / timed(single, 500)

    def batch() -> None:
        w = R.WriteRequest(updates=[update() for _ in range(100)])
        w.election_id.low = 1
        stub.Write(w)

    rows["writes/s, 100 per request"] = 100 * 50 / timed(batch, 50)
    reqs.put(None)
    channel.close()
    server.stop(grace=0)
    report(
        "P4Runtime over loopback gRPC, one core (higher is better)",
        rows,
        "bare RPC (Capabilities)",
        "per second",
        "results/bench/p4runtime.json",
    )


if __name__ == "__main__":
    main()
