"""The fabric on Mininet: srem switch processes on veth links, routes pushed over
P4Runtime by the controller's client, stamped UDP traffic between servers.

Needs root and Debian's Mininet (`make setup` installs it as root); skipped otherwise.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controller.p4rt import P4RuntimeError, SwitchConnection, WriteError, update
from controller.underlay import basic_entries
from p4target.compiler.driver import compile_p4
from topologies import kary_fattree
from topologies.addressing import plan
from topologies.emulation import Emulation, missing

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))
P4 = Path(__file__).parent / "p4"


def _traffic(*args: str) -> list[str]:
    return [sys.executable, "-m", "controller.traffic", *args]


def _program_fabric(emu: Emulation, p) -> None:
    c = compile_p4(P4 / "basic.p4")
    for name, sw in p.switches.items():
        with SwitchConnection(emu.grpc[name], sw.device_id) as conn:
            conn.set_pipeline(c.p4info, json.dumps(c.json).encode())
            conn.write([update("INSERT", conn.p4info.table_entry(**e)) for e in basic_entries(p, name)])


def test_stamped_traffic_crosses_a_fat_tree_and_everything_is_cleaned_up(tmp_path):
    p = plan(kary_fattree(2))  # 5 switches, 2 servers: edge-agg-core-agg-edge
    a, b = sorted(p.servers)
    with Emulation(p, log_dir=tmp_path) as emu:
        procs = [sw.proc for sw in emu.switches.values()]
        intfs = [i.name for sw in emu.switches.values() for i in sw.intfList() if i.name != "lo"]
        _program_fabric(emu, p)
        recv = emu.host_popen(
            b, *_traffic("recv", "--port", "9000", "--seconds", "4"), stdout=subprocess.PIPE, text=True
        )
        time.sleep(0.5)
        sent = []
        for flow in (1, 2):
            r = emu.host_cmd(
                a,
                *_traffic("send", "--dst", p.servers[b].ip, "--port", "9000", "--flow", str(flow)),
                *("--pps", "200", "--seconds", "1"),
            )
            assert r.returncode == 0, r.stderr
            sent.append(json.loads(r.stdout)["sent"])
        out, _ = recv.communicate(timeout=20)
        got = json.loads(out)
        assert got["junk"] == 0
        for flow, n in zip(("1", "2"), sent, strict=True):
            f = got["flows"][flow]
            assert f["received"] == n == 200 and f["lost"] == 0 and f["duplicates"] == 0
            assert 0 < f["latency_p50_us"] < 1e6
        # A server on another edge switch without a route: the switch drops, nothing arrives.
        with SwitchConnection(emu.grpc["core0"], p.switches["core0"].device_id, (0, 2)) as conn:
            conn.fetch_pipeline()
            entries = conn.read_table("MyIngress.ipv4_lpm")
            conn.write([update("DELETE", e) for e in entries])
            assert conn.read_table("MyIngress.ipv4_lpm") == []
    assert all(proc.poll() is not None for proc in procs)  # every switch process ended
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert not [i for i in intfs if f" {i}@" in links or f" {i}:" in links]


def test_the_controller_client_reports_refusals_with_the_switch_error(tmp_path):
    p = plan(kary_fattree(2))
    with Emulation(p, log_dir=tmp_path) as emu:
        _program_fabric(emu, p)
        sw = p.switches["edge0_0"]
        with SwitchConnection(emu.grpc["edge0_0"], sw.device_id, (0, 5)) as conn:
            conn.fetch_pipeline()
            e = conn.p4info.table_entry(**basic_entries(p, "edge0_0")[0])
            with pytest.raises(WriteError) as err:
                conn.write([update("INSERT", e)])  # already there
            assert err.value.errors and err.value.errors[0].index == 0
            assert "ALREADY_EXISTS" in str(err.value)
            with pytest.raises(KeyError, match="no match field"):
                conn.p4info.table_entry("MyIngress.ipv4_lpm", {"hdr.ipv4.srcAddr": ("10.0.0.0", 8)})
            # A second client with a lower election id is not primary.
            with pytest.raises(P4RuntimeError, match="not primary"):
                SwitchConnection(emu.grpc["edge0_0"], sw.device_id, (0, 1))
