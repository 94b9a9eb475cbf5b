/* A stack of header unions (issue 9): each element is a p or a q; the parser extracts
   into the next element's member and selects on the last element's field. */
#include <core.p4>
#include <v1model.p4>

header first_t { bit<8> kind; bit<8> valid1; bit<8> count; }
header p_t { bit<8> v; }
header q_t { bit<16> w; }
header_union pq_t { p_t p; q_t q; }
struct headers_t { first_t first; pq_t[3] us; pq_t[3] copy; }
struct meta_t { }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start { pkt.extract(hdr.first); transition select(hdr.first.kind) { 1: parse_p; 2: parse_q; default: accept; } }
    state parse_p {
        pkt.extract(hdr.us.next.p);
        transition select(hdr.us.last.p.v) { 1: parse_p; 2: parse_q; default: accept; }
    }
    state parse_q { pkt.extract(hdr.us.next.q); transition accept; }
}
control V(inout headers_t hdr, inout meta_t meta) { apply { } }
control I(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        sm.egress_spec = 1;
        hdr.first.valid1 = hdr.us[1].isValid() ? 8w1 : 8w0;
        if (hdr.us[0].p.isValid()) { hdr.us[0].p.v = 0x77; }
        hdr.copy = hdr.us;
        hdr.us.pop_front(1);
        if (hdr.copy[2].q.isValid()) { hdr.first.count = 3; }
    }
}
control E(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control C(inout headers_t hdr, inout meta_t meta) { apply { } }
control D(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.first); pkt.emit(hdr.us); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
