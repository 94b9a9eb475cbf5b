/* fabric: the fat-tree underlay. IPv4 longest-prefix match; equal-cost uplinks are an
   action-selector group, one member per uplink, chosen per flow by a 5-tuple hash. */
#ifndef FABRIC_UNDERLAY_P4
#define FABRIC_UNDERLAY_P4

control Underlay(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    action_selector(HashAlgorithm.crc16, 32w1024, 32w14) ecmp_selector;

    action route(bit<9> port, bit<48> smac, bit<48> dmac) {
        sm.egress_spec = port;
        hdr.ethernet.src = smac;
        hdr.ethernet.dst = dmac;
        hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
    }
    action unroutable() { mark_to_drop(sm); }

    table ipv4_lpm {
        key = {
            hdr.ipv4.dst : lpm;
            hdr.ipv4.src : selector;
            hdr.ipv4.proto : selector;
            meta.sport : selector;
            meta.dport : selector;
        }
        actions = { route; unroutable; }
        implementation = ecmp_selector;
        size = 4096;
    }

    apply {
        if (hdr.ipv4.isValid()) {
            if (hdr.ipv4.ttl <= 1) {
                mark_to_drop(sm);
            } else {
                if (!ipv4_lpm.apply().hit) { mark_to_drop(sm); }
            }
        } else {
            mark_to_drop(sm);
        }
    }
}

#endif
