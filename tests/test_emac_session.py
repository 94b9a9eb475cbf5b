"""The READ clone's clone session: cut to the READ request's length on Tofino (no truncate()
there), left whole on v1model targets, whose P4Runtime server (BMv2's PI) refuses the cut."""

from emac.api import READ_BYTES, read_session
from emac.roce import Endpoint, read_request


def test_the_cut_is_the_length_of_the_read_request_the_fabric_sends():
    me, srv = (
        Endpoint("02:00:00:00:00:01", "10.9.0.1", 0x100),
        Endpoint("02:00:00:00:00:02", "10.9.0.2", 0x200),
    )
    assert READ_BYTES == len(read_request(me, srv, psn=5, va=1 << 40, rkey=7, length=160)) == 74


def test_a_tofino_session_is_cut_and_a_v1model_one_is_not():
    cut = read_session(3, 12, cut=True).packet_replication_engine_entry.clone_session_entry
    assert (cut.session_id, cut.packet_length_bytes, [(r.egress_port, r.instance) for r in cut.replicas]) == (
        103,
        74,
        [(12, 0)],
    )
    whole = read_session(3, 12).packet_replication_engine_entry.clone_session_entry
    assert whole.session_id == 103 and whole.packet_length_bytes == 0
