"""The orchestration loop on real packets: one NAT instance overloaded by eight flows at
600 packets/s scales out and moves half its flows within a stated number of periods; when
the traffic drops to 20 packets/s one of the two instances is drained and stopped; nothing
is lost or reordered within a flow, and every flow keeps its mapping."""

import io
import json

import pytest

from controller.orchestration.analyzer import Analyzer
from controller.orchestration.config import parse
from controller.orchestration.executors import Executor, Pool, Slot
from controller.orchestration.loop import Loop
from controller.orchestration.monitor import Monitor
from tests.orch_fabric import NAT, POOL, SPI, SRV, Traffic, one_switch

CONFIG = {
    "period_s": 0.5,
    "thresholds": {
        "overload": {"pps": 400, "cpu_pct": None, "queue": None},
        "underload": {"pps": 30},
        "imbalance": {"ratio": None},
        "hysteresis": {"raise_after": 2, "clear_after": 2, "margin": 0.1},
    },
    "elasticity": {"min_instances": 1, "max_instances": 2, "cooldown_periods": 2},
}
WITHIN = 6  # periods from the overload alert to an instance under its threshold


@pytest.fixture(scope="module")
def fabric(tmp_path_factory):
    with one_switch(tmp_path_factory.mktemp("loop"), hosts=()) as f:
        yield f


def test_overload_scales_out_and_moves_then_idle_drains_and_stops_with_nothing_lost(fabric):
    ns, tmp, _c, _inst, steering = fabric
    enter = ("ip", "netns", "exec", ns)
    slots = {n: Slot(n, enter, f"srv{n}", SRV[n], SPI[n], {**NAT, "ports": POOL[n]}, workdir=str(tmp))
             for n in ("a", "b")}  # fmt: skip
    pool = Pool(slots)
    cfg = parse(CONFIG)
    log = io.StringIO()
    loop = Loop(cfg, Monitor([pool.start("a")]), Analyzer(cfg.thresholds), Executor(pool, steering), log=log)
    try:
        with Traffic(ns, list(range(3000, 3008)), rate=600) as tr:
            loop.run(periods=12)
            tr.rate = 20
            loop.run(periods=22)
        running = pool.running()
    finally:
        pool.close()
    recs = [json.loads(x) for x in log.getvalue().splitlines()]
    acts = [r for r in recs if r["type"] == "action"]
    alerts = [r for r in recs if r["type"] == "alert"]
    assert all("error" not in a for a in acts), acts
    over = next(a for a in alerts if a["kind"] == "overload" and a["state"] == "raised")
    kinds = [(a["decision"]["kind"], a["decision"]["instance"], a["decision"]["to"]) for a in acts]
    assert kinds[:2] == [("scale-out", "b", "b"), ("move", "a", "b")], kinds
    assert acts[1]["outcome"]["move"]["flows"] == 4
    under = [r for r in loop.load if over["period"] < r["period"] <= over["period"] + WITHIN and r.get("b")]
    assert any(r["a"] < 400 and r["b"] < 400 for r in under), loop.load
    assert kinds[2][0] == "scale-in" and len(kinds) == 3, kinds
    assert running == [kinds[2][2]]  # one instance left, the other stopped
    # Nothing lost, nothing reordered within a flow, one mapping per flow throughout.
    assert sorted(g[2] for g in tr.got) == list(range(tr.sent)), (tr.sent, len(tr.got))
    for i in range(8):
        mine = [g for g in tr.got if g[3] == i]
        assert [g[2] for g in mine] == sorted(g[2] for g in mine)
        assert len({g[1] for g in mine}) == 1, (i, {g[1] for g in mine})
    s = loop.summary()
    assert s["moves"] == 2 and s["moves_rolled_back"] == 0 and s["hold_overflow"] == 0
    print(json.dumps({k: v for k, v in s.items() if k != "load"}))


def test_srem_orch_run_writes_the_log_the_summary_and_the_timeline(fabric):
    """`srem orch run` over the same fabric (it takes the switch over as primary): two light
    flows, four periods, no alert expected; the three files are written."""
    import typer
    import yaml
    from typer.testing import CliRunner

    from controller.orchestration.cli import register

    ns, tmp, _c, _inst, _steering = fabric
    slots = {n: {"netns": ns, "iface": f"srv{n}", "mac": SRV[n], "spi": SPI[n], "workdir": str(tmp / "run"),
                 "nf": {**NAT, "ports": POOL[n]}} for n in ("a", "b")}  # fmt: skip
    (tmp / "run").mkdir()
    setup = {
        "switch": f"unix:{tmp}/p4rt.sock",
        "device_id": 0,
        "election_id": 2,
        "slots": slots,
        "start": ["a"],
    }
    (tmp / "setup.yaml").write_text(yaml.safe_dump(setup))
    (tmp / "orch.yaml").write_text(yaml.safe_dump({"period_s": 0.5}))
    app = typer.Typer()
    register(app)
    out = tmp / "out"
    with Traffic(ns, [3100, 3101], rate=100):
        r = CliRunner().invoke(app, ["orch", "run", "--setup", str(tmp / "setup.yaml"), "--config",
                                     str(tmp / "orch.yaml"), "--periods", "4", "--out", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "results.json").read_text())["orchestration"]
    assert summary["periods"] == 4 and summary["moves"] == 0, summary
    assert any(row.get("a", 0) > 50 for row in summary["load"]), summary["load"]  # it saw the 100 packets/s
    assert (out / "timeline.png").stat().st_size > 1000 and (out / "orchestration.jsonl").exists()
