/* Clone, resubmit, multicast and recirculate, each selected by the EtherType. */
#include <core.p4>
#include <v1model.p4>

header ethernet_t { bit<48> dst; bit<48> src; bit<16> ether_type; }
struct headers_t { ethernet_t ethernet; }
struct meta_t { @field_list(1) bit<8> tag; bit<8> scratch; }

parser P(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start { pkt.extract(hdr.ethernet); transition accept; }
}
control V(inout headers_t hdr, inout meta_t meta) { apply { } }

control I(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        sm.egress_spec = 2;
        if (hdr.ethernet.ether_type == 0x1111) {
            meta.tag = 7;
            meta.scratch = 1;  // not in the field list: a clone does not see it
            clone_preserving_field_list(CloneType.I2E, 10, 1);
        } else if (hdr.ethernet.ether_type == 0x2222) {
            if (sm.instance_type == 0) {
                meta.tag = 9;
                resubmit_preserving_field_list(1);
            } else {
                hdr.ethernet.src = (bit<48>)meta.tag;  // the resubmitted pass sees the tag
                sm.egress_spec = 3;
            }
        } else if (hdr.ethernet.ether_type == 0x3333) {
            sm.mcast_grp = 1;
        } else if (hdr.ethernet.ether_type == 0x4444) {
            if (sm.instance_type == 4) {  // back from recirculation
                hdr.ethernet.src = (bit<48>)meta.tag;
                meta.scratch = 1;  // egress: do not recirculate again (unicast is NORMAL there)
                sm.egress_spec = 5;
            } else {
                sm.egress_spec = 4;
            }
        }
    }
}

control E(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        // Every packet leaving says how it was made: instance type, rid, tag.
        hdr.ethernet.dst = sm.instance_type ++ sm.egress_rid;
        if (sm.instance_type == 1) {
            hdr.ethernet.src = (bit<48>)(meta.tag ++ meta.scratch);
        }
        if (hdr.ethernet.ether_type == 0x4444 && meta.scratch == 0) {
            meta.tag = 5;
            recirculate_preserving_field_list(1);
        }
        if (hdr.ethernet.ether_type == 0x5555 && sm.instance_type == 0) {  // the clone runs egress too
            clone(CloneType.E2E, 20);
            mark_to_drop(sm);  // the original goes nowhere, the clone still leaves
        }
    }
}
control C(inout headers_t hdr, inout meta_t meta) { apply { } }
control D(packet_out pkt, in headers_t hdr) { apply { pkt.emit(hdr.ethernet); } }
V1Switch(P(), V(), I(), E(), C(), D()) main;
