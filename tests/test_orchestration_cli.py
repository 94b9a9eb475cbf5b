"""`srem orch` through typer's CliRunner: state commands against a live NF host's control
socket, and every mistake as one line with exit status 2."""

import json

import pytest
import typer
from typer.testing import CliRunner

from controller.orchestration.cli import register
from nfs.control import ControlServer
from nfs.software import SoftwareHost
from tests.test_orchestration_state import NAT, frame

app = typer.Typer()
register(app)
run = CliRunner().invoke


@pytest.fixture
def sock(tmp_path):
    h = SoftwareHost()
    h.load({"nfs": [NAT], "hops": [[5, 255, 7]]})
    h.process(frame("10.0.1.1", "10.0.2.2", 1000, 80))
    h.process(frame("10.0.1.2", "10.0.2.2", 1000, 80))
    srv = ControlServer(h, tmp_path / "c.sock").start()
    yield str(tmp_path / "c.sock"), h
    srv.close()


def test_get_put_delete_stats(sock, tmp_path):
    path, host = sock
    r = run(app, ["orch", "get", "--control", path, "--nf", "7", "--filter", "{src: 10.0.1.1}"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert got["kind"] == "snat" and [x["nat"]["sport"] for x in got["records"]] == [40000]
    r = run(app, ["orch", "delete", "--control", path, "--nf", "7", "--filter", "{}"])
    assert r.exit_code == 0 and "deleted 2 flows" in r.output
    (tmp_path / "s.json").write_text(json.dumps(got))
    r = run(app, ["orch", "put", "--control", path, "--nf", "7", "--records", str(tmp_path / "s.json")])
    assert r.exit_code == 0 and "put 1 flows" in r.output and host.nfs[7].flows() == 1
    r = run(app, ["orch", "stats", "--control", path])
    assert r.exit_code == 0 and "snat" in r.output


@pytest.mark.parametrize(
    "args, word",
    [
        (["get", "--nf", "7", "--filter", "{src: 10.0.1.300}"], "--filter.src"),
        (["get", "--nf", "7", "--filter", "{src: ["], "not YAML"),
        (["get", "--nf", "9"], "no NF instance 9"),
        (["delete", "--nf", "7"], "Missing option"),
        (["put", "--nf", "7", "--records", "/nonexistent.json"], "No such file"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(sock, args, word):
    path, host = sock
    r = run(app, ["orch", args[0], "--control", path, *args[1:]])
    assert r.exit_code == 2 and word in r.output, r.output
    assert host.nfs[7].flows() == 2


def test_unreachable_host_bad_move_and_bad_setup_exit_2(tmp_path):
    r = run(app, ["orch", "stats", "--control", str(tmp_path / "none.sock")])
    assert r.exit_code == 2 and "control socket" in r.output
    common = ["orch", "move", "--switch", "unix:/none", "--to", "b=/b.sock:7:6"]
    r = run(app, [*common, "--from", "a=/a.sock:7:5", "--guarantee", "best"])
    assert r.exit_code == 2 and "--guarantee: must be one of" in r.output
    r = run(app, [*common, "--from", "a=/a.sock:seven:5"])
    assert r.exit_code == 2 and "is not NAME=SOCKET:NF:SPI" in r.output
    (tmp_path / "setup.yaml").write_text(
        "switch: unix:/x\nslots: {a: {iface: srva, mac: m, spi: 5, nf: {id: 7}}}\n"
    )
    r = run(app, ["orch", "run", "--setup", str(tmp_path / "setup.yaml")])
    assert r.exit_code == 2 and "slots.a: needs netns" in r.output, r.output
    (tmp_path / "o.yaml").write_text("thresholds: {overload: {pps: -1}}\n")
    r = run(app, ["orch", "check", str(tmp_path / "o.yaml")])
    assert r.exit_code == 2 and "overload.pps: must be a number" in r.output, r.output
    (tmp_path / "o.yaml").write_text("period_s: 2\n")
    r = run(app, ["orch", "check", str(tmp_path / "o.yaml")])
    assert r.exit_code == 0 and '"period_s": 2.0' in r.output


def test_elasticity_errors_name_the_slot_and_leave_nothing_running(tmp_path):
    from controller.orchestration.executors import ExecError, Pool, Slot

    nf = {"id": 7, "kind": "snat", "inside": "10.0.1.0/24", "public": "198.51.100.1", "ports": [1, 9]}
    pool = Pool({"x": Slot("x", (), "nosuchif0", "02:00:00:00:00:01", 5, nf, workdir=str(tmp_path))})
    with pytest.raises(ExecError, match="no such slot 'y'"):
        pool.start("y")
    with pytest.raises(ExecError, match=r"slot x did not come up: .*no such network interface"):
        pool.start("x")
    assert pool.running() == [] and pool.free() == ["x"]
    pool.adopt("x")
    with pytest.raises(ExecError, match="already runs an instance"):
        pool.start("x")


def test_the_failure_risk_hook_is_named_module_function(tmp_path):
    from controller.orchestration.cli import _risk_hook

    assert _risk_hook("statistics:fmean")([1, 3]) == 2
    (tmp_path / "setup.yaml").write_text("switch: unix:/x\nslots: {}\n")
    for spec, word in [("nomodule_xyz:score", "cannot import nomodule_xyz"), ("statistics:nothing", "has no nothing"),
                       ("score", "is not MODULE:FUNCTION")]:  # fmt: skip
        for opt in ("--risk", "--planner"):
            r = run(app, ["orch", "run", "--setup", str(tmp_path / "setup.yaml"), opt, spec])
            assert r.exit_code == 2 and f"{opt}: " in r.output and word in r.output, r.output
