"""The P4Runtime server under abuse, over real gRPC: a pipeline push racing writes, reads
and packets; atomic batches with conflicts; idle streams; bounded queues and trailers;
wrong input with the codes the specification gives."""

import json
import queue
import threading
import time

import grpc
import pytest
from google.rpc import code_pb2
from p4.v1 import p4runtime_pb2 as R
from p4.v1 import p4runtime_pb2_grpc as RG
from scapy.all import IP, TCP, Ether, raw

from p4target.compiler.driver import compile_p4
from tests.p4rt import P4, details, device, ids, lpm_entry, primary

ROLLBACK, ATOMIC = R.WriteRequest.ROLLBACK_ON_ERROR, R.WriteRequest.DATAPLANE_ATOMIC


def packet(dst: str = "10.1.2.3") -> bytes:
    return raw(Ether() / IP(dst=dst) / TCP())


def drain(q: queue.Queue) -> int:
    n = 0
    while not q.empty():
        q.get()
        n += 1
    return n


def read_all(c, table_id: int = 0) -> list:
    return c.read(R.Entity(table_entry=R.TableEntry(table_id=table_id)))


def codes(err: grpc.RpcError) -> list[int]:
    return [x.canonical_code for x in details(err)]


# -- 1: no deadlock ---------------------------------------------------------------------
def test_pipeline_pushes_racing_writes_reads_and_packets_never_deadlock(dev, basic):
    client, ports, _service = dev
    c = primary(client, basic)
    push = c.eid(
        R.SetForwardingPipelineConfigRequest(action=R.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT)
    )
    push.config.p4info.CopyFrom(basic.p4info)
    push.config.p4_device_config = json.dumps(basic.json).encode()
    until = time.monotonic() + 3.0
    done = {"push": 0, "write": 0, "read": 0}
    stuck: list[str] = []

    def loop(kind: str, call) -> None:
        k = 0
        while time.monotonic() < until and not stuck:
            k += 1
            try:
                call(k)
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    stuck.append(kind)
            done[kind] += 1

    def write(k: int) -> None:
        req = c.eid(R.WriteRequest())
        req.updates.append(lpm_entry(basic, bytes([10, k % 250, 0, 0]), 16, 2))
        c.stub.Write(req, timeout=10)

    def read(k: int) -> None:
        req = R.ReadRequest(device_id=7, entities=[R.Entity(table_entry=R.TableEntry())])
        list(c.stub.Read(req, timeout=10))

    def packets() -> None:
        while time.monotonic() < until:
            ports[1].rx.put(packet())
            time.sleep(0.001)

    threads = [
        threading.Thread(
            target=loop, args=("push", lambda k: c.stub.SetForwardingPipelineConfig(push, timeout=10))
        ),
        *(
            threading.Thread(target=loop, args=(kind, fn))
            for kind, fn in [("write", write), ("read", read)] * 2
        ),
        threading.Thread(target=packets),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads) and not stuck, f"stuck: {stuck}"
    assert min(done.values()) > 0, done
    # Control and data plane both still work.
    c.write(lpm_entry(basic, bytes([10, 0, 0, 0]), 8, 3))
    drain(ports[3].tx)
    ports[1].rx.put(packet())
    assert ports[3].tx.get(timeout=5)


