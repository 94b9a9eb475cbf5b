"""The placement compiler: a placement and its chains become fabric.p4 switch state.

Pure checks of what is built and refused, then a k=2 fat-tree on Mininet running
p4src/fabric.p4 where a chain's firewall moves from one switch's LM to another's under
traffic without losing a packet (make-before-break through `Fabric.reconcile`)."""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from p4.v1 import p4runtime_pb2 as R

from controller.fabric.switches import Fabric, Pipeline
from controller.program.chains import Chain, Hop, PlacementError, compile_chains
from controller.program.underlay import fabric_entities
from emulation.mininet import Emulation, missing
from emulation.traffic import start_receiver
from nfs.entries import parse_nfs
from p4rt.schema import P4InfoIndex
from p4target.compiler.driver import compile_p4
from topologies import kary_fattree
from topologies.addressing import plan

ROOT = Path(__file__).resolve().parent.parent
NFS = parse_nfs(
    [
        {"id": 1, "kind": "firewall", "default": "deny",
         "rules": [{"priority": 10, "proto": 17, "dport": 9000, "action": "permit"}]},
        {"id": 2, "kind": "ratelimit", "cir": 100000, "cburst": 1000, "pir": 100000, "pburst": 1000},
        {"id": 3, "kind": "nat", "entries": []},
    ]
)  # fmt: skip


@pytest.fixture(scope="module")
def fabric_p4():
    return compile_p4(ROOT / "p4src" / "fabric.p4")


@pytest.fixture(scope="module")
def k2():
    return plan(kary_fattree(2))  # edge0_0 - agg0_0 - core0 - agg1_0 - edge1_0, one server each


def chain(p, nfs=(1, 2)) -> Chain:
    a, b = sorted(p.servers)
    return Chain(spi=7, src=a, dst=b, sport=10007, dport=9000, nfs=nfs)


def sff_actions(state, index, switch: str) -> dict[int, str]:
    sff = index.table("FabricIngress.sff.sff").preamble.id
    names = {a.preamble.id: a.preamble.alias for a in index.p4info.actions}
    out = {}
    for e in state.switches[switch]:
        t = e.table_entry
        if e.WhichOneof("entity") == "table_entry" and t.table_id == sff:
            si = int.from_bytes(next(m.exact.value for m in t.match if m.field_id == 2), "big")
            out[si] = names[t.action.action.action_id]
    return out


def test_a_chain_becomes_classification_hops_and_nf_entries(fabric_p4, k2):
    index = P4InfoIndex(fabric_p4.p4info)
    placement = {1: Hop(1, "lm", "core0"), 2: Hop(2, "lm", "agg1_0")}
    st = compile_chains(k2, index, [chain(k2)], placement, NFS)
    assert sff_actions(st, index, "edge0_0") == {255: "sff_forward"}
    assert sff_actions(st, index, "agg0_0") == {255: "sff_forward"}
    assert sff_actions(st, index, "core0") == {255: "sff_local", 254: "sff_forward"}
    assert sff_actions(st, index, "agg1_0") == {254: "sff_local", 253: "sff_forward"}
    assert sff_actions(st, index, "edge1_0") == {253: "sff_end"}
    kinds = [e.WhichOneof("entity") for e in st.switches["agg1_0"]]
    assert kinds.count("meter_entry") == 1  # the rate limiter's meter cell
    fw = index.table("FabricIngress.firewall.fw_acl").preamble.id
    assert sum(e.table_entry.table_id == fw for e in st.switches["core0"]) == 1
    assert not st.em and not st.software


def test_em_and_server_hops_are_listed_for_the_emac_and_the_servers(fabric_p4, k2):
    index = P4InfoIndex(fabric_p4.p4info)
    b = sorted(k2.servers)[1]
    placement = {1: Hop(1, "server", b), 3: Hop(3, "em", "core0")}
    st = compile_chains(k2, index, [chain(k2, (3, 1))], placement, NFS)
    assert st.em == {("core0", 3)} and st.software == {b: {1}}
    assert sff_actions(st, index, "edge1_0") == {254: "sff_forward", 253: "sff_end"}


@pytest.mark.parametrize(
    "placement, chains, message",
    [
        ({1: Hop(1, "lm", "nowhere")}, None, "not a switch"),
        ({1: Hop(1, "server", "core0")}, None, "not a server"),
        ({1: Hop(1, "disk", "core0")}, None, "host kind"),
        ({1: Hop(1, "em", "core0")}, None, "cannot live in EM"),
        ({9: Hop(9, "lm", "core0")}, None, "no such NF"),
        ({1: Hop(1, "lm", "core0")}, "unplaced", "not placed"),
        ({1: Hop(1, "lm", "core0")}, "twice", "share an SPI"),
    ],
)
def test_bad_placements_are_refused_before_anything_is_built(fabric_p4, k2, placement, chains, message):
    index = P4InfoIndex(fabric_p4.p4info)
    cs = [chain(k2, (1,))]
    if chains == "unplaced":
        cs = [chain(k2, (1, 2))]
    elif chains == "twice":
        cs = [chain(k2, (1,)), chain(k2, (1,))]
    with pytest.raises(PlacementError, match=message):
        compile_chains(k2, index, cs, placement, NFS)


