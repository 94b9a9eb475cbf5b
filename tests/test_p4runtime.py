"""The P4Runtime server against the plain p4runtime client, over real gRPC: arbitration,
pipeline config, writes with per-update errors and atomicity, reads, packet-in/out,
digests, replication, registers and counters."""

import time

import grpc
import pytest
from google.rpc import code_pb2
from p4.v1 import p4runtime_pb2 as R
from scapy.all import IP, TCP, Ether, raw

from p4target.compiler.driver import compile_p4
from tests.p4rt import P4, details, ids, lpm_entry, primary


def test_arbitration_follows_the_spec(dev, basic):
    """P4Runtime 1.4 section 5: the highest election id ever seen per role is primary."""
    client, _, _ = dev
    a = client(election=10)
    assert a.next("arbitration").status.code == code_pb2.OK
    b = client(election=5)
    st = b.next("arbitration")
    assert st.status.code == code_pb2.ALREADY_EXISTS and st.election_id.low == 10
    with pytest.raises(grpc.RpcError) as e:
        b.set_pipeline(basic)
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    a.set_pipeline(basic)
    with pytest.raises(grpc.RpcError) as e:
        b.write(lpm_entry(basic, b"\x0a\x00\x00\x00", 8, 2))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # The primary leaves: the lower backup is NOT promoted; nobody is primary.
    a.close()
    assert b.next("arbitration").status.code == code_pb2.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        b.write(lpm_entry(basic, b"\x0a\x00\x00\x00", 8, 2))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # A client with an id at least the highest ever seen becomes primary again.
    b.election = 10
    m = R.StreamMessageRequest()
    m.arbitration.device_id, m.arbitration.election_id.low = 7, 10
    b.requests.put(m)
    assert b.next("arbitration").status.code == code_pb2.OK
    b.write(lpm_entry(basic, b"\x0a\x00\x00\x00", 8, 2))
    # No election id: always a backup, and its requests are refused.
    c = client(election=None)
    assert c.next("arbitration").status.code == code_pb2.ALREADY_EXISTS
    with pytest.raises(grpc.RpcError) as e:
        c.write(lpm_entry(basic, b"\x0b\x00\x00\x00", 8, 2))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # A duplicate election id or an unknown device ends the stream.
    with pytest.raises(grpc.RpcError) as e:
        client(election=10).next("arbitration")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as e:
        client(election=1, device_id=99).next("arbitration")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    # A higher id takes over; the old primary is told.
    d = client(election=11)
    assert d.next("arbitration").status.code == code_pb2.OK
    assert b.next("arbitration").status.code == code_pb2.ALREADY_EXISTS
    # Roles arbitrate apart; a Write for a role nobody arbitrated is NOT_FOUND.
    r = client(election=1, role="acl")
    got = r.next("arbitration")
    assert got.status.code == code_pb2.OK and got.role.name == "acl"
    r.write(lpm_entry(basic, b"\x0c\x00\x00\x00", 8, 2))
    ghost = client(election=11)  # duplicate id in the default role: refused, so use it raw
    ghost.role = "nosuch"
    with pytest.raises(grpc.RpcError) as e:
        ghost.write(lpm_entry(basic, b"\x0d\x00\x00\x00", 8, 2))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_pipeline_config_round_trip(dev, basic):
    client, _, _ = dev
    c = client(election=1)
    c.next("arbitration")
    caps = c.stub.Capabilities(R.CapabilitiesRequest())
    assert caps.p4runtime_api_version.startswith("1.4")
    c.set_pipeline(basic)
    got = c.stub.GetForwardingPipelineConfig(R.GetForwardingPipelineConfigRequest(device_id=7))
    assert got.config.p4info == basic.p4info and got.config.cookie.cookie == 42
    import json

    assert json.loads(got.config.p4_device_config) == basic.json
    bad = c.eid(
        R.SetForwardingPipelineConfigRequest(action=R.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT)
    )
    bad.config.p4info.CopyFrom(basic.p4info)
    bad.config.p4_device_config = b"{not json"
    with pytest.raises(grpc.RpcError) as e:
        c.stub.SetForwardingPipelineConfig(bad)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "not JSON" in e.value.details()


