"""The LM NAT that allocates on a flow's first packet (controller/orchestration/lmalloc.py),
with real packets on veths: a switch running fabric.p4 (srem's, and real
simple_switch_grpc where ../shared/p4real is present) punts a new inside flow's packets to
the controller, which maps the flow, writes the entries and sends the packets back."""

import contextlib
import itertools
import subprocess
import time

import pytest
from scapy.all import IP, UDP, Ether, raw

from tests.differential import real_tool
from tests.netns import raw_pair, veth_namespace
from tests.orch_fabric import H1, H2, LM_SPI, SREM, SW, Traffic, mac, stop

PUBLIC, INSIDE = "198.51.100.1", "10.0.1.0/24"
CPU = 255  # p4src/headers.p4's CPU_PORT


@contextlib.contextmanager
def lm_switch(tmp, target: str):
    """(ns, connection): fabric.p4 on ports 1 (h1, inside) and 2 (h2), both directions
    classified into the LM NAT's path (NF 7), CPU port 255."""
    import grpc

    from p4rt.client import SwitchConnection
    from p4rt.entities import TableWrite, Ternary
    from tests.fabric_net import ecmp_route, fabric

    if target == "bmv2" and real_tool("simple_switch_grpc") is None:
        pytest.skip("simple_switch_grpc is not installed (../shared/p4real)")
    with veth_namespace("srem-lmalloc", [("h1", "p1"), ("h2", "p2")]) as ns:
        sock = f"unix:{tmp}/p4rt.sock"
        if target == "srem":
            cmd = [SREM, "switch", "--device-id", "0", "--grpc-server-addr", sock, "--log-level", "warning"]
        else:
            subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
            cmd = [real_tool("simple_switch_grpc"), "--device-id", "0", "--thrift-port", "9090", "--no-p4"]
        cmd += ["-i", "1@p1", "-i", "2@p2"]
        cmd += ["--cpu-port", str(CPU)] if target == "srem" else ["--", "--grpc-server-addr", sock,
                                                                  "--cpu-port", str(CPU)]  # fmt: skip
        p = subprocess.Popen(
            ["ip", "netns", "exec", ns, *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            grpc.channel_ready_future(grpc.insecure_channel(sock)).result(timeout=60)
            c = SwitchConnection(sock, 0)
            json_bytes, p4info = fabric()
            c.set_pipeline(p4info, json_bytes)
            ecmp_route(c, 0x0A000202, 32, 1, {1: {"port": 2, "smac": mac(SW), "dmac": mac(H2)}})
            ecmp_route(c, 0x0A000101, 32, 2, {2: {"port": 1, "smac": mac(SW), "dmac": mac(H1)}})
            c.insert([TableWrite.of("classifier", {"sm.ingress_port": Ternary(port, 0x1FF)}, "classify",
                                    {"spi": LM_SPI}, priority=1) for port in (1, 2)])  # fmt: skip
            c.insert([
                TableWrite.of("sff", {"hdr.nsh.spi": LM_SPI, "hdr.nsh.si": 255}, "sff_local",
                              {"nfId": 7, "kind": 2, "where": 0}),
                TableWrite.of("sff", {"hdr.nsh.spi": LM_SPI, "hdr.nsh.si": 254}, "sff_end", {}),
            ])  # fmt: skip
            yield ns, c
            c.close()
        finally:
            stop(p)


@pytest.fixture(params=["srem", "bmv2"])
def lm(request, tmp_path):
    from controller.orchestration.lmalloc import AllocatingLmNat, Punts

    with lm_switch(tmp_path, request.param) as (ns, c):
        punts = Punts(c)
        made = []

        def make(ports, **kw):
            nat = AllocatingLmNat(c, 7, PUBLIC, INSIDE, ports, punts, **kw)
            made.append(nat)
            return nat

        yield ns, c, make
        for n in made:
            n.close()
        punts.close()


def run(ns, sports, seconds: float, rate: float = 300) -> Traffic:
    with Traffic(ns, sports, rate=rate) as t:
        time.sleep(seconds)
    return t


def lost_and_late(t: Traffic) -> tuple[set[int], int]:
    seqs = [k for _, _, k, _ in t.got]
    late = sum(1 for a, b in itertools.pairwise(seqs) if b < a)
    return set(range(t.sent)) - set(seqs), late


def replies(ns, to: list[tuple[int, int]], expect: int = 1) -> list[tuple[str, int, int]]:
    """h2 (10.0.2.2:9000) answers PUBLIC:port for each (port, tag); what h1 gets: (dst, dport, tag)."""

    tx, rx = raw_pair(ns, "h2", "h1")
    got = []
    try:
        for port, tag in to:
            tx.send(raw(Ether(src=H2, dst=SW) / IP(src="10.0.2.2", dst=PUBLIC) / UDP(sport=9000, dport=port)
                        / tag.to_bytes(4, "big")))  # fmt: skip
        end = time.monotonic() + 3
        while time.monotonic() < end and len(got) < len(to):
            with contextlib.suppress(TimeoutError):
                data, addr = rx.recvfrom(65535)
                if addr[2] == 4 or data[12:14] != b"\x08\x00":
                    continue
                ip = IP(data[14:])
                if UDP in ip and ip[UDP].sport == 9000:
                    got.append((ip.dst, ip[UDP].dport, int.from_bytes(bytes(ip[UDP].payload)[-4:], "big")))
    finally:
        tx.close(), rx.close()
    return got


def test_a_new_flow_is_mapped_on_its_first_packet_loses_nothing_and_its_replies_come_back(lm):
    ns, c, make = lm
    nat = make((40000, 40999))
    t = run(ns, 2000, 1.5)
    lost, late = lost_and_late(t)
    assert t.sent >= 300 and not lost, (len(lost), t.sent, nat.alloc.to_dict())
    assert {(s, p) for s, p, _, _ in t.got} == {(PUBLIC, 40000)}  # one mapping, from the first packet on
    assert nat.alloc.allocated == 1 and nat.alloc.reinjected >= 1 and nat.alloc.punted == nat.alloc.reinjected
    recs = nat.call("get", filter={})["records"]
    assert recs == [{"flow": {"src": "10.0.1.1", "dst": "10.0.2.2", "proto": 17, "sport": 2000, "dport": 9000},
                     "nat": {"src": PUBLIC, "sport": 40000}}]  # fmt: skip
    assert replies(ns, [(40000, 1), (40000, 2)]) == [("10.0.1.1", 2000, 1), ("10.0.1.1", 2000, 2)]
    # what a reconciling controller must keep: exactly what is on the switch for this NF
    on_switch = {
        e.SerializeToString(deterministic=True) for t in ("nat", "nat_alloc") for e in c.read_table(t)
    }
    ours = {e.table_entry.SerializeToString(deterministic=True) for e in nat.entities()}
    assert len(ours) == 4 and ours == on_switch
    # the switch punted only until the entries were there (counted by the switch and by us alike)
    assert c.counter_read("nat_punts").get(7, (0, 0))[0] == nat.alloc.punted
    print("first flow:", nat.alloc.to_dict(), "reordered", late)
    # packet-out fields are the P4Info's, in its widths: a wrong one is refused before sending
    from p4rt.errors import P4RuntimeError

    with pytest.raises(P4RuntimeError, match="packet_out has no field 'port'"):
        c.packet_out([b"x"], port=1)
    with pytest.raises(P4RuntimeError, match="512 does not fit 9 bits"):
        c.packet_out([b"x"], egress_port=512)


def test_a_second_flow_gets_another_port_and_both_keep_theirs(lm):
    ns, _c, make = lm
    nat = make((40000, 40999))
    t = run(ns, [2000, 2001], 1.0)
    lost, _ = lost_and_late(t)
    assert not lost and nat.alloc.allocated == 2
    seen = {}
    for s, p, _, i in t.got:
        seen.setdefault(i, set()).add((s, p))
    assert seen == {0: {(PUBLIC, 40000)}, 1: {(PUBLIC, 40001)}}
    got = replies(ns, [(40000, 1), (40001, 2)])
    assert sorted(got) == [("10.0.1.1", 2000, 1), ("10.0.1.1", 2001, 2)]


def test_exhausted_ports_are_counted_dropped_by_the_switch_and_freed_ports_serve_again(lm):
    ns, c, make = lm
    nat = make((40000, 40001), refuse_s=0.5)
    t = run(ns, [2000, 2001, 2002], 1.0)
    assert nat.alloc.allocated == 2 and nat.alloc.exhausted >= 1
    assert "exhausted" in nat.alloc.errors[-1] and "2002" in nat.alloc.errors[-1]
    per_flow = {i: sum(1 for *_, j in t.got if j == i) for i in range(3)}
    assert per_flow[2] == 0 and per_flow[0] > 50 and per_flow[1] > 50  # the refused flow alone lost
    drops = c.counter_read("nf_drops").get(7, (0, 0))[0]
    assert drops > 0  # its later packets were dropped by the switch's nat_refuse entry, not punted
    assert nat.alloc.exhausted + nat.alloc.refused + drops >= per_flow[0] - 5  # every one accounted for
    # a freed port serves the refused flow once its refuse entry expires
    assert nat.call("forget", flows=[{"src": "10.0.1.1", "dst": "10.0.2.2", "proto": 17, "sport": 2000,
                                      "dport": 9000}])["count"] == 1  # fmt: skip
    time.sleep(0.7)
    t = run(ns, 2002, 0.6)
    lost, _ = lost_and_late(t)
    assert not lost and {(s, p) for s, p, _, _ in t.got} == {(PUBLIC, 40000)}
    assert nat.call("stats")["nfs"][0]["alloc"]["allocated"] == 3


def test_a_mapping_moved_in_keeps_its_port_and_a_taken_port_is_refused(lm):
    from nfs.control import ControlError

    ns, _c, make = lm
    nat = make((40000, 40999))
    rec = {"flow": {"src": "10.0.1.1", "dst": "10.0.2.2", "proto": 17, "sport": 2000, "dport": 9000},
           "nat": {"src": PUBLIC, "sport": 41234}}  # fmt: skip
    assert nat.call("put", records=[rec])["count"] == 1
    t = run(ns, 2000, 0.5)
    assert not lost_and_late(t)[0] and nat.alloc.punted == 0  # mapped before its first packet: no punt
    assert {(s, p) for s, p, _, _ in t.got} == {(PUBLIC, 41234)}
    other = {**rec, "flow": {**rec["flow"], "sport": 2001}}
    with pytest.raises(ControlError, match="already mapped"):
        nat.call("put", records=[other])
    assert len(nat.map) == 1


def test_srem_orch_lm_nat_serves_the_allocation_and_refuses_bad_input_in_one_line(tmp_path):
    import threading

    import typer
    from typer.testing import CliRunner

    from controller.orchestration.cli import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    base = ["orch", "lm-nat", "--nf", "7", "--public", PUBLIC, "--inside", INSIDE, "--ports", "40000-40999"]
    for args, word in [
        (["--switch", "unix:/nonexistent", "--ports", "5-1"], "--ports"),
        (["--switch", "unix:/nonexistent", "--public", "198.51.100"], "--public"),
        (["--switch", "unix:/nonexistent", "--nf", "300"], "--nf"),
    ]:
        r = CliRunner().invoke(app, [*base, *args])
        assert r.exit_code == 2 and word in r.output and "Traceback" not in r.output, r.output
    with lm_switch(tmp_path, "srem") as (ns, c):
        sw = ["--switch", f"unix:{tmp_path}/p4rt.sock"]
        r = CliRunner().invoke(app, [*base, *sw, "--inside", "10.0.1.0/33"])
        assert r.exit_code == 2 and "inside" in r.output and c.read_table("nat_alloc") == []
        out = {}
        th = threading.Thread(
            target=lambda: out.update(r=CliRunner().invoke(app, [*base, *sw, "--seconds", "4"]))
        )
        th.start()
        end = time.monotonic() + 3
        while not c.read_table("nat_alloc") and time.monotonic() < end:
            time.sleep(0.05)
        t = run(ns, 2000, 1.0)
        th.join()
        assert c.read_table("nat_alloc") == []  # its entries go with it; the mapping stays
        assert len(c.read_table("nat")) == 2
    r = out["r"]
    assert r.exit_code == 0, r.output
    assert not lost_and_late(t)[0] and {(s, p) for s, p, _, _ in t.got} == {(PUBLIC, 40000)}
    assert "allocating 198.51.100.1:40000-40999" in r.output and "allocated" in r.output
