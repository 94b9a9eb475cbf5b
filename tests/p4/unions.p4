// Header unions: a parser fills one member of a union, and making one member
// valid (extract, setValid, copy) invalidates the member valid before, as in BMv2.
#include <core.p4>
#include <v1model.p4>

header eth_t { bit<48> dst; bit<48> src; bit<16> type; }
header a_t { bit<8> tag; bit<16> val; }
header b_t { bit<8> tag; bit<32> val; }
header_union ab_t { a_t a; b_t b; }
header out_t { bit<8> flags; }

struct headers { eth_t eth; ab_t ab; out_t out; }
struct meta_t { bit<8> unused; }

parser P(packet_in pkt, out headers hdr, inout meta_t m, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.eth);
        transition select(hdr.eth.type) {
            0xAAAA: parse_a;
            0xBBBB: parse_b;
            0xABAB: parse_both;
            default: accept;
        }
    }
    state parse_a { pkt.extract(hdr.ab.a); transition accept; }
    state parse_b { pkt.extract(hdr.ab.b); transition accept; }
    // The second extract makes b valid and so a invalid: a is not emitted.
    state parse_both { pkt.extract(hdr.ab.a); pkt.extract(hdr.ab.b); transition accept; }
}

control VC(inout headers hdr, inout meta_t m) { apply { } }

control I(inout headers hdr, inout meta_t m, inout standard_metadata_t sm) {
    apply {
        sm.egress_spec = 1;
        hdr.out.setValid();
        hdr.out.flags = 0;
        if (hdr.ab.isValid()) { hdr.out.flags = hdr.out.flags | 1; }
        if (hdr.ab.a.isValid()) {
            // Widen a into b; b.setValid() invalidates a.
            bit<16> v = hdr.ab.a.val;
            hdr.ab.b.setValid();
            hdr.ab.b.tag = 0xb0;
            hdr.ab.b.val = (bit<32>)v + 1;
            hdr.out.flags = hdr.out.flags | 2;
        }
        if (hdr.ab.a.isValid()) { hdr.out.flags = hdr.out.flags | 4; }
        ab_t copy = hdr.ab;
        if (copy.b.isValid()) { hdr.out.flags = hdr.out.flags | 8; }
        if (copy.a.isValid()) { hdr.out.flags = hdr.out.flags | 16; }
    }
}

control E(inout headers hdr, inout meta_t m, inout standard_metadata_t sm) { apply { } }
control CC(inout headers hdr, inout meta_t m) { apply { } }

control D(packet_out pkt, in headers hdr) {
    apply {
        pkt.emit(hdr.eth);
        pkt.emit(hdr.ab);
        pkt.emit(hdr.out);
    }
}

V1Switch(P(), VC(), I(), E(), CC(), D()) main;