def test_write_errors_are_per_update_and_atomicity_holds(dev, basic):
    client, ports, _ = dev
    c = primary(client, basic)
    c.write(lpm_entry(basic, b"\x0a\x00\x00\x00", 8, 2))
    # CONTINUE_ON_ERROR: the good update lands, the duplicate is reported, in order.
    with pytest.raises(grpc.RpcError) as e:
        c.write(lpm_entry(basic, b"\x0a\x00\x00\x00", 8, 2), lpm_entry(basic, b"\x0b\x00\x00\x00", 8, 3))
    assert e.value.code() == grpc.StatusCode.UNKNOWN
    errs = details(e.value)
    assert [x.canonical_code for x in errs] == [code_pb2.ALREADY_EXISTS, code_pb2.OK]
    assert len(c.read(R.Entity(table_entry=R.TableEntry(table_id=ids(basic)["MyIngress.ipv4_lpm"])))) == 2
    # ROLLBACK_ON_ERROR: nothing lands when one update is bad.
    bad_prefix = lpm_entry(basic, b"\x0c\x00\x00\x01", 8, 3)  # bits beyond the prefix
    with pytest.raises(grpc.RpcError) as e:
        c.write(
            lpm_entry(basic, b"\x0d\x00\x00\x00", 8, 3),
            bad_prefix,
            atomicity=R.WriteRequest.ROLLBACK_ON_ERROR,
        )
    assert [x.canonical_code for x in details(e.value)] == [code_pb2.ABORTED, code_pb2.INVALID_ARGUMENT]
    assert len(c.read(R.Entity(table_entry=R.TableEntry()))) == 2  # wildcard read over all tables
    too_wide = lpm_entry(basic, b"\x0e\x00\x00\x00", 8, 3)
    too_wide.entity.table_entry.action.action.params[1].value = b"\x02\x00"  # port 512 > 9 bits
    with pytest.raises(grpc.RpcError) as e:
        c.write(too_wide)
    assert (
        details(e.value)[0].canonical_code == code_pb2.INVALID_ARGUMENT
        and "9 bits" in details(e.value)[0].message
    )
    # Modify, delete, and the default entry.
    mod = lpm_entry(basic, b"\x0a\x00\x00\x00", 8, 5)
    mod.type = R.Update.MODIFY
    c.write(mod)
    ports[1].rx.put(raw(Ether() / IP(dst="10.1.1.1") / TCP()))
    assert ports[5].tx.get(timeout=5)
    d = R.Update(type=R.Update.MODIFY)
    d.entity.table_entry.table_id = ids(basic)["MyIngress.ipv4_lpm"]
    d.entity.table_entry.is_default_action = True
    d.entity.table_entry.action.action.action_id = ids(basic)["NoAction"]
    c.write(d)
    q = R.Entity(table_entry=R.TableEntry(table_id=ids(basic)["MyIngress.ipv4_lpm"], is_default_action=True))
    assert c.read(q)[0].table_entry.action.action.action_id == ids(basic)["NoAction"]
    gone = lpm_entry(basic, b"\x7f\x00\x00\x00", 8, 3)
    gone.type = R.Update.DELETE
    with pytest.raises(grpc.RpcError) as e:
        c.write(gone)
    assert details(e.value)[0].canonical_code == code_pb2.NOT_FOUND


