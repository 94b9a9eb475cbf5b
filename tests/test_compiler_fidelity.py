"""The compiler on constructs it lowers itself and on hostile input: every program either
compiles (and runs as P4 says) or stops with one located `file:line:col: error:` — never
a Python traceback, never a hang."""

import random
import time
from pathlib import Path

import pytest

from p4target.compiler.driver import compile_p4
from p4target.compiler.errors import P4Error
from p4target.compiler.loader_rules import check
from p4target.stf import run_stf
from p4target.switch import load

P4 = Path(__file__).parent / "p4"
HEAD = """#include <core.p4>
#include <v1model.p4>
header h_t { bit<8> a; bit<8> b; bit<16> c; }
struct headers_t { h_t h; }
struct meta_t { bit<8> m; }
parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start { pkt.extract(hdr.h); transition accept; }
}
control V(inout headers_t hdr, inout meta_t meta) { apply { } }
control E(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control C(inout headers_t hdr, inout meta_t meta) { apply { } }
control D(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.h); } }
"""
MAIN = "V1Switch(P(), V(), I(), E(), C(), D()) main;\n"
I = "control I(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {"


def test_constructs_compile_to_loadable_json_and_pass_their_stf():
    j = compile_p4(P4 / "constructs.p4").json
    assert check(j) == []
    r = run_stf(load(j), (P4 / "constructs.stf").read_text())
    assert r.passed, r.failures
    assert r.packets_out == 10


def test_stacks_of_header_unions_compile_and_run():
    j = compile_p4(P4 / "union_stack.p4").json
    assert check(j) == [] and j["header_union_stacks"][0]["header_union_ids"] == [0, 1, 2]
    r = run_stf(load(j), (P4 / "union_stack.stf").read_text())
    assert r.passed, r.failures


def _compile(tmp_path, body: str | bytes, name: str = "t.p4"):
    p = tmp_path / name
    if isinstance(body, bytes):
        p.write_bytes(body)
    else:
        p.write_text(body)
    return compile_p4(p)


