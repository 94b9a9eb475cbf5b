"""p4runtime-shell, the tool engineers use, drives srem's switch over real gRPC."""

from pathlib import Path

import pytest
from scapy.all import IP, UDP, Ether, raw

from p4target.compiler.driver import compile_p4, write
from p4target.runtime.server import serve
from p4target.switch.ports import QueuePort
from p4target.switch.runner import Runner

P4 = Path(__file__).parent / "p4"


@pytest.fixture
def device(tmp_path):
    jpath, ipath = write(tmp_path, "basic", compile_p4(P4 / "basic.p4"))
    runner = Runner(device_id=1, cpu_port=255)
    ports = {n: QueuePort(n) for n in (1, 2, 3)}
    for p in ports.values():
        runner.add_port(p)
    runner.start()
    server, _, port = serve(runner, "127.0.0.1:0")
    yield f"127.0.0.1:{port}", jpath, ipath, ports
    server.stop(grace=0)
    runner.stop()


def test_p4runtime_shell_programs_and_forwards(device):
    import p4runtime_sh.shell as sh

    addr, jpath, ipath, ports = device
    sh.setup(device_id=1, grpc_addr=addr, election_id=(0, 1), config=sh.FwdPipeConfig(str(ipath), str(jpath)))
    try:
        te = sh.TableEntry("MyIngress.ipv4_lpm")(action="MyIngress.ipv4_forward")
        te.match["hdr.ipv4.dstAddr"] = "10.0.0.0/8"
        te.action["dstAddr"] = "00:11:22:33:44:55"
        te.action["port"] = "3"
        te.insert()
        ports[1].rx.put(raw(Ether(dst="aa:aa:aa:aa:aa:aa") / IP(dst="10.2.3.4", ttl=9) / UDP() / b"x"))
        out = Ether(ports[3].tx.get(timeout=5))
        assert out.dst == "00:11:22:33:44:55" and out[IP].ttl == 8
        read = list(sh.TableEntry("MyIngress.ipv4_lpm").read())
        assert len(read) == 1 and read[0].action["port"].value == b"\x03"
        assert read[0].match["hdr.ipv4.dstAddr"].lpm.prefix_len == 8
        te.delete()
        assert list(sh.TableEntry("MyIngress.ipv4_lpm").read()) == []
    finally:
        sh.teardown()


def test_p4runtime_shell_reconnects_with_its_election_id_and_keeps_the_entries(device):
    """After a controller leaves, a client with the same (highest ever seen) election id is
    primary again, as P4Runtime 1.4 has it; a lower one would not be."""
    import p4runtime_sh.shell as sh

    addr, jpath, ipath, ports = device
    sh.setup(device_id=1, grpc_addr=addr, election_id=(0, 5), config=sh.FwdPipeConfig(str(ipath), str(jpath)))
    try:
        te = sh.TableEntry("MyIngress.ipv4_lpm")(action="MyIngress.ipv4_forward")
        te.match["hdr.ipv4.dstAddr"] = "10.0.0.0/8"
        te.action["dstAddr"] = "00:11:22:33:44:55"
        te.action["port"] = "2"
        te.insert()
    finally:
        sh.teardown()
    sh.setup(device_id=1, grpc_addr=addr, election_id=(0, 5))  # no config: keep the pipeline
    try:
        assert len(list(sh.TableEntry("MyIngress.ipv4_lpm").read())) == 1
        te = sh.TableEntry("MyIngress.ipv4_lpm")(action="MyIngress.ipv4_forward")
        te.match["hdr.ipv4.dstAddr"] = "10.0.0.0/8"
        te.action["dstAddr"] = "00:11:22:33:44:55"
        te.action["port"] = "3"
        te.modify()  # only the primary may write
        ports[1].rx.put(raw(Ether(dst="aa:aa:aa:aa:aa:aa") / IP(dst="10.2.3.4", ttl=9) / UDP() / b"x"))
        assert Ether(ports[3].tx.get(timeout=5))[IP].ttl == 8
    finally:
        sh.teardown()
    sh.setup(device_id=1, grpc_addr=addr, election_id=(0, 4))  # lower than ever seen: a backup
    try:
        assert len(list(sh.TableEntry("MyIngress.ipv4_lpm").read())) == 1  # reads are fine
        with pytest.raises(Exception, match="PERMISSION_DENIED"):
            te.delete()
    finally:
        sh.teardown()
