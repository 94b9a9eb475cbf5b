"""`srem switch` on real Linux interfaces: veth pairs in a network namespace this test
creates, P4Runtime over a unix socket, frames sent and captured with raw sockets."""

import json
import queue
import subprocess
import sys
import textwrap
from pathlib import Path

import grpc
import pytest
from p4.v1 import p4runtime_pb2 as R
from p4.v1 import p4runtime_pb2_grpc as RG

from p4target.compiler.driver import compile_p4
from tests.netns import veth_namespace

P4 = Path(__file__).parent / "p4"
SREM = str(Path(sys.executable).parent / "srem")


@pytest.fixture
def netns():
    with veth_namespace("srem-test", [("h1", "s1"), ("h2", "s2")]) as ns:
        yield ns


HELPER = textwrap.dedent(
    """
    import socket, sys, time
    send = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)); send.bind(("h1", 0))
    recv = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)); recv.bind(("h2", 0))
    recv.settimeout(0.5)
    frame = bytes.fromhex(sys.argv[1])
    deadline = time.time() + 10
    while time.time() < deadline:
        send.send(frame)
        try:
            while True:
                data, addr = recv.recvfrom(65535)
                if addr[2] != 4 and data[12:14] == b"\\x08\\x00":
                    print(data.hex()); sys.exit(0)
        except TimeoutError:
            pass
    sys.exit(1)
    """
)


def test_srem_switch_forwards_between_veth_ports(netns, tmp_path):
    from scapy.all import IP, UDP, Ether, raw

    sock = f"unix:{tmp_path}/p4rt.sock"
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, SREM, "switch", "--device-id", "0", "-i", "1@s1", "-i", "2@s2",
         "--grpc-server-addr", sock, "--pcap", str(tmp_path / "pcap"), "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        channel = grpc.insecure_channel(sock)
        grpc.channel_ready_future(channel).result(timeout=30)
        stub = RG.P4RuntimeStub(channel)
        reqs: queue.Queue = queue.Queue()
        arb = R.StreamMessageRequest()
        arb.arbitration.device_id, arb.arbitration.election_id.low = 0, 1
        reqs.put(arb)
        stream = stub.StreamChannel(iter(reqs.get, None))  # open while the test runs: we stay primary
        assert next(stream).arbitration.status.code == 0
        compiled = compile_p4(P4 / "basic.p4")
        cfg = R.SetForwardingPipelineConfigRequest(
            device_id=0, action=R.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT
        )
        cfg.election_id.low = 1
        cfg.config.p4info.CopyFrom(compiled.p4info)
        cfg.config.p4_device_config = json.dumps(compiled.json).encode()
        stub.SetForwardingPipelineConfig(cfg)
        names = {x.preamble.name: x.preamble.id for x in [*compiled.p4info.tables, *compiled.p4info.actions]}
        w = R.WriteRequest(device_id=0)
        w.election_id.low = 1
        te = w.updates.add(type=R.Update.INSERT).entity.table_entry
        te.table_id = names["MyIngress.ipv4_lpm"]
        fm = te.match.add(field_id=1)
        fm.lpm.value, fm.lpm.prefix_len = bytes([10, 0, 0, 0]), 8
        te.action.action.action_id = names["MyIngress.ipv4_forward"]
        te.action.action.params.add(param_id=1, value=bytes.fromhex("02aabbccddee"))
        te.action.action.params.add(param_id=2, value=b"\x02")
        stub.Write(w)
        frame = raw(
            Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")
            / IP(dst="10.9.8.7", ttl=20)
            / UDP()
            / b"veth"
        )
        (tmp_path / "helper.py").write_text(HELPER)
        got = subprocess.run(["ip", "netns", "exec", netns, sys.executable, str(tmp_path / "helper.py"), frame.hex()],
                             capture_output=True, text=True, timeout=30)  # fmt: skip
        assert got.returncode == 0, got.stderr
        out = Ether(bytes.fromhex(got.stdout.strip()))
        assert (
            out.dst == "02:aa:bb:cc:dd:ee"
            and out[IP].ttl == 19
            and bytes(out[UDP].payload).startswith(b"veth")
        )
        assert (tmp_path / "pcap" / "s1_in.pcap").stat().st_size > 24 and (
            tmp_path / "pcap" / "s2_out.pcap"
        ).stat().st_size > 24
        reqs.put(None)
        channel.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


