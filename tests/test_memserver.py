"""The memory server alone, against RoCEv2 frames built with scapy: it must answer as a
responder NIC does (and never touch memory on a bad request)."""

import random

import pytest
from scapy.contrib.roce import AETH, BTH
from scapy.layers.l2 import Ether

from emac.memserver import Responder
from emac.roce import (
    AETH_ACK,
    NAK_INVALID_REQUEST,
    NAK_PSN_SEQ,
    NAK_REMOTE_ACCESS,
    OP_ACK,
    OP_READ_RESPONSE_ONLY,
    Endpoint,
    frame,
    payload_of,
    read_request,
    write_only,
)

CLIENT = Endpoint("02:00:00:00:00:01", "10.9.0.1", 0x100)
SERVER = Endpoint("02:00:00:00:00:02", "10.9.0.2", 0x200)
BASE, RKEY = 0x10000, 0xBEEF


@pytest.fixture
def mem():
    r = Responder(SERVER, mtu=256)
    reg = r.register(BASE, 4096, RKEY)
    reg.buf[:] = bytes(range(256)) * 16
    r.connect(SERVER.qpn, CLIENT, initial_psn=10)
    return r


def one(r: Responder, data: bytes):
    (out,) = r.handle(data)
    p = Ether(out)
    assert p[BTH].dqpn == CLIENT.qpn and Ether(out)[BTH].compute_icrc(b"") == out[-4:]
    return p


def test_read_inside_the_region(mem):
    p = one(mem, read_request(CLIENT, SERVER, 10, BASE + 16, RKEY, 32))
    assert p[BTH].opcode == OP_READ_RESPONSE_ONLY and p[BTH].psn == 10
    assert p[AETH].syndrome == AETH_ACK and p[AETH].msn == 1
    assert payload_of(p) == bytes(range(16, 48))


def test_long_read_is_first_middle_last_with_consecutive_psns(mem):
    outs = [Ether(o) for o in mem.handle(read_request(CLIENT, SERVER, 10, BASE, RKEY, 600))]
    assert [o[BTH].opcode for o in outs] == [0x0D, 0x0E, 0x0F]
    assert [o[BTH].psn for o in outs] == [10, 11, 12]
    assert mem.qps[SERVER.qpn].epsn == 13
    got = b"".join(payload_of(o) for o in outs)
    assert got[:600] == (bytes(range(256)) * 3)[:600]


def test_write_then_read_back(mem):
    p = one(mem, write_only(CLIENT, SERVER, 10, BASE + 100, RKEY, b"hello"))
    assert p[BTH].opcode == OP_ACK and p[AETH].syndrome == AETH_ACK and p[BTH].psn == 10
    assert mem.peek(RKEY, BASE + 100, 5) == b"hello"
    p = one(mem, read_request(CLIENT, SERVER, 11, BASE + 100, RKEY, 5))
    assert payload_of(p) == b"hello"


@pytest.mark.parametrize(
    "va,length",
    [(BASE - 1, 4), (BASE + 4094, 4), (BASE + 4096, 1), (0, 8)],
    ids=["before", "across-end", "after", "elsewhere"],
)
def test_outside_the_region_is_a_remote_access_nak_and_touches_nothing(mem, va, length):
    before = mem.peek(RKEY, BASE, 4096)
    p = one(mem, write_only(CLIENT, SERVER, 10, va, RKEY, b"x" * length))
    assert p[BTH].opcode == OP_ACK and p[AETH].syndrome == NAK_REMOTE_ACCESS
    p = one(mem, read_request(CLIENT, SERVER, 10, va, RKEY, length))
    assert p[AETH].syndrome == NAK_REMOTE_ACCESS
    assert mem.peek(RKEY, BASE, 4096) == before
    assert mem.qps[SERVER.qpn].epsn == 10  # a NAKed request consumes no PSN


def test_bad_rkey_is_a_remote_access_nak(mem):
    p = one(mem, read_request(CLIENT, SERVER, 10, BASE, RKEY + 1, 8))
    assert p[AETH].syndrome == NAK_REMOTE_ACCESS
    before = mem.peek(RKEY, BASE, 8)
    p = one(mem, write_only(CLIENT, SERVER, 10, BASE, RKEY + 1, b"12345678"))
    assert p[AETH].syndrome == NAK_REMOTE_ACCESS and mem.peek(RKEY, BASE, 8) == before


def test_psn_gap_is_one_sequence_nak_with_the_expected_psn(mem):
    p = one(mem, write_only(CLIENT, SERVER, 12, BASE, RKEY, b"zz"))
    assert p[AETH].syndrome == NAK_PSN_SEQ and p[BTH].psn == 10
    assert mem.handle(read_request(CLIENT, SERVER, 13, BASE, RKEY, 2)) == []  # only one NAK
    assert mem.peek(RKEY, BASE, 2) == bytes([0, 1])
    p = one(mem, read_request(CLIENT, SERVER, 10, BASE, RKEY, 2))  # the gap closes
    assert p[AETH].syndrome == AETH_ACK