def test_ternary_rules_const_tables_and_priorities(dev, sink):
    client, _, _ = dev
    c = primary(client, sink)
    i = ids(sink)
    u = R.Update(type=R.Update.INSERT)
    te = u.entity.table_entry
    te.table_id, te.priority = i["MyIngress.acl"], 10
    fm = te.match.add(field_id=1)
    fm.ternary.value, fm.ternary.mask = b"\x0a\x00\x00\x00", b"\xff\x00\x00\x00"
    te.action.action.action_id = i["MyIngress.acl_deny"]
    c.write(u)
    u.entity.table_entry.priority = 0
    with pytest.raises(grpc.RpcError) as e:
        c.write(u)
    assert "priority > 0" in details(e.value)[0].message
    u.entity.table_entry.priority = 11
    u.entity.table_entry.match[0].ternary.mask = b"\x00"
    with pytest.raises(grpc.RpcError) as e:
        c.write(u)
    assert "don't-care" in details(e.value)[0].message
    d = R.Update(type=R.Update.MODIFY)
    d.entity.table_entry.table_id = i["MyIngress.acl"]
    d.entity.table_entry.is_default_action = True
    d.entity.table_entry.action.action.action_id = i["MyIngress.acl_deny"]
    with pytest.raises(grpc.RpcError) as e:
        c.write(d)
    assert details(e.value)[0].canonical_code == code_pb2.PERMISSION_DENIED  # const default_action
    n = R.Update(type=R.Update.INSERT)
    n.entity.table_entry.table_id = i["MyIngress.nat_table"]
    with pytest.raises(grpc.RpcError) as e:
        c.write(n)
    assert "const" in details(e.value)[0].message


def test_packet_out_packet_in_and_digests(dev, sink):
    client, ports, _ = dev
    c = primary(client, sink)
    i = ids(sink)
    # Packet-out: the server builds the packet_out header from the metadata.
    inner = raw(Ether(dst="02:00:00:00:00:09") / IP(dst="10.0.0.9") / TCP())
    m = R.StreamMessageRequest()
    m.packet.payload = inner
    m.packet.metadata.add(metadata_id=1, value=(4).to_bytes(2, "big"))
    c.requests.put(m)
    assert ports[4].tx.get(timeout=5) == inner
    # Packet-in: route 10.0.0.0/8 to the CPU; ingress_port comes back as metadata.
    u = R.Update(type=R.Update.INSERT)
    te = u.entity.table_entry
    te.table_id = i["MyIngress.ipv4_lpm"]
    fm = te.match.add(field_id=1)
    fm.lpm.value, fm.lpm.prefix_len = b"\x0a\x00\x00\x00", 8
    te.action.action.action_id = i["MyIngress.to_cpu"]
    c.write(u)
    pkt = raw(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(dst="10.1.2.3") / TCP(dport=80))
    ports[6].rx.put(pkt)
    pin = c.next("packet")
    assert [(x.metadata_id, int.from_bytes(x.value, "big")) for x in pin.metadata] == [(1, 6), (2, 0)]
    assert Ether(pin.payload)[IP].dst == "10.1.2.3"
    # The smac miss sent a digest of (src MAC, port) with the list id to ack.
    dg = c.next("digest")
    assert dg.digest_id == i["digest_t"]
    assert [int.from_bytes(x.bitstring, "big") for x in dg.data[0].struct.members] == [0x020000000001, 6]
    ack = R.StreamMessageRequest()
    ack.digest_ack.digest_id, ack.digest_ack.list_id = dg.digest_id, dg.list_id
    c.requests.put(ack)
    # A packet-out from a backup is refused on the stream.
    b = client(election=0)
    b.next("arbitration")
    b.requests.put(m)
    assert b.next("error").canonical_code == code_pb2.PERMISSION_DENIED


