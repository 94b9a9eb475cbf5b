/* Constructs p4c's own test programs lean on: a nested control with its own table and a
   const default action with an argument; whole-header and stack equality with varbits;
   a field of a header-typed lookahead in an expression; V1Switch with type arguments. */
#include <core.p4>
#include <v1model.p4>

header len_h { bit<4> words; bit<4> kind; }
header rec_t { bit<8> tag; varbit<64> body; }
header out_t { bit<8> flags; bit<32> sum; }
struct headers { rec_t first; rec_t[2] more; out_t out; }
struct meta_t { }

parser P(packet_in pkt, out headers hdr, inout meta_t m, inout standard_metadata_t sm) {
    state start {
        // The body is as long as the high nibble of the next byte says, in 16-bit words.
        pkt.extract(hdr.first, (bit<32>)(16 * (bit<8>)pkt.lookahead<len_h>().words));
        pkt.extract(hdr.more.next, 32);
        pkt.extract(hdr.more.next, 32);
        transition accept;
    }
}

control Adder(inout out_t o) {
    action add(bit<32> k) { o.sum = o.sum + k; }
    table t { actions = { add; } const default_action = add(7); }
    apply { t.apply(); }
}

control I(inout headers hdr, inout meta_t m, inout standard_metadata_t sm) {
    Adder() adder;
    action bonus(bit<32> k) { hdr.out.sum = hdr.out.sum + k; }
    // A computed key: the switch matches on metadata the compiler fills just before.
    table by_flags {
        key = { hdr.out.flags | 8w4 : exact @name("flags_or_4"); }
        actions = { bonus; NoAction; }
        const entries = { 0x47 : bonus(1000); }
        default_action = NoAction();
    }
    apply {
        sm.egress_spec = 1;
        hdr.out.setValid();
        hdr.out.flags = 0;
        hdr.out.sum = 100;
        out_t blank = { 8w0, 32w100 };  // a local header made valid by its initialiser
        if (blank == hdr.out) { hdr.out.flags = 0x40; }
        if (hdr.first == hdr.more[0]) { hdr.out.flags = hdr.out.flags | 1; }
        rec_t[2] copy;
        copy[0] = hdr.first;
        copy[1] = hdr.more[0];
        if (copy == hdr.more) { hdr.out.flags = hdr.out.flags | 2; }
        adder.apply(hdr.out);
        by_flags.apply();
        // A stack index known only at run time: bit 4 of the first tag picks more[0] or more[1].
        if (hdr.more[hdr.first.tag[4:4]].tag == 0x20) { hdr.out.sum = hdr.out.sum + 1; }
        hdr.more[hdr.first.tag[4:4]].tag = 0x77;
    }
}

control E(inout headers hdr, inout meta_t m, inout standard_metadata_t sm) { apply { } }
control V(inout headers hdr, inout meta_t m) { apply { } }
control C(inout headers hdr, inout meta_t m) { apply { } }
control D(packet_out pkt, in headers hdr) { apply { pkt.emit(hdr); } }
V1Switch<headers, meta_t>(P(), V(), I(), E(), C(), D()) main;
