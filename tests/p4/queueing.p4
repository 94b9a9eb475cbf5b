/* The traffic manager's metadata, as the P4 tutorials' ECN and MRI exercises read it:
   every packet goes to port 2; egress writes the queueing metadata into the packet and
   marks it (ECN-style) when the queue it waited in was at least 5 packets deep. */
#include <core.p4>
#include <v1model.p4>

header q_t {
    bit<8>  mark;
    bit<8>  prio;
    bit<32> enq_qdepth;
    bit<32> deq_qdepth;
    bit<32> deq_timedelta;
    bit<32> enq_timestamp;
    bit<48> ingress_ts;
    bit<48> egress_ts;
}
struct headers_t { q_t q; }
struct meta_t { }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start { pkt.extract(hdr.q); transition accept; }
}
control V(inout headers_t hdr, inout meta_t meta) { apply { } }
control I(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        sm.egress_spec = 2;
        sm.priority = (bit<3>)hdr.q.prio;
        hdr.q.ingress_ts = sm.ingress_global_timestamp;
    }
}
control E(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        hdr.q.enq_qdepth = (bit<32>)sm.enq_qdepth;
        hdr.q.deq_qdepth = (bit<32>)sm.deq_qdepth;
        hdr.q.deq_timedelta = sm.deq_timedelta;
        hdr.q.enq_timestamp = sm.enq_timestamp;
        hdr.q.egress_ts = sm.egress_global_timestamp;
        if (sm.enq_qdepth >= 5) { hdr.q.mark = 3; }
    }
}
control C(inout headers_t hdr, inout meta_t meta) { apply { } }
control D(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.q); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