def test_replication_registers_and_counters(dev, sink):
    client, ports, service = dev
    c = primary(client, sink)
    i = ids(sink)
    g = R.Update(type=R.Update.INSERT)
    mg = g.entity.packet_replication_engine_entry.multicast_group_entry
    mg.multicast_group_id = 3
    mg.replicas.add(egress_port=2, instance=1)
    mg.replicas.add(egress_port=7, instance=1)
    c.write(g)
    with pytest.raises(grpc.RpcError) as e:
        c.write(g)
    assert details(e.value)[0].canonical_code == code_pb2.ALREADY_EXISTS
    got = c.read(
        R.Entity(
            packet_replication_engine_entry=R.PacketReplicationEngineEntry(
                multicast_group_entry=R.MulticastGroupEntry()
            )
        )
    )
    assert [
        (r.egress_port, r.instance)
        for r in got[0].packet_replication_engine_entry.multicast_group_entry.replicas
    ] == [(2, 1), (7, 1)]
    assert service.runner.switch.mcast_groups[3] == [(2, 1), (7, 1)]
    w = R.Update(type=R.Update.MODIFY)
    w.entity.register_entry.register_id = i["MyIngress.flow_bytes"]
    w.entity.register_entry.index.index = 5
    w.entity.register_entry.data.bitstring = (1234).to_bytes(2, "big")
    c.write(w)
    q = R.Entity(register_entry=R.RegisterEntry(register_id=i["MyIngress.flow_bytes"]))
    q.register_entry.index.index = 5
    assert int.from_bytes(c.read(q)[0].register_entry.data.bitstring, "big") == 1234
    ports[3].rx.put(raw(Ether() / IP(dst="10.0.0.1") / TCP()))
    for _ in range(50):
        q = R.Entity(counter_entry=R.CounterEntry(counter_id=i["MyIngress.port_pkts"]))
        q.counter_entry.index.index = 3
        got = c.read(q)[0].counter_entry.data
        if got.packet_count:
            break
        time.sleep(0.05)
    assert got.packet_count == 1 and got.byte_count > 40


def profile_ids(compiled):
    return {p.preamble.name: p.preamble.id for p in compiled.p4info.action_profiles}


def test_action_profile_members(dev, sink):
    client, ports, _ = dev
    c = primary(client, sink)
    i, prof = ids(sink), profile_ids(sink)["MyIngress.lb_profile"]
    m = R.Update(type=R.Update.INSERT)
    mem = m.entity.action_profile_member
    mem.action_profile_id, mem.member_id = prof, 1
    mem.action.action_id = i["MyIngress.set_backend"]
    mem.action.params.add(param_id=1, value=b"\x06")
    c.write(m)
    u = R.Update(type=R.Update.INSERT)
    te = u.entity.table_entry
    te.table_id = i["MyIngress.lb"]
    te.match.add(field_id=1).exact.value = bytes([10, 9, 9, 9])
    te.action.action_profile_member_id = 1
    c.write(u)
    # NAT's const entry (10.0.0.1:80) hits, so lb runs and the member picks port 6.
    ports[1].rx.put(raw(Ether() / IP(src="10.0.0.1", dst="10.9.9.9") / TCP(sport=80, dport=1)))
    assert Ether(ports[6].tx.get(timeout=5))[IP].dst == "10.9.9.9"
    got = c.read(R.Entity(action_profile_member=R.ActionProfileMember(action_profile_id=prof)))
    assert got[0].action_profile_member.action.params[0].value == b"\x06"
    assert (
        c.read(R.Entity(table_entry=R.TableEntry(table_id=i["MyIngress.lb"])))[
            0
        ].table_entry.action.action_profile_member_id
        == 1
    )
    d = R.Update(type=R.Update.DELETE)
    d.entity.action_profile_member.CopyFrom(mem)
    with pytest.raises(grpc.RpcError) as e:
        c.write(d)
    assert details(e.value)[0].canonical_code == code_pb2.FAILED_PRECONDITION  # still used by the entry
    direct = R.Update(type=R.Update.INSERT)
    direct.entity.table_entry.CopyFrom(te)
    direct.entity.table_entry.match[0].exact.value = bytes([10, 9, 9, 8])
    direct.entity.table_entry.action.action.action_id = i["MyIngress.set_backend"]
    with pytest.raises(grpc.RpcError) as e:
        c.write(direct)
    assert "give a member or group id" in details(e.value)[0].message