VLAN_P4 = """
#include <core.p4>
#include <v1model.p4>
header ethernet_t { bit<48> dst; bit<48> src; bit<16> ether_type; }
header vlan_t { bit<3> pcp; bit<1> dei; bit<12> vid; bit<16> ether_type; }
struct headers_t { ethernet_t ethernet; vlan_t vlan; }
struct meta_t { }
parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) { 0x8100: vlan; default: accept; }
    }
    state vlan { pkt.extract(hdr.vlan); transition accept; }
}
control V(inout headers_t hdr, inout meta_t meta) { apply { } }
control I(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        if (hdr.vlan.isValid()) { hdr.vlan.vid = hdr.vlan.vid + 1; sm.egress_spec = 2; }
        else { mark_to_drop(sm); }
    }
}
control E(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control C(inout headers_t hdr, inout meta_t meta) { apply { } }
control D(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.ethernet); pkt.emit(hdr.vlan); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
"""

# Sends a tagged frame on h1; reads h2 with PACKET_AUXDATA, putting back the tag the
# kernel lifts off (its own few lines, not the switch's code).
VLAN_HELPER = textwrap.dedent(
    """
    import socket, struct, sys, time
    send = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)); send.bind(("h1", 0))
    recv = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)); recv.bind(("h2", 0))
    recv.setsockopt(263, 8, 1)
    recv.settimeout(0.5)
    frame = bytes.fromhex(sys.argv[1])
    deadline = time.time() + 10
    while time.time() < deadline:
        send.send(frame)
        try:
            while True:
                data, anc, _, addr = recv.recvmsg(65535, socket.CMSG_SPACE(20))
                if addr[2] == 4:
                    continue
                for level, kind, aux in anc:
                    status, _, _, _, _, tci, tpid = struct.unpack("IIIHHHH", aux[:20])
                    if level == 263 and kind == 8 and status & 0x10:
                        data = data[:12] + struct.pack("!HH", tpid if status & 0x40 else 0x8100, tci) + data[12:]
                if data[12:14] == b"\\x81\\x00":
                    print(data.hex()); sys.exit(0)
        except TimeoutError:
            pass
    sys.exit(1)
    """
)


def test_vlan_tags_reach_the_pipeline_from_linux_ports(netns, tmp_path):
    src = tmp_path / "vlan.p4"
    src.write_text(VLAN_P4)
    program = tmp_path / "vlan.json"
    program.write_text(json.dumps(compile_p4(src).json))
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, SREM, "switch", str(program), "-i", "1@s1", "-i", "2@s2",
         "--grpc-server-addr", f"unix:{tmp_path}/p4rt.sock", "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        channel = grpc.insecure_channel(f"unix:{tmp_path}/p4rt.sock")
        grpc.channel_ready_future(channel).result(timeout=30)  # the switch is up
        channel.close()
        from scapy.all import IP, UDP, Dot1Q, Ether, raw

        tagged = raw(Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01") / Dot1Q(prio=5, vlan=100)
                     / IP(dst="10.0.0.2") / UDP() / b"tagged")  # fmt: skip
        (tmp_path / "helper.py").write_text(VLAN_HELPER)
        got = subprocess.run(["ip", "netns", "exec", netns, sys.executable, str(tmp_path / "helper.py"), tagged.hex()],
                             capture_output=True, text=True, timeout=30)  # fmt: skip
        assert got.returncode == 0, got.stderr
        out = Ether(bytes.fromhex(got.stdout.strip()))
        # The pipeline saw the tag (untagged frames are dropped) and bumped the VLAN id.
        assert out[Dot1Q].vlan == 101 and out[Dot1Q].prio == 5 and bytes(out[UDP].payload) == b"tagged"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
