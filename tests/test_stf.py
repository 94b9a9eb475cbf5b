"""STF tests on the reference switch, through the library and through `srem stf`."""

import subprocess
import sys
from pathlib import Path

import pytest

from p4target.compiler.driver import compile_p4
from p4target.stf import StfError, run_stf
from p4target.switch import load

P4 = Path(__file__).parent / "p4"
SREM = str(Path(sys.executable).parent / "srem")


@pytest.mark.parametrize(
    "name", ["basic", "replication", "compat", "functions", "unions", "bound_actions", "legacy"]
)
def test_stf_files_pass(name):
    r = run_stf(load(compile_p4(P4 / f"{name}.p4").json), (P4 / f"{name}.stf").read_text())
    assert r.passed, r.failures
    assert r.packets_in >= 2


def test_a_wrong_expectation_fails_with_a_diff():
    sw = load(compile_p4(P4 / "basic.p4").json)
    text = (P4 / "basic.stf").read_text().replace("expect 4 000000000004", "expect 4 0000000000ff")
    r = run_stf(sw, text)
    assert not r.passed and "port 4, packet 0: expected 0000000000ff" in r.failures[0]
    moved = text.replace("expect 4", "expect 5")
    r = run_stf(load(compile_p4(P4 / "basic.p4").json), moved)
    # Port 4 is no longer named, so (as with p4c's driver) what goes there is not seen.
    assert r.failures == ["port 5: expected 1 packets, got 0"]
    r = run_stf(load(compile_p4(P4 / "basic.p4").json), moved + "\npacket 4 \n")
    assert any("port 4: 1 unexpected packets" in f for f in r.failures)


def test_bad_stf_names_the_line():
    sw = load(compile_p4(P4 / "basic.p4").json)
    with pytest.raises(StfError, match="line 1: table 'nope' is unknown"):
        run_stf(sw, "add nope x:1 a()")
    with pytest.raises(StfError, match="line 2: unknown STF command 'frobnicate'"):
        run_stf(sw, "# comment\nfrobnicate 1 2")


def test_srem_stf_command(tmp_path):
    ok = subprocess.run(
        [SREM, "stf", str(P4 / "basic.p4"), str(P4 / "basic.stf")], capture_output=True, text=True
    )
    assert ok.returncode == 0 and "passed" in ok.stdout
    bad = tmp_path / "bad.stf"
    bad.write_text((P4 / "basic.stf").read_text().replace("expect 3", "expect 7"))
    fail = subprocess.run([SREM, "stf", str(P4 / "basic.p4"), str(bad)], capture_output=True, text=True)
    assert fail.returncode == 1 and "FAIL" in fail.stdout


def assert_stf(tmp_path: Path, source: str, stf: str) -> None:
    """Compile `source` with srem's compiler and run the STF text on the switch."""
    src = tmp_path / "prog.p4"
    src.write_text(source)
    r = run_stf(load(compile_p4(src).json), stf)
    assert r.passed, r.failures


LOCAL_INITS = """
#include <core.p4>
#include <v1model.p4>
header h_t { bit<8> a; bit<8> b; bit<8> c; }
struct headers { h_t h; }
struct meta_t { bit<8> x; }
bit<8> touch(inout h_t x) { x.a = 99; return 1; }
parser P(packet_in pkt, out headers hdr, inout meta_t m, inout standard_metadata_t sm) {
    bit<8> seen = 8w5;
    state start { pkt.extract(hdr.h); hdr.h.c = seen; transition accept; }
}
control VC(inout headers hdr, inout meta_t m) { apply { } }
control Sub(inout headers hdr) {
    bit<8> k = 8w40;
    apply { hdr.h.b = hdr.h.b + k; k = k + 1; }
}
control I(inout headers hdr, inout meta_t m, inout standard_metadata_t sm) {
    bit<8> c = 8w12;
    bool never = false;
    Sub() sub;
    action bump(inout bit<8> v) { hdr.h.a = v; v = v + 1; }
    action guarded() { hdr.h.c = hdr.h.c + (never ? touch(hdr.h) : 8w0); }
    apply {
        sm.egress_spec = 2;
        guarded();
        bump(c);
        bump(c);
        sub.apply(hdr);
        sub.apply(hdr);
    }
}
control E(inout headers hdr, inout meta_t m, inout standard_metadata_t sm) { apply { } }
control CC(inout headers hdr, inout meta_t m) { apply { } }
control D(packet_out pkt, in headers hdr) { apply { pkt.emit(hdr.h); } }
V1Switch(P(), VC(), I(), E(), CC(), D()) main;
"""


def test_block_locals_are_initialised_on_every_entry(tmp_path):
    # c starts at 12 and the second bump sees 13; each apply of Sub starts k at 40 again
    # (b = 1 + 40 + 40); the parser's own local is set before its start state runs.
    # `guarded` must not call touch() (a would be 99): ?: evaluates one arm only.
    assert_stf(tmp_path, LOCAL_INITS, "packet 0 00 01 00\nexpect 2 0d 51 05 $\n")


def test_check_counter_can_fail_and_names_the_counter():
    sw = load(compile_p4(P4 / "legacy.p4").json)
    text = (P4 / "legacy.stf").read_text().replace("arrivals(6) == 1", "arrivals(6) > 1")
    r = run_stf(sw, text)
    assert r.failures == ["counter I.arrivals[6] packets: 1, expected > 1"]
    with pytest.raises(StfError, match="index 9 is out of range"):
        run_stf(load(compile_p4(P4 / "legacy.p4").json), "check_counter arrivals(9) == 0")


CALLS_IN_INDICES = """
#include <core.p4>
#include <v1model.p4>
header b_t { bit<8> v; }
header i_t { bit<8> idx; }
struct headers { i_t i; b_t[3] s; }
struct meta_t { bit<8> calls; }
parser P(packet_in pkt, out headers hdr, inout meta_t m, inout standard_metadata_t sm) {
    state start { pkt.extract(hdr.i); pkt.extract(hdr.s.next); pkt.extract(hdr.s.next);
                  pkt.extract(hdr.s.next); transition accept; }
}
control VC(inout headers hdr, inout meta_t m) { apply { } }
bit<8> pick(inout bit<8> counter, in bit<8> i) { counter = counter + 1; return i; }
bit<8> bump(inout bit<8> x) { x = x + 0x10; return 0; }
control I(inout headers hdr, inout meta_t m, inout standard_metadata_t sm) {
    apply {
        sm.egress_spec = 1;
        m.calls = 0;
        hdr.s[pick(m.calls, hdr.i.idx)].v = 0xee;                   // a call in the target's index
        bump(hdr.s[pick(m.calls, hdr.i.idx - 1)].v);               // and in an inout argument's
        hdr.i.idx = m.calls;                                        // each ran exactly once
    }
}
control E(inout headers hdr, inout meta_t m, inout standard_metadata_t sm) { apply { } }
control CC(inout headers hdr, inout meta_t m) { apply { } }
control D(packet_out pkt, in headers hdr) { apply { pkt.emit(hdr.i); pkt.emit(hdr.s); } }
V1Switch(P(), VC(), I(), E(), CC(), D()) main;
"""


def test_calls_in_lvalue_indices_run_once_before_the_assignment(tmp_path):
    assert_stf(tmp_path, CALLS_IN_INDICES, "packet 0 02 01 02 03\nexpect 1 02 01 12 ee $\n")