def test_action_selector_spreads_flows_and_keeps_each_on_one_path(dev):
    compiled = compile_p4(P4 / "ecmp.p4")
    client, ports, _ = dev
    c = primary(client, compiled)
    i, prof = ids(compiled), profile_ids(compiled)["I.ecmp_selector"]
    for mid, port in ((1, 2), (2, 3), (3, 4)):
        m = R.Update(type=R.Update.INSERT)
        mem = m.entity.action_profile_member
        mem.action_profile_id, mem.member_id = prof, mid
        mem.action.action_id = i["I.next_hop"]
        mem.action.params.add(param_id=1, value=bytes([port]))
        c.write(m)
    g = R.Update(type=R.Update.INSERT)
    grp = g.entity.action_profile_group
    grp.action_profile_id, grp.group_id = prof, 10
    for mid in (1, 2, 3):
        grp.members.add(member_id=mid, weight=1)
    c.write(g)
    u = R.Update(type=R.Update.INSERT)
    te = u.entity.table_entry
    te.table_id = i["I.ecmp"]
    fm = te.match.add(field_id=1)
    fm.lpm.value, fm.lpm.prefix_len = bytes([10, 0, 0, 0]), 8
    te.action.action_profile_group_id = 10
    c.write(u)

    def path(sport: int) -> int:
        ports[1].rx.put(raw(Ether() / IP(src="192.168.0.1", dst="10.1.1.1") / TCP(sport=sport, dport=443)))
        for _ in range(100):
            for p in (2, 3, 4):
                if not ports[p].tx.empty():
                    ports[p].tx.get()
                    return p
            time.sleep(0.01)
        raise AssertionError("no packet came out")

    first = {s: path(s) for s in range(1000, 1030)}
    assert set(first.values()) == {2, 3, 4}  # every next hop is used
    assert all(path(s) == p for s, p in list(first.items())[:10])  # a flow keeps its path
    got = c.read(R.Entity(action_profile_group=R.ActionProfileGroup(action_profile_id=prof)))
    assert [m.member_id for m in got[0].action_profile_group.members] == [1, 2, 3]


def test_idle_timeout_notifications(dev, sink):
    client, _, _ = dev
    c = primary(client, sink)
    i = ids(sink)
    u = R.Update(type=R.Update.INSERT)
    te = u.entity.table_entry
    te.table_id = i["MyIngress.smac"]  # support_timeout = true
    te.match.add(field_id=1).exact.value = bytes.fromhex("020000000001")
    te.action.action.action_id = i["NoAction"]
    te.idle_timeout_ns = 200_000_000
    c.write(u)
    note = c.next("idle_timeout_notification", timeout=5)
    assert note.table_entry[0].match[0].exact.value == bytes.fromhex("020000000001")
    assert note.table_entry[0].idle_timeout_ns == 200_000_000
    assert len(c.read(R.Entity(table_entry=R.TableEntry(table_id=i["MyIngress.smac"])))) == 1  # still there
    bad = R.Update(type=R.Update.INSERT)
    bad.entity.table_entry.CopyFrom(te)
    bad.entity.table_entry.table_id = i["MyIngress.ipv4_lpm"]
    bad.entity.table_entry.ClearField("match")
    bad.entity.table_entry.action.action.action_id = i["MyIngress.drop"]
    with pytest.raises(grpc.RpcError) as e:
        c.write(bad)
    assert "idle timeout" in details(e.value)[0].message


def test_one_p4info_action_bound_to_a_different_field_per_table(dev):
    compiled = compile_p4(P4 / "bound_actions.p4")
    client, ports, _ = dev
    c = primary(client, compiled)
    i = ids(compiled)
    for table, value in (("I.into_y", 0x22), ("I.into_z", 0x33)):
        u = R.Update(type=R.Update.INSERT)
        te = u.entity.table_entry
        te.table_id = i[table]
        te.match.add(field_id=1).exact.value = bytes([2])
        te.action.action.action_id = i["I.put"]
        te.action.action.params.add(param_id=1, value=bytes([value]))
        c.write(u)
    ports[1].rx.put(bytes([2, 0, 5, 0]))
    assert ports[1].tx.get(timeout=5) == bytes([2, 0, 0x22, 0x33])
    got = c.read(R.Entity(table_entry=R.TableEntry(table_id=i["I.into_z"])))
    assert [e.table_entry.action.action.action_id for e in got] == [i["I.put"]]
