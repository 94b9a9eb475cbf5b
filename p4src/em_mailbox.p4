/* fabric: the EM path's mailbox and QP-down accesses, one keyless table each (included in
   EmPath, em.p4).

   Why tables: a Tofino register lives in one stage, and every access to it must be placed
   there. The issue and miss passes reach the mailbox a few dependent steps after the lookup
   starts, a response's answer only after comparing four slots; bf-p4c places the early
   accesses first and then cannot place the late ones in the same stage ("shared attachments
   on partly placed tables"). A named table can carry @stage: on Tofino 2 each register's
   accesses are pinned to one stage, late enough for its latest access (with them pinned,
   placement reported no such error; p4src/README.md, Tofino). On every other target they are
   plain keyless tables running their one action: the register calls they replace. */
#ifndef FABRIC_EM_MAILBOX_P4
#define FABRIC_EM_MAILBOX_P4

#if __TARGET_TOFINO__ == 2 && !defined(EM_NO_PIN)   // (EM_NO_PIN: to see where bf-p4c would put them)
#define EM_STAGE(n) @stage(n)
#else
#define EM_STAGE(n)
#endif
// One register access: an action and a @hidden keyless table carrying the register's stage.
#define EM_AT(n, a, t, stmt) \
    action a() { stmt; } \
    @hidden EM_STAGE(n) table t { key = { } actions = { a; } default_action = a(); size = 1; }

