"""`make bench`, P4Runtime part: table writes per second through srem's server over
loopback gRPC, one update per request and 100 per request, against a bare RPC
(Capabilities) measured in the same run; then large writes (issue 7): 50,000 LPM and
10,000 ternary entries in batches of 1,000 against the same count of exact entries,
with the latency of packets sent through the switch while each load runs, against
the latency of the idle switch."""

from __future__ import annotations

import gc
import json
import queue
import random
import threading
import time
from pathlib import Path

import grpc
from p4.v1 import p4runtime_pb2 as R
from p4.v1 import p4runtime_pb2_grpc as RG
from scapy.all import IP, TCP, Ether, raw

from p4target.compiler.driver import compile_p4
from p4target.runtime.server import serve
from p4target.switch.ports import QueuePort
from p4target.switch.runner import Runner
from tests.benchmarks.report import report

P4 = Path(__file__).resolve().parent.parent / "p4"


def main() -> None:
    compiled = compile_p4(P4 / "three_tables.p4")
    runner = Runner(device_id=0)
    ports = {n: QueuePort(n) for n in (1, 2)}
    for p in ports.values():
        runner.add_port(p)
    runner.start()
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
    report(
        "P4Runtime over loopback gRPC, one core (higher is better)",
        rows,
        "bare RPC (Capabilities)",
        "per second",
        "results/bench/p4runtime.json",
    )
    large_writes(stub, runner, ports, ids)
    reqs.put(None)
    channel.close()
    server.stop(grace=0)
    runner.stop()


def _entries(kind: str, count: int, ids: dict, rng: random.Random) -> list[R.Update]:
    """`count` distinct INSERTs into macs (exact), routes (lpm) or acl (ternary)."""
    out, seen = [], set()
    while len(out) < count:
        u = R.Update(type=R.Update.INSERT)
        te = u.entity.table_entry
        if kind == "exact":
            key = rng.getrandbits(48)
            te.table_id = ids["I.macs"]
            te.match.add(field_id=1).exact.value = key.to_bytes(6, "big")
            te.action.action.action_id = ids["I.set_class"]
            te.action.action.params.add(param_id=1, value=b"\x01")
        elif kind == "lpm":
            plen = rng.choice([16, 20, 24, 28, 32])
            net = rng.getrandbits(32) >> (32 - plen) << (32 - plen) | 0x0B000000  # 11.x: not the probe's 10/8
            key = (net >> (32 - plen) << (32 - plen), plen)
            te.table_id = ids["I.routes"]
            fm = te.match.add(field_id=1)
            fm.lpm.value, fm.lpm.prefix_len = key[0].to_bytes(4, "big"), plen
            te.action.action.action_id = ids["I.route"]
            te.action.action.params.add(param_id=1, value=b"\x02")
            te.action.action.params.add(param_id=2, value=b"\x02\x00\x00\x00\x00\x01")
        else:
            mask = rng.choice([0xFFFFFFFF, 0xFFFFFF00, 0xFFFF0000])
            key = (rng.getrandbits(32) & mask, mask, rng.randrange(1, 1 << 20))
            te.table_id, te.priority = ids["I.acl"], key[2]
            fm = te.match.add(field_id=1)
            fm.ternary.value, fm.ternary.mask = key[0].to_bytes(4, "big"), mask.to_bytes(4, "big")
            if rng.random() < 0.5:
                dp = te.match.add(field_id=2)
                dp.ternary.value, dp.ternary.mask = rng.choice([22, 80, 443]).to_bytes(2, "big"), b"\xff\xff"
            te.action.action.action_id = ids["I.permit"]
        if key in seen:
            continue
        seen.add(key)
        out.append(u)
    return out


class Probe:
    """Packets through the switch every 2 ms; the time each takes to come out."""

    def __init__(self, ports: dict) -> None:
        self.ports, self.latencies, self.stop = ports, [], threading.Event()
        self.frame = raw(Ether(dst="02:00:00:00:00:02") / IP(dst="10.1.2.3") / TCP(dport=1))

    def __enter__(self) -> Probe:
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def run(self) -> None:
        while not self.stop.is_set():
            t0 = time.perf_counter()
            self.ports[1].rx.put(self.frame)
            try:
                self.ports[2].tx.get(timeout=5)
            except queue.Empty:
                continue
            self.latencies.append(time.perf_counter() - t0)
            time.sleep(0.002)

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=10)

    def quantile(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1e6 if xs else float("nan")


def large_writes(stub, runner: Runner, ports: dict, ids: dict) -> None:
    rng = random.Random(7)
    for t in runner.switch.tables.values():
        t.max_size = 10**6
    route = R.WriteRequest(updates=[R.Update(type=R.Update.INSERT)])
    route.election_id.low = 1
    te = route.updates[0].entity.table_entry
    te.table_id = ids["I.routes"]
    fm = te.match.add(field_id=1)
    fm.lpm.value, fm.lpm.prefix_len = b"\x0a\x00\x00\x00", 8
    te.action.action.action_id = ids["I.route"]
    te.action.action.params.add(param_id=1, value=b"\x02")
    te.action.action.params.add(param_id=2, value=b"\x02\x00\x00\x00\x00\x01")
    stub.Write(route)
    with Probe(ports) as idle:
        time.sleep(2.0)
    rates, latency = (
        {},
        {"idle switch, median": idle.quantile(0.5), "idle switch, 99th percentile": idle.quantile(0.99)},
    )
    for kind, count in (("exact", 50_000), ("lpm", 50_000), ("exact", 10_000), ("ternary", 10_000)):
        updates = _entries(kind, count, ids, rng)
        batches = []
        for k in range(0, count, 1000):
            w = R.WriteRequest(updates=updates[k : k + 1000])
            w.election_id.low = 1
            batches.append(w)
        # The bench's own requests live in the server's process only because the bench runs
        # both: keep the collector from rescanning them during the measurement.
        gc.freeze()
        with Probe(ports) as probe:
            t0 = time.perf_counter()
            for w in batches:
                stub.Write(w, timeout=600)
            dt = time.perf_counter() - t0
        name = f"{count:,} {kind}"
        rates[f"{name} entries/s"] = count / dt
        latency[f"during {name}, median"] = probe.quantile(0.5)
        latency[f"during {name}, 99th percentile"] = probe.quantile(0.99)
        latency[f"during {name}, worst"] = probe.quantile(1.0)
    report("Large writes in batches of 1,000 (higher is better)", {k: v for k, v in rates.items() if "50,000" in k},
           "50,000 exact entries/s", "entries per second", "results/bench/p4runtime_large_50k.json")  # fmt: skip
    report("", {k: v for k, v in rates.items() if "10,000" in k},
           "10,000 exact entries/s", "entries per second", "results/bench/p4runtime_large_10k.json")  # fmt: skip
    report("Packet latency through the switch while the writes run (lower is better)", latency,
           "idle switch, median", "microseconds", "results/bench/p4runtime_latency.json")  # fmt: skip


if __name__ == "__main__":
    main()
