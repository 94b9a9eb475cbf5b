"""Issue 22: the reliability defects found from outside, one regression test each, and a
seeded fuzz test per area (parser loops, duplicated declarations, constant expressions)."""

from __future__ import annotations

import copy
import json
import logging
import random
import struct
import time
from pathlib import Path

import pytest

from p4target.compiler.driver import compile_p4
from p4target.compiler.errors import P4Error
from p4target.compiler.loader_rules import check
from p4target.switch import JsonError, load
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


# -- 2. duplicated declarations are located compile errors ---------------------------------

BASIC = (Path(__file__).parent / "p4" / "basic.p4").read_text()


def _basic(old: str, new: str) -> str:
    assert old in BASIC, old
    return BASIC.replace(old, new, 1)


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("size = 1024;", "size = 1024; size = 2048;", "property 'size' is given twice"),
        (
            "apply { if (hdr.ipv4.isValid()) { ipv4_lpm.apply(); } }",
            "apply { if (hdr.ipv4.isValid()) { ipv4_lpm.apply(); } } apply { }",
            "second apply block",
        ),
        (
            "key = { hdr.ipv4.dstAddr: lpm; }",
            "key = { hdr.ipv4.dstAddr: lpm; } key = { hdr.ipv4.srcAddr: exact; }",
            "property 'key' is given twice",
        ),
        (
            "size = 1024;",
            "size = 1024; support_timeout = true; support_timeout = false;",
            "'support_timeout'",
        ),
        (
            "default_action = drop();",
            "default_action = drop(); default_action = NoAction();",
            "'default_action'",
        ),
        (
            "key = { hdr.ipv4.dstAddr: lpm; }",
            "key = { hdr.ipv4.dstAddr: lpm; hdr.ipv4.dstAddr: exact; }",
            "key field 'hdr.ipv4.dstAddr' is given twice",
        ),
    ],
)
def test_duplicated_table_properties_apply_blocks_and_key_fields_are_located_errors(
    tmp_path, old, new, message
):
    with pytest.raises(P4Error) as e:
        _program(tmp_path, _basic(old, new))
    assert e.value.loc is not None and e.value.loc.line > 1
    assert message in e.value.message


# Each: a declaration in basic.p4 (by a line that starts it) that the fuzz repeats.
DUPLICABLE = [
    "header ethernet_t",
    "struct metadata",
    "typedef bit<9>",
    "    action drop()",
    "    action ipv4_forward(",
    "    table ipv4_lpm",
    "    state start",
    "    state parse_ipv4",
    "        key = ",
    "        actions = ",
    "        size = ",
    "        default_action = ",
    "    apply {",
    "macAddr_t dstAddr;",
    "bit<4> version;",
    "ip4Addr_t dstAddr;",
]


def _declaration_at(text: str, start: str) -> tuple[int, int]:
    """(begin, end) of the declaration or property that starts with `start`: up to the `;` or
    the `}` that closes it."""
    i = j = text.index(start)
    depth = 0
    while True:
        ch = text[j]
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if (ch == "}" and depth == 0) or (ch == ";" and depth == 0):
            return i, j + 1
        j += 1


def test_fuzz_every_kind_of_duplicated_declaration_is_a_located_error(tmp_path):
    rng = random.Random(2202)
    kinds = DUPLICABLE[:]
    rng.shuffle(kinds)
    for k, start in enumerate(kinds):
        assert start in BASIC, start
        i, j = _declaration_at(BASIC, start)
        decl = BASIC[i:j]
        # the copy right after the original, or (for whole declarations) a little later
        text = BASIC[:j] + "\n" + decl + BASIC[j:]
        with pytest.raises(P4Error) as e:
            _program(tmp_path, text, f"dup{k}.p4")
        assert e.value.loc is not None, start


# -- 3. constants follow P4_16 and p4c ------------------------------------------------------

TTL = "hdr.ipv4.ttl = hdr.ipv4.ttl - 1;"
ROUTE_TO_3 = "ipv4_lpm", [("dstAddr", 0, 0)]


