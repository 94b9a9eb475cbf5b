"""Differences the harness found between srem and real BMv2, each pinned without BMv2
(these run everywhere; tests/test_differential.py compares against the real switch)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from p4target.compiler.driver import compile_p4
from p4target.compiler.loader_rules import check
from p4target.stf import run_stf
from p4target.switch import load

HERE = Path(__file__).resolve().parent


def test_calculation_constants_carry_every_byte_of_their_bitwidth():
    """BMv2 copies `bitwidth` bits from a constant's bytes: '0x0' as a bit<16> made it read
    past the constant, and every UDP packet the fabric's NAT or LB rewrote left real BMv2
    with a wrong checksum (packets lost downstream)."""
    j = compile_p4(HERE.parent / "p4src" / "fabric.p4").json
    consts = [x for c in j["calculations"] for x in c["input"] if x["type"] == "hexstr"]
    assert consts and all(len(x["value"]) - 2 == 2 * ((x["bitwidth"] + 7) // 8) for x in consts)
    assert check(j) == []
    bad = copy.deepcopy(j)
    next(x for c in bad["calculations"] for x in c["input"] if x["type"] == "hexstr")["value"] = "0x0"
    assert any("fewer bytes than its bitwidth" in p for p in check(bad))


def test_a_local_header_is_a_header_not_metadata():
    """BMv2 keeps no validity for metadata: a local header initialised from a list compared
    unequal to the same header (compat.p4 left real BMv2 with flags 0x03, not 0x43)."""
    j = compile_p4(HERE / "p4" / "compat.p4").json
    blank = next(h for h in j["headers"] if h["name"].endswith("blank"))
    assert blank["metadata"] is False
    assert run_stf(load(j), (HERE / "p4" / "compat.stf").read_text()).passed


def test_p4c_shaped_union_operands_and_union_stack_keys_load_and_run():
    """p4c writes `hdr.us[1].isValid()` as valid_union of {type: header, value: 'us[1]'} and
    `hdr.us.last.p.v` as the field ['us', 'p.v']; BMv2 loads both, srem refused them."""
    j = compile_p4(HERE / "p4" / "union_stack.p4").json
    text = json.dumps(j)
    p4c_like = json.loads(text.replace('{"type": "header_union", "value": "us[1]"}',
                                       '{"type": "header", "value": "us[1]"}'))  # fmt: skip
    assert json.dumps(p4c_like) != text
    changed = 0
    for prs in p4c_like["parsers"]:
        for s in prs["parse_states"]:
            for k in s.get("transition_key", []):
                if k["type"] == "union_stack_field":
                    stack, member, field = k["value"]
                    k.update(type="field", value=[stack, f"{member}.{field}"])
                    changed += 1
    assert changed
    assert run_stf(load(p4c_like), (HERE / "p4" / "union_stack.stf").read_text()).passed


def test_srem_p4c_runs_the_real_p4c_with_its_own_include_folder(tmp_path, monkeypatch):
    """The shared p4c build searches no include folder: `srem p4c --compiler p4c-bm2-ss`
    failed on `#include <core.p4>` until the driver gave it the p4include beside it."""
    import os

    import pytest
    import typer
    from typer.testing import CliRunner

    from p4target.cli import register
    from tests.differential import real_tool

    exe = real_tool("p4c-bm2-ss")
    if exe is None:
        pytest.skip("p4c-bm2-ss is not installed (../shared/p4real/setup)")
    monkeypatch.setenv("PATH", f"{Path(exe).parent}:{os.environ['PATH']}")
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # two commands: typer keeps the subcommand names
    r = CliRunner().invoke(app, ["p4c", str(HERE / "p4" / "basic.p4"), "-o", str(tmp_path), "--compiler",
                                 "p4c-bm2-ss"])  # fmt: skip
    assert r.exit_code == 0, r.output
    j = json.loads((tmp_path / "basic.json").read_text())
    assert check(j) == [] and run_stf(load(j), (HERE / "p4" / "basic.stf").read_text()).passed
