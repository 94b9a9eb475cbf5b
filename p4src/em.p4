/* fabric: the external-memory (EM) path.

   An NF placed in EM (a NAT or a load balancer) keeps its entries in a memory server's
   DRAM (layout: emac/layout.py); EmKey computes the key of the lookup, the EM path is the
   same for every kind, and the action id of the entry read decides what is applied.
   The switch keeps a direct-mapped RDMA-table cache in registers. A lookup that misses
   makes the switch issue an RDMA READ (RoCEv2, built from an ingress-to-egress clone of
   the packet) for the bucket the key hashes to, and sends the packet itself out of the
   loopback port with a wait shim (deadline, PSN). Each time it comes back it looks at the
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
    bit<32> h16 = 0;   // the key's hash: the cache index is its low bits
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
#ifndef FABRIC_NO_EM
        if (meta.emLookup == 1) {
            // ---- the EM hop's key pass: the key and its cache index go in the shim, and the
            // packet recirculates; the lookup starts from them next pass ------------------------
            hash(h16, HashAlgorithm.crc16, 32w0, { meta.nfId, meta.kSrc, meta.kDst, meta.kProto,
                 meta.kSport, meta.kDport }, 32w65536);
            hdr.wait.setValid();
            // The bucket's hash (emac/layout.py), for the READ's address in a later pass.
            hash(hdr.wait.h32, HashAlgorithm.crc32, 32w0, { meta.nfId, meta.kSrc, meta.kDst, meta.kProto,
                 meta.kSport, meta.kDport }, 64w4294967296);
            hdr.wait.deadline = 0;
            hdr.wait.reads = 0;
            hdr.wait.psn = 0;
            hdr.wait.issue = 0;
            hdr.wait.down = 0;
            hdr.wait.phase = PH_LOOKUP;
            hdr.wait.nf = meta.nfId;
            hdr.wait.kSrc = meta.kSrc;
            hdr.wait.kDst = meta.kDst;
            hdr.wait.k2 = meta.nfId ++ meta.kProto ++ meta.kSport;
            hdr.wait.kDport = meta.kDport;
            hdr.wait.cidx = h16 & meta.cacheMask;
            hdr.wait.act = 0;
            hdr.wait.data0 = 0;
            hdr.wait.data1 = 0;
            hdr.wait.data2 = 0;
            hdr.wait.epoch = 0;
            hdr.wait.etherType = hdr.ethernet.etherType;
            hdr.ethernet.etherType = ETH_WAIT;
            meta.again = 1;
        }
#endif
    }
}

control EmPath(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm, in bool response) {
    counter(32w16, CounterType.packets) rdma_stats;
    // A second count of the same pass (the fallback it took; a checked response's entry torn
    // or not found) goes here, in the same cells: Tofino counts a packet once per counter.
    // Readers add the two cell by cell (emac/api.py, controller/loop/step.py).
    counter(32w16, CounterType.packets) rdma_outcome;
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
    register<bit<32>>(CACHE_MAX) p_psn;     // 8w1 ++ psn: the READ's owner tag (as mb_psn)
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
    register<bit<32>>(MAILBOX) mb_epoch;    // the cache's flush epoch when the READ left
    register<bit<32>>(MAILBOX) mb_ts;
    // The next PSN of each QP, counted on 32 bits (the PSN is its low 24: it wraps as RoCE's).
    register<bit<32>>(N_QP) next_psn;
    // Per QP: when (us, never 0) a wait on it last timed out; 0 while the server answers.
    // A QP marked down sends misses to the fallback (each still sends a READ, as a probe);
    // any checked answer from the server clears the mark.
    register<bit<32>>(N_QP) qp_down;
    // READ round trips as a histogram: cell b counts fetches of [2^b, 2^(b+1)) us (cell 0
    // also 0 us). A counter, not a register the controller reads: PI's P4Runtime server
    // (BMv2) reads counters but not registers.
    counter(32w32, CounterType.packets) fetch_hist;

    bit<32> now = 0;
    action now_of() {
#ifdef __TARGET_TOFINO__
        // ns there: 1.024 us units, as the bounds. Through the hash unit (identity), which
        // moves bits 41:10 to bit 0 (an ALU shift would force the two fields' alignment), in
        // an action of its own: a keyless table's action may use the hash unit only when it
        // carries no action data.
        hash(now, HashAlgorithm.identity, 32w0, { sm.ingress_global_timestamp[41:10] }, 64w4294967296);
#else
        now = sm.ingress_global_timestamp[31:0];    // us (BMv2, srem's switch)
#endif
    }
    @hidden table em_now { key = { } actions = { now_of; } default_action = now_of(); size = 1; }

    // The memory server's addresses and key are the QP's (EmRead's em_read_qp, in egress).
    action em_set(bit<64> base, bit<32> bucketMask, bit<8> qp, bit<9> loopPort,
                  bit<32> boundUs, bit<32> retryUs, bit<1> detour, bit<9> detourPort, bit<48> detourMac) {
        meta.emBase = base; meta.emMask = bucketMask; meta.qp = qp;
        meta.loopPort = loopPort; meta.boundUs = boundUs; meta.retryUs = retryUs;
        meta.fallbackDetour = detour; meta.detourPort = detourPort; meta.detourMac = detourMac;
        meta.qpIdx = (bit<32>) qp;
    }
    table em_config {
        // Keyed by the shim's NF (a later pass of the hop), under the name the controller
        // writes: the lookup waits on no table of the hop's pass.
        key = { hdr.wait.nf : exact @name("meta.nfId"); }
        actions = { em_set; NoAction; }
        default_action = NoAction();
        size = 256;
    }
    // Responses are accepted only from a memory server to one of our QPs.
    action qp_ok(bit<8> qp) { meta.qp = qp; meta.qpIdx = (bit<32>) qp; }
    table em_qp {
        key = { hdr.ipv4.src : exact; hdr.bth.dqpn : exact; }
        actions = { qp_ok; NoAction; }
        default_action = NoAction();
        size = 64;
    }

#ifndef __TARGET_TOFINO__
    action resolved(bit<8> act, bit<96> data) {   // (Tofino: applied by the apply pass)
        meta.emAct = act;
        meta.emData = data;
        meta.done = 1;
    }
#endif

    // The QP's next PSN, read and incremented in one action (one stateful-ALU access).
    action take_psn() {
        bit<32> np;
        next_psn.read(np, meta.qpIdx);
        next_psn.write(meta.qpIdx, np + 1);
        meta.rdOwner = 8w1 ++ np[23:0];
    }

    // An action of one step and a keyless table of its own (Tofino: one stateful ALU, or one
    // hash-unit use, an action; bf-p4c would fold a step inlined into the condition after it).
#define EM_ONE(a, t, stmt) \
    action a() { stmt; } \
    @hidden table t { key = { } actions = { a; } default_action = a(); size = 1; }

    // The bucket's address, base + bucket * 160, one operation per step (a Tofino action
    // runs in one stage): bucket * 128 and * 32, their sum (32 bits: at most 2^24
    // buckets, emac/layout.py), then the 64-bit sum.
    bit<32> bucket = 0;
    bit<32> off7 = 0;
    bit<32> off5 = 0;
    bit<64> off = 0;
    EM_ONE(va_shift, em_va_shift, off7 = bucket << 7; off5 = bucket << 5)
    EM_ONE(va_offset, em_va_offset, off = 32w0 ++ (off7 + off5))
    EM_ONE(va_sum, em_va_sum, meta.rdVa = meta.emBase + off)
    // A READ's age against retryFrom, from the issue time a register gave: in a table of its
    // own, as Tofino cannot subtract from a stateful ALU's output in the action that reads it.
    bit<32> wT = 0;    // the mailbox's READ's issue time
    bit<32> pts = 0;   // the READ in flight's issue time
    EM_ONE(since_retry, em_since_retry, meta.sinceRetry = wT - meta.retryFrom)
    // The in-flight READ's tags, issue time and owner tag, by cache index, in actions of their
    // own: bf-p4c addresses these registers through the hash unit, which a keyless table's
    // action can use only without action data (constants set beside them would be).
    bit<32> pp = 0;
    bit<32> pt0 = 0;
    bit<32> pt1 = 0;
    bit<32> pt2 = 0;
    bit<16> pt3 = 0;
    // (one register an action: a stateful ALU's address is the action's, one per action)
    EM_ONE(p_tag0_get, em_p_tag0_get, p_tag0.read(pt0, hdr.wait.cidx))
    EM_ONE(p_tag1_get, em_p_tag1_get, p_tag1.read(pt1, hdr.wait.cidx))
    EM_ONE(p_tag2_get, em_p_tag2_get, p_tag2.read(pt2, hdr.wait.cidx))
    EM_ONE(p_tag3_get, em_p_tag3_get, p_tag3.read(pt3, hdr.wait.cidx))
    EM_ONE(p_ts_get, em_p_ts_get, p_ts.read(pts, hdr.wait.cidx))
    EM_ONE(p_psn_put, em_p_psn_put, p_psn.write(hdr.wait.cidx, meta.rdOwner))
    EM_ONE(p_psn_get, em_p_psn_get, p_psn.read(pp, hdr.wait.cidx))
    // (a table too: bf-p4c would otherwise fold the difference into the condition that tests it)
    EM_ONE(slack_of, em_slack, meta.slack = hdr.wait.deadline - now)
    EM_ONE(young_read, em_young, meta.young = meta.retryFrom - pts)
#include "em_mailbox.p4"
    // A READ's round trip to its cell: floor(log2(us)) from the highest bit set (0 and 1 us:
    // cell 0), as a constant ternary table: one lookup, no chain of shifts in one step.
    action hist_count(bit<32> cell) { fetch_hist.count(cell); }
    @hidden table em_hist {
        key = { meta.rtt : ternary; }
        actions = { hist_count; }
        const default_action = hist_count(0);
        const entries = {
            32w0x80000000 &&& 32w0x80000000 : hist_count(31);
            32w0x40000000 &&& 32w0xC0000000 : hist_count(30);
            32w0x20000000 &&& 32w0xE0000000 : hist_count(29);
            32w0x10000000 &&& 32w0xF0000000 : hist_count(28);
            32w0x08000000 &&& 32w0xF8000000 : hist_count(27);
            32w0x04000000 &&& 32w0xFC000000 : hist_count(26);
            32w0x02000000 &&& 32w0xFE000000 : hist_count(25);
            32w0x01000000 &&& 32w0xFF000000 : hist_count(24);
            32w0x00800000 &&& 32w0xFF800000 : hist_count(23);
            32w0x00400000 &&& 32w0xFFC00000 : hist_count(22);
            32w0x00200000 &&& 32w0xFFE00000 : hist_count(21);
            32w0x00100000 &&& 32w0xFFF00000 : hist_count(20);
            32w0x00080000 &&& 32w0xFFF80000 : hist_count(19);
            32w0x00040000 &&& 32w0xFFFC0000 : hist_count(18);
            32w0x00020000 &&& 32w0xFFFE0000 : hist_count(17);
            32w0x00010000 &&& 32w0xFFFF0000 : hist_count(16);
            32w0x00008000 &&& 32w0xFFFF8000 : hist_count(15);
            32w0x00004000 &&& 32w0xFFFFC000 : hist_count(14);
            32w0x00002000 &&& 32w0xFFFFE000 : hist_count(13);
            32w0x00001000 &&& 32w0xFFFFF000 : hist_count(12);
            32w0x00000800 &&& 32w0xFFFFF800 : hist_count(11);
            32w0x00000400 &&& 32w0xFFFFFC00 : hist_count(10);
            32w0x00000200 &&& 32w0xFFFFFE00 : hist_count(9);
            32w0x00000100 &&& 32w0xFFFFFF00 : hist_count(8);
            32w0x00000080 &&& 32w0xFFFFFF80 : hist_count(7);
            32w0x00000040 &&& 32w0xFFFFFFC0 : hist_count(6);
            32w0x00000020 &&& 32w0xFFFFFFE0 : hist_count(5);
            32w0x00000010 &&& 32w0xFFFFFFF0 : hist_count(4);
            32w0x00000008 &&& 32w0xFFFFFFF8 : hist_count(3);
            32w0x00000004 &&& 32w0xFFFFFFFC : hist_count(2);
            32w0x00000002 &&& 32w0xFFFFFFFE : hist_count(1);
        }
        size = 32;
    }

    apply {
        em_now.apply();
#ifdef __TARGET_TOFINO__
        bool recirculated = sm.ingress_port == RECIRC_PORT;
#else
        bool recirculated = sm.instance_type == 4;   // recirculated (v1model's PKT_INSTANCE_TYPE_RECIRC)
#endif
        if (meta.emPass == 1) {
            // ---- a later pass of an EM hop: the lookup, from the key in the shim -----------------
            // It waits on no table of the hop's pass (SFF, the EM key): Tofino starts its chain of
            // dependent stages here again (p4src/README.md, the EM path in passes).
            em_slack.apply();   // sign bit: the wait is past its bound
            if (meta.badShim == 1) {
                // A shim from a host port (FabricIngress's wait_port): its key is the sender's
                // choice. Dropped by the ingress after this.
                meta.nfDrop = 1;
                rdma_stats.count(RS_BAD_SHIM);
            } else if (!em_config.apply().hit) {
                meta.nfDrop = 1;   // no EM configured for this NF: never guess an action
                rdma_stats.count(RS_FALLBACK);
            } else if (hdr.wait.phase == PH_FILL && !recirculated) {
                // An answer for the cache is taken only from a recirculation, which no host nor
                // the loopback can send: the waiting pass that finds it recirculates.
                meta.nfDrop = 1;
                rdma_stats.count(RS_BAD_SHIM);
            } else {
                // The bucket's address, in every lookup pass (only a READ's clone uses it), beside
                // the cache lookup rather than after it; the key's hash came from the key pass.
                bucket = hdr.wait.h32 & meta.emMask;
                meta.retryFrom = now - meta.retryUs;   // (Tofino subtracts no action data)
                em_va_shift.apply();
                em_va_offset.apply();
                em_va_sum.apply();
                if (hdr.wait.phase == PH_FILL) {
                    // ---- the answer a waiting packet found in the mailbox (the pass before):
                    // offered to the cache unless a flush came since its READ left, and applied.
                    if (hdr.wait.epoch == meta.epoch) {
                        c_tag0.write(hdr.wait.cidx, hdr.wait.kSrc);
                        c_tag1.write(hdr.wait.cidx, hdr.wait.kDst);
                        c_tag2.write(hdr.wait.cidx, hdr.wait.k2);
                        c_tag3.write(hdr.wait.cidx, hdr.wait.kDport);
                        c_epoch.write(hdr.wait.cidx, meta.epoch);
                        c_act.write(hdr.wait.cidx, hdr.wait.act);
                        c_data0.write(hdr.wait.cidx, hdr.wait.data0);
                        c_data1.write(hdr.wait.cidx, hdr.wait.data1);
                        c_data2.write(hdr.wait.cidx, hdr.wait.data2);
                    }
#ifdef __TARGET_TOFINO__
                    meta.done = 1;   // the answer stays in the shim for the apply pass
#else
                    resolved(hdr.wait.act, hdr.wait.data0 ++ hdr.wait.data1 ++ hdr.wait.data2);
#endif
                } else {
                    bit<32> ct0;
                    bit<32> ct1;
                    bit<32> ct2;
                    bit<16> ct3;
                    bit<32> ce;
                    c_tag0.read(ct0, hdr.wait.cidx);
                    c_tag1.read(ct1, hdr.wait.cidx);
                    c_tag2.read(ct2, hdr.wait.cidx);
                    c_tag3.read(ct3, hdr.wait.cidx);
                    c_epoch.read(ce, hdr.wait.cidx);
                    // A READ takes two passes (p4src/README.md, Tofino): the pass that reads the
                    // mailbox or the in-flight registers and decides to read sets hdr.wait.issue and
                    // loops; the next pass (the issue pass) sends the READ and touches only what a
                    // READ writes. On Tofino a register is accessed once per pass; every target runs
                    // the same.
                    // Tofino's gateway compares at most 4 bytes of two fields: one comparison
                    // an if, nested, and their verdict in a flag.
                    bit<1> hit = 0;
                    if (ct0 == hdr.wait.kSrc) { if (ct1 == hdr.wait.kDst) { if (ct2 == hdr.wait.k2) {
                        if (ce == meta.epoch) { if (meta.epoch != 0) { if (ct3 == hdr.wait.kDport) {
                            hit = 1;
                        } } }
                    } } }
                    if (hit == 1) {
                        if (hdr.wait.phase == PH_LOOKUP) { rdma_stats.count(RS_HIT); }   // a waiting packet was a miss already
#ifdef __TARGET_TOFINO__
                        // Into the shim: the apply pass applies it (below).
                        c_act.read(hdr.wait.act, hdr.wait.cidx);
                        c_data0.read(hdr.wait.data0, hdr.wait.cidx);
                        c_data1.read(hdr.wait.data1, hdr.wait.cidx);
                        c_data2.read(hdr.wait.data2, hdr.wait.cidx);
                        meta.done = 1;
#else
                        bit<8> a;
                        bit<32> d0;
                        bit<32> d1;
                        bit<32> d2;
                        c_act.read(a, hdr.wait.cidx);
                        c_data0.read(d0, hdr.wait.cidx);
                        c_data1.read(d1, hdr.wait.cidx);
                        c_data2.read(d2, hdr.wait.cidx);
                        resolved(a, d0 ++ d1 ++ d2);
#endif
                    } else if (hdr.wait.phase == PH_WAITING && hdr.wait.issue == 1) {
                        // ---- the issue pass: the READ decided on the previous pass ----
                        rdma_stats.count(RS_READ);
                        take_psn();
                        meta.mslot = 24w0 ++ meta.rdOwner[7:0];
                        em_mb_psn_issue.apply();
                        em_mb_tag0_issue.apply();
                        em_mb_tag1_issue.apply();
                        em_mb_tag2_issue.apply();
                        em_mb_tag3_issue.apply();
                        em_mb_ts_issue.apply();
                        em_mb_status_issue.apply();
                        em_mb_epoch_issue.apply();
                        p_tag0.write(hdr.wait.cidx, hdr.wait.kSrc);
                        p_tag1.write(hdr.wait.cidx, hdr.wait.kDst);
                        p_tag2.write(hdr.wait.cidx, hdr.wait.k2);
                        p_tag3.write(hdr.wait.cidx, hdr.wait.kDport);
                        p_ts.write(hdr.wait.cidx, now);
                        em_p_psn_put.apply();
                        meta.makeRead = 1;
                        hdr.wait.psn = meta.rdOwner;
                        hdr.wait.reads = hdr.wait.reads + 1;
                        hdr.wait.issue = 0;
                        meta.session = 32w100 + meta.qpIdx;   // one clone session per QP
                        clone_preserving_field_list(CloneType.I2E, meta.session, 1);
                        if (hdr.wait.down == 1) {
                            meta.emFallback = 1;   // a probe of a QP marked down: the packet does not wait
                        } else {
                            meta.emWait = 1;
                        }
                    } else if (hdr.wait.phase == PH_WAITING) {
                        // ---- a waiting packet: its PSN's mailbox ----
                        rdma_stats.count(RS_WAIT_PASS);
                        meta.mslot = 24w0 ++ hdr.wait.psn[7:0];
                        wSt = MB_EMPTY;
                        wT = 0;
                        em_mb_psn_wait.apply();
                        em_mb_epoch_wait.apply();
                        em_mb_tag0_wait.apply();
                        em_mb_tag1_wait.apply();
                        em_mb_tag2_wait.apply();
                        em_mb_tag3_wait.apply();
                        // The slot must still be this packet's READ: after a PSN resync (a sequence
                        // NAK) the same PSN may have been issued again for another key.
                        if (wOwner == hdr.wait.psn) { if (wTag0 == hdr.wait.kSrc) { if (wTag1 == hdr.wait.kDst) {
                            if (wTag2 == hdr.wait.k2) { if (wTag3 == hdr.wait.kDport) {
                                em_mb_status_wait.apply();
                                em_mb_ts_wait.apply();
                            } }
                        } } }
                        // Ages by the sign of a difference (Tofino compares a field with a
                        // constant only): issued before retryFrom, or past the deadline.
                        em_since_retry.apply();
                        if (wSt == MB_ANSWERED) {
                            em_mb_act_wait.apply();
                            em_mb_data0_wait.apply();
                            em_mb_data1_wait.apply();
                            em_mb_data2_wait.apply();
                        }
                        if (wSt == MB_ANSWERED && hdr.wait.act != EM_ACT_TORN) {
                            // The answer (found, or not found: action 0) goes with the packet: its
                            // next pass fills the cache and applies it (the cache's registers come
                            // before the mailbox's).
                            hdr.wait.epoch = wEpoch;
                            hdr.wait.phase = PH_FILL;
                            meta.again = 1;   // recirculated, not looped: see the FILL check above
                        } else {
                            hdr.wait.act = 0;   // a torn entry is not kept
                            hdr.wait.data0 = 0;
                            hdr.wait.data1 = 0;
                            hdr.wait.data2 = 0;
                            if (wSt == MB_FAILED) {
                                meta.emFallback = 1;   // refused (NAK): the server is up, the request was wrong
                            } else if (meta.slack[31:31] == 1 || hdr.wait.reads >= 8) {
                                meta.emFallback = 1;
                                em_qp_down_mark.apply();
                            } else {
                                // Unanswered, or the entry was torn: read again (next pass) once retryUs
                                // have passed.
                                if (wSt == MB_EMPTY || meta.sinceRetry[31:31] == 1) { hdr.wait.issue = 1; }
                                meta.emWait = 1;
                            }
                        }
                    } else if (now == 0) {
                        // No clock to time a READ by: BMv2 leaves ingress_global_timestamp 0 on a
                        // recirculated packet (the key pass recirculates). Round the loopback once
                        // first; the packet comes back through a port, timestamped, and misses then.
                        meta.emWait = 1;
                    } else {
                        // ---- a miss: share a READ in flight for the same key, or decide to read ----
                        rdma_stats.count(RS_MISS);
                        em_p_tag0_get.apply();
                        em_p_tag1_get.apply();
                        em_p_tag2_get.apply();
                        em_p_tag3_get.apply();
                        em_p_ts_get.apply();
                        bit<8> issue = 1;   // 0: share the READ in flight
                        // The in-flight READ's PSN and its mailbox are read beside the tags (reads
                        // change nothing), then the nested matches below decide: fewer dependent
                        // steps on Tofino.
                        em_p_psn_get.apply();
                        bit<32> psn = pp;   // owner tags compared whole: no slices (Tofino's PHV)
                        meta.mslot = 24w0 ++ pp[7:0];
                        em_mb_psn_miss.apply();
                        em_mb_epoch_miss.apply();
                        em_mb_status_miss.apply();
                        // A READ for this key may be in flight: wait for it if it left after the last
                        // flush and is still unanswered (an answered or older one may be stale).
                        em_young.apply();   // sign bit: issued after retryFrom
                        if (pt0 == hdr.wait.kSrc) { if (pt1 == hdr.wait.kDst) { if (pt2 == hdr.wait.k2) {
                            if (pOwner == pp) { if (pEpoch == meta.epoch) {
                                if (pt3 == hdr.wait.kDport) { if (pSt == MB_WAITING && meta.young[31:31] == 1) {
                                    issue = 0;
                                } }
                            } }
                        } } }
                        if (issue == 1) { psn = 0; }
                        em_qp_down_get.apply();
                        hdr.wait.phase = PH_WAITING;
                        hdr.wait.deadline = now + meta.boundUs;
                        hdr.wait.issue = issue;
                        hdr.wait.down = 0;
                        hdr.wait.reads = 0;
                        hdr.wait.psn = psn;
                        if (downTs != 0) {
                            // The server is not answering: no wait; a READ still goes, as a probe,
                            // from the issue pass, which then takes the fallback.
                            hdr.wait.down = 1;
                            if (issue == 0) { meta.emFallback = 1; } else { meta.emWait = 1; }
                        } else {
                            meta.emWait = 1;
                        }
                    }
                }
                if (meta.emWait == 1) {
                    sm.egress_spec = meta.loopPort;     // round the loopback port, then look again
                    meta.routed = 1;
                }
                if (meta.emFallback == 1) { rdma_outcome.count(RS_FALLBACK); }
            }
#ifdef __TARGET_TOFINO__
            // Tofino: an EM pass never goes on to the NF's action and the fabric's tail (their
            // dependent stages would follow the EM path's); what it decided, the entry's action
            // or a drop, is applied by one more pass that runs no EM path (PH_APPLY, fabric.p4).
            // A fallback to a server instance leaves from here (FabricIngress's EM branch).
            if (meta.emWait == 0 && meta.again == 0) {
                if (meta.done == 1) {
                    hdr.wait.phase = PH_APPLY;
                    meta.again = 1;
                } else if (meta.badShim == 0 && (meta.emFallback == 0 || meta.fallbackDetour == 0)) {
                    hdr.wait.phase = PH_APPLY;
                    hdr.wait.act = EM_ACT_DROP;
                    meta.again = 1;
                } else {
                    hdr.ethernet.etherType = hdr.wait.etherType;   // the hop's EM passes are over
                    hdr.wait.setInvalid();
                }
            }
#else
            if (meta.emWait == 0 && meta.again == 0) {
                hdr.ethernet.etherType = hdr.wait.etherType;   // the hop's EM passes are over
                hdr.wait.setInvalid();
            }
#endif
        } else if (response) {
            // ---- a READ response (or NAK) for this switch -------------------------------------
            // One if/else chain, each register written at most once on any path: a Tofino
            // register takes one stateful-ALU access per packet.
            mark_to_drop(sm);
            newSt = MB_EMPTY;
            bit<1> answered = 0;       // a checked answer from the server: the QP is up
            if (!em_qp.apply().hit) {
                rdma_stats.count(RS_BAD_QP);
            } else {
                meta.mslot = 24w0 ++ hdr.bth.psn[7:0];   // psn mod MAILBOX
                em_mb_psn_resp.apply();
                if (hdr.bth.opcode == OP_ACKNOWLEDGE) {
                    // An ACK/NAK (no data): checked like a response, then a NAK is acted on.
#ifndef __TARGET_TOFINO__
                    // (Tofino: not checked, as a response's ICRC: comparing the ICRC with the
                    // hash byte-swapped takes its four bytes apart in PHV, which failed PHV
                    // allocation once the tables were placed; the NIC and the Ethernet FCS stand.)
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
                    bool ackIcrcBad = hdr.icrc.v != ackCrc[7:0] ++ ackCrc[15:8] ++ ackCrc[23:16] ++ ackCrc[31:24];
#else
                    bool ackIcrcBad = false;
#endif
                    if (!hdr.icrc.isValid() || hdr.udp.len != 8 + 12 + 4 + 4) {
                        rdma_stats.count(RS_BAD_LEN);
                    } else if (ackIcrcBad) {
                        rdma_stats.count(RS_BAD_ICRC);
                    } else if (hdr.aeth.syndrome[7:5] == 3) {
                        rdma_stats.count(RS_NAK);
                        answered = 1;
                        if (hdr.aeth.syndrome == 0x60) {
                            // PSN sequence error: the BTH carries the PSN the responder expects.
                            next_psn.write(meta.qpIdx, 8w0 ++ hdr.bth.psn);
                        } else if (rOwner == 7w0 ++ 1w1 ++ hdr.bth.psn) {
                            newSt = MB_FAILED;
                        }
                    } else {
                        rdma_stats.count(RS_BAD_LEN);   // an ACK answers no READ
                    }
                } else if (rOwner != 7w0 ++ 1w1 ++ hdr.bth.psn) {
                    rdma_stats.count(RS_BAD_PSN);
                } else if (!hdr.icrc.isValid() || !hdr.slot[3].isValid()
                           || hdr.bth.opcode != OP_READ_RESPONSE_ONLY) {
                    rdma_stats.count(RS_BAD_LEN);
                } else {
#ifndef __TARGET_TOFINO__
                    // The ICRC over the whole response (about 190 bytes). Tofino: more than one
                    // hash unit takes, so it is left to the NIC and the Ethernet FCS (README).
                    bit<32> crc;
                    hash(crc, HashAlgorithm.crc32, 32w0, {
                        64w0xFFFFFFFFFFFFFFFF,
                        hdr.ipv4.version, hdr.ipv4.ihl, 8w0xFF, hdr.ipv4.totalLen, hdr.ipv4.id, hdr.ipv4.flags,
                        hdr.ipv4.frag, 8w0xFF, hdr.ipv4.proto, 16w0xFFFF, hdr.ipv4.src, hdr.ipv4.dst,
                        hdr.udp.sport, hdr.udp.dport, hdr.udp.len, 16w0xFFFF,
                        hdr.bth.opcode, hdr.bth.se, hdr.bth.m, hdr.bth.pad, hdr.bth.tver, hdr.bth.pkey,
                        1w1, 1w1, 6w0x3F, hdr.bth.dqpn, hdr.bth.ackreq, hdr.bth.resv7, hdr.bth.psn,
                        hdr.aeth.syndrome, hdr.aeth.msn,
                        hdr.slot[0].verHead, hdr.slot[0].src, hdr.slot[0].dst, hdr.slot[0].nf, hdr.slot[0].proto,
                        hdr.slot[0].sport, hdr.slot[0].dport, hdr.slot[0].act, hdr.slot[0].data, hdr.slot[0].pad,
                        hdr.slot[0].verTail,
                        hdr.slot[1].verHead, hdr.slot[1].src, hdr.slot[1].dst, hdr.slot[1].nf, hdr.slot[1].proto,
                        hdr.slot[1].sport, hdr.slot[1].dport, hdr.slot[1].act, hdr.slot[1].data, hdr.slot[1].pad,
                        hdr.slot[1].verTail,
                        hdr.slot[2].verHead, hdr.slot[2].src, hdr.slot[2].dst, hdr.slot[2].nf, hdr.slot[2].proto,
                        hdr.slot[2].sport, hdr.slot[2].dport, hdr.slot[2].act, hdr.slot[2].data, hdr.slot[2].pad,
                        hdr.slot[2].verTail,
                        hdr.slot[3].verHead, hdr.slot[3].src, hdr.slot[3].dst, hdr.slot[3].nf, hdr.slot[3].proto,
                        hdr.slot[3].sport, hdr.slot[3].dport, hdr.slot[3].act, hdr.slot[3].data, hdr.slot[3].pad,
                        hdr.slot[3].verTail
                    }, 64w4294967296);
                    bool icrcBad = hdr.icrc.v != crc[7:0] ++ crc[15:8] ++ crc[23:16] ++ crc[31:24];
#else
                    bool icrcBad = false;
#endif
                    if (icrcBad) {
                        rdma_stats.count(RS_BAD_ICRC);
                    } else {
                        rdma_stats.count(RS_RESP_OK);
                        answered = 1;
                        // The status says "answered" before the slots are compared, so that the
                        // mailbox's status is written as early in a response as it is read in a
                        // miss (Tofino: one stage for a register); what was found, or that the
                        // entry was torn, is the answer's action (EM_ACT_TORN), written after.
                        newSt = MB_ANSWERED;
                        em_mb_ts_resp.apply();
                        em_rtt.apply();
                        em_hist.apply();
                        em_mb_tag0_resp.apply();
                        em_mb_tag1_resp.apply();
                        em_mb_tag2_resp.apply();
                        em_mb_tag3_resp.apply();
                        // The entry of the key asked for, if the bucket holds it (versions at
                        // both ends equal, else torn: read again).
                        bit<1> found = 0;
                        rAct = 0;
                        rData = 0;
                        // The four slots' matches side by side, then the first that matches.
                        bit<1> m0 = 0;
                        if (hdr.slot[0].src == want0) { if (hdr.slot[0].dst == want1) {
                            if (hdr.slot[0].nf == want2[31:24] && hdr.slot[0].proto == want2[23:16]
                                    && hdr.slot[0].sport == want2[15:0]) {
                                if (hdr.slot[0].dport == want3) { m0 = 1; }
                            }
                        } }
                        bit<1> m1 = 0;
                        if (hdr.slot[1].src == want0) { if (hdr.slot[1].dst == want1) {
                            if (hdr.slot[1].nf == want2[31:24] && hdr.slot[1].proto == want2[23:16]
                                    && hdr.slot[1].sport == want2[15:0]) {
                                if (hdr.slot[1].dport == want3) { m1 = 1; }
                            }
                        } }
                        bit<1> m2 = 0;
                        if (hdr.slot[2].src == want0) { if (hdr.slot[2].dst == want1) {
                            if (hdr.slot[2].nf == want2[31:24] && hdr.slot[2].proto == want2[23:16]
                                    && hdr.slot[2].sport == want2[15:0]) {
                                if (hdr.slot[2].dport == want3) { m2 = 1; }
                            }
                        } }
                        bit<1> m3 = 0;
                        if (hdr.slot[3].src == want0) { if (hdr.slot[3].dst == want1) {
                            if (hdr.slot[3].nf == want2[31:24] && hdr.slot[3].proto == want2[23:16]
                                    && hdr.slot[3].sport == want2[15:0]) {
                                if (hdr.slot[3].dport == want3) { m3 = 1; }
                            }
                        } }
                        if (m0 == 1) {
                            found = 1;
                            if (hdr.slot[0].verHead == hdr.slot[0].verTail) {
                                rAct = hdr.slot[0].act; rData = hdr.slot[0].data;
                            } else {
                                rAct = EM_ACT_TORN;
                            }
                        } else if (m1 == 1) {
                            found = 1;
                            if (hdr.slot[1].verHead == hdr.slot[1].verTail) {
                                rAct = hdr.slot[1].act; rData = hdr.slot[1].data;
                            } else {
                                rAct = EM_ACT_TORN;
                            }
                        } else if (m2 == 1) {
                            found = 1;
                            if (hdr.slot[2].verHead == hdr.slot[2].verTail) {
                                rAct = hdr.slot[2].act; rData = hdr.slot[2].data;
                            } else {
                                rAct = EM_ACT_TORN;
                            }
                        } else if (m3 == 1) {
                            found = 1;
                            if (hdr.slot[3].verHead == hdr.slot[3].verTail) {
                                rAct = hdr.slot[3].act; rData = hdr.slot[3].data;
                            } else {
                                rAct = EM_ACT_TORN;
                            }
                        }
                        // A torn entry's versions differ at its two ends: the waiting packet reads
                        // again. (Decided beside the copy of the entry: one step less on Tofino.)
                        if (rAct == EM_ACT_TORN) {
                            rdma_outcome.count(RS_TORN);
                        } else if (found == 0) {
                            rdma_outcome.count(RS_NOT_FOUND);
                        }
                        // The mailbox only: the waiting packet that finds the answer carries it
                        // to the cache on its next pass (registers in one order on every path).
                        em_mb_act_resp.apply();
                        em_mb_data0_resp.apply();
                        em_mb_data1_resp.apply();
                        em_mb_data2_resp.apply();
                    }
                }
            }
            if (answered == 1) {
                em_qp_down_clear.apply();   // the server answers
            }
            if (newSt != MB_EMPTY) {
                em_mb_status_resp.apply();
            }
        }
    }
}

/* Egress: the ingress-to-egress clone of a missing packet becomes the RDMA READ request. */
control EmRead(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    // The READ's addresses and key, by QP: written here in egress rather than carried from
    // the ingress with the clone (PHV on Tofino: the clone carries the QP, PSN and address only).
    action read_to(bit<32> rkey, bit<24> srvQpn, bit<32> srvIp, bit<48> srvMac, bit<32> myIp, bit<48> myMac) {
        hdr.ethernet.dst = srvMac; hdr.ethernet.src = myMac;
        hdr.ipv4.src = myIp; hdr.ipv4.dst = srvIp;
        hdr.bth.dqpn = srvQpn; hdr.reth.rkey = rkey;
    }
    table em_read_qp {
        key = { meta.qp : exact; }
        actions = { read_to; NoAction; }
        default_action = NoAction();
        size = N_QP;
    }
    apply {
        hdr.wait.setInvalid();
        hdr.nsh.setInvalid();
        hdr.tcp.setInvalid();
        hdr.aeth.setInvalid();
        hdr.slot[0].setInvalid();
        hdr.slot[1].setInvalid();
        hdr.slot[2].setInvalid();
        hdr.slot[3].setInvalid();
        hdr.ethernet.etherType = ETH_IPV4;
        hdr.ipv4.setValid();
        hdr.ipv4.version = 4; hdr.ipv4.ihl = 5; hdr.ipv4.tos = 0; hdr.ipv4.totalLen = 20 + 8 + 12 + 16 + 4;
        hdr.ipv4.id = 0; hdr.ipv4.flags = 2; hdr.ipv4.frag = 0; hdr.ipv4.ttl = 64; hdr.ipv4.proto = PROTO_UDP;
        hdr.udp.setValid();
        hdr.udp.sport = 0xC000; hdr.udp.dport = ROCEV2_PORT; hdr.udp.len = 8 + 12 + 16 + 4; hdr.udp.csum = 0;
        hdr.bth.setValid();
        hdr.bth.opcode = OP_READ_REQUEST; hdr.bth.se = 0; hdr.bth.m = 0; hdr.bth.pad = 0; hdr.bth.tver = 0;
        hdr.bth.pkey = 0xFFFF; hdr.bth.fecn = 0; hdr.bth.becn = 0; hdr.bth.resv6 = 0;
        hdr.bth.ackreq = 0; hdr.bth.resv7 = 0; hdr.bth.psn = meta.rdOwner[23:0];
        hdr.reth.setValid();
        hdr.reth.va = meta.rdVa; hdr.reth.len = EM_SLOTS * EM_SLOT_BYTES;
        if (!em_read_qp.apply().hit) {
            mark_to_drop(sm);   // a QP the EMAC has not set up: no READ
        }
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
