"""Addressing and underlay routes of a fabric, checked by walking the graph."""

import ipaddress
from pathlib import Path

import networkx as nx
import pytest

from controller.program.underlay import routes
from topologies import InputError, kary_fattree, paper_fattree
from topologies.addressing import plan


def _lookup(table: list, ip: str):
    """Longest-prefix match over one switch's routes."""
    best = None
    for r in table:
        inside = ipaddress.ip_address(ip) in ipaddress.ip_network(f"{r.prefix}/{r.prefix_len}")
        if inside and (best is None or r.prefix_len > best.prefix_len):
            best = r
    return best


@pytest.mark.parametrize("g", [paper_fattree(), kary_fattree(4)], ids=["paper", "k4"])
def test_every_server_reaches_every_server_on_shortest_paths(g):
    p = plan(g)
    by_switch: dict[str, list] = {}
    for r in routes(p):
        by_switch.setdefault(r.switch, []).append(r)
    ips = {s.ip for s in p.servers.values()}
    assert len(ips) == len(p.servers)  # unique addresses
    for src in p.servers.values():
        for dst in p.servers.values():
            if src is dst:
                continue
            node, hops = src.edge, 0
            while True:
                r = _lookup(by_switch[node], dst.ip)
                assert r is not None, f"{node} has no route to {dst.ip}"
                # Every ECMP member is a shortest-path next hop; follow each one's first.
                nxt = p.neighbour_on(node, r.ports[0])
                if nxt == dst.name:
                    break
                assert nxt in p.switches
                node, hops = nxt, hops + 1
                assert hops <= 6
            assert hops == nx.shortest_path_length(g, src.edge, dst.edge)


def test_ecmp_sets_hold_all_equal_cost_uplinks():
    p = plan(kary_fattree(4))
    r = next(r for r in routes(p) if r.switch == "edge0_0" and r.prefix_len == 24 and r.prefix != "10.1.0.0")
    assert len(r.ports) == 2  # both aggregation switches of the pod
    assert len(set(r.macs)) == 2


def test_a_server_on_two_switches_is_refused():
    g = kary_fattree(2)
    g.add_edge("srv_edge0_0_0", "edge1_0")
    with pytest.raises(InputError, match="srv_edge0_0_0"):
        plan(g)


def test_the_fabric_programs_underlay_installs_and_reads_back():
    """p4src/fabric.p4's ECMP underlay on a reference switch: members, groups, routes."""
    import json

    from controller.program.underlay import fabric_entities
    from p4rt.client import SwitchConnection
    from p4rt.schema import P4InfoIndex
    from p4rt.state import apply, verify
    from p4target.compiler.driver import compile_p4
    from p4target.runtime.server import serve
    from p4target.switch.runner import Runner

    c = compile_p4(Path(__file__).resolve().parent.parent / "p4src" / "fabric.p4")
    p = plan(kary_fattree(4))
    want = fabric_entities(p, P4InfoIndex(c.p4info), "edge0_0")
    kinds = [e.WhichOneof("entity") for e in want]
    # 4 neighbours (2 aggregation, 2 servers); one ECMP group over the 2 uplinks; 2 host
    # routes + 7 other edge subnets.
    assert (kinds.count("action_profile_member"), kinds.count("action_profile_group")) == (4, 1)
    assert kinds.count("table_entry") == 2 + 7
    runner = Runner(0)
    server, service, port = serve(runner, "127.0.0.1:0")
    try:
        with SwitchConnection(f"127.0.0.1:{port}", 0) as conn:
            conn.set_pipeline(c.p4info, json.dumps(c.json).encode())
            assert apply({"e": conn}, {"e": verify(conn, want)}).writes == len(want)
            assert len(verify(conn, want)) == 0
    finally:
        service.stop()
        server.stop(None)
