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


@pytest.mark.parametrize("name", ["basic", "replication", "compat", "functions", "unions"])
def test_stf_files_pass(name):
    r = run_stf(load(compile_p4(P4 / f"{name}.p4").json), (P4 / f"{name}.stf").read_text())
    assert r.passed, r.failures
    assert r.packets_in >= 2


def test_a_wrong_expectation_fails_with_a_diff():
    sw = load(compile_p4(P4 / "basic.p4").json)
    text = (P4 / "basic.stf").read_text().replace("expect 4 000000000004", "expect 4 0000000000ff")
    r = run_stf(sw, text)
    assert not r.passed and "port 4, packet 0: expected 0000000000ff" in r.failures[0]
    r = run_stf(load(compile_p4(P4 / "basic.p4").json), text.replace("expect 4", "expect 5"))
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
