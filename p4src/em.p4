/* fabric: the external-memory (EM) path.

   An NF placed in EM (a NAT or a load balancer) keeps its entries in a memory server's
   DRAM (layout: emac/layout.py); EmKey computes the key of the lookup, the EM path is the
   same for every kind, and the action id of the entry read decides what is applied.
   The switch keeps a direct-mapped RDMA-table cache in registers. A lookup that misses
   makes the switch issue an RDMA READ (RoCEv2, built from an ingress-to-egress clone of
   the packet) for the bucket the key hashes to, and sends the packet itself out of the
   loopback port with a wait shim (t0, PSN). Each time it comes back it looks at the
   mailbox of its PSN; the READ response fills the mailbox (and the cache, unless the cache
   was flushed since the READ left), so the packet then takes the action. A packet that has
   waited longer than boundUs takes the NF's fallback: a counted drop or a detour to a
   server instance of the same NF. Responses are checked: QP (em_qp), outstanding PSN,
   length, ICRC, then key and version of the entry; anything else is counted and ignored. */
#ifndef FABRIC_EM_P4
#define FABRIC_EM_P4

/* The EM key of a lookup, computed by the switch from the packet alone, so that one READ of
   one bucket answers it (emac/layout.py says how the EMAC stores the same keys).
   - NAT: the 5-tuple.
   - Load balancer: (0, VIP, proto, slot, VIP port) with slot = floor(h * n / 65536), h the
     low 16 bits of crc32(5-tuple), from the constant table of lb_slot.p4, as the LM load
     balancer computes it, so a flow gets the same backend in LM, in EM and on a server.
     n, the VIP's number of backends, is in the small LM table lb_em_vip; the backends
     themselves (one EM entry per slot) are in EM. A packet to no VIP passes untouched
     without a READ, as in LM. */
control EmKey(inout headers_t hdr, inout meta_t meta) {
    LbSlot() slot;
    bool found = false;
    action lb_em_n(bit<32> n) {
        meta.lbN = n;
    }
    table lb_em_vip {
        key = { meta.nfId : exact; hdr.ipv4.dst : exact; hdr.ipv4.proto : exact; meta.dport : exact; }
        actions = { lb_em_n; NoAction; }
        default_action = NoAction();
        size = 1024;
    }
    apply {
        meta.emLookup = 0;
        if (meta.nfKind == NF_NAT) {
            meta.kSrc = hdr.ipv4.src; meta.kDst = hdr.ipv4.dst; meta.kProto = hdr.ipv4.proto;
            meta.kSport = meta.sport; meta.kDport = meta.dport;
            meta.emLookup = 1;
        } else if (meta.nfKind == NF_LB) {
            hash(meta.lbHash, HashAlgorithm.crc32, 16w0,
                 { hdr.ipv4.src, hdr.ipv4.dst, hdr.ipv4.proto, meta.sport, meta.dport }, 32w65536);
            if (lb_em_vip.apply().hit) {
                slot.apply(meta, found);
                if (found) {
                    meta.kSrc = 0; meta.kDst = hdr.ipv4.dst; meta.kProto = hdr.ipv4.proto;
                    meta.kSport = meta.lbSlot; meta.kDport = meta.dport;
                    meta.emLookup = 1;
                }
            }
        }
    }
}

