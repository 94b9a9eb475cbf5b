"""The switch never dies silently: a packet that makes the pipeline fail is dropped,
counted and logged once while the port keeps serving; a JSON that would fail (or loop)
at the first packet is refused at load, naming the item; run-time shifts are bounded.
And the incremental ternary/range index stays right through inserts and deletes."""

import contextlib
import copy
import logging
import random
import struct

import pytest
from scapy.all import IP, TCP, Ether, raw

from p4target.compiler.driver import compile_p4
from p4target.switch import JsonError, load
from p4target.switch.ports import QueuePort
from p4target.switch.runner import Runner
from p4target.switch.tables import EntryError, Match
from tests.p4rt import P4

DEATH = """
#include <core.p4>
#include <v1model.p4>
header ethernet_t { bit<48> dst; bit<48> src; bit<16> ether_type; }
header shift_t { bit<32> amount; bit<32> value; }
struct headers_t { ethernet_t ethernet; shift_t s; }
struct meta_t { }
parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) { 0x88b5: shift; default: accept; }
    }
    state shift { pkt.extract(hdr.s); transition accept; }
}
control V(inout headers_t hdr, inout meta_t meta) { apply { } }
control I(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        assert(hdr.ethernet.ether_type != 0xdead);
        sm.egress_spec = 2;
        if (hdr.s.isValid()) { hdr.s.value = hdr.s.value << hdr.s.amount; }
    }
}
control E(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control C(inout headers_t hdr, inout meta_t meta) { apply { } }
control D(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.ethernet); pkt.emit(hdr.s); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
"""


def frame(ether_type: int, payload: bytes = b"p" * 40) -> bytes:
    return bytes(6) + bytes([2, 0, 0, 0, 0, 1]) + struct.pack("!H", ether_type) + payload


def test_a_packet_of_death_is_dropped_counted_and_logged_once(tmp_path, caplog):
    src = tmp_path / "death.p4"
    src.write_text(DEATH)
    runner = Runner(device_id=0)
    ports = {n: QueuePort(n) for n in (1, 2)}
    for p in ports.values():
        runner.add_port(p)
    runner.set_switch(load(compile_p4(src).json))
    runner.start()
    try:
        with caplog.at_level(logging.WARNING, logger="srem.switch"):
            for _ in range(3):
                ports[1].rx.put(frame(0xDEAD))
            ports[1].rx.put(frame(0x0800))
            assert ports[2].tx.get(timeout=5) == frame(0x0800)  # the port still serves
        assert runner.counts["errors"] == 3
        assert sum("AssertionError" in r.getMessage() for r in caplog.records) == 1
        # A shift by 2**32 - 1 bits: bounded, the value shifts out to 0 as in BMv2.
        ports[1].rx.put(frame(0x88B5, struct.pack("!II", 0xFFFFFFFF, 0x12345678)))
        assert ports[2].tx.get(timeout=5)[14:22] == struct.pack("!II", 0xFFFFFFFF, 0)
        ports[1].rx.put(frame(0x88B5, struct.pack("!II", 4, 0x12345678)))
        assert ports[2].tx.get(timeout=5)[14:22] == struct.pack("!II", 4, 0x23456780)
    finally:
        runner.stop()


@pytest.fixture(scope="module")
def basic_json():
    return compile_p4(P4 / "basic.p4").json


def _broken(j: dict, how: str) -> dict:
    j = copy.deepcopy(j)
    ingress = next(p for p in j["pipelines"] if p["name"] == "ingress")
    if how == "self":
        t = ingress["tables"][0]
        t["next_tables"] = {k: t["name"] for k in t["next_tables"]}
        t["base_default_next"] = t["name"]
    elif how == "dangling condition":
        ingress["conditionals"][0]["true_next"] = "nowhere"
    elif how == "parameter":
        a = next(a for a in j["actions"] if a["runtime_data"])
        a["primitives"].append({"op": "assign", "parameters": [
            {"type": "field", "value": ["standard_metadata", "egress_spec"]}, {"type": "runtime_data", "value": 9}]})  # fmt: skip
    elif how == "width":
        j["header_types"][1]["fields"][0][1] = -8
    elif how == "register":
        j["register_arrays"] = [{"name": "huge", "id": 0, "bitwidth": 32, "size": 10**12}]
    elif how == "table size":
        ingress["tables"][0]["max_size"] = -1
    return j


@pytest.mark.parametrize(
    "how,words",
    [
        ("self", "loop"),
        ("dangling condition", "unknown next node 'nowhere'"),
        ("parameter", "parameter 9 outside"),
        ("width", "width of"),
        ("register", "register huge: size"),
        ("table size", "max_size -1"),
    ],
)
def test_json_that_would_fail_later_is_refused_at_load(basic_json, how, words):
    with pytest.raises(JsonError) as e:
        load(_broken(basic_json, how))
    assert words in str(e.value)


def test_ternary_index_stays_right_through_inserts_and_deletes():
    sw = load(compile_p4(P4 / "kitchen_sink.p4").json)
    t = sw.tables["MyIngress.acl"]  # ternary src, ternary dst, range dport, optional protocol
    permit, deny = t.actions["MyIngress.acl_permit"], t.actions["MyIngress.acl_deny"]
    t._readers = [lambda phv, d, i=i: phv[i] for i in range(4)]  # the "phv" is the key values
    rng = random.Random(11)
    for step in range(1500):
        if t.entries and rng.random() < 0.35:
            t.remove(rng.choice(list(t.entries.values())))
        else:
            mask = rng.choice([0, 0xFF000000, 0xFFFF0000, 0xFFFFFFFF])
            lo = rng.randrange(0, 65536, 1024)
            match = [Match(value=rng.getrandbits(32) & mask, mask=mask), Match(value=0, mask=0),
                     Match(lo=lo, hi=min(65535, lo + rng.choice([0, 1023, 65535]))), Match(value=0, mask=0)]  # fmt: skip
            with contextlib.suppress(EntryError):
                t.add(match, rng.choice([permit, deny]), [], priority=rng.randrange(1, 20))
        if step % 10:
            continue
        ranked = sorted(t.entries.values(), key=lambda e: (-e.priority, e.handle))
        for _ in range(20):
            vals = [rng.getrandbits(32), 0, rng.randrange(65536), 6]
            if ranked and rng.random() < 0.5:
                e = rng.choice(ranked)
                vals[0] = e.match[0].value | (rng.getrandbits(32) & ~e.match[0].mask & 0xFFFFFFFF)
            naive = next((e for e in ranked if vals[0] & e.match[0].mask == e.match[0].value
                          and e.match[2].lo <= vals[2] <= e.match[2].hi), None)  # fmt: skip
            assert t.lookup(vals) is naive


def test_a_frame_is_untouched_by_the_vlan_restore_when_the_kernel_kept_it():
    from p4target.switch.ports import AUXDATA, PACKET_AUXDATA, SOL_PACKET, restore_vlan

    data = raw(Ether() / IP() / TCP())
    plain = AUXDATA.pack(0, len(data), len(data), 0, 14, 0, 0)
    assert restore_vlan(data, [(SOL_PACKET, PACKET_AUXDATA, plain)]) == data
    tagged = AUXDATA.pack(0x10 | 0x40, len(data), len(data), 0, 14, 0x2005, 0x88A8)
    out = restore_vlan(data, [(SOL_PACKET, PACKET_AUXDATA, tagged)])
    assert out == data[:12] + b"\x88\xa8\x20\x05" + data[12:]
