"""The orchestrated service's YAML (service:, traffic:), its paths on the fabric, the
steering kept in the controller's desired state, and `srem run --emulate --orchestration`
refusing bad input in one line (no emulation started)."""

import ipaddress

import pytest
import yaml

from controller.orchestration.config import ConfigError
from controller.orchestration.service import load, parse
from controller.orchestration.steering import ClassifierSteering
from controller.orchestration.wiring import service_entities
from controller.program.pipeline import fabric_pipeline
from nfs.flows import Flow
from placement.model import scenario as sc
from placement.model.workload import build_topology
from topologies.addressing import plan

GOOD = {
    "service": {
        "nf": {
            "id": 200,
            "kind": "snat",
            "inside": "10.1.0.0/16",
            "public": "10.250.0.1",
            "ports": [40000, 40999],
        },
        "src": "srv_edge0_0_0",
        "dst": "srv_edge1_1_0",
        "slots": ["srv_edge0_1_0", "srv_edge1_0_0"],
    },
    "traffic": {
        "flows": 4,
        "pps": 10,
        "surges": [{"steps": [1, 3], "pps": 50}, {"steps": [3], "flows": [0], "pps": 70}],
    },
}


def test_a_service_splits_the_nat_ports_and_gives_each_step_its_rates():
    svc = parse(GOOD)
    assert svc.slot_nf("srv_edge0_1_0")["ports"] == [40000, 40499]
    assert svc.slot_nf("srv_edge1_0_0")["ports"] == [40500, 40999]
    assert svc.spi("srv_edge1_0_0") == 4001
    assert svc.traffic.rates(0) == [10] * 4
    assert svc.traffic.rates(1) == [50] * 4
    assert svc.traffic.rates(3) == [70, 50, 50, 50]  # the later surge wins


@pytest.mark.parametrize(
    "change, says",
    [
        (lambda d: d.pop("service"), "service: missing"),
        (lambda d: d["service"].pop("slots"), "service.slots: missing"),
        (lambda d: d["service"].update(slots=["srv_edge0_1_0", "srv_edge0_1_0"]), "named twice"),
        (lambda d: d["service"]["nf"].update(kind="nat"), "service.nf: a stateful NF"),
        (lambda d: d["service"]["nf"].update(inside="10.1.0.0/33"), "inside"),
        (lambda d: d["service"].update(start=3), "service.start: must be an integer in [1, 2]"),
        (lambda d: d["service"].update(colour="red"), "unknown field 'colour'"),
        (lambda d: d["traffic"].update(flows=0), "traffic.flows"),
        (
            lambda d: d["traffic"]["surges"].append({"steps": [2]}),
            "traffic.surges[2]: a mapping of steps, pps",
        ),
        (
            lambda d: d["traffic"]["surges"].append({"steps": [2], "pps": 5, "flows": [4]}),
            "surges[2].flows[0]",
        ),
    ],
)
def test_bad_service_yaml_is_one_line_naming_the_field(change, says):
    d = yaml.safe_load(yaml.safe_dump(GOOD))
    change(d)
    with pytest.raises(ConfigError, match=says.replace("[", r"\[").replace("]", r"\]")) as e:
        parse(d)
    assert "\n" not in str(e.value)


def test_the_file_loader_names_the_file_and_checks_the_orchestration_block(tmp_path):
    f = tmp_path / "o.yaml"
    f.write_text(yaml.safe_dump({**GOOD, "orchestration": {"period_s": 0.5, "guarantee": "maybe"}}))
    with pytest.raises(ConfigError, match=f"{f}: orchestration.guarantee"):
        load(f)
    f.write_text(yaml.safe_dump({**GOOD, "orchestration": {"period_s": 0.5}, "extra": 1}))
    with pytest.raises(ConfigError, match="unknown field 'extra'"):
        load(f)
    f.write_text(yaml.safe_dump({**GOOD, "orchestration": {"period_s": 0.5}}))
    cfg, svc = load(f)
    assert cfg.period_s == 0.5 and svc.slots == ("srv_edge0_1_0", "srv_edge1_0_0")