control EmPath(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    counter(32w16, CounterType.packets) rdma_stats;
    // Registers hold 8, 16 or 32 bits (Tofino's stateful ALUs): a 112-bit key tag is four
    // registers (kSrc; kDst; nf ++ kProto ++ kSport; kDport), 96 bits of action data three.
    // The cache: key tag (nf ++ EmKey), the flush epoch it was filled in, action id and data.
    register<bit<32>>(CACHE_MAX) c_tag0;
    register<bit<32>>(CACHE_MAX) c_tag1;
    register<bit<32>>(CACHE_MAX) c_tag2;
    register<bit<16>>(CACHE_MAX) c_tag3;
    register<bit<32>>(CACHE_MAX) c_epoch;
    register<bit<8>>(CACHE_MAX) c_act;
    register<bit<32>>(CACHE_MAX) c_data0;
    register<bit<32>>(CACHE_MAX) c_data1;
    register<bit<32>>(CACHE_MAX) c_data2;
    // The cache's settings are action data, not registers: PI's P4Runtime server (BMv2)
    // does not write registers. mask = cache size - 1 (a power of two); epoch + 1 empties
    // the cache; epoch 0 (the default until the EMAC sets it) never hits.
    // Reads in flight per cache index, so that a flow's packets share one READ.
    register<bit<32>>(CACHE_MAX) p_tag0;
    register<bit<32>>(CACHE_MAX) p_tag1;
    register<bit<32>>(CACHE_MAX) p_tag2;
    register<bit<16>>(CACHE_MAX) p_tag3;
    register<bit<32>>(CACHE_MAX) p_ts;
    register<bit<32>>(CACHE_MAX) p_psn;     // 8w0 ++ psn
    // One mailbox per outstanding PSN (psn mod MAILBOX).
    register<bit<32>>(MAILBOX) mb_psn;      // 7w0 ++ 1 ++ psn while the slot belongs to psn
    register<bit<32>>(MAILBOX) mb_tag0;
    register<bit<32>>(MAILBOX) mb_tag1;
    register<bit<32>>(MAILBOX) mb_tag2;
    register<bit<16>>(MAILBOX) mb_tag3;
    register<bit<8>>(MAILBOX) mb_status;
    register<bit<8>>(MAILBOX) mb_act;
    register<bit<32>>(MAILBOX) mb_data0;
    register<bit<32>>(MAILBOX) mb_data1;
    register<bit<32>>(MAILBOX) mb_data2;
    register<bit<32>>(MAILBOX) mb_epoch;
    register<bit<32>>(MAILBOX) mb_cidx;
    register<bit<32>>(MAILBOX) mb_ts;
    register<bit<32>>(N_QP) next_psn;       // 8w0 ++ psn
    // Per QP: when (us, never 0) a wait on it last timed out; 0 while the server answers.
    // A QP marked down sends misses to the fallback at once (each still sends a READ, as a
    // probe); any checked answer from the server clears the mark.
    register<bit<32>>(N_QP) qp_down;
    // READ round trips as a histogram: cell b counts fetches of [2^b, 2^(b+1)) us (cell 0
    // also 0 us). A counter, not a register the controller reads: PI's P4Runtime server
    // (BMv2) reads counters but not registers.
    counter(32w32, CounterType.packets) fetch_hist;

    // The key tag in the registers' four parts.
    bit<32> tag0 = 0;
    bit<32> tag1 = 0;
    bit<32> tag2 = 0;
    bit<16> tag3 = 0;
    bit<32> now = 0;
    bit<32> epoch = 0;
    bit<32> mask = 0;
    bit<1> issue = 0;
    bit<24> psn = 0;
    bit<32> mslot = 0;

    action em_set(bit<64> base, bit<32> bucketMask, bit<32> rkey, bit<8> qp, bit<24> srvQpn,
                  bit<32> srvIp, bit<48> srvMac, bit<32> myIp, bit<48> myMac, bit<9> loopPort,
                  bit<32> boundUs, bit<32> retryUs, bit<1> detour, bit<9> detourPort, bit<48> detourMac) {
        meta.emBase = base; meta.emMask = bucketMask; meta.rkey = rkey; meta.qp = qp;
        meta.srvQpn = srvQpn; meta.rdDstIp = srvIp; meta.rdDstMac = srvMac; meta.rdSrcIp = myIp;
        meta.rdSrcMac = myMac; meta.loopPort = loopPort; meta.boundUs = boundUs; meta.retryUs = retryUs;
        meta.fallbackDetour = detour; meta.detourPort = detourPort; meta.detourMac = detourMac;
    }
    table em_config {
        key = { meta.nfId : exact; }
        actions = { em_set; NoAction; }
        default_action = NoAction();
        size = 256;
    }
    // Responses are accepted only from a memory server to one of our QPs.
    action qp_ok(bit<8> qp) { meta.qp = qp; }
    table em_qp {
        key = { hdr.ipv4.src : exact; hdr.bth.dqpn : exact; }
        actions = { qp_ok; NoAction; }
        default_action = NoAction();
        size = 64;
    }

    action cache_set(bit<32> indexMask, bit<32> flushEpoch) {
        mask = indexMask;
        epoch = flushEpoch;
    }
    table em_cache {
        key = { }
        actions = { cache_set; }
        default_action = cache_set(0, 0);
        size = 1;
    }

    action resolved(bit<8> act, bit<96> data) {
        meta.emAct = act;
        meta.emData = data;
        meta.done = 1;
    }

    apply {
        now = sm.ingress_global_timestamp[31:0];
        em_cache.apply();
        if (hdr.bth.isValid()) {
            // ---- a READ response (or NAK) for this switch -------------------------------------
            mark_to_drop(sm);
            if (!em_qp.apply().hit) {
                rdma_stats.count(RS_BAD_QP);
                return;
            }
            mslot = (bit<32>) hdr.bth.psn & (MAILBOX - 1);
            bit<32> owner;
            mb_psn.read(owner, mslot);
            if (hdr.bth.opcode == OP_ACKNOWLEDGE) {
                // An ACK/NAK (no data): checked like a response, then a NAK is acted on.
                bit<32> ackCrc;
                hash(ackCrc, HashAlgorithm.crc32, 32w0, {
                    64w0xFFFFFFFFFFFFFFFF,
                    hdr.ipv4.version, hdr.ipv4.ihl, 8w0xFF, hdr.ipv4.totalLen, hdr.ipv4.id, hdr.ipv4.flags,
                    hdr.ipv4.frag, 8w0xFF, hdr.ipv4.proto, 16w0xFFFF, hdr.ipv4.src, hdr.ipv4.dst,
                    hdr.udp.sport, hdr.udp.dport, hdr.udp.len, 16w0xFFFF,
                    hdr.bth.opcode, hdr.bth.se, hdr.bth.m, hdr.bth.pad, hdr.bth.tver, hdr.bth.pkey,
                    1w1, 1w1, 6w0x3F, hdr.bth.dqpn, hdr.bth.ackreq, hdr.bth.resv7, hdr.bth.psn,
                    hdr.aeth.syndrome, hdr.aeth.msn
                }, 64w4294967296);
                if (!hdr.icrc.isValid() || hdr.udp.len != 8 + 12 + 4 + 4) {
                    rdma_stats.count(RS_BAD_LEN);
                } else if (hdr.icrc.v != ackCrc[7:0] ++ ackCrc[15:8] ++ ackCrc[23:16] ++ ackCrc[31:24]) {
                    rdma_stats.count(RS_BAD_ICRC);
                } else if (hdr.aeth.syndrome[7:5] == 3) {
                    rdma_stats.count(RS_NAK);
                    qp_down.write((bit<32>) meta.qp, 0);   // the server answers
                    if (hdr.aeth.syndrome == 0x60) {
                        // PSN sequence error: the BTH carries the PSN the responder expects.
                        next_psn.write((bit<32>) meta.qp, 8w0 ++ hdr.bth.psn);
                    } else if (owner == 7w0 ++ 1w1 ++ hdr.bth.psn) {
                        mb_status.write(mslot, MB_FAILED);
                    }
                } else {
                    rdma_stats.count(RS_BAD_LEN);   // an ACK answers no READ
                }
                return;
            }
            if (owner != 7w0 ++ 1w1 ++ hdr.bth.psn) {
                rdma_stats.count(RS_BAD_PSN);
                return;
            }
            if (!hdr.icrc.isValid() || !hdr.slot[3].isValid() || hdr.bth.opcode != OP_READ_RESPONSE_ONLY) {
                rdma_stats.count(RS_BAD_LEN);
                return;
            }
            bit<32> crc;
            hash(crc, HashAlgorithm.crc32, 32w0, {
                64w0xFFFFFFFFFFFFFFFF,
                hdr.ipv4.version, hdr.ipv4.ihl, 8w0xFF, hdr.ipv4.totalLen, hdr.ipv4.id, hdr.ipv4.flags,
                hdr.ipv4.frag, 8w0xFF, hdr.ipv4.proto, 16w0xFFFF, hdr.ipv4.src, hdr.ipv4.dst,
                hdr.udp.sport, hdr.udp.dport, hdr.udp.len, 16w0xFFFF,
                hdr.bth.opcode, hdr.bth.se, hdr.bth.m, hdr.bth.pad, hdr.bth.tver, hdr.bth.pkey,
                1w1, 1w1, 6w0x3F, hdr.bth.dqpn, hdr.bth.ackreq, hdr.bth.resv7, hdr.bth.psn,
                hdr.aeth.syndrome, hdr.aeth.msn,
                hdr.slot[0].verHead, hdr.slot[0].nf, hdr.slot[0].src, hdr.slot[0].dst, hdr.slot[0].proto,
                hdr.slot[0].sport, hdr.slot[0].dport, hdr.slot[0].act, hdr.slot[0].data, hdr.slot[0].pad,
                hdr.slot[0].verTail,
                hdr.slot[1].verHead, hdr.slot[1].nf, hdr.slot[1].src, hdr.slot[1].dst, hdr.slot[1].proto,
                hdr.slot[1].sport, hdr.slot[1].dport, hdr.slot[1].act, hdr.slot[1].data, hdr.slot[1].pad,
                hdr.slot[1].verTail,
                hdr.slot[2].verHead, hdr.slot[2].nf, hdr.slot[2].src, hdr.slot[2].dst, hdr.slot[2].proto,
                hdr.slot[2].sport, hdr.slot[2].dport, hdr.slot[2].act, hdr.slot[2].data, hdr.slot[2].pad,
                hdr.slot[2].verTail,
                hdr.slot[3].verHead, hdr.slot[3].nf, hdr.slot[3].src, hdr.slot[3].dst, hdr.slot[3].proto,
                hdr.slot[3].sport, hdr.slot[3].dport, hdr.slot[3].act, hdr.slot[3].data, hdr.slot[3].pad,
                hdr.slot[3].verTail
            }, 64w4294967296);
            if (hdr.icrc.v != crc[7:0] ++ crc[15:8] ++ crc[23:16] ++ crc[31:24]) {
                rdma_stats.count(RS_BAD_ICRC);
                return;
            }
            rdma_stats.count(RS_RESP_OK);
            qp_down.write((bit<32>) meta.qp, 0);   // the server answers
            bit<32> t;
            mb_ts.read(t, mslot);
            bit<32> lat = now - t;
            // floor(log2(lat)) by halving the range five times
            bit<32> v = lat;
            bit<32> bin = 0;
            if (v[31:16] != 0) { bin = bin + 16; v = v >> 16; }
            if (v[15:8] != 0) { bin = bin + 8; v = v >> 8; }
            if (v[7:4] != 0) { bin = bin + 4; v = v >> 4; }
            if (v[3:2] != 0) { bin = bin + 2; v = v >> 2; }
            if (v[1:1] != 0) { bin = bin + 1; }
            fetch_hist.count(bin);
            bit<32> want0;
            bit<32> want1;
            bit<32> want2;
            bit<16> want3;
            mb_tag0.read(want0, mslot);
            mb_tag1.read(want1, mslot);
            mb_tag2.read(want2, mslot);
            mb_tag3.read(want3, mslot);
            // The entry of the key asked for, if the bucket holds it (versions at both ends equal).
            bit<8> st = MB_NOT_FOUND;
            bit<8> act = 0;
            bit<96> data = 0;
            if (hdr.slot[0].src == want0 && hdr.slot[0].dst == want1
                    && hdr.slot[0].nf ++ hdr.slot[0].proto ++ hdr.slot[0].sport == want2
                    && hdr.slot[0].dport == want3) {
                st = (hdr.slot[0].verHead == hdr.slot[0].verTail) ? MB_FOUND : MB_RETRY;
                act = hdr.slot[0].act; data = hdr.slot[0].data;
            } else if (hdr.slot[1].src == want0 && hdr.slot[1].dst == want1
                    && hdr.slot[1].nf ++ hdr.slot[1].proto ++ hdr.slot[1].sport == want2
                    && hdr.slot[1].dport == want3) {
                st = (hdr.slot[1].verHead == hdr.slot[1].verTail) ? MB_FOUND : MB_RETRY;
                act = hdr.slot[1].act; data = hdr.slot[1].data;
            } else if (hdr.slot[2].src == want0 && hdr.slot[2].dst == want1
                    && hdr.slot[2].nf ++ hdr.slot[2].proto ++ hdr.slot[2].sport == want2
                    && hdr.slot[2].dport == want3) {
                st = (hdr.slot[2].verHead == hdr.slot[2].verTail) ? MB_FOUND : MB_RETRY;
                act = hdr.slot[2].act; data = hdr.slot[2].data;
            } else if (hdr.slot[3].src == want0 && hdr.slot[3].dst == want1
                    && hdr.slot[3].nf ++ hdr.slot[3].proto ++ hdr.slot[3].sport == want2
                    && hdr.slot[3].dport == want3) {
                st = (hdr.slot[3].verHead == hdr.slot[3].verTail) ? MB_FOUND : MB_RETRY;
                act = hdr.slot[3].act; data = hdr.slot[3].data;
            }
            if (st == MB_RETRY) {
                rdma_stats.count(RS_TORN);
            } else if (st == MB_NOT_FOUND) {
                rdma_stats.count(RS_NOT_FOUND);
            }
            mb_status.write(mslot, st);
            mb_act.write(mslot, act);
            mb_data0.write(mslot, data[95:64]);
            mb_data1.write(mslot, data[63:32]);
            mb_data2.write(mslot, data[31:0]);
            if (st != MB_RETRY) {
                // Offer the entry (or its absence) to the cache, unless a flush came since the READ.
                bit<32> e;
                mb_epoch.read(e, mslot);
                if (e == epoch) {
                    bit<32> ci;
                    mb_cidx.read(ci, mslot);
                    c_tag0.write(ci, want0);
                    c_tag1.write(ci, want1);
                    c_tag2.write(ci, want2);
                    c_tag3.write(ci, want3);
                    c_epoch.write(ci, epoch);
                    c_act.write(ci, act);
                    c_data0.write(ci, data[95:64]);
                    c_data1.write(ci, data[63:32]);
                    c_data2.write(ci, data[31:0]);
                }
            }
            return;
        } else {

            // ---- a lookup for the NF meta.nfId, placed in EM ------------------------------------
            if (!em_config.apply().hit) {
                meta.nfDrop = 1;   // no EM configured for this NF: never guess an action
                rdma_stats.count(RS_FALLBACK);
                return;
            }
            tag0 = meta.kSrc;
            tag1 = meta.kDst;
            tag2 = meta.nfId ++ meta.kProto ++ meta.kSport;
            tag3 = meta.kDport;
            bit<32> h16;
            hash(h16, HashAlgorithm.crc16, 32w0, { meta.nfId, meta.kSrc, meta.kDst, meta.kProto,
                 meta.kSport, meta.kDport }, 32w65536);
            meta.cacheIdx = h16 & mask;
            bit<32> ct0;
            bit<32> ct1;
            bit<32> ct2;
            bit<16> ct3;
            bit<32> ce;
            c_tag0.read(ct0, meta.cacheIdx);
            c_tag1.read(ct1, meta.cacheIdx);
            c_tag2.read(ct2, meta.cacheIdx);
            c_tag3.read(ct3, meta.cacheIdx);
            c_epoch.read(ce, meta.cacheIdx);
            if (ct0 == tag0 && ct1 == tag1 && ct2 == tag2 && ct3 == tag3 && ce == epoch && epoch != 0) {
                if (!hdr.wait.isValid()) { rdma_stats.count(RS_HIT); }   // a waiting packet was a miss already
                bit<8> a;
                bit<32> d0;
                bit<32> d1;
                bit<32> d2;
                c_act.read(a, meta.cacheIdx);
                c_data0.read(d0, meta.cacheIdx);
                c_data1.read(d1, meta.cacheIdx);
                c_data2.read(d2, meta.cacheIdx);
                resolved(a, d0 ++ d1 ++ d2);
            } else if (hdr.wait.isValid()) {
                rdma_stats.count(RS_WAIT_PASS);
                psn = hdr.wait.psn;
                mslot = (bit<32>) psn & (MAILBOX - 1);
                bit<32> wOwner;
                bit<8> wSt = MB_EMPTY;
                bit<32> wT;
                bit<32> wTag0;
                bit<32> wTag1;
                bit<32> wTag2;
                bit<16> wTag3;
                mb_psn.read(wOwner, mslot);
                mb_tag0.read(wTag0, mslot);
                mb_tag1.read(wTag1, mslot);
                mb_tag2.read(wTag2, mslot);
                mb_tag3.read(wTag3, mslot);
                // The slot must still be this packet's READ: after a PSN resync (a sequence NAK)
                // the same PSN may have been issued again for another key.
                if (wOwner == 7w0 ++ 1w1 ++ psn && wTag0 == tag0 && wTag1 == tag1 && wTag2 == tag2
                        && wTag3 == tag3) {
                    mb_status.read(wSt, mslot);
                    mb_ts.read(wT, mslot);
                }
                if (wSt == MB_FOUND || wSt == MB_NOT_FOUND) {
                    bit<8> wA;
                    bit<32> wD0;
                    bit<32> wD1;
                    bit<32> wD2;
                    mb_act.read(wA, mslot);
                    mb_data0.read(wD0, mslot);
                    mb_data1.read(wD1, mslot);
                    mb_data2.read(wD2, mslot);
                    resolved(wA, wD0 ++ wD1 ++ wD2);
                } else if (wSt == MB_FAILED) {
                    meta.emFallback = 1;   // refused (NAK): the server is up, the request was wrong
                } else if (now - hdr.wait.t0 > meta.boundUs || hdr.wait.reads >= 8) {
                    meta.emFallback = 1;
                    qp_down.write((bit<32>) meta.qp, now | 1);
                } else {
                    // Unanswered, or the entry was torn: read again once retryUs have passed.
                    if (wSt == MB_EMPTY || now - wT > meta.retryUs) { issue = 1; }
                    meta.emWait = 1;
                }
            } else if (now == 0) {
                // No clock to time a READ by: BMv2 leaves ingress_global_timestamp 0 on a
                // recirculated packet (a hop after a local NF). Round the loopback once first; the
                // packet comes back through a port, timestamped, and misses then.
                sm.egress_spec = meta.loopPort;
                meta.routed = 1;
                return;
            } else {
                rdma_stats.count(RS_MISS);
                bit<32> pt0;
                bit<32> pt1;
                bit<32> pt2;
                bit<16> pt3;
                bit<32> pts;
                p_tag0.read(pt0, meta.cacheIdx);
                p_tag1.read(pt1, meta.cacheIdx);
                p_tag2.read(pt2, meta.cacheIdx);
                p_tag3.read(pt3, meta.cacheIdx);
                p_ts.read(pts, meta.cacheIdx);
                issue = 1;
                if (pt0 == tag0 && pt1 == tag1 && pt2 == tag2 && pt3 == tag3 && now - pts < meta.retryUs) {
                    // A READ for this key may be in flight: wait for it if it left after the last
                    // flush and is still unanswered (an answered or older one may be stale).
                    bit<32> pp;
                    p_psn.read(pp, meta.cacheIdx);
                    psn = pp[23:0];
                    mslot = (bit<32>) psn & (MAILBOX - 1);
                    bit<32> pOwner;
                    bit<32> pEpoch;
                    bit<8> pSt;
                    mb_psn.read(pOwner, mslot);
                    mb_epoch.read(pEpoch, mslot);
                    mb_status.read(pSt, mslot);
                    if (pOwner == 7w0 ++ 1w1 ++ psn && pEpoch == epoch && pSt == MB_WAITING) { issue = 0; }
                }
                bit<32> downTs;
                qp_down.read(downTs, (bit<32>) meta.qp);
                if (downTs != 0) {
                    meta.emFallback = 1;   // the server is not answering: no wait, only a probe READ
                } else {
                    meta.emWait = 1;
                }
                hdr.wait.setValid();
                hdr.wait.t0 = now;
                hdr.wait.reads = 0;
                hdr.wait.etherType = hdr.ethernet.etherType;
                hdr.ethernet.etherType = ETH_WAIT;
            }
            if (issue == 1) {
                rdma_stats.count(RS_READ);
                bit<32> np;
                next_psn.read(np, (bit<32>) meta.qp);
                psn = np[23:0];
                next_psn.write((bit<32>) meta.qp, 8w0 ++ (psn + 1));
                mslot = (bit<32>) psn & (MAILBOX - 1);
                mb_psn.write(mslot, 7w0 ++ 1w1 ++ psn);
                mb_tag0.write(mslot, tag0);
                mb_tag1.write(mslot, tag1);
                mb_tag2.write(mslot, tag2);
                mb_tag3.write(mslot, tag3);
                mb_status.write(mslot, MB_WAITING);
                mb_epoch.write(mslot, epoch);
                mb_cidx.write(mslot, meta.cacheIdx);
                mb_ts.write(mslot, now);
                p_tag0.write(meta.cacheIdx, tag0);
                p_tag1.write(meta.cacheIdx, tag1);
                p_tag2.write(meta.cacheIdx, tag2);
                p_tag3.write(meta.cacheIdx, tag3);
                p_ts.write(meta.cacheIdx, now);
                p_psn.write(meta.cacheIdx, 8w0 ++ psn);
                bit<32> h32;
                hash(h32, HashAlgorithm.crc32, 32w0, { meta.nfId, meta.kSrc, meta.kDst, meta.kProto,
                     meta.kSport, meta.kDport }, 64w4294967296);
                bit<64> bucket = (bit<64>) (h32 & meta.emMask);
                meta.rdVa = meta.emBase + (bucket << 7) + (bucket << 5);   // bucket * 160 bytes
                meta.rdPsn = psn;
                meta.rdRkey = meta.rkey;
                meta.rdQpn = meta.srvQpn;
                meta.makeRead = 1;
                hdr.wait.reads = hdr.wait.reads + 1;
                bit<32> session = 32w100 + (bit<32>) meta.qp;   // one clone session per QP
                clone_preserving_field_list(CloneType.I2E, session, 1);
            }
            if (hdr.wait.isValid()) { hdr.wait.psn = psn; }
            if (meta.emWait == 1) {
                sm.egress_spec = meta.loopPort;     // round the loopback port, then look again
                meta.routed = 1;
            } else if (hdr.wait.isValid()) {
                hdr.ethernet.etherType = hdr.wait.etherType;
                hdr.wait.setInvalid();
            }
            if (meta.emFallback == 1) { rdma_stats.count(RS_FALLBACK); }
        }
    }
}

