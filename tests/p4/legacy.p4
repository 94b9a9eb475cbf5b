// Older but common v1model spellings: function-like macros, constants local to a
// parser, a nested control applied to constants, and the deprecated
// resubmit(data) / clone3(type, session, data) that name the fields to keep.
#include <core.p4>
#include <v1model.p4>

#define IS_RESUBMIT(sm) ((sm).instance_type == 6)
#define IS_I2E_CLONE(sm) ((sm).instance_type == 1)
#define PAIR(hi, lo) ((hi) ++ (lo))

header h_t { bit<16> kind; bit<8> a; bit<8> b; bit<16> word; bit<8> seen; }
struct meta_t { bit<8> kept; bit<8> lost; }
struct headers { h_t h; }

parser P(packet_in pkt, out headers hdr, inout meta_t m, inout standard_metadata_t sm) {
    const bit<16> KIND_H = 0x8888;
    state start {
        pkt.extract(hdr.h);
        transition select(hdr.h.kind) { KIND_H: accept; default: reject; }
    }
}

control VC(inout headers hdr, inout meta_t m) { apply { } }

control put_word(out bit<16> word, in bit<8> hi, in bit<8> lo) {
    apply { word = PAIR(hi, lo); }
}

control I(inout headers hdr, inout meta_t m, inout standard_metadata_t sm) {
    put_word() pw;
    counter(8, CounterType.packets_and_bytes) arrivals;
    register<bit<8>>(2) knob;
    apply {
        arrivals.count((bit<32>)sm.instance_type);
        knob.read(hdr.h.b, 1);
        if (IS_RESUBMIT(sm)) {
            // Second pass: kept survived the resubmit, lost did not.
            hdr.h.seen = m.kept | m.lost;
            pw.apply(hdr.h.word, 0xbe, 0xef);
            sm.egress_spec = 2;
        } else if (hdr.h.a == 1) {
            m.kept = 0x10;
            m.lost = 0x01;
            resubmit({ m.kept });
        } else {
            pw.apply(hdr.h.word, 0xca, 0xfe);
            m.kept = 0x20;
            m.lost = 0x02;
            clone3(CloneType.I2E, 32w7, { m.kept });
            sm.egress_spec = 1;
        }
    }
}

control E(inout headers hdr, inout meta_t m, inout standard_metadata_t sm) {
    apply {
        if (IS_I2E_CLONE(sm)) { hdr.h.seen = m.kept | m.lost; }
    }
}
control CC(inout headers hdr, inout meta_t m) { apply { } }
control D(packet_out pkt, in headers hdr) { apply { pkt.emit(hdr.h); } }

V1Switch(P(), VC(), I(), E(), CC(), D()) main;