# -- 2: atomic batches ------------------------------------------------------------------
def test_atomic_batches_check_the_evolving_state_and_undo_everything(dev, basic):
    client, _ports, service = dev
    c = primary(client, basic)
    table = ids(basic)["MyIngress.ipv4_lpm"]
    x = lpm_entry(basic, bytes([10, 0, 0, 0]), 8, 2)
    for mode in (ROLLBACK, ATOMIC):
        # The same entry twice: the second is a duplicate of the first, and nothing lands.
        with pytest.raises(grpc.RpcError) as e:
            c.write(x, x, atomicity=mode)
        assert codes(e.value) == [code_pb2.ABORTED, code_pb2.ALREADY_EXISTS]
        assert read_all(c, table) == []
        # 1,100 inserts into a 1,024-entry table: refused at the 1,025th, none installed.
        many = [lpm_entry(basic, k.to_bytes(4, "big"), 32, 2) for k in range(1, 1101)]
        with pytest.raises(grpc.RpcError) as e:
            c.write(*many, atomicity=mode)
        [got] = details(e.value)  # too many for the trailer: the failure, numbered
        assert got.canonical_code == code_pb2.RESOURCE_EXHAUSTED and got.message.startswith("update 1024:")
        assert e.value.code() == grpc.StatusCode.UNKNOWN and "1 of 1100 failed" in e.value.details()
        assert read_all(c, table) == [] and len(service.pipeline.tables[table].table.entries) == 0
        # INSERT then DELETE of one entry is a valid sequence.
        gone = R.Update()
        gone.CopyFrom(x)
        gone.type = R.Update.DELETE
        c.write(x, gone, atomicity=mode)
        assert read_all(c, table) == []
    # A MODIFY and a DELETE that fail undo what came before them in the batch, counters too.
    c.write(x)
    mod = R.Update()
    mod.CopyFrom(lpm_entry(basic, bytes([10, 0, 0, 0]), 8, 5))
    mod.type = R.Update.MODIFY
    missing = R.Update()
    missing.CopyFrom(lpm_entry(basic, bytes([11, 0, 0, 0]), 8, 5))
    missing.type = R.Update.DELETE
    with pytest.raises(grpc.RpcError) as e:
        c.write(mod, missing, atomicity=ROLLBACK)
    assert codes(e.value) == [code_pb2.ABORTED, code_pb2.NOT_FOUND]
    [entry] = read_all(c, table)
    assert entry.table_entry.action.action.params[1].value == b"\x02"
    # CONTINUE_ON_ERROR keeps what succeeded.
    with pytest.raises(grpc.RpcError) as e:
        c.write(lpm_entry(basic, bytes([12, 0, 0, 0]), 8, 2), x)
    assert codes(e.value) == [code_pb2.OK, code_pb2.ALREADY_EXISTS]
    assert len(read_all(c, table)) == 2