/* Egress: the ingress-to-egress clone of a missing packet becomes the RDMA READ request. */
control EmRead(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        hdr.wait.setInvalid();
        hdr.nsh.setInvalid();
        hdr.tcp.setInvalid();
        hdr.aeth.setInvalid();
        hdr.slot[0].setInvalid();
        hdr.slot[1].setInvalid();
        hdr.slot[2].setInvalid();
        hdr.slot[3].setInvalid();
        hdr.ethernet.dst = meta.rdDstMac;
        hdr.ethernet.src = meta.rdSrcMac;
        hdr.ethernet.etherType = ETH_IPV4;
        hdr.ipv4.setValid();
        hdr.ipv4.version = 4; hdr.ipv4.ihl = 5; hdr.ipv4.tos = 0; hdr.ipv4.totalLen = 20 + 8 + 12 + 16 + 4;
        hdr.ipv4.id = 0; hdr.ipv4.flags = 2; hdr.ipv4.frag = 0; hdr.ipv4.ttl = 64; hdr.ipv4.proto = PROTO_UDP;
        hdr.ipv4.src = meta.rdSrcIp; hdr.ipv4.dst = meta.rdDstIp;
        hdr.udp.setValid();
        hdr.udp.sport = 0xC000; hdr.udp.dport = ROCEV2_PORT; hdr.udp.len = 8 + 12 + 16 + 4; hdr.udp.csum = 0;
        hdr.bth.setValid();
        hdr.bth.opcode = OP_READ_REQUEST; hdr.bth.se = 0; hdr.bth.m = 0; hdr.bth.pad = 0; hdr.bth.tver = 0;
        hdr.bth.pkey = 0xFFFF; hdr.bth.fecn = 0; hdr.bth.becn = 0; hdr.bth.resv6 = 0;
        hdr.bth.dqpn = meta.rdQpn; hdr.bth.ackreq = 0; hdr.bth.resv7 = 0; hdr.bth.psn = meta.rdPsn;
        hdr.reth.setValid();
        hdr.reth.va = meta.rdVa; hdr.reth.rkey = meta.rdRkey; hdr.reth.len = EM_SLOTS * EM_SLOT_BYTES;
        hdr.icrc.setValid();
        hash(meta.icrc, HashAlgorithm.crc32, 32w0, {
            64w0xFFFFFFFFFFFFFFFF,
            hdr.ipv4.version, hdr.ipv4.ihl, 8w0xFF, hdr.ipv4.totalLen, hdr.ipv4.id, hdr.ipv4.flags,
            hdr.ipv4.frag, 8w0xFF, hdr.ipv4.proto, 16w0xFFFF, hdr.ipv4.src, hdr.ipv4.dst,
            hdr.udp.sport, hdr.udp.dport, hdr.udp.len, 16w0xFFFF,
            hdr.bth.opcode, hdr.bth.se, hdr.bth.m, hdr.bth.pad, hdr.bth.tver, hdr.bth.pkey,
            1w1, 1w1, 6w0x3F, hdr.bth.dqpn, hdr.bth.ackreq, hdr.bth.resv7, hdr.bth.psn,
            hdr.reth.va, hdr.reth.rkey, hdr.reth.len
        }, 64w4294967296);
        hdr.icrc.v = meta.icrc[7:0] ++ meta.icrc[15:8] ++ meta.icrc[23:16] ++ meta.icrc[31:24];
#ifndef __TARGET_TOFINO__
        truncate(14 + 20 + 8 + 12 + 16 + 4);
#endif
        // Tofino has no truncate(): its mirror session cuts the clone to the same 74 bytes
        // (P4Runtime's clone session packet_length_bytes; p4src/README.md, Tofino).
    }
}

#endif