def test_the_service_paths_reach_every_slot_and_the_steering_is_part_of_the_desired_state():
    fab = plan(build_topology(sc.default()))
    _, index = fabric_pipeline("srem")
    svc = parse(GOOD)
    ents = service_entities(svc, fab, index)
    sff = index.table("FabricIngress.sff.sff").preamble.id
    cls = index.table("FabricIngress.classifier.classifier").preamble.id
    hops = {}
    for sw, es in ents.items():
        for e in es:
            t = e.table_entry
            if t.table_id == sff:
                spi = int.from_bytes(t.match[0].exact.value, "big")
                hops.setdefault(spi, set()).add(sw)
    # Each slot's path starts at the sender's edge and reaches the slot's and the receiver's edges.
    assert hops[4000] >= {"edge0_0", "edge0_1", "edge1_1"}, hops
    assert hops[4001] >= {"edge0_0", "edge1_0", "edge1_1"}, hops
    classifiers = [(sw, e) for sw, es in ents.items() for e in es if e.table_entry.table_id == cls]
    assert [sw for sw, _ in classifiers] == ["edge0_0"]  # one wildcard entry at the ingress edge
    with pytest.raises(ConfigError, match=r"service\.slots: 'srv_x' is not a server"):
        service_entities(parse({**GOOD, "service": {**GOOD["service"], "slots": ["srv_x"]}}), fab, index)

    class Conn:  # the steering's own bookkeeping is what the desired state reads
        def index(self):
            return index

    from controller.orchestration.wiring import Orchestration

    st = ClassifierSteering(Conn())  # type: ignore[arg-type]
    f = Flow(int(ipaddress.IPv4Address("10.1.0.1")), int(ipaddress.IPv4Address("10.1.3.1")), 17, 20000, 9500)
    st.installed[f] = 4001
    o = Orchestration(svc, None, fab, index, None, st, ents)  # type: ignore[arg-type]
    desired = o.entities()
    assert len(desired["edge0_0"]) == len(ents["edge0_0"]) + 1
    assert desired["edge0_0"][-1].table_entry.priority == 1000


def test_srem_run_emulate_refuses_a_bad_orchestration_yaml_in_one_line(tmp_path):
    import subprocess
    import sys

    from emulation.mininet import missing

    if missing():
        pytest.skip(missing())
    f = tmp_path / "o.yaml"
    f.write_text(yaml.safe_dump({**GOOD, "service": {**GOOD["service"], "dst": "srv_nowhere"}}))
    p = subprocess.run(
        [sys.executable, "-c", "from srem.cli import main; main()", "run", "--emulate", "--orchestration", str(f),
         "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 2, p.stderr
    assert "service.dst: 'srv_nowhere' is not a server of the fabric" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    assert not (tmp_path / "o" / "emulation").exists()  # nothing started


def test_lost_packets_are_charged_to_what_was_going_on_when_they_were_sent():
    from emulation.orchday import LEAD_S, attribute
    from emulation.traffic import FlowStats

    f = FlowStats(1)
    for k in (0, 1, 3, 5):
        f.add(k, 1.0, "10.250.0.1:40000")
    s = f.summary(sent=7)
    assert s["missing"] == [2, 4] and s["lost"] == 3 and s["sources"] == ["10.250.0.1:40000"]
    # Sent inside a move of that flow's window (or LEAD_S before it), the boundary's, or neither.
    moves = [[10.5, 11.0, [20000]], [10.6, 10.7, [20001]]]
    lost = [(10.0, 0), (10.6 - LEAD_S, 1), (20.0, 0), (30.5, 1), (10.8, 2)]
    got = attribute(lost, (29.0, 31.0), moves, 20000)
    assert got == {"during_moves": 2, "during_boundary": 1, "elsewhere": 2}  # flow 2 was not moved


def test_srem_run_refuses_orchestration_without_emulate():
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", "from srem.cli import main; main()", "run", "--orchestration", "o.yaml"],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert p.returncode == 2 and "add --emulate" in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_a_risk_hook_is_named_module_function_and_refused_in_one_line(tmp_path):
    import subprocess
    import sys

    from controller.orchestration.hooks import load_hook
    from topologies import InputError

    assert load_hook("statistics:fmean")([1, 3]) == 2
    for spec, word in [("nomodule_xyz:score", "cannot import nomodule_xyz"), ("statistics:nothing", "has no nothing"),
                       ("score", "is not MODULE:FUNCTION"), ("math:pi", "is not a function")]:  # fmt: skip
        with pytest.raises(InputError, match=word):
            load_hook(spec)
    srem = [sys.executable, "-c", "from srem.cli import main; main()", "run"]
    f = tmp_path / "o.yaml"
    f.write_text(yaml.safe_dump(GOOD))
    for args, word in [
        (
            ["--emulate", "--orchestration", str(f), "--risk", "nomodule_xyz:score"],
            "cannot import nomodule_xyz",
        ),
        (["--emulate", "--risk", "prediction.hook:psutil"], "add --orchestration"),
        (["--risk", "prediction.hook:psutil"], "add --emulate"),
    ]:
        p = subprocess.run(
            [*srem, *args, "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120
        )
        assert p.returncode == 2 and word in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
        assert not (tmp_path / "o").exists()  # nothing started
    ctl = [
        sys.executable,
        "-c",
        "from srem.cli import main; main()",
        "control",
        "--fabric",
        str(tmp_path / "none.json"),
    ]
    for args, word in [(["--risk", "prediction.hook:psutil"], "add --orchestration"),
                       (["--orchestration", str(f), "--risk", "score"], "is not MODULE:FUNCTION")]:  # fmt: skip
        p = subprocess.run([*ctl, *args], capture_output=True, text=True, timeout=120)
        assert p.returncode == 2 and word in p.stderr, p.stderr
