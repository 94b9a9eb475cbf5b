/* fabric: NSH service chaining. The ingress edge classifies by 5-tuple and pushes NSH
   (SPI = chain, SI = 255); every switch forwards on (SPI, SI): run a local NF (LM or EM),
   send toward the switch or server hosting the next one, or, at the last hop, pop NSH
   and route the packet to its destination. */
#ifndef FABRIC_CHAINING_P4
#define FABRIC_CHAINING_P4

control Classifier(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    counter(32w1024, CounterType.packets_and_bytes) chain_in;
    action classify(bit<24> spi) {
        hdr.nsh.setValid();
        hdr.nsh.ver = 0; hdr.nsh.oam = 0; hdr.nsh.u1 = 0; hdr.nsh.ttl = 63; hdr.nsh.len = 2;
        hdr.nsh.u2 = 0; hdr.nsh.mdType = 2; hdr.nsh.nextProto = 1;
        hdr.nsh.spi = spi;
        hdr.nsh.si = 255;
        hdr.ethernet.etherType = ETH_NSH;
    }
    table classifier {
        key = {
            sm.ingress_port : ternary;
            hdr.ipv4.src : ternary;
            hdr.ipv4.dst : ternary;
            hdr.ipv4.proto : ternary;
            meta.sport : range;
            meta.dport : range;
        }
        actions = { classify; NoAction; }
        default_action = NoAction();
        size = CLASSIFIER_SIZE;
    }
    apply {
        // Counted outside the action, by a metadata index: Tofino takes no sliced index.
        if (classifier.apply().hit) {
            meta.chainIdx = hdr.nsh.spi[9:0];
            chain_in.count((bit<32>) meta.chainIdx);
        }
    }
}

control ServiceForwarder(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    counter(32w1024, CounterType.packets_and_bytes) chain_out;
    counter(32w4, CounterType.packets_and_bytes) host_kind;
    action sff_local(bit<8> nfId, bit<8> kind, bit<2> where) {
        meta.local = 1;
        meta.nfId = nfId;
        meta.nfKind = kind;
        meta.hostKind = where;
    }
    // Toward the next hop: a neighbour switch, or the server hosting the next NF (NSH kept).
    action sff_forward(bit<9> port, bit<48> smac, bit<48> dmac, bit<2> where) {
        sm.egress_spec = port;
        hdr.ethernet.src = smac;
        hdr.ethernet.dst = dmac;
        meta.routed = 1;
        meta.hostKind = where;
    }
    // Last hop: the chain is done; pop NSH, the underlay routes the packet.
    action sff_end() {
        meta.chainIdx = hdr.nsh.spi[9:0];
        hdr.ethernet.etherType = ETH_IPV4;
        hdr.nsh.setInvalid();
    }
    action sff_drop() { mark_to_drop(sm); meta.routed = 1; }
    table sff {
        key = { hdr.nsh.spi : exact; hdr.nsh.si : exact; }
        actions = { sff_local; sff_forward; sff_end; sff_drop; }
        default_action = sff_drop();
        size = 8192;
    }
    apply {
        // Counted outside the actions: Tofino addresses an indirect counter by one
        // expression in every action of a table.
        switch (sff.apply().action_run) {
            sff_local: { host_kind.count((bit<32>) meta.hostKind); }
            sff_forward: { host_kind.count((bit<32>) meta.hostKind); }
            sff_end: { chain_out.count((bit<32>) meta.chainIdx); }
            default: { }
        }
    }
}

#endif
