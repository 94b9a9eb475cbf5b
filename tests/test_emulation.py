"""The fabric on Mininet: srem switch processes on veth links, state reconciled over
P4Runtime by the controller, stamped UDP traffic between servers, switch and
controller restarts.

Needs root and Debian's Mininet (`make setup` installs it as root); skipped otherwise.
"""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from p4.v1 import p4runtime_pb2 as R

from controller.fabric.switches import Fabric, Pipeline
from controller.program.flows import ChainFlow, ReplayPlan
from controller.program.underlay import basic_entries
from emulation.mininet import Emulation, missing
from emulation.replay import play_step
from emulation.traffic import start_receiver
from p4rt.client import SwitchConnection
from p4rt.entities import update
from p4rt.errors import P4RuntimeError, WriteError
from p4rt.schema import P4InfoIndex
from p4target.compiler.driver import compile_p4
from topologies import kary_fattree
from topologies.addressing import plan

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))
P4 = Path(__file__).parent / "p4"


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    """A k=2 fat-tree (5 switches: edge-agg-core-agg-edge, 2 servers) and its pipeline."""
    p = plan(kary_fattree(2))
    c = compile_p4(P4 / "basic.p4")
    pipeline = Pipeline(c.p4info, json.dumps(c.json).encode())
    index = P4InfoIndex(c.p4info)
    desired = {
        name: [R.Entity(table_entry=index.table_entry(**e)) for e in basic_entries(p, name)]
        for name in p.switches
    }
    with Emulation(p, log_dir=tmp_path_factory.mktemp("emu")) as emu:
        addresses = {n: (emu.grpc[n], sw.device_id) for n, sw in p.switches.items()}
        yield SimpleNamespace(plan=p, emu=emu, pipeline=pipeline, desired=desired, addresses=addresses)


def _traffic(emu, p, flows=(1, 2), pps=200, seconds=1.0) -> dict:
    """Send each flow from the first server to the second; the receiver's figures."""
    a, b = sorted(p.servers)
    cmd = [sys.executable, "-m", "emulation.traffic"]
    recv = start_receiver(emu, b, 9000, seconds * len(flows) + 2)
    for flow in flows:
        spec = f"{flow}:{p.servers[b].ip}:9000:{10000 + flow}:{pps}"
        r = emu.host_cmd(a, *cmd, "send", "--flow", spec, "--seconds", str(seconds))
        assert r.returncode == 0, r.stderr
    out, _ = recv.communicate(timeout=30)
    return json.loads(out)


def test_reconciled_fabric_carries_stamped_traffic_without_loss(net):
    p, emu, pipeline, desired, addresses = net.plan, net.emu, net.pipeline, net.desired, net.addresses
    fabric = Fabric(addresses, pipeline, (0, 1))
    try:
        report = fabric.reconcile(desired)
        assert sorted(report.pipelines_pushed) == sorted(p.switches)
        assert report.writes == sum(len(v) for v in desired.values())
        got = _traffic(emu, p)
        assert got["junk"] == 0
        for flow in ("1", "2"):
            f = got["flows"][flow]
            assert f["received"] == 200 and f["lost"] == 0 and f["duplicates"] == 0
            assert 0 < f["latency_p50_us"] < 1e6
    finally:
        fabric.close()


def test_a_replayed_step_is_measured_per_chain(net):
    p, emu, pipeline, desired = net.plan, net.emu, net.pipeline, net.desired
    fabric = Fabric(net.addresses, pipeline, (0, 7))
    try:
        fabric.reconcile(desired)
        a, b = sorted(p.servers)
        rp = ReplayPlan(
            flows=[ChainFlow(0, a, b), ChainFlow(1, b, a), ChainFlow(2, a, b)],
            pps=np.array([[150.0, 80.0, 0.0]]),
            mb_per_packet=1.0,
            seconds_per_step=1.0,
            packet_bytes=200,
            hours=[10],
        )
        m = {x.chain: x for x in play_step(emu, p, rp, 0)}
        assert sorted(m) == [0, 1]  # chain 2 has no traffic in this step
        assert (m[0].sent, m[1].sent) == (150, 80)
        assert m[0].lost == m[1].lost == 0 and m[0].received == 150
    finally:
        fabric.close()


def test_a_restarted_switch_gets_its_pipeline_and_state_back(net):
    p, emu, pipeline, desired, addresses = net.plan, net.emu, net.pipeline, net.desired, net.addresses
    fabric = Fabric(addresses, pipeline, (0, 2))
    try:
        fabric.reconcile(desired)
        emu.restart_switch("core0")  # comes back empty: traffic across the core stops
        assert _traffic(emu, p, flows=(3,), pps=100, seconds=0.5)["flows"] == {}
        report = fabric.reconcile(desired)
        assert report.pipelines_pushed == ["core0"]
        assert report.changes["core0"] == (len(desired["core0"]), 0, 0)
        assert report.writes == len(desired["core0"])
        assert _traffic(emu, p, flows=(4,), pps=100, seconds=0.5)["flows"]["4"]["lost"] == 0
    finally:
        fabric.close()


def test_a_restarted_controller_writes_nothing_when_the_fabric_is_right(net):
    pipeline, desired, addresses = net.pipeline, net.desired, net.addresses
    first = Fabric(addresses, pipeline, (0, 3))
    first.reconcile(desired)
    first.close()
    again = Fabric(addresses, pipeline, (0, 4))
    try:
        report = again.reconcile(desired)
        assert report.pipelines_pushed == [] and report.writes == 0
    finally:
        again.close()


def test_the_controller_client_reports_refusals_with_the_switch_error(net):
    pipeline, desired, addresses = net.pipeline, net.desired, net.addresses
    first = Fabric(addresses, pipeline, (0, 5))
    first.reconcile(desired)
    first.close()  # a live primary is never preempted; a gone one is taken over
    address, device_id = addresses["edge0_0"]
    with SwitchConnection(address, device_id, (0, 6)) as conn:
        conn.fetch_pipeline()
        e = desired["edge0_0"][0].table_entry
        with pytest.raises(WriteError) as err:
            conn.write([update("INSERT", e)])  # already there
        assert err.value.errors and err.value.errors[0].index == 0
        assert "ALREADY_EXISTS" in str(err.value)
        with pytest.raises(KeyError, match="no match field"):
            conn.p4info.table_entry("MyIngress.ipv4_lpm", {"hdr.ipv4.srcAddr": ("10.0.0.0", 8)})
        # A second client with a lower election id is not primary.
        with pytest.raises(P4RuntimeError, match="not primary"):
            SwitchConnection(address, device_id, (0, 1))


def test_leaving_the_emulation_removes_every_process_and_link(tmp_path):
    p = plan(kary_fattree(2))
    with Emulation(p, log_dir=tmp_path) as emu:
        procs = [sw.proc for sw in emu.switches.values()]
        intfs = [i.name for sw in emu.switches.values() for i in sw.intfList() if i.name != "lo"]
        assert all(proc.poll() is None for proc in procs)
    assert all(proc.poll() is not None for proc in procs)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert not [i for i in intfs if f" {i}@" in links or f" {i}:" in links]
