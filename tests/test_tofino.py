"""The open Tofino compiler behind `srem p4c --compiler bf-p4c`: its verdict and what a
program uses of the pipeline, read from its own report. Skipped where bf-p4c is absent
(`eval "$(../shared/bfp4c/setup)"` installs it where the shared copy exists)."""

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from p4target import cli as p4target_cli
from p4target.compiler import tofino
from p4target.compiler.errors import P4Error

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(
    tofino.find() is None, reason="bf-p4c is not installed (../shared/bfp4c/setup)"
)


@pytest.mark.parametrize("target", ["tofino", "tofino2"])
def test_a_v1model_program_compiles_and_reports_its_pipeline_use(tmp_path, target):
    b = tofino.compile_tofino(ROOT / "tests/p4/basic.p4", tmp_path, target)
    assert (tmp_path / "pipe" / f"{target}.bin").stat().st_size > 0
    assert b.stages_available == {"tofino": 12, "tofino2": 20}[target]
    assert 1 <= b.stages <= b.stages_available and b.tables >= 1
    assert 0 < b.tcam <= b.tcam_available  # ipv4_lpm is ternary on Tofino
    assert 0 < b.sram <= b.sram_available
    assert set(b.phv) <= set(b.phv_available) and all(0 < n <= b.phv_available[w] for w, n in b.phv.items())


def test_a_refusal_is_the_compilers_own_message_without_its_boilerplate(tmp_path):
    bad = tmp_path / "bad.p4"
    bad.write_text(
        (ROOT / "tests/p4/basic.p4").read_text().replace("apply {", "apply { undefined_thing();", 1)
    )
    with pytest.raises(P4Error) as e:
        tofino.compile_tofino(bad, tmp_path / "out", "tofino")
    msg = str(e.value)
    assert "bf-p4c refused bad.p4 for tofino/v1model" in msg and "undefined_thing" in msg
    assert "submit a bug report" not in msg


def test_the_cli_prints_one_error_for_a_wrong_target_or_arch(tmp_path):
    app = typer.Typer()
    p4target_cli.register(app)
    app.command("noop")(lambda: None)
    r = CliRunner().invoke(
        app, ["p4c", str(ROOT / "tests/p4/basic.p4"), "--compiler", "bf-p4c", "--target", "tofino3"]
    )
    assert r.exit_code == 2 and "tofino3" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(
        app, ["p4c", str(ROOT / "tests/p4/basic.p4"), "--compiler", "bf-p4c", "--arch", "t2na"]
    )
    assert r.exit_code == 2 and "tofino takes v1model or tna" in r.output


# -- srem's fabric (p4src/fabric.p4) on both chips ------------------------------------------------
@pytest.fixture(scope="module")
def fabric(tmp_path_factory):
    """The fabric without its EM path on both chips, two compilers at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from controller.fabric import tofino as fab

    out = tmp_path_factory.mktemp("fabric")
    runs = [("tofino", "fabric -DFABRIC_NO_EM"), ("tofino2", "fabric -DFABRIC_NO_EM")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {r: pool.submit(fab.compile_one, *r, out / f"{r[0]}-{len(r[1])}") for r in runs}
        return {r: f.result() for r, f in futures.items()}


# What the fabric may use (p4src/README.md has the measured figures): a change that needs more
# than this is a design decision, not an accident.
BOUNDS = {
    "tofino": {"stages": 12, "sram": 120, "tcam": 90},
    "tofino2": {"stages": 14, "sram": 120, "tcam": 90},
}


@pytest.mark.parametrize("chip", ["tofino", "tofino2"])
def test_the_fabric_without_its_em_path_compiles_and_fits_its_bounds(fabric, chip):
    from controller.fabric.tofino import table_use

    a = fabric[(chip, "fabric -DFABRIC_NO_EM")]
    assert a.error is None, a.error
    b = a.build
    assert (b.out / "pipe" / f"{chip}.bin").stat().st_size > 0
    assert b.stages <= BOUNDS[chip]["stages"] <= b.stages_available
    assert 0 < b.sram <= BOUNDS[chip]["sram"] and 0 < b.tcam <= BOUNDS[chip]["tcam"]
    assert all(n <= 0.6 * b.phv_available[w] for w, n in b.phv.items())  # PHV left for the EM path
    use = table_use(b.out / "pipe")
    # The LM tables keep the sizes the controller writes up to (classifier and firewall: 1,024 on Tofino).
    sizes = {n: use[f"FabricIngress.{n}"].entries for n in ("nat.nat", "lb.lb_backend", "firewall.fw_acl")}
    assert sizes == {"nat.nat": 16384, "lb.lb_backend": 8192, "firewall.fw_acl": 1024}
    assert use["FabricIngress.nat.nat"].bytes_per_entry <= 40  # a 112-bit key, 96 bits of data
    assert use["FabricIngress.lb.slot.lb_slot"].tcam > 0  # the LB's constant slot table is TCAM


# -- the whole fabric, its EM path included ------------------------------------------------------
# How deep its tables depend on each other (bf-p4c's table dependency graph). Tofino 2: 17 of
# its 20 stages (the EM path in passes of its own, p4src/README.md; 26 before). A whole compile
# is not tested: PHV allocation and every gateway condition pass, then table placement gives up
# after about 12 min here (the mailbox registers' stages), so the verdict is still a refusal;
# the depth, a minute's work, is what a change can break here.
WHOLE_TOFINO2_DEPTH = (15, 20)


def test_the_whole_fabrics_dependency_chain_fits_tofino2s_stages(tmp_path):
    from controller.fabric.tofino import compile_one

    a = compile_one("tofino2", "fabric", tmp_path)  # the report's measurement, no whole compile
    lo, hi = WHOLE_TOFINO2_DEPTH
    assert a.build is None and a.stages_needed is not None, a.error
    assert lo <= a.stages_needed <= hi, (
        f"the whole fabric needs {a.stages_needed} dependent stages (README: 17)"
    )
    assert f"fits ({a.stages_needed} of 20 stages)" in a.error and "--full" in a.error


def test_the_whole_fabric_stops_at_tofinos_egress_parser_depth(tmp_path):
    """Tofino (1): the egress parser reads at most 160 bytes, and v1model's one parser reads the
    160-byte bucket of a READ response in both pipes (p4src/README.md, what is left)."""
    with pytest.raises(P4Error) as e:
        tofino.dependency_stages(ROOT / "p4src/fabric.p4", tmp_path, "tofino")
    assert "longest path through parser" in str(e.value) and "maximum parse depth (160B)" in str(e.value)


def test_an_unfinished_compile_says_where_phv_allocation_was(tmp_path):
    """What a timed-out whole compile reports, from bf-p4c's PHV allocation log."""
    assert tofino.phv_progress(tmp_path) == ""
    (tmp_path / "phv_allocation_0.log").write_text(
        "allocation(default_alloc_config): Try allocation for the 1th time\n"
        "allocation(default_alloc_config): Failed: After 1 tries, failure code 2\n"
        "allocation(less_fragment_alloc_config): Try allocation for the 1th time\n"
    )
    assert tofino.phv_progress(tmp_path) == (
        "PHV allocation failed default_alloc_config, still searching less_fragment_alloc_config"
    )
