/* `make bench`: three tables in a row (exact MAC, LPM route, ternary ACL), 1,000 entries each. */
#include <core.p4>
#include <v1model.p4>

header ethernet_t { bit<48> dst; bit<48> src; bit<16> ether_type; }
header ipv4_t {
    bit<4> version; bit<4> ihl; bit<8> tos; bit<16> len; bit<16> id; bit<3> flags; bit<13> frag;
    bit<8> ttl; bit<8> proto; bit<16> csum; bit<32> src; bit<32> dst;
}
header ports_t { bit<16> sport; bit<16> dport; }
struct headers_t { ethernet_t ethernet; ipv4_t ipv4; ports_t ports; }
struct meta_t { bit<8> class_id; }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start { pkt.extract(hdr.ethernet); transition select(hdr.ethernet.ether_type) { 0x800: ipv4; default: accept; } }
    state ipv4 { pkt.extract(hdr.ipv4); transition select(hdr.ipv4.proto) { 6: ports; 17: ports; default: accept; } }
    state ports { pkt.extract(hdr.ports); transition accept; }
}
control V(inout headers_t hdr, inout meta_t meta) { apply { } }
control I(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    action set_class(bit<8> c) { meta.class_id = c; }
    action route(bit<9> port, bit<48> nh) { sm.egress_spec = port; hdr.ethernet.src = hdr.ethernet.dst; hdr.ethernet.dst = nh; hdr.ipv4.ttl = hdr.ipv4.ttl - 1; }
    action deny() { mark_to_drop(sm); }
    action permit() { }
    table macs { key = { hdr.ethernet.dst : exact; } actions = { set_class; NoAction; } default_action = NoAction(); size = 1024; }
    table routes { key = { hdr.ipv4.dst : lpm; } actions = { route; deny; } default_action = deny(); size = 1024; }
    table acl { key = { hdr.ipv4.src : ternary; hdr.ports.dport : ternary; } actions = { permit; deny; } default_action = permit(); size = 1024; }
    apply {
        macs.apply();
        if (hdr.ipv4.isValid()) { routes.apply(); acl.apply(); }
    }
}
control E(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control C(inout headers_t hdr, inout meta_t meta) {
    apply {
        update_checksum(hdr.ipv4.isValid(), { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.tos, hdr.ipv4.len, hdr.ipv4.id,
            hdr.ipv4.flags, hdr.ipv4.frag, hdr.ipv4.ttl, hdr.ipv4.proto, hdr.ipv4.src, hdr.ipv4.dst },
            hdr.ipv4.csum, HashAlgorithm.csum16);
    }
}
control D(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.ethernet); pkt.emit(hdr.ipv4); pkt.emit(hdr.ports); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