def _ttl_after(tmp_path, expr: str) -> int:
    """The TTL that leaves basic.p4 when its forward action sets `ttl = expr` (TTL 9 in)."""
    from p4target.switch.tables import Match

    sw = load(_program(tmp_path, _basic(TTL, f"hdr.ipv4.ttl = {expr};")).json)
    t = sw.tables["MyIngress.ipv4_lpm"]
    t.add([Match(value=0, prefix=0)], t.actions["MyIngress.ipv4_forward"], [0xAABBCCDDEEFF, 3])
    ip = bytes([0x45, 0, 0, 20, 0, 1, 0, 0, 9, 17, 0, 0, 1, 2, 3, 4, 10, 0, 0, 1])
    out = sw.process(1, bytes(6) + bytes(6) + b"\x08\x00" + ip)
    assert out and out[0][0] == 3
    return out[0][1][14 + 8]


@pytest.mark.parametrize(
    "expr, message",
    [
        ("hdr.ipv4.ttl << 4294967297", "shift amount 4294967297 is over 256"),
        ("hdr.ipv4.ttl << 257", "shift amount 257 is over 256"),
        ("hdr.ipv4.ttl >> 300", "shift amount 300 is over 256"),
        ("hdr.ipv4.ttl << -1", "negative amounts"),
        ("hdr.ipv4.ttl / 0", "division by zero"),
        ("hdr.ipv4.ttl / 8w0", "division by zero"),
        ("hdr.ipv4.ttl % 0", "modulo by zero"),
        ("(bit<8>)(1024 % 0)", "modulo by zero"),
        ("(bit<8>)(8w1 << 4294967297)", "shift amount 4294967297"),
    ],
)
def test_constant_shift_amounts_and_zero_divisors_are_refused_as_p4c_does(tmp_path, expr, message):
    with pytest.raises(P4Error) as e:
        _program(tmp_path, _basic(TTL, f"hdr.ipv4.ttl = {expr};"))
    assert e.value.loc is not None and e.value.loc.line == 35
    assert message in e.value.message


def test_constant_shifts_within_the_limit_and_constant_arithmetic_wrap_at_their_width(tmp_path):
    assert _ttl_after(tmp_path, "hdr.ipv4.ttl << 1") == 18
    assert _ttl_after(tmp_path, "hdr.ipv4.ttl << 8") == 0  # p4c warns; the value is 0
    assert _ttl_after(tmp_path, "hdr.ipv4.ttl << 256") == 0
    assert _ttl_after(tmp_path, "8w255 + 8w2") == 1  # bit<8> wraps (P4_16 8.9)
    assert _ttl_after(tmp_path, "(bit<8>)(8w1 << 9)") == 0