BAD = [
    (f"{I} apply {{ hdr.h.b = hdr.h.a[3:7]; }} }}", "out of range or reversed"),
    (f"{I} apply {{ hdr.h.b = hdr.h.a[9:2]; }} }}", "out of range or reversed"),
    (f"{I} apply {{ hdr.h.a[9:2] = 0; }} }}", "out of range"),
    (f"{I} action a() {{}} action a() {{}} apply {{ }} }}", "'a' is declared twice in I"),
    (f"header z_t {{ bit<8> f; bit<8> f; }} {I} apply {{ }} }}", "field 'f' is declared twice"),
    (f"enum Q {{ X, X }} {I} apply {{ }} }}", "declares 'X' twice"),
    (f"typedef tb ta; typedef ta tb; {I} apply {{ }} }}", "defined in terms of itself"),
    (f"struct S {{ bit<8> a; S s; }} {I} apply {{ }} }}", "defined in terms of itself"),
    (f"bit<8> f(bit<8> x) {{ return f(x); }} {I} apply {{ hdr.h.b = f(hdr.h.a); }} }}", "no recursion"),
    (f"header w_t {{ bit<100000> f; }} {I} apply {{ }} }}", "over the 2048 bits"),
    (f"{I} register<bit<32>>(32w0xffffffff) r; apply {{ r.write(0, 1); }} }}", "out of range for register"),
    (f"{I} action a() {{}} table t {{ key = {{ hdr.h.a: exact; }} actions = {{ a; }} size = 1 << 40; }}"
     " apply { t.apply(); } }", "table size"),
    (f"{I} apply {{ hdr.h.b = hdr.h.a / hdr.h.c; }} }}", "differ in width"),
    (f"{I} apply {{ hdr.h.b = 8w1 ++ 8w2; }} }}", "cannot assign a bit<16> value to a bit<8>"),
    (f"{I} apply {{ hdr.h.b = (bit<8>)sm; }} }}", "cannot cast standard_metadata_t"),
    (f"{I} apply {{ hdr.h.b = hdr.h.a + hdr.h; }} }}", "needs bit<W>, int<W> or int operands"),
    (f"header_union u_t {{ h_t x; }} struct s_t {{ u_t[2] us; }} {I} s_t v; apply {{ v.us[hdr.h.a].x.a = 1; }} }}",
     "needs a constant index"),
    (f"{I} action s(bit<8> v) {{ hdr.h.b = v; }} table t {{ key = {{ hdr.h.a: ternary; }} actions = {{ s; }}"
     " const entries = { priority = 2: 1 &&& 1 : s(1); } } apply { t.apply(); } }", "cannot have priorities"),
    (f"{I} apply {{ hdr.h.b = " + "(" * 3000 + "1" + ")" * 3000 + "; } }", "nested more than"),
    (f"{I} apply {{ hdr.h.b = " + "+".join(["hdr.h.a"] * 3000) + "; } }", "nested more than"),
    ("#define A B B\n" + "".join(f"#define {c} {n} {n}\n" for c, n in zip("BCDEFGHIJKLMNOPQRSTUVW",
     "CDEFGHIJKLMNOPQRSTUVWx", strict=True)) + "A\n", "macro expansion produces more than"),
    ("#define X ().__class__\n#if X\n#endif\n", "cannot evaluate #if"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_programs_are_located_errors(tmp_path, body, message):
    text = body if body.startswith("#") else HEAD + body + "\n" + MAIN
    with pytest.raises(P4Error) as e:
        _compile(tmp_path, text)
    assert message in e.value.message, str(e.value)
    assert e.value.loc is not None and e.value.loc.file.endswith("t.p4"), str(e.value)
    assert str(e.value).startswith(f"{e.value.loc}: error:")


def test_non_utf8_bytes_are_named_outside_comments_and_passed_inside(tmp_path):
    ok = HEAD.encode() + b"// caf\xe9\n" + f"{I} apply {{ }} }}\n".encode() + MAIN.encode()
    _compile(tmp_path, ok)
    bad = HEAD.encode() + f"{I} apply {{ ".encode() + b"\xff } }\n" + MAIN.encode()
    with pytest.raises(P4Error) as e:
        _compile(tmp_path, bad)
    assert "byte 0xff" in e.value.message and e.value.loc.line == HEAD.count("\n") + 1


def test_a_program_without_main_says_where(tmp_path):
    with pytest.raises(P4Error) as e:
        _compile(tmp_path, "header h_t { bit<8> a; }\n")
    assert "no 'main'" in e.value.message and e.value.loc.line == 1


def _mutate(rng: random.Random, text: str) -> str:
    """One random edit: delete, duplicate or swap a span, or insert a token or a stray byte."""
    n = len(text)
    a = rng.randrange(n)
    b = min(n, a + rng.randrange(1, 40))
    k = rng.randrange(6)
    if k == 0:
        return text[:a] + text[b:]
    if k == 1:
        return text[:a] + text[a:b] * rng.randrange(2, 40) + text[a:]
    if k == 2:
        c = rng.randrange(n)
        return text[:a] + text[c : c + (b - a)] + text[b:]
    if k == 3:
        tok = rng.choice(["(", ")", "{", "}", "[7:0]", "<", ">", ";", "0x1ffffffffffffffff", "bit<0>",
                          "switch", "@name(\"x\")", "priority=", "#define", "\n#if 1\n", "..", "\"", "/*"])  # fmt: skip
        return text[:a] + tok + text[a:]
    if k == 4:
        return text[:a] + "(" * rng.randrange(50, 400) + text[a:]
    return text[:a] + "\udcff" + text[a:]  # a byte that is not UTF-8, kept as an escape


def test_mutation_fuzz_compiler_success_or_located_error(tmp_path):
    """Seeded and bounded: mutants of the project's programs compile or fail with a located
    P4Error, each within a time bound."""
    rng = random.Random(20269)
    seeds = [(P4 / n).read_text() for n in ("basic.p4", "constructs.p4", "functions.p4", "unions.p4")]
    outcomes = {"ok": 0, "error": 0}
    for k in range(60):
        text = rng.choice(seeds)
        for _ in range(rng.randrange(1, 4)):
            text = _mutate(rng, text)
        p = tmp_path / f"m{k}.p4"
        p.write_bytes(text.encode("utf-8", errors="surrogateescape"))
        t0 = time.monotonic()
        try:
            compile_p4(p, include_dirs=[P4])
            outcomes["ok"] += 1
        except P4Error as e:
            outcomes["error"] += 1
            assert e.loc is not None, f"mutant {k}: unlocated error {e}"
        assert time.monotonic() - t0 < 20, f"mutant {k} took too long"
    assert outcomes["error"] > 20
