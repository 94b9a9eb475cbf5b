/* Constructs the compiler lowers itself (issue 9): slices as l-values everywhere,
   switch on integer / enum / error values, unsigned / and %, casts to typedefs of
   slices, a list expression and a tuple as `in` arguments, entry priorities after an
   annotation, header stack comparison, a sub-parser instance. */
#include <core.p4>
#include <v1model.p4>

typedef bit<4> nibble_t;
enum Color { RED, GREEN, BLUE }

header h_t { bit<8> op; bit<8> a; bit<8> b; bit<16> c; bit<8> r; }
header s_t { bit<8> v; }
struct pair_t { bit<8> x; bit<8> y; }
struct headers_t { h_t h; s_t[2] s; s_t[2] t; }
struct meta_t { bit<8> pm; }

void low_nibble(out bit<4> x) { x = 4w0x5; }
void add_pair(in pair_t p, out bit<8> r) { r = p.x + p.y; }
void add_tuple(in tuple<bit<8>, bit<8>> p, out bit<8> r) { r = p[0] + p[1]; }

parser Stack(packet_in pkt, inout headers_t hdr) {
    state start { pkt.extract(hdr.s.next); transition select(hdr.s.last.v) { 0xff: reject; default: second; } }
    state second { pkt.extract(hdr.s.next); transition accept; }
}
parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    Stack() stack;  // a sub-parser instance, inlined
    state start {
        pkt.extract(hdr.h);
        meta.pm = hdr.h.a;
        stack.apply(pkt, hdr);
        meta.pm[7:4] = 4w0xe;  // a slice assigned in a parser, after the sub-parser returns
        transition accept;
    }
}
control V(inout headers_t hdr, inout meta_t meta) { apply { } }
control I(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    action set_nibbles(bit<8> v) { hdr.h.c[11:4] = v; low_nibble(hdr.h.a[3:0]); }
    action set_r(bit<8> v) { hdr.h.r = v; }
    table pri {
        key = { hdr.h.a : ternary; }
        actions = { set_r; NoAction; }
        entries = {
            @name("wide") priority = 20 : 8w0x00 &&& 8w0x00 : set_r(8w0x20);
            @name("narrow") priority = 10 : 8w0x42 &&& 8w0xff : set_r(8w0x10);
        }
        default_action = NoAction();
    }
    apply {
        sm.egress_spec = 1;
        Color col = Color.RED;
        if (hdr.h.op == 5) { col = Color.BLUE; }
        switch (hdr.h.op) {
            1: { hdr.h.c[7:0] = hdr.h.a; hdr.h.c[15:15] = 1w1; }
            2:
            3: { set_nibbles(8w0xab); }
            4: { hdr.h.b = hdr.h.a / 8w3; hdr.h.r = hdr.h.a % 8w7; }
            5: { switch (col) { Color.RED: { hdr.h.b = 1; } Color.BLUE: { hdr.h.b = 3; } } }
            6: { nibble_t n = (nibble_t)hdr.h.a[7:4]; hdr.h.b = (bit<8>)n; hdr.h.c[11:0][3:0] = 4w0; }
            7: { add_pair({hdr.h.a, hdr.h.b}, hdr.h.r); add_tuple({hdr.h.a, 8w1}, hdr.h.b); }
            8: { pri.apply(); }
            9: { hdr.t = hdr.s; if (hdr.t == hdr.s) { hdr.h.r = 0x77; } hdr.t[1].v = 0; if (hdr.t != hdr.s) { hdr.h.b = 0x66; } }
            default: { hdr.h.r = meta.pm; }
        }
        switch (sm.parser_error) { error.NoError: { hdr.h.op[7:7] = 1w1; } default: { } }
    }
}
control E(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control C(inout headers_t hdr, inout meta_t meta) { apply { } }
control D(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.h); pkt.emit(hdr.s); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