def _const_expr(rng: random.Random, depth: int = 0) -> tuple[str, int]:
    """A random bit<8> constant expression and its value by P4_16's rules."""
    if depth > 2 or rng.random() < 0.3:
        v = rng.randrange(256)
        return f"8w{v}", v
    (a, x), (b, y) = _const_expr(rng, depth + 1), _const_expr(rng, depth + 1)
    op = rng.choice(["+", "-", "*", "&", "|", "^", "<<", ">>", "/", "%"])
    if op in ("<<", ">>"):
        y = rng.choice([0, 1, 7, 8, 9, 200])
        return f"({a} {op} {y})", ((x << y) if op == "<<" else (x >> y)) & 0xFF
    if op in ("/", "%") and y == 0:
        b, y = "8w3", 3
    v = {"+": x + y, "-": x - y, "*": x * y, "&": x & y, "|": x | y, "^": x ^ y,
         "/": x // max(y, 1), "%": x % max(y, 1)}[op]  # fmt: skip
    return f"({a} {op} {b})", v & 0xFF


def test_fuzz_constant_expressions_compute_what_p4_says(tmp_path):
    rng = random.Random(2203)
    for _ in range(8):
        text, want = _const_expr(rng)
        assert _ttl_after(tmp_path, text) == want, text


# -- 7. the switch's JSON loader refuses what real BMv2 refuses ----------------------------


def _basic_json() -> dict:
    return compile_p4(Path(__file__).parent / "p4" / "basic.p4").json


def _drop_mark_param(j):
    next(p for a in j["actions"] for p in a["primitives"] if p["op"] == "mark_to_drop")["parameters"] = []


BMV2_REFUSES = {
    # mutant: (change, words srem's refusal has; BMv2's own words in the comment)
    "mark_to_drop without its parameter": (_drop_mark_param, "mark_to_drop): Invalid number of parameters"),
    "duplicated action id": (lambda j: j["actions"][1].update(id=j["actions"][0]["id"]), "same id 0"),
    "duplicated pipeline": (lambda j: j["pipelines"].append(copy.deepcopy(j["pipelines"][0])), "same id 0"),
    "table type {}": (
        lambda j: j["pipelines"][0]["tables"][0].update(type={}),
        "table MyIngress.ipv4_lpm: type",
    ),
    "match_type null": (
        lambda j: j["pipelines"][0]["tables"][0].update(match_type=None),
        "table MyIngress.ipv4_lpm: match_type None",
    ),
}  # BMv2: "Invalid number of parameters…", "Several objects of type … have the same id", aborts


@pytest.mark.parametrize("mutant", sorted(BMV2_REFUSES))
def test_the_loader_refuses_what_bmv2_refuses_naming_the_element(mutant, tmp_path):
    change, words = BMV2_REFUSES[mutant]
    j = _basic_json()
    change(j)
    with pytest.raises(JsonError) as e:
        load(j)
    assert words in str(e.value)
    from tests.differential import real_tool

    exe = real_tool("simple_switch")
    if exe is not None:  # and the reference refuses it too (an exit or an abort, never a running switch)
        import subprocess

        path = tmp_path / "m.json"
        path.write_text(json.dumps(j))
        p = subprocess.run([exe, "--thrift-port", str(9300 + sorted(BMV2_REFUSES).index(mutant)), str(path)],
                           capture_output=True, timeout=30)  # fmt: skip
        assert p.returncode != 0


def _mutate_json(rng: random.Random, node, depth: int = 0):
    """`node` with one member somewhere replaced by a value of another shape."""
    if isinstance(node, dict) and node:
        k = rng.choice(sorted(node))
        if depth > 1 and rng.random() < 0.3:
            node[k] = rng.choice([None, {}, [], 0, -1, "x", True, [None], {"type": None}])
        else:
            node[k] = _mutate_json(rng, node[k], depth + 1)
    elif isinstance(node, list) and node:
        i = rng.randrange(len(node))
        node[i] = _mutate_json(rng, node[i], depth + 1)
    else:
        node = rng.choice([None, {}, [], 0, -1, "x", True, 2**70])
    return node


def test_fuzz_json_mutants_get_a_named_refusal_or_load_and_the_rules_never_raise():
    rng = random.Random(2207)
    base = _basic_json()
    for _ in range(300):
        j = _mutate_json(rng, copy.deepcopy(base))
        problems = check(j)  # never raises
        assert isinstance(problems, list)
        try:
            sw = load(j)
        except JsonError as e:
            assert str(e)
            continue
        sw.process(1, bytes(14) + bytes(20))  # a loaded one runs (a fault drops the packet only)


# -- 4. a limit names what it limits --------------------------------------------------------


def test_a_large_program_without_macros_is_not_a_macro_expansion(tmp_path, monkeypatch):
    """400,000 `const` lines failed with 'macro expansion produces more than 1000000 tokens';
    the budget counts only what macros produce (the same shape, scaled down)."""
    import p4target.compiler.lexer as lexer

    monkeypatch.setattr(lexer, "MAX_EXPANSION", 2000)
    consts = "".join(f"const bit<8> C{k} = 8w1;\n" for k in range(400))  # 3,200 tokens, no macro
    assert _program(tmp_path, consts + BASIC, "big.p4").json
    blowup = "#define A(x) x x x x x x x x x x\n#define B A(A(A(A(1))))\nconst bit<8> D = B;\n"
    with pytest.raises(P4Error) as e:
        _program(tmp_path, blowup + BASIC, "macros.p4")
    assert "macro expansion produces more than 2000 tokens (macros: A" in e.value.message
    assert e.value.loc is not None and e.value.loc.line == 3
