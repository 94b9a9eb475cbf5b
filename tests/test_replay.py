"""Replay planning (a scenario day scaled to the emulation) and the stamped traffic
tools over loopback."""

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from controller.program.flows import plan_replay
from emulation.mininet import free_ports
from emulation.traffic import Flow, FlowStats, receive, send
from placement.model import scenario as sc
from placement.model.workload import build_problem, build_topology
from topologies.addressing import plan


@pytest.fixture(scope="module")
def paper():
    s = sc.default()
    return build_problem(s), plan(build_topology(s))


def test_a_day_is_scaled_to_the_budget_keeping_its_shape(paper):
    problem, fabric = paper
    day = problem.day("test", 0)
    rp = plan_replay(problem.sub.names, day.src, day.dst, day.rate, list(day.hours), fabric, pps_budget=800)
    assert rp.pps.shape == day.rate.shape
    assert rp.pps.sum(axis=1).max() == pytest.approx(800)
    # One factor for the whole day: every packet stands for the same model volume.
    np.testing.assert_allclose(rp.pps * rp.mb_per_packet, day.rate / 8.0, rtol=1e-9)
    assert all(f.src_server != f.dst_server for f in rp.flows)
    assert all(f.src_server in fabric.servers and f.dst_server in fabric.servers for f in rp.flows)
    assert "stands for" in rp.describe()


def test_flow_stats_tell_loss_reordering_and_duplicates():
    st = FlowStats(1)
    for seq in (0, 1, 3, 2, 3, 5):
        st.add(seq, 10.0)
    s = st.summary(sent=7)
    assert (s["received"], s["lost"], s["reordered"], s["duplicates"]) == (5, 2, 1, 1)


def test_stamped_flows_over_loopback():
    out = {}
    dport, s1, s2 = free_ports(3)
    ready = threading.Event()
    t = threading.Thread(target=lambda: out.update(receive(dport, 2.5, bind="127.0.0.1", ready=ready)))
    t.start()
    assert ready.wait(5)
    flows = [Flow(1, "127.0.0.1", dport, s1, 200.0), Flow(2, "127.0.0.1", dport, s2, 50.0)]
    sent = send(flows, 1.0)
    t.join()
    assert sent["sent"] == {"1": 200, "2": 50}
    assert out["flows"][1]["received"] == 200 and out["flows"][2]["received"] == 50
    assert out["flows"][1]["lost"] == 0 and out["junk"] == 0 and out["socket_drops"] == 0  # its row was found


def test_a_receiver_stopped_by_its_supervisor_counts_what_it_holds_and_ends_at_once():
    """`recv --until-eof` (how a step's receivers run): it listens, however late the
    senders start, until its stdin closes, then counts what its socket already holds."""
    dport, sport = free_ports(2)
    p = subprocess.Popen(
        [sys.executable, "-m", "emulation.traffic", "recv", "--port", str(dport), "--seconds", "120", "--until-eof"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert p.stderr.readline().strip() == "receiving"
        time.sleep(1.0)  # a late sender
        send([Flow(3, "127.0.0.1", dport, sport, 500.0)], 0.4)
        t0 = time.monotonic()
        out, _ = p.communicate(timeout=10)  # closes its stdin
        assert time.monotonic() - t0 < 5  # not the 120 s bound
    finally:
        p.kill()
    got = json.loads(out)["flows"]["3"]
    assert got["received"] == 200 and got["duplicates"] == 0