def test_no_packet_sees_part_of_a_dataplane_atomic_batch(dev, basic):
    """10/8 is deleted and inserted again in one batch: a packet that saw the middle of the
    batch would miss and be dropped."""
    client, ports, service = dev
    c = primary(client, basic)
    route = lpm_entry(basic, bytes([10, 0, 0, 0]), 8, 2)
    c.write(route)
    delete = R.Update()
    delete.CopyFrom(route)
    delete.type = R.Update.DELETE
    filler = [lpm_entry(basic, bytes([11, k // 250, k % 250, 0]), 24, 4) for k in range(800)]
    sent = 0
    writing = threading.Event()

    def send() -> None:
        nonlocal sent
        writing.wait(5)
        while writing.is_set() and sent < 2000:
            ports[1].rx.put(packet())
            sent += 1
            time.sleep(0.0005)

    t = threading.Thread(target=send)
    t.start()
    writing.set()
    c.write(delete, *filler, lpm_entry(basic, bytes([10, 0, 0, 0]), 8, 3), atomicity=ATOMIC)
    writing.clear()
    t.join(timeout=10)
    deadline = time.monotonic() + 10
    while service.runner.counts["rx"] < sent + 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    out = drain(ports[2].tx) + drain(ports[3].tx)
    assert sent > 0 and out == sent and service.runner.counts["dropped"] == 0


def test_packets_keep_flowing_during_a_large_batch(dev, basic):
    client, ports, service = dev
    c = primary(client, basic)
    c.write(lpm_entry(basic, bytes([10, 0, 0, 0]), 8, 2))
    service.pipeline.tables[ids(basic)["MyIngress.ipv4_lpm"]].table.max_size = 100_000
    batch = [lpm_entry(basic, bytes([11, k >> 8, k & 0xFF, 0]), 24, 4) for k in range(5_000)]
    during = []
    writing = threading.Event()

    def send() -> None:
        writing.wait(5)
        while writing.is_set():
            before = service.runner.counts["tx"]
            ports[1].rx.put(packet())
            time.sleep(0.002)
            # Forwarded while the server was working on the batch (it holds the control lock).
            during.append(service.runner.counts["tx"] > before and service.lock.locked())

    t = threading.Thread(target=send)
    t.start()
    writing.set()
    c.write(*batch)
    writing.clear()
    t.join(timeout=10)
    assert any(during), "no packet was forwarded while the batch was written"
    assert len(service.pipeline.tables[ids(basic)["MyIngress.ipv4_lpm"]].table.entries) == 5_001


# -- 3: streams do not starve unary RPCs -----------------------------------------------
def test_idle_streams_do_not_starve_the_primary(basic):
    # Counted, not timed: no stream can expire while the limits are counted (a long timeout),
    # then the timeout is lowered to end the idle ones.
    with device(max_streams=16, max_streams_per_client=3, arbitration_timeout=600) as (
        client,
        _ports,
        service,
    ):
        c = primary(client, basic)
        addr = f"127.0.0.1:{client.port}"
        opened = []

        def connect():  # a connection of its own, as another client's would be
            return grpc.insecure_channel(addr, options=[("grpc.use_local_subchannel_pool", 1)])

        def stream(channel):
            reqs: queue.Queue = queue.Queue()
            responses = RG.P4RuntimeStub(channel).StreamChannel(iter(reqs.get, None))
            opened.append((reqs, responses))
            return responses

        def wait_streams(n: int) -> None:  # as long as the server needs (a loaded CI machine)
            deadline = time.monotonic() + 30
            while len(service.arbiter.streams) != n and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(service.arbiter.streams) == n

        channels = [connect() for _ in range(9)]
        idle = [stream(ch) for ch in channels[:8]]  # 8 idle, never-arbitrated streams
        wait_streams(9)
        c.write(lpm_entry(basic, bytes([10, 0, 0, 0]), 8, 2))  # the primary is served at once
        assert len(read_all(c)) == 1
        # One client connection gets 3 streams; the 4th is refused.
        mine = [stream(channels[8]) for _ in range(3)]
        wait_streams(12)
        mine.append(stream(channels[8]))
        with pytest.raises(grpc.RpcError) as e:
            next(mine[3])
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        wait_streams(12)
        more = [stream(connect()) for _ in range(5)]  # 16 at most in all
        deadline = time.monotonic() + 30
        while not any(x.done() for x in more) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [x.code() for x in more if x.done()] == [grpc.StatusCode.RESOURCE_EXHAUSTED]
        wait_streams(16)
        c.write(lpm_entry(basic, bytes([11, 0, 0, 0]), 8, 2))
        assert c.stub.Capabilities(R.CapabilitiesRequest(), timeout=5).p4runtime_api_version
        # Streams that never arbitrate are ended; the primary's stays.
        service.arbitration_timeout = 0.5
        with pytest.raises(grpc.RpcError) as e:
            next(idle[0])
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        wait_streams(1)
        assert service.arbiter.primary() is not None
        for reqs, _ in opened:
            reqs.put(None)
        for ch in channels:
            ch.close()


# -- 6: bounded resources --------------------------------------------------------------
def test_selector_groups_packet_ins_replicas_and_error_trailers_are_bounded(sink):
    ecmp = compile_p4(P4 / "ecmp.p4")
    ecmp.p4info.action_profiles[0].max_group_size = 4  # groups sized by the P4Info
    with device(outbox_limit=50) as (client, ports, service):
        c = primary(client, ecmp)
        i, prof = ids(ecmp), ecmp.p4info.action_profiles[0].preamble.id
        for mid in (1, 2):
            m = R.Update(type=R.Update.INSERT)
            mem = m.entity.action_profile_member
            mem.action_profile_id, mem.member_id = prof, mid
            mem.action.action_id = i["I.next_hop"]
            mem.action.params.add(param_id=1, value=bytes([mid]))
            c.write(m)

        def group(*members) -> R.Update:
            g = R.Update(type=R.Update.INSERT)
            g.entity.action_profile_group.action_profile_id, g.entity.action_profile_group.group_id = prof, 5
            for mid, weight in members:
                g.entity.action_profile_group.members.add(member_id=mid, weight=weight)
            return g

        for bad, code in (
            (group((1, 0)), code_pb2.INVALID_ARGUMENT),
            (group((1, -3)), code_pb2.INVALID_ARGUMENT),
            (group((1, 1), (1, 2)), code_pb2.INVALID_ARGUMENT),
            (group((1, 10**9)), code_pb2.RESOURCE_EXHAUSTED),
            (group((1, 3), (2, 2)), code_pb2.RESOURCE_EXHAUSTED),  # weights sum to 5 > 4
        ):
            with pytest.raises(grpc.RpcError) as e:
                c.write(bad)
            assert codes(e.value) == [code], bad
        c.write(group((1, 3), (2, 1)))
        got = c.read(R.Entity(action_profile_group=R.ActionProfileGroup(action_profile_id=prof)))
        assert [(m.member_id, m.weight) for m in got[0].action_profile_group.members] == [(1, 3), (2, 1)]
        # Replication: at most 1,024 replicas, ports that fit the switch's 9 bits.
        g = R.Update(type=R.Update.INSERT)
        mg = g.entity.packet_replication_engine_entry.multicast_group_entry
        mg.multicast_group_id = 1
        for k in range(1025):
            mg.replicas.add(egress_port=1, instance=k)
        with pytest.raises(grpc.RpcError) as e:
            c.write(g)
        assert codes(e.value) == [code_pb2.RESOURCE_EXHAUSTED]
        # 2,000 failures in one batch: the trailer stays under gRPC's header limit.
        bad = R.Update(type=R.Update.INSERT)
        bad.entity.table_entry.table_id = 12345
        with pytest.raises(grpc.RpcError) as e:
            c.write(*[bad] * 2000)
        assert e.value.code() == grpc.StatusCode.UNKNOWN and "2000 of 2000 failed" in e.value.details()
        assert 0 < len(details(e.value)) < 2000 and details(e.value)[0].canonical_code == code_pb2.NOT_FOUND
    # A primary that never reads: its packet-ins are dropped oldest first, counted.
    with device(outbox_limit=50) as (client, ports, service):
        c = primary(client, sink)
        u = R.Update(type=R.Update.INSERT)
        te = u.entity.table_entry
        te.table_id = ids(sink)["MyIngress.ipv4_lpm"]
        fm = te.match.add(field_id=1)
        fm.lpm.value, fm.lpm.prefix_len = b"\x0a\x00\x00\x00", 8
        te.action.action.action_id = ids(sink)["MyIngress.to_cpu"]
        c.write(u)
        deaf = client(election=2)  # becomes primary, then never reads its stream
        deaf.responses = queue.Queue(maxsize=1)  # its pump blocks after the first message
        big = raw(Ether() / IP(dst="10.1.2.3") / TCP() / (b"x" * 1200))
        for _ in range(1500):
            ports[6].rx.put(big)
        deadline = time.monotonic() + 20
        while service.runner.counts["rx"] < 1500 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.runner.counts["to_cpu"] == 1500
        assert service.arbiter.dropped() > 0
        assert all(len(s.out.items) <= 50 for s in service.arbiter.streams)
        blocked, deaf.responses = deaf.responses, queue.Queue()
        blocked.get_nowait()  # lets its pump thread go on to the end of the stream


# -- 8: wrong input, right codes ---------------------------------------------------------
def test_wrong_input_gets_the_right_code(dev, sink):
    client, _ports, _service = dev
    c = primary(client, sink)
    i = ids(sink)
    meter = sink.p4info.meters[0].preamble.id
    vset = sink.p4info.value_sets[0].preamble.id
    digest = sink.p4info.digests[0].preamble.id

    def refused(update: R.Update, code: int) -> None:
        with pytest.raises(grpc.RpcError) as e:
            c.write(update)
        assert codes(e.value) == [code], (update, details(e.value))

    refused(R.Update(type=R.Update.INSERT), code_pb2.INVALID_ARGUMENT)  # no entity
    refused(R.Update(type=R.Update.INSERT, entity=R.Entity()), code_pb2.INVALID_ARGUMENT)
    ok = R.Update(type=R.Update.INSERT)
    ok.entity.table_entry.table_id = i["MyIngress.smac"]
    ok.entity.table_entry.match.add(field_id=1).exact.value = b"\x01"
    ok.entity.table_entry.action.action.action_id = i["NoAction"]
    refused(R.Update(entity=ok.entity), code_pb2.INVALID_ARGUMENT)  # type UNSPECIFIED
    with pytest.raises(grpc.RpcError) as e:
        c.write(ok, atomicity=7)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Counters, registers, meters: indices outside the array are OUT_OF_RANGE.
    cnt = R.Update(type=R.Update.MODIFY)
    cnt.entity.counter_entry.counter_id = i["MyIngress.port_pkts"]
    cnt.entity.counter_entry.index.index = 64
    refused(cnt, code_pb2.OUT_OF_RANGE)
    reg = R.Update(type=R.Update.MODIFY)
    reg.entity.register_entry.register_id = i["MyIngress.flow_bytes"]
    reg.entity.register_entry.index.index = -1
    reg.entity.register_entry.data.bitstring = b"\x01"
    refused(reg, code_pb2.OUT_OF_RANGE)
    q = R.Entity(meter_entry=R.MeterEntry(meter_id=meter))
    q.meter_entry.index.index = 10**6
    with pytest.raises(grpc.RpcError) as e:
        c.read(q)
    assert e.value.code() == grpc.StatusCode.OUT_OF_RANGE
    # A counter MODIFY without an index writes every cell.
    cnt.entity.counter_entry.ClearField("index")
    cnt.entity.counter_entry.data.packet_count = 7
    c.write(cnt)
    cells = c.read(R.Entity(counter_entry=R.CounterEntry(counter_id=i["MyIngress.port_pkts"])))
    assert len(cells) == 64 and {x.counter_entry.data.packet_count for x in cells} == {7}
    # Negative rates, idle timeouts; value-set members without or with unknown fields.
    m = R.Update(type=R.Update.MODIFY)
    m.entity.meter_entry.meter_id = meter
    m.entity.meter_entry.config.cir, m.entity.meter_entry.config.pir = -5, 10
    refused(m, code_pb2.INVALID_ARGUMENT)
    t = R.Update(type=R.Update.INSERT)
    t.entity.table_entry.table_id = i["MyIngress.smac"]
    t.entity.table_entry.match.add(field_id=1).exact.value = b"\x02"
    t.entity.table_entry.action.action.action_id = i["NoAction"]
    t.entity.table_entry.idle_timeout_ns = -1
    refused(t, code_pb2.INVALID_ARGUMENT)
    v = R.Update(type=R.Update.MODIFY)
    v.entity.value_set_entry.value_set_id = vset
    v.entity.value_set_entry.members.add()
    refused(v, code_pb2.INVALID_ARGUMENT)
    v.entity.value_set_entry.members[0].match.add(field_id=9).exact.value = b"\x01"
    refused(v, code_pb2.INVALID_ARGUMENT)
    # Digests: INSERT twice, DELETE of one that is not configured.
    d = R.Update(type=R.Update.INSERT)
    d.entity.digest_entry.digest_id = digest
    c.write(d)
    refused(d, code_pb2.ALREADY_EXISTS)
    d.type = R.Update.DELETE
    c.write(d)
    refused(d, code_pb2.NOT_FOUND)
    # A replica port wider than the switch's ports.
    g = R.Update(type=R.Update.INSERT)
    mg = g.entity.packet_replication_engine_entry.multicast_group_entry
    mg.multicast_group_id = 2
    mg.replicas.add(egress_port=512, instance=1)
    refused(g, code_pb2.INVALID_ARGUMENT)
    mg.replicas[0].port = b"\x01\x00\x00\x00\x00"
    refused(g, code_pb2.INVALID_ARGUMENT)
    # Wildcard reads (id 0) of meters, direct counters and value sets return them all.
    assert len(c.read(R.Entity(meter_entry=R.MeterEntry()))) == 32
    acl = R.Update(type=R.Update.INSERT)
    te = acl.entity.table_entry
    te.table_id, te.priority = i["MyIngress.acl"], 1
    fm = te.match.add(field_id=1)
    fm.ternary.value, fm.ternary.mask = b"\x0a\x00\x00\x00", b"\xff\x00\x00\x00"
    te.action.action.action_id = i["MyIngress.acl_deny"]
    c.write(acl)
    assert len(c.read(R.Entity(direct_counter_entry=R.DirectCounterEntry()))) == 1
    assert len(c.read(R.Entity(value_set_entry=R.ValueSetEntry()))) == 1
    # A failed read batch: one error per entity, in order.
    with pytest.raises(grpc.RpcError) as e:
        c.read(R.Entity(meter_entry=R.MeterEntry()), R.Entity(counter_entry=R.CounterEntry(counter_id=99)))
    assert e.value.code() == grpc.StatusCode.UNKNOWN
    assert codes(e.value) == [code_pb2.OK, code_pb2.NOT_FOUND]


def test_an_outbox_stays_bounded_whatever_is_put_in_it():
    from p4target.runtime.arbitration import Outbox

    box = Outbox(limit=10)
    for k in range(1000):
        box.put(("packet-in", k), droppable=True)
        if k % 3 == 0:
            box.put(("arbitration", k))
    assert len(box.items) <= 20 and box.dropped > 900
    kept = [box.get(0)[0] for _ in range(len(box.items))]
    assert "arbitration" in kept and kept.count("packet-in") <= 10
    for k in range(100):
        box.put(("arbitration", k))
    box.put("end", final=True)  # the end of a stream always gets in
    assert len(box.items) == 21 and box.items[-1][0] == "end"
