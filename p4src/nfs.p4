/* fabric: the in-network NFs in local memory (LM). Every NF instance has an id (nf_id);
   each NF kind is one table keyed by nf_id first, so one table serves every instance of
   that kind on the switch. An NF sets meta.nfDrop to drop the packet. */
#ifndef FABRIC_NFS_P4
#define FABRIC_NFS_P4

/* Stateless firewall: an ACL of ternary addresses/protocol and port ranges, by priority.
   No entry matches: deny (write a lowest-priority permit-all entry to default to permit). */
control Firewall(inout headers_t hdr, inout meta_t meta) {
    action fw_permit() { }
    action fw_deny() { meta.nfDrop = 1; }
    table fw_acl {
        key = {
            meta.nfId : exact;
            hdr.ipv4.src : ternary;
            hdr.ipv4.dst : ternary;
            hdr.ipv4.proto : ternary;
            meta.sport : range;
            meta.dport : range;
        }
        actions = { fw_permit; fw_deny; }
        default_action = fw_deny();
        size = FW_ACL_SIZE;
    }
    apply { fw_acl.apply(); }
}

/* NAT: an exact 5-tuple rewritten to another 5-tuple (source and/or destination).
   No entry: the packet passes untranslated, unless it comes from an allocating NAT's inside
   (nat_alloc): then it is punted to the controller, which picks the flow's (public, port),
   writes its two entries and sends the packet back through the pipeline
   (controller/orchestration/lmalloc.py). A flow the controller could not map (its ports
   exhausted) gets a nat_refuse entry for a while: dropped here, counted in nf_drops, and
   the controller is not asked again meanwhile. */
control NatRewrite(inout headers_t hdr, inout meta_t meta, in bit<96> d) {
    apply {
        hdr.ipv4.src = d[95:64];
        hdr.ipv4.dst = d[63:32];
        meta.sport = d[31:16];
        meta.dport = d[15:0];
        if (hdr.tcp.isValid()) {
            hdr.tcp.sport = d[31:16];
            hdr.tcp.dport = d[15:0];
        } else if (hdr.udp.isValid()) {
            hdr.udp.sport = d[31:16];
            hdr.udp.dport = d[15:0];
        }
        meta.l4Rewritten = 1;
    }
}

control Nat(inout headers_t hdr, inout meta_t meta) {
    NatRewrite() rewrite;
    bit<96> d = 0;
    bool hit = false;
    bool alloc = false;
    action nat_translate(bit<32> src, bit<32> dst, bit<16> sport, bit<16> dport) {
        d = src ++ dst ++ sport ++ dport;
        hit = true;
    }
    action nat_refuse() { meta.nfDrop = 1; }
    table nat {
        key = {
            meta.nfId : exact;
            hdr.ipv4.src : exact;
            hdr.ipv4.dst : exact;
            hdr.ipv4.proto : exact;
            meta.sport : exact;
            meta.dport : exact;
        }
        actions = { nat_translate; nat_refuse; NoAction; }
        default_action = NoAction();
        size = 16384;
    }
    // Which sources an instance allocates for (its inside prefix, per protocol).
    action nat_punt() { alloc = true; }
    table nat_alloc {
        key = { meta.nfId : exact; hdr.ipv4.src : ternary; hdr.ipv4.proto : ternary; }
        actions = { nat_punt; NoAction; }
        default_action = NoAction();
        size = 256;
    }
    apply {
        // Both looked up at once, not nat_alloc after nat's miss: no stage more on Tofino.
        nat.apply();
        nat_alloc.apply();
        if (hit) {
            rewrite.apply(hdr, meta, d);
        } else if (alloc && meta.nfDrop == 0) {
            meta.natPunt = 1;
        }
    }
}

/* L4 load balancer: a VIP (address, protocol, port) has n backends; a flow's backend is
   slot floor(h * n / 65536), h the low 16 bits of crc32(5-tuple), looked up in the constant
   table of lb_slot.p4 (Tofino cannot hash modulo a run-time n), so every packet of a flow
   goes to the same one, in LM, in EM and on a server (emac/lbslot.py). The rewrite is
   shared with the LB in EM (action data: backend address ++ port ++ 48 bits unused). */
control LbRewrite(inout headers_t hdr, inout meta_t meta, in bit<96> d) {
    apply {
        hdr.ipv4.dst = d[95:64];
        meta.dport = d[63:48];
        if (hdr.tcp.isValid()) {
            hdr.tcp.dport = d[63:48];
        } else if (hdr.udp.isValid()) {
            hdr.udp.dport = d[63:48];
        }
        meta.l4Rewritten = 1;
    }
}

control LoadBalancer(inout headers_t hdr, inout meta_t meta) {
    LbRewrite() rewrite;
    LbSlot() slot;
    bit<96> d = 0;
    bool hit = false;
    bool found = false;
    action lb_vip_hit(bit<16> grp, bit<32> n) {
        meta.lbGroup = grp;
        meta.lbN = n;
    }
    table lb_vip {
        key = { meta.nfId : exact; hdr.ipv4.dst : exact; hdr.ipv4.proto : exact; meta.dport : exact; }
        actions = { lb_vip_hit; NoAction; }
        default_action = NoAction();
        size = 1024;
    }
    action lb_backend_set(bit<32> ip, bit<16> port) {
        d = ip ++ port ++ 48w0;
        hit = true;
    }
    table lb_backend {
        key = { meta.lbGroup : exact; meta.lbSlot : exact; }
        actions = { lb_backend_set; NoAction; }
        default_action = NoAction();
        size = 8192;
    }
    apply {
        // Hashed beside the VIP lookup, not after it: one stage less on Tofino.
        hash(meta.lbHash, HashAlgorithm.crc32, 16w0,
             { hdr.ipv4.src, hdr.ipv4.dst, hdr.ipv4.proto, meta.sport, meta.dport }, 32w65536);
        if (lb_vip.apply().hit) {
            slot.apply(meta, found);
            if (found) {
                lb_backend.apply();
                if (hit) { rewrite.apply(hdr, meta, d); }
            }
        }
    }
}

/* Rate limiter: one two-rate three-colour meter per NF instance, in packets (a byte meter
   would see the frame with or without NSH depending on the hop's pass); red is dropped. */
control RateLimiter(inout headers_t hdr, inout meta_t meta) {
    meter(32w256, MeterType.packets) rl_meter;
    apply {
        rl_meter.execute_meter((bit<32>) meta.nfId, meta.color);
        if (meta.color == 2) { meta.nfDrop = 1; }
    }
}

#endif
