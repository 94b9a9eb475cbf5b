"""The EM NAT as a move endpoint (controller/orchestration/em.py), on srem's in-process
switches with a memory server and its EMAC: a NAT flow at 250 packets/s moved loss-free
from the NAT in S1's LM to the NAT in S1's EM (written by RDMA, read by the switch) and
back; every packet delivered, one mapping throughout, and the EM path did the translating
in between (RDMA READs and hits counted). No root needed."""

import threading
import time

import pytest
from scapy.all import IP, TCP, Ether, raw

from controller.orchestration.em import EmNat
from controller.orchestration.lm import LmNat
from controller.orchestration.move import Instance, move
from controller.orchestration.steering import ClassifierSteering
from nfs.control import ControlError
from p4rt.entities import TableWrite, Ternary
from tests.fabric_net import MAC, chain_path, received, two_switches

LM_SPI, EM_SPI, LM_NF, EM_NF = 10, 11, 2, 5
PUBLIC = "198.51.100.1"
FLOW = {"src": "10.0.1.1", "dst": "10.0.2.2", "proto": 6, "sport": 1234, "dport": 80}


def pkt(seq: int) -> bytes:
    return raw(Ether(src=MAC["H1"], dst=MAC["S1"]) / IP(src="10.0.1.1", dst="10.0.2.2")
               / TCP(sport=1234, dport=80, seq=seq) / b"x")  # fmt: skip


@pytest.fixture
def net():
    net, emac, _ms = two_switches(bound_us=2_000_000, retry_us=300_000)
    s1 = net.switches["S1"]
    s1.client.insert([TableWrite.of("classifier", {"sm.ingress_port": Ternary(1, 0x1FF)}, "classify",
                                    {"spi": LM_SPI}, priority=1)])  # fmt: skip
    emac.place(EM_NF, [], qp=0, buckets=64)  # the EM NAT's table, empty
    chain_path(net, LM_SPI, [(LM_NF, "nat", "S1:LM")])
    chain_path(net, EM_SPI, [(EM_NF, "nat", "S1:EM")])
    yield net, emac
    net.close()


def test_a_nat_flow_moves_from_lm_to_em_and_back_under_traffic_with_nothing_lost(net):
    net, emac = net
    s1 = net.switches["S1"]
    lm = Instance("lm", "", LM_NF, LM_SPI, lm=LmNat(s1.client, LM_NF, PUBLIC))
    em = Instance("em", "", EM_NF, EM_SPI, lm=EmNat(emac, EM_NF, PUBLIC))
    lm.lm.call("put", records=[{"flow": FLOW, "nat": {"src": PUBLIC, "sport": 40000}}])
    steering = ClassifierSteering(s1.client)
    sent, stop = [0], threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            s1.ports[1].rx.put(pkt(sent[0]))
            sent[0] += 1
            time.sleep(0.004)

    t = threading.Thread(target=traffic)
    t.start()
    try:
        time.sleep(0.3)
        there = move([FLOW], lm, em, "loss-free", steering)
        time.sleep(0.5)
        reads = s1.client.counter_read("rdma_stats")
        back = move([FLOW], em, lm, "loss-free", steering)
        time.sleep(0.3)
    finally:
        stop.set()
        t.join()
    assert there.ok and back.ok, (there, back)
    assert there.flows == back.flows == 1
    outs = received(net.hosts["H2"], sent[0], timeout=5)
    assert len(outs) == sent[0]  # nothing lost
    seqs = [Ether(f)[TCP].seq for f in outs]
    assert sorted(seqs) == list(range(sent[0]))
    assert {(Ether(f)[IP].src, Ether(f)[TCP].sport) for f in outs} == {(PUBLIC, 40000)}  # one mapping
    assert sum(n for n, _ in reads.values()) > 0  # EM was read while the flow was there
    assert em.lm.map == {} and lm.lm.call("get", filter={})["records"][0]["nat"]["sport"] == 40000


def test_the_em_endpoint_refuses_what_it_cannot_do(net):
    _, emac = net
    em = EmNat(emac, EM_NF, PUBLIC)
    with pytest.raises(ControlError, match=r"not a NAT mapping to 198\.51\.100\.1"):
        em.call("put", records=[{"flow": FLOW, "nat": {"src": "203.0.113.1", "sport": 1}}])
    with pytest.raises(ControlError, match="holds no packets"):
        em.call("hold", filter={})
    gone = EmNat(emac, 9, PUBLIC)  # no table placed for NF 9 in EM
    with pytest.raises(ControlError, match="EM NAT 9"):
        gone.call("put", records=[{"flow": FLOW, "nat": {"src": PUBLIC, "sport": 1}}])
    assert gone.map == {}