// Each register's stage on Tofino 2, in the order every path needs (bf-p4c's dependency graph,
// built with -DEM_NO_PIN, gives each access's earliest stage; placement lands 2-3 later), and
// at most four registers a stage (its stateful ALUs): the PSN's owner and the flush epoch; the
// key's tags (a response reads them once the owner matched); the status and the issue time
// (a waiting packet reads them once the tags matched; a response writes the status as soon as
// it is checked); the answer (a response writes it three dependent stages after the tags); the
// QP's down mark (set once the answer says nothing usable came in time).
#define S_MB_PSN 8
#define S_MB_EPOCH 8
#define S_MB_TAG 9
#define S_MB_TS 10
#define S_MB_STATUS 10
#define S_MB_ANSWER 12
#define S_QP_DOWN 13

    // Values read (control-level: an action reads and writes only these and headers). No
    // initial values: each is set on its path before it is used, and an initial value makes
    // it live from the start of the pipe (bf-p4c's PHV allocation failed on that once).
    bit<32> wOwner;   // the waiting pass: its PSN's mailbox
    bit<32> wTag0;
    bit<32> wTag1;
    bit<32> wTag2;
    bit<16> wTag3;
    bit<8> wSt;
    bit<32> wEpoch;   // (read beside the owner, used once the status says found)
    bit<32> pOwner;   // a miss: the mailbox of the READ in flight for its cache index
    bit<32> pEpoch;
    bit<8> pSt;
    bit<32> downTs;
    bit<32> rOwner;   // a response: its PSN's mailbox
    bit<32> rT;
    bit<32> want0;
    bit<32> want1;
    bit<32> want2;
    bit<16> want3;
    bit<8> newSt;     // what the response makes the mailbox's status (MB_EMPTY: unchanged)
    bit<8> rAct;      // the entry the response found
    bit<96> rData;

    // The issue pass writes the mailbox of its new PSN.
    EM_AT(S_MB_PSN, mb_psn_issue, em_mb_psn_issue, mb_psn.write(meta.mslot, meta.rdOwner))
    EM_AT(S_MB_TAG, mb_tag0_issue, em_mb_tag0_issue, mb_tag0.write(meta.mslot, hdr.wait.kSrc))
    EM_AT(S_MB_TAG, mb_tag1_issue, em_mb_tag1_issue, mb_tag1.write(meta.mslot, hdr.wait.kDst))
    EM_AT(S_MB_TAG, mb_tag2_issue, em_mb_tag2_issue, mb_tag2.write(meta.mslot, hdr.wait.k2))
    EM_AT(S_MB_TAG, mb_tag3_issue, em_mb_tag3_issue, mb_tag3.write(meta.mslot, hdr.wait.kDport))
    EM_AT(S_MB_TS, mb_ts_issue, em_mb_ts_issue, mb_ts.write(meta.mslot, now))
    EM_AT(S_MB_STATUS, mb_status_issue, em_mb_status_issue, mb_status.write(meta.mslot, MB_WAITING))
    EM_AT(S_MB_EPOCH, mb_epoch_issue, em_mb_epoch_issue, mb_epoch.write(meta.mslot, meta.epoch))

    // A waiting packet reads its PSN's mailbox; the answer, once there, goes into its shim.
    EM_AT(S_MB_PSN, mb_psn_wait, em_mb_psn_wait, mb_psn.read(wOwner, meta.mslot))
    EM_AT(S_MB_TAG, mb_tag0_wait, em_mb_tag0_wait, mb_tag0.read(wTag0, meta.mslot))
    EM_AT(S_MB_TAG, mb_tag1_wait, em_mb_tag1_wait, mb_tag1.read(wTag1, meta.mslot))
    EM_AT(S_MB_TAG, mb_tag2_wait, em_mb_tag2_wait, mb_tag2.read(wTag2, meta.mslot))
    EM_AT(S_MB_TAG, mb_tag3_wait, em_mb_tag3_wait, mb_tag3.read(wTag3, meta.mslot))
    EM_AT(S_MB_TS, mb_ts_wait, em_mb_ts_wait, mb_ts.read(wT, meta.mslot))
    EM_AT(S_MB_STATUS, mb_status_wait, em_mb_status_wait, mb_status.read(wSt, meta.mslot))
    EM_AT(S_MB_ANSWER, mb_act_wait, em_mb_act_wait, mb_act.read(hdr.wait.act, meta.mslot))
    EM_AT(S_MB_ANSWER, mb_data0_wait, em_mb_data0_wait, mb_data0.read(hdr.wait.data0, meta.mslot))
    EM_AT(S_MB_ANSWER, mb_data1_wait, em_mb_data1_wait, mb_data1.read(hdr.wait.data1, meta.mslot))
    EM_AT(S_MB_ANSWER, mb_data2_wait, em_mb_data2_wait, mb_data2.read(hdr.wait.data2, meta.mslot))
    EM_AT(S_MB_EPOCH, mb_epoch_wait, em_mb_epoch_wait, mb_epoch.read(wEpoch, meta.mslot))
    EM_AT(S_QP_DOWN, qp_down_mark, em_qp_down_mark, qp_down.write(meta.qpIdx, now | 1))

    // A miss reads the mailbox of the READ in flight for its cache index, and the QP's mark.
    EM_AT(S_MB_PSN, mb_psn_miss, em_mb_psn_miss, mb_psn.read(pOwner, meta.mslot))
    EM_AT(S_MB_STATUS, mb_status_miss, em_mb_status_miss, mb_status.read(pSt, meta.mslot))
    EM_AT(S_MB_EPOCH, mb_epoch_miss, em_mb_epoch_miss, mb_epoch.read(pEpoch, meta.mslot))
    EM_AT(S_QP_DOWN, qp_down_get, em_qp_down_get, qp_down.read(downTs, meta.qpIdx))

    // A response reads the mailbox of its PSN and writes the answer it checked.
    EM_AT(S_MB_PSN, mb_psn_resp, em_mb_psn_resp, mb_psn.read(rOwner, meta.mslot))
    EM_AT(S_MB_TAG, mb_tag0_resp, em_mb_tag0_resp, mb_tag0.read(want0, meta.mslot))
    EM_AT(S_MB_TAG, mb_tag1_resp, em_mb_tag1_resp, mb_tag1.read(want1, meta.mslot))
    EM_AT(S_MB_TAG, mb_tag2_resp, em_mb_tag2_resp, mb_tag2.read(want2, meta.mslot))
    EM_AT(S_MB_TAG, mb_tag3_resp, em_mb_tag3_resp, mb_tag3.read(want3, meta.mslot))
    EM_AT(S_MB_TS, mb_ts_resp, em_mb_ts_resp, mb_ts.read(rT, meta.mslot))
    // (a table of its own: bf-p4c folded the difference inline into the register's stateful ALU,
    // then failed to give it `now`: "Compiler Bug: cannot find allocation of ... em_now")
    EM_ONE(rtt_of, em_rtt, meta.rtt = now - rT)
    EM_AT(S_MB_STATUS, mb_status_resp, em_mb_status_resp, mb_status.write(meta.mslot, newSt))
    EM_AT(S_MB_ANSWER, mb_act_resp, em_mb_act_resp, mb_act.write(meta.mslot, rAct))
    EM_AT(S_MB_ANSWER, mb_data0_resp, em_mb_data0_resp, mb_data0.write(meta.mslot, rData[95:64]))
    EM_AT(S_MB_ANSWER, mb_data1_resp, em_mb_data1_resp, mb_data1.write(meta.mslot, rData[63:32]))
    EM_AT(S_MB_ANSWER, mb_data2_resp, em_mb_data2_resp, mb_data2.write(meta.mslot, rData[31:0]))
    EM_AT(S_QP_DOWN, qp_down_clear, em_qp_down_clear, qp_down.write(meta.qpIdx, 0))

#endif
