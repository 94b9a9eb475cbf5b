// Actions whose directional parameters are bound in a table's action list: one
// P4 action, one P4Info action (control-plane parameters only), and one BMv2
// action per binding, as p4c does.
#include <core.p4>
#include <v1model.p4>

header h_t { bit<8> sel; bit<8> x; bit<8> y; bit<8> z; }
struct headers { h_t h; }
struct meta_t { bit<8> unused; }

parser P(packet_in pkt, out headers hdr, inout meta_t m, inout standard_metadata_t sm) {
    state start { pkt.extract(hdr.h); transition accept; }
}

control VC(inout headers hdr, inout meta_t m) { apply { } }

control I(inout headers hdr, inout meta_t m, inout standard_metadata_t sm) {
    action put(out bit<8> where, bit<8> value) { where = value; }
    action add(inout bit<8> where, bit<8> value) { where = where + value; }
    action nop() { }

    table into_x {
        key = { hdr.h.sel : exact; }
        actions = { put(hdr.h.x); nop; }
        const entries = { 1 : put(hdr.h.x, 0x11); }
        default_action = nop();
    }
    table into_y {
        key = { hdr.h.sel : exact; }
        actions = { put(hdr.h.y); add(hdr.h.y); }
        default_action = add(hdr.h.y, 0x20);
    }
    table into_z {
        key = { hdr.h.sel : exact; }
        actions = { put(hdr.h.z); nop; }
        default_action = nop();
    }
    apply {
        sm.egress_spec = 1;
        into_x.apply();
        into_y.apply();
        into_z.apply();
    }
}

control E(inout headers hdr, inout meta_t m, inout standard_metadata_t sm) { apply { } }
control CC(inout headers hdr, inout meta_t m) { apply { } }
control D(packet_out pkt, in headers hdr) { apply { pkt.emit(hdr.h); } }

V1Switch(P(), VC(), I(), E(), CC(), D()) main;