def test_duplicates_are_answered_again_but_a_write_is_not_redone(mem):
    one(mem, write_only(CLIENT, SERVER, 10, BASE, RKEY, b"AA"))
    one(mem, write_only(CLIENT, SERVER, 11, BASE, RKEY, b"BB"))
    p = one(mem, write_only(CLIENT, SERVER, 10, BASE, RKEY, b"AA"))  # retransmitted
    assert p[AETH].syndrome == AETH_ACK and mem.peek(RKEY, BASE, 2) == b"BB"
    p = one(mem, read_request(CLIENT, SERVER, 11, BASE, RKEY, 2))
    assert payload_of(p) == b"BB" and mem.qps[SERVER.qpn].epsn == 12


def test_bad_icrc_and_unknown_qp_are_dropped_silently(mem):
    bad = bytearray(read_request(CLIENT, SERVER, 10, BASE, RKEY, 8))
    bad[-1] ^= 0xFF
    assert mem.handle(bytes(bad)) == [] and mem.stats["bad_icrc"] == 1
    other = Endpoint(SERVER.mac, SERVER.ip, 0x999)
    assert mem.handle(read_request(CLIENT, other, 10, BASE, RKEY, 8)) == [] and mem.stats["bad_qp"] == 1
    stranger = Endpoint("02:00:00:00:00:09", "10.9.0.9", CLIENT.qpn)
    assert mem.handle(read_request(stranger, SERVER, 10, BASE, RKEY, 8)) == []
    assert mem.qps[SERVER.qpn].epsn == 10


def test_unserved_opcode_and_wrong_length_are_invalid_request(mem):
    p = one(mem, frame(CLIENT, SERVER, BTH(opcode=0x04, psn=10) / b"send"))  # SEND_ONLY
    assert p[AETH].syndrome == NAK_INVALID_REQUEST
    from emac.roce import RETH

    lying = frame(CLIENT, SERVER, BTH(opcode=0x0A, psn=10) / RETH(va=BASE, rkey=RKEY, dlen=9) / b"1234")
    p = one(mem, lying)
    assert p[AETH].syndrome == NAK_INVALID_REQUEST and mem.peek(RKEY, BASE, 4) == bytes([0, 1, 2, 3])


def test_frames_for_others_are_ignored(mem):
    assert mem.handle(b"\x00" * 60) == []
    assert (
        mem.handle(read_request(CLIENT, Endpoint(SERVER.mac, "10.9.0.77", SERVER.qpn), 10, BASE, RKEY, 8))
        == []
    )


def test_garbage_and_truncated_frames_are_dropped_without_harm(mem):
    import random

    rng = random.Random(7)
    good = read_request(CLIENT, SERVER, 10, BASE, RKEY, 8)
    before = mem.peek(RKEY, BASE, 4096)
    for n in range(1, len(good)):
        assert mem.handle(good[:n]) == []  # every truncation: no answer, no exception
    for _ in range(300):
        junk = bytearray(good)
        for _ in range(rng.randrange(1, 6)):
            junk[rng.randrange(14, len(junk))] = rng.randrange(256)
        mem.handle(bytes(junk))  # answered or not, never an exception
        mem.handle(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 120))))
    assert mem.peek(RKEY, BASE, 4096) == before


def test_the_fast_icrc_and_responses_are_scapys_byte_for_byte():
    """The memory server computes ICRCs and builds responses without scapy's packet
    copies; scapy's RoCE layers stay the reference they must equal."""
    from scapy.layers.inet import IP, UDP
    from scapy.packet import Raw

    from emac.roce import ROCE_PORT, icrc, icrc_ok, response

    rng = random.Random(7)
    for n in range(40):
        payload = rng.randbytes(rng.choice([0, 1, 3, 16, 160, 1024]))
        options = b"\x01" * 4 * rng.randrange(3)  # NOPs: the IP header may be longer than 20
        bth = BTH(
            opcode=rng.choice([0x0C, 0x10, 0x11]), psn=rng.randrange(1 << 24), dqpn=rng.randrange(1 << 24)
        )
        pkt = (
            Ether()
            / IP(
                src="10.1.2.3",
                dst="10.3.2.1",
                tos=rng.randrange(256),
                ttl=rng.randrange(256),
                options=options,
            )
            / UDP(sport=rng.randrange(1 << 16), dport=ROCE_PORT)
            / bth
            / Raw(payload)
        )
        data = bytes(pkt)
        assert icrc(data) == data[-4:] == Ether(data)[BTH].compute_icrc(b""), n
        assert icrc_ok(data + bytes(rng.randrange(20)))  # Ethernet padding is not covered
        bad = bytearray(data)
        o = 34 + len(options)  # UDP; its checksum and the BTH's FECN/BECN byte are masked
        bad[rng.choice([*range(o, o + 6), *range(o + 8, o + 12), *range(o + 13, len(data))])] ^= 0x40
        assert not icrc_ok(bytes(bad))
    for psn, msn, syndrome, chunk in [
        (0, 0, AETH_ACK, b""),
        (0xFFFFFF, 77, NAK_PSN_SEQ, b""),
        (5, 9, None, b"x" * 9),
    ]:
        op = OP_ACK if chunk == b"" else 0x0E
        bth = BTH(opcode=op, psn=psn)
        if syndrome is not None:
            bth = bth / AETH(syndrome=syndrome, msn=msn)
        want = frame(SERVER, CLIENT, bth / Raw(chunk) if chunk else bth)
        assert response(SERVER, CLIENT, op, psn, chunk, syndrome, msn) == want
