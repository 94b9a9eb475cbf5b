"""Issue 22: the reliability defects found from outside, one regression test each, and a
seeded fuzz test per area (parser loops, duplicated declarations, constant expressions)."""

from __future__ import annotations

import logging
import random
import struct
import time

import pytest

from p4target.compiler.driver import compile_p4
from p4target.compiler.errors import P4Error
from p4target.switch import load
from p4target.switch.parse import MAX_PARSER_STATES
from p4target.switch.ports import QueuePort
from p4target.switch.runner import Runner

HEAD = """
#include <core.p4>
#include <v1model.p4>
header ethernet_t { bit<48> dst; bit<48> src; bit<16> ether_type; }
header ipv4_t { bit<8> ver_ihl; bit<8> tos; bit<16> len; bit<32> id_frag; bit<8> ttl; bit<8> proto;
                bit<16> csum; bit<32> src; bit<32> dst; }
header h8_t { bit<8> v; }
struct headers_t { ethernet_t ethernet; ipv4_t ipv4; h8_t[4] st; }
struct meta_t { bit<8> n; }
"""
TAIL = """
control V(inout headers_t hdr, inout meta_t meta) { apply { } }
control E(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control C(inout headers_t hdr, inout meta_t meta) { apply { } }
control D(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.ethernet); pkt.emit(hdr.ipv4); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
"""
# Ingress: out of the other port; a parse that timed out is marked in the source MAC.
MARKING_INGRESS = """
control I(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        sm.egress_spec = sm.ingress_port == 1 ? 9w2 : 9w1;
        if (sm.parser_error == error.ParserTimeout) { hdr.ethernet.src = 0xbad; }
    }
}
"""


def _program(tmp_path, text: str, name: str = "t.p4"):
    src = tmp_path / name
    src.write_text(text)
    return compile_p4(src)


def frame(ether_type: int, payload: bytes = b"\x45" + bytes(39)) -> bytes:
    return bytes([0, 0, 0, 0, 0, 2]) + bytes([2, 0, 0, 0, 0, 1]) + struct.pack("!H", ether_type) + payload


# -- 1. a parser loop is bounded per packet -------------------------------------------------

LOOP_PARSER = """
parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) { 0x0800: parse_ipv4; default: accept; }
    }
    state parse_ipv4 { transition parse_ipv4; }
}
"""


def test_a_parser_loop_ends_in_parser_timeout_and_every_port_keeps_being_served(tmp_path, caplog):
    c = _program(tmp_path, HEAD + LOOP_PARSER + MARKING_INGRESS + TAIL)
    runner = Runner(device_id=0)
    ports = {n: QueuePort(n) for n in (1, 2)}
    for p in ports.values():
        runner.add_port(p)
    runner.set_switch(load(c.json))
    runner.start()
    try:
        with caplog.at_level(logging.WARNING, logger="srem.switch"):
            for _ in range(3):
                ports[1].rx.put(frame(0x0800))
            ports[2].rx.put(frame(0x88B5))  # another port, another kind of frame
            got = [ports[2].tx.get(timeout=10) for _ in range(3)]
            other = ports[1].tx.get(timeout=10)
    finally:
        runner.stop()
    # the timed-out parse goes on to ingress with ParserTimeout (v1model's parser errors)
    assert all(g[6:12] == bytes.fromhex("000000000bad") for g in got)
    assert other[6:12] == bytes([2, 0, 0, 0, 0, 1])
    assert runner.switch.parser_timeouts == 3
    warned = [r for r in caplog.records if "ParserTimeout" in r.getMessage()]
    assert len(warned) == 1, "warned once, however many packets time out"


def _loop_shapes(rng: random.Random) -> str:
    """A parser whose states loop in one of several shapes, some through the packet."""
    n = rng.randint(1, 4)
    shape = rng.choice(["self", "ring", "select", "lookahead"])
    states = []
    for i in range(n):
        nxt = f"s{(i + 1) % n}" if shape != "self" else f"s{i}"
        if shape == "select":
            body = f"transition select(meta.n) {{ 0: s{rng.randrange(n)}; default: s{(i + 1) % n}; }}"
        elif shape == "lookahead":
            body = f"transition select(pkt.lookahead<bit<8>>()) {{ 0x45: {nxt}; default: {nxt}; }}"
        else:
            body = f"transition {nxt};"
        op = rng.choice(["", "meta.n = meta.n + 1;", "meta.n = 0;"])
        states.append(f"    state s{i} {{ {op} {body} }}")
    return (
        "parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {\n"
        "    state start { pkt.extract(hdr.ethernet); transition select(hdr.ethernet.ether_type) "
        "{ 0x0800: s0; default: accept; } }\n" + "\n".join(states) + "\n}\n"
    )


def test_fuzz_parser_loops_of_several_shapes_always_end(tmp_path):
    rng = random.Random(22)
    for k in range(6):
        c = _program(tmp_path, HEAD + _loop_shapes(rng) + MARKING_INGRESS + TAIL, f"loop{k}.p4")
        sw = load(c.json)
        t0 = time.perf_counter()
        out = sw.process(1, frame(0x0800))
        assert sw.parser_timeouts == 1 and out and out[0][0] == 2
        assert out[0][1][6:12] == bytes.fromhex("000000000bad")
        assert sw.process(1, frame(0x88B5))[0][1][6:12] == bytes([2, 0, 0, 0, 0, 1])
        assert time.perf_counter() - t0 < 60, "bounded work (a generous ceiling, not a timing test)"


def test_a_loop_that_consumes_the_packet_still_ends_as_before(tmp_path):
    """A stack loop ends at StackOutOfBounds or PacketTooShort well before the bound."""
    parser = """
parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start { pkt.extract(hdr.ethernet); transition more; }
    state more { pkt.extract(hdr.st.next); transition more; }
}
"""
    c = _program(tmp_path, HEAD + parser + MARKING_INGRESS + TAIL)
    sw = load(c.json)
    assert sw.process(1, frame(0x0800))[0][0] == 2
    assert sw.parser_timeouts == 0 and MAX_PARSER_STATES > 100