def nf_count(fabric, switch: str) -> int:
    """Packets the firewall (NF 1) counted on `switch`."""
    conn = fabric.connection(switch)
    ce = R.CounterEntry(counter_id=conn.p4info.counter("FabricIngress.nf_packets").preamble.id)
    ce.index.index = 1
    (e,) = conn.read([R.Entity(counter_entry=ce)])
    return e.counter_entry.data.packet_count


@pytest.mark.skipif(missing() is not None, reason=str(missing()))
def test_moving_an_nf_under_traffic_loses_nothing(fabric_p4, k2, tmp_path):
    index = P4InfoIndex(fabric_p4.p4info)
    pipeline = Pipeline(fabric_p4.p4info, json.dumps(fabric_p4.json).encode())
    c = chain(k2, (1,))
    underlay = {n: fabric_entities(k2, index, n) for n in k2.switches}

    def desired(switch: str) -> dict:
        st = compile_chains(k2, index, [c], {1: Hop(1, "lm", switch)}, NFS)
        return {n: underlay[n] + st.switches[n] for n in k2.switches}

    cmd = [sys.executable, "-m", "emulation.traffic"]
    with Emulation(k2, log_dir=tmp_path) as emu:
        fabric = Fabric({n: (emu.grpc[n], sw.device_id) for n, sw in k2.switches.items()}, pipeline)
        try:
            fabric.reconcile(desired("core0"))
            ip = k2.servers[c.dst].ip
            recv = start_receiver(emu, c.dst, 9000, 6)
            send = emu.host_popen(c.src, *cmd, "send", "--flow", f"7:{ip}:9000:{c.sport}:150",
                                  "--seconds", "3", stdout=subprocess.PIPE, text=True)  # fmt: skip
            # Move once core0 has counted the flow (a sender slow to start on a loaded machine
            # would otherwise send everything after the move).
            deadline = time.monotonic() + 15
            while nf_count(fabric, "core0") == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            report = fabric.reconcile(desired("agg1_0"))  # the firewall moves while packets flow
            assert report.changes["agg1_0"][0] > 0 and report.changes["core0"][2] > 0
            sent = json.loads(send.communicate(timeout=30)[0])["sent"]["7"]
            got = json.loads(recv.communicate(timeout=30)[0])["flows"]["7"]
            assert sent == 450 and got["received"] == sent and got["lost"] == 0
            # The packets went through the firewall: first at core0, then at agg1_0.
            counts = [nf_count(fabric, sw) for sw in ("core0", "agg1_0")]
            assert all(n > 0 for n in counts) and sum(counts) == sent, counts
        finally:
            fabric.close()


def test_a_model_placement_of_the_paper_day_compiles_for_every_chain(fabric_p4):
    from controller.program.dayplan import NF_KINDS, placement_state
    from controller.program.flows import plan_replay
    from placement.model import scenario as sc
    from placement.model.domain import HostKind
    from placement.model.workload import build_problem, build_topology

    s = sc.default()
    problem, fab = build_problem(s), plan(build_topology(s))
    day = problem.day("test", 0)
    flows = plan_replay(problem.sub.names, day.src, day.dst, day.rate, list(day.hours), fab).flows
    index = P4InfoIndex(fabric_p4.p4info)
    # Every instance in the LM of the first switch, then in its EM: both compile.
    first_lm = int(np.flatnonzero(problem.sub.host_kind == HostKind.LM)[0])
    for host in (first_lm, first_lm + problem.sub.n_switches):
        placement = np.full(problem.cat.n_instances, host)
        st = placement_state(problem.sub, problem.cat.inst_type, day, flows, fab, index, placement)
        ends = {}
        for name, entities in st.switches.items():
            acts = sff_actions_all(entities, index)
            for spi, act in acts:
                if act == "sff_end":
                    ends[spi] = name
        assert sorted(ends) == list(range(1, day.n_chains + 1))
        assert all(ends[f.chain + 1] == fab.servers[f.dst_server].edge for f in flows)
        exact = [i for i, t in enumerate(problem.cat.inst_type) if NF_KINDS[t % 4] in ("nat", "lb")]
        if host != first_lm:  # in EM: the NATs and LBs go to the EMAC, the rest stand in from LM
            assert {nf for _, nf in st.em} == {i + 1 for i in exact if any(i in a for a in day.assign)}
            assert st.em_in_lm and all(nf - 1 not in exact for _, nf in st.em_in_lm)


def sff_actions_all(entities, index) -> list[tuple[int, str]]:
    sff = index.table("FabricIngress.sff.sff").preamble.id
    names = {a.preamble.id: a.preamble.alias for a in index.p4info.actions}
    out = []
    for e in entities:
        t = e.table_entry
        if e.WhichOneof("entity") == "table_entry" and t.table_id == sff:
            spi = int.from_bytes(next(m.exact.value for m in t.match if m.field_id == 1), "big")
            out.append((spi, names[t.action.action.action_id]))
    return out
