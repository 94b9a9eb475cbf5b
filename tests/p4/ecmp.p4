/* ECMP: an action selector picks one next hop of a group per flow (5-tuple hash). */
#include <core.p4>
#include <v1model.p4>

header ethernet_t { bit<48> dst; bit<48> src; bit<16> ether_type; }
header ipv4_t {
    bit<4> version; bit<4> ihl; bit<8> tos; bit<16> len; bit<16> id; bit<3> flags; bit<13> frag;
    bit<8> ttl; bit<8> proto; bit<16> csum; bit<32> src; bit<32> dst;
}
header ports_t { bit<16> sport; bit<16> dport; }
struct headers_t { ethernet_t ethernet; ipv4_t ipv4; ports_t ports; }
struct meta_t { }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start { pkt.extract(hdr.ethernet); transition select(hdr.ethernet.ether_type) { 0x800: ipv4; default: accept; } }
    state ipv4 { pkt.extract(hdr.ipv4); pkt.extract(hdr.ports); transition accept; }
}
control V(inout headers_t hdr, inout meta_t meta) { apply { } }
control I(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    action_selector(HashAlgorithm.crc16, 32w64, 32w14) ecmp_selector;
    action next_hop(bit<9> port) { sm.egress_spec = port; }
    table ecmp {
        key = {
            hdr.ipv4.dst : lpm;
            hdr.ipv4.src : selector;
            hdr.ports.sport : selector;
            hdr.ports.dport : selector;
        }
        actions = { next_hop; }
        implementation = ecmp_selector;
    }
    apply { if (hdr.ipv4.isValid()) { ecmp.apply(); } }
}
control E(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control C(inout headers_t hdr, inout meta_t meta) { apply { } }
control D(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.ethernet); pkt.emit(hdr.ipv4); pkt.emit(hdr.ports); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
