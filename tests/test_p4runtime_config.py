"""SetForwardingPipelineConfig as simple_switch_grpc takes it: plain BMv2 JSON or the
p4.tmp.P4DeviceConfig wrapper the P4 tutorials' p4runtime_lib sends, every bad config
refused with INVALID_ARGUMENT and a message, P4Info checked against the JSON, the
VERIFY_AND_SAVE / COMMIT / RECONCILE_AND_COMMIT actions, and configs of tens of MB."""

import copy
import json

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from p4.v1 import p4runtime_pb2 as R
from scapy.all import IP, TCP, Ether, raw

from p4target.compiler.driver import compile_p4
from tests.p4rt import P4, device, ids, lpm_entry

A = R.SetForwardingPipelineConfigRequest


def device_config_class(old_layout: bool):
    """p4.tmp.P4DeviceConfig as PI declares it: (reassign = 1, extras = 2, device_data = 3)
    in the version the P4 tutorials use, (extras = 1, device_data = 2) later."""
    f = descriptor_pb2.FileDescriptorProto(name="p4config.proto", package="p4.tmp", syntax="proto3")
    m = f.message_type.add(name="P4DeviceConfig")
    extras = m.nested_type.add(name="Extras")
    entry = extras.nested_type.add(name="KvEntry", options=descriptor_pb2.MessageOptions(map_entry=True))
    S, L = descriptor_pb2.FieldDescriptorProto, descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    entry.field.add(name="key", number=1, type=S.TYPE_STRING, label=L)
    entry.field.add(name="value", number=2, type=S.TYPE_STRING, label=L)
    extras.field.add(name="kv", number=1, type=S.TYPE_MESSAGE, label=S.LABEL_REPEATED,
                     type_name=".p4.tmp.P4DeviceConfig.Extras.KvEntry")  # fmt: skip
    base = 1 if old_layout else 0
    if old_layout:
        m.field.add(name="reassign", number=1, type=S.TYPE_BOOL, label=L)
    m.field.add(
        name="extras",
        number=base + 1,
        type=S.TYPE_MESSAGE,
        label=L,
        type_name=".p4.tmp.P4DeviceConfig.Extras",
    )
    m.field.add(name="device_data", number=base + 2, type=S.TYPE_BYTES, label=L)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.MessageFactory(pool).GetPrototype(
        pool.FindMessageTypeByName("p4.tmp.P4DeviceConfig")
    )


def push(c, info, device_config: bytes, action=A.VERIFY_AND_COMMIT):
    """A SetForwardingPipelineConfig; COMMIT with no P4Info (info None) carries no config."""
    req = c.eid(A(action=action))
    if info is not None:
        req.config.p4info.CopyFrom(info)
        req.config.p4_device_config = device_config
    return c.stub.SetForwardingPipelineConfig(req, timeout=60)


def refused(c, info, device_config: bytes, words: str, action=A.VERIFY_AND_COMMIT) -> None:
    with pytest.raises(grpc.RpcError) as e:
        push(c, info, device_config, action)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and words in e.value.details(), (
        e.value.details()
    )


def forwards(ports, port: int, timeout: float = 5.0) -> bool:
    ports[1].rx.put(raw(Ether() / IP(dst="10.1.2.3") / TCP()))
    try:
        ports[port].tx.get(timeout=timeout)
        return True
    except Exception:
        return False


def test_device_config_forms_and_refusals(basic):
    js = json.dumps(basic.json).encode()
    with device() as (client, ports, _service):
        c = client(election=1)
        c.next("arbitration")
        for old in (True, False):
            wrapper = device_config_class(old)(device_data=js)
            if old:
                wrapper.reassign = True
            push(c, basic.p4info, wrapper.SerializeToString())
            c.write(lpm_entry(basic, bytes([10, 0, 0, 0]), 8, 2))
            assert forwards(ports, 2)
        push(c, basic.p4info, js)  # plain JSON
        # Undecodable or misshapen configs: INVALID_ARGUMENT, with what is wrong.
        refused(c, basic.p4info, b"\x00\xff\x13 garbage", "neither BMv2 JSON nor a P4DeviceConfig")
        refused(
            c,
            basic.p4info,
            device_config_class(False)(device_data=b"\x01\x02").SerializeToString(),
            "not BMv2 JSON",
        )
        refused(c, basic.p4info, b'{"header_types": 5}', "device config")
        refused(c, basic.p4info, b'{"header_types": [], "headers": [{"id": "x"}]}', "device config")
        looped = copy.deepcopy(basic.json)
        t = looped["pipelines"][0]["tables"][0]
        t["base_default_next"] = t["name"]
        refused(c, basic.p4info, json.dumps(looped).encode(), "loop")
        # A P4Info that contradicts the JSON is refused.
        wide = copy.deepcopy(basic.p4info)
        wide.tables[0].match_fields[0].bitwidth = 48
        refused(c, wide, js, "bits")
        param = copy.deepcopy(basic.p4info)
        next(a for a in param.actions if a.params).params[0].bitwidth += 1
        refused(c, param, js, "parameter widths")
        twice = copy.deepcopy(basic.p4info)
        twice.tables.add().CopyFrom(twice.tables[0])
        refused(c, twice, js, "appears twice")
        with pytest.raises(grpc.RpcError) as e:
            push(c, basic.p4info, js, action=99)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # None of that touched the running pipeline.
        assert not forwards(ports, 2, timeout=0.5)  # the plain JSON push emptied the table
        c.write(lpm_entry(basic, bytes([10, 0, 0, 0]), 8, 3))
        assert forwards(ports, 3)


def test_save_commit_reconcile_and_large_configs(basic):
    js = json.dumps(basic.json).encode()
    with device() as (client, ports, service):
        c = client(election=1)
        c.next("arbitration")
        with pytest.raises(grpc.RpcError) as e:
            push(c, None, b"", action=A.COMMIT)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        push(c, basic.p4info, js, action=A.VERIFY_AND_SAVE)
        assert service.pipeline is None
        # COMMIT carries no config (P4Runtime 1.4): one with a P4Info and garbage is refused,
        # and the saved config stays saved
        refused(c, basic.p4info, b"garbage", "COMMIT takes no config", action=A.COMMIT)
        assert service.pipeline is None
        push(c, None, b"", action=A.COMMIT)
        assert service.pipeline is not None
        c.write(lpm_entry(basic, bytes([10, 0, 0, 0]), 8, 2), lpm_entry(basic, bytes([11, 0, 0, 0]), 8, 4))
        # RECONCILE_AND_COMMIT keeps every entry that fits the new pipeline.
        push(c, basic.p4info, js, action=A.RECONCILE_AND_COMMIT)
        table = R.Entity(table_entry=R.TableEntry(table_id=ids(basic)["MyIngress.ipv4_lpm"]))
        assert len(c.read(table)) == 2 and forwards(ports, 2)
        sink = compile_p4(P4 / "kitchen_sink.p4")  # same table, other actions: nothing fits
        push(c, sink.p4info, json.dumps(sink.json).encode(), action=A.RECONCILE_AND_COMMIT)
        assert c.read(R.Entity(table_entry=R.TableEntry(table_id=ids(sink)["MyIngress.ipv4_lpm"]))) == []
        # A config of tens of MB (simple_switch_grpc takes them).
        big = dict(basic.json, padding="x" * (30 * 1024 * 1024))
        push(c, basic.p4info, json.dumps(big).encode())
        c.write(lpm_entry(basic, bytes([10, 0, 0, 0]), 8, 5))
        assert forwards(ports, 5)
