/* Functions: early returns, out/inout parameters, and calls inside && / || / ?: that
   must run only when P4's left-to-right, short-circuit order reaches them. */
#include <core.p4>
#include <v1model.p4>

header h_t { bit<8> x; bit<8> y; bit<8> calls; bit<8> r1; bit<8> r2; bit<8> r3; }
struct headers { h_t h; }
struct meta_t { }

// Counts how often it runs; returns whether x is odd.
bool odd(in bit<8> x, inout bit<8> calls) {
    calls = calls + 1;
    return x[0:0] == 1;
}

// Early returns and a local.
bit<8> clamp(in bit<8> v, in bit<8> hi) {
    bit<8> limit = hi;
    if (v > limit) {
        return limit;
    }
    if (v == 0) {
        return 1;
    }
    return v;
}

// An out parameter written on every path.
void split(in bit<8> v, out bit<8> high, out bit<8> low) {
    high = v >> 4;
    low = v & 0x0f;
}

parser P(packet_in pkt, out headers hdr, inout meta_t m, inout standard_metadata_t sm) {
    state start { pkt.extract(hdr.h); transition accept; }
}

control I(inout headers hdr, inout meta_t m, inout standard_metadata_t sm) {
    table seen {
        key = { hdr.h.x : exact; }
        actions = { NoAction; }
        const entries = { 7 : NoAction(); }
    }
    apply {
        sm.egress_spec = 1;
        hdr.h.calls = 0;
        bool a = hdr.h.x == 0 && odd(hdr.h.y, hdr.h.calls);  // odd() runs only when x == 0
        bool b = hdr.h.x != 0 || odd(hdr.h.y, hdr.h.calls);  // ... and here too
        hdr.h.r1 = clamp(hdr.h.y, 100);
        split(hdr.h.y, hdr.h.r2, hdr.h.r3);
        if (a) { hdr.h.r1 = hdr.h.r1 + 0x80; }
        if (!b) { hdr.h.r2 = 0xee; }
        hdr.h.y = odd(hdr.h.x, hdr.h.calls) ? clamp(hdr.h.x, 9) : 8w0;
        // A table applied inside an expression: applied first, its hit kept.
        hdr.h.r3 = hdr.h.r3 + (seen.apply().hit ? 8w0x10 : 8w0);
    }
}

control E(inout headers hdr, inout meta_t m, inout standard_metadata_t sm) { apply { } }
control V(inout headers hdr, inout meta_t m) { apply { } }
control C(inout headers hdr, inout meta_t m) { apply { } }
control D(packet_out pkt, in headers hdr) { apply { pkt.emit(hdr); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
