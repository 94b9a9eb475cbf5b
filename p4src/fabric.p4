/* srem fabric: NSH service chaining over an IPv4 fat-tree, with in-network NFs in local
   memory (LM) and in external memory (EM) read by RDMA. v1model; see README.md. */
#include <core.p4>
#include <v1model.p4>

#include "headers.p4"
#include "parser.p4"
#include "underlay.p4"
#include "chaining.p4"
#include "lb_slot.p4"
#include "nfs.p4"
#include "em.p4"
#include "deparser.p4"

#if defined(__TARGET_TOFINO__) && !defined(FABRIC_NO_EM)
// Tofino, with the EM path: an EM pass and the fabric's tail are exclusive branches, and
// what a lookup decided is applied by one more pass (p4src/README.md, Tofino, 30).
#define EM_PASSES_APART
#endif

control FabricIngress(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    counter(32w256, CounterType.packets_and_bytes) nf_packets;
    counter(32w256, CounterType.packets) nf_drops;
    counter(32w256, CounterType.packets) nat_punts;   // LM NAT misses sent to the controller
    Underlay() underlay;
    Classifier() classifier;
    ServiceForwarder() sff;
    Firewall() firewall;
    Nat() nat;
    LoadBalancer() lb;
    RateLimiter() ratelimit;
    EmKey() em_key;
    EmPath() em;
    NatRewrite() em_nat;
    LbRewrite() em_lb;

    // The EM cache's settings (the EMAC writes its default action): mask = cache size - 1 (a
    // power of two); epoch + 1 empties the cache; epoch 0 (the default until the EMAC sets it)
    // never hits. Action data, not registers: PI's P4Runtime server (BMv2) does not write
    // registers. Applied first in every pass: it waits for nothing.
    action cache_set(bit<32> indexMask, bit<32> flushEpoch) {
        meta.epoch = flushEpoch;
        meta.cacheMask = indexMask;
    }
    table em_cache {
        key = { }
        actions = { cache_set; }
        default_action = cache_set(0, 0);
        size = 1;
    }

    // This switch's own RDMA address: responses to it go to the EM path.
    table rdma_endpoint {
        key = { hdr.ipv4.dst : exact; }
        actions = { NoAction; }
        default_action = NoAction();
        size = 16;
    }

    // The ports a waiting packet comes back on from the loopback (the EMAC writes them: the
    // loopback's far end, LOOP_IN, or the loop port itself where it reflects). A wait shim is
    // taken from these and from a recirculation only: it carries the lookup's key, and a
    // host must not choose the key whose cached answer is applied to its packet.
    table wait_port {
        key = { sm.ingress_port : exact; }
        actions = { NoAction; }
        default_action = NoAction();
        size = 4;
    }

    // One more pass through the ingress (the egress recirculates on v1model). Tofino
    // recirculates through a port chosen in ingress, and keeps no metadata across it: the
    // hop count travels in a header of its own.
    action to_recirc() {
        meta.recirc = 1;
#ifdef __TARGET_TOFINO__
        sm.egress_spec = RECIRC_PORT;
        hdr.recirc.setValid();
        hdr.recirc.hops = meta.hops;
#else
        sm.egress_spec = 0;
#endif
    }

    apply {
#ifdef __TARGET_TOFINO__
        hdr.recirc.setInvalid();   // read by the parser (meta.hops); sent again only to recirculate
        bool recirculated = sm.ingress_port == RECIRC_PORT;
#else
        bool recirculated = sm.instance_type == 4;   // v1model's PKT_INSTANCE_TYPE_RECIRC
#endif
#ifndef FABRIC_NO_EM
        if (hdr.wait.isValid() && !recirculated) {
            if (!wait_port.apply().hit) {
                meta.badShim = 1;   // counted by the EM path, then dropped
            }
        }
#endif
        // A later pass of an EM hop (p4src/README.md, the EM path in passes): the lookup starts
        // from the key in the wait shim, as the packet arrived (before the SFF may end the chain).
        // (A metadata bit set by an if: a bool local would be replaced by its condition where
        // it is read, after the SFF, which may remove the NSH.)
        if (hdr.wait.isValid() && hdr.nsh.isValid()) {
            meta.emPass = 1;
#ifdef EM_PASSES_APART
            // The pass that applies what the EM path decided runs no EM path. Its shim holds
            // the NF's action: taken only from a recirculation (else looked up as a key).
            if (hdr.wait.phase == PH_APPLY && recirculated) {
                meta.emPass = 0;
                meta.emApply = 1;
            }
#endif
        } else if (meta.badShim == 1) {
            meta.emPass = 1;   // no NSH: nothing to look up, but the EM path counts it
        } else if (hdr.wait.isValid()) {
            hdr.ethernet.etherType = hdr.wait.etherType;   // a shim without NSH: dropped
            hdr.wait.setInvalid();
        }
        // (Before the packet-out's return: nothing after waits for that.)
        bool response = false;
        if (hdr.bth.isValid() && !hdr.nsh.isValid()) {
            response = rdma_endpoint.apply().hit;
        }
        if (hdr.packet_out.isValid()) {
            // From the controller: out of the port it names, or (0) through the pipeline.
            hdr.packet_out.setInvalid();
            if (hdr.packet_out.egress_port != 0) {
                sm.egress_spec = hdr.packet_out.egress_port;
                return;
            }
        }
        em_cache.apply();
        if (hdr.ipv4.isValid()) {
            meta.l4len = hdr.ipv4.totalLen - 20;
        }
        // (A response has a BTH and no NSH: neither table sees it, and neither waits for
        // rdma_endpoint, so Tofino can look them up in the same stages.)
        if (!hdr.nsh.isValid() && hdr.ipv4.isValid() && !hdr.bth.isValid()) {
            classifier.apply(hdr, meta, sm);
        }
        if (hdr.nsh.isValid()) {
            sff.apply(hdr, meta, sm);
        }
        // NAT and load balancer can live in EM (exact keys: one bucket read answers them).
        // A firewall or rate limiter placed in EM is served from its LM table (see README).
        bool inEm = meta.local == 1 && meta.hostKind == HOST_EM
                    && (meta.nfKind == NF_NAT || meta.nfKind == NF_LB);
#ifndef __TARGET_TOFINO__
        // BMv2 and srem's switch have no stages to run out of: the hop's key goes in the shim
        // and the lookup follows in the same pass (an EM hit takes one pass, as an LM hit).
        if (inEm && meta.emPass == 0 && !response) {
            em_key.apply(hdr, meta);
            if (meta.emLookup == 1) {
                meta.again = 0;
                meta.emPass = 1;
            }
        }
#endif
        // The SFF still runs in a later pass of an EM hop, only to tell whether the hop is still
        // this NF in EM (sameHop): its tables and the EM key's are not on the lookup's path.
        bool sameHop = false;
        if (inEm && meta.nfId == hdr.wait.nf) { sameHop = true; }
        // One if/else for the EM path (a response, or a later pass of an EM hop), the EM key
        // pass and the LM NFs: Tofino sees them exclusive, and places them in the same stages.
        if (meta.emPass == 1 || response) {
#ifndef FABRIC_NO_EM
            em.apply(hdr, meta, sm, response);
#endif
#ifdef EM_PASSES_APART
            // Tofino: an EM pass ends here, and everything after the else below (the NFs, the
            // SFF's hop, the underlay) is exclusive with it: the two chains of dependent
            // stages overlap instead of adding up (p4src/README.md, Tofino).
            if (!response) {
                if (meta.badShim == 1) {
                    mark_to_drop(sm);
                } else {
                    if (!sameHop) {
                        // The hop changed while the packet was in its EM passes: it drops what
                        // this pass found and takes the hop afresh in the next pass.
                        if (meta.emWait == 1 || meta.again == 1) {
                            hdr.ethernet.etherType = hdr.wait.etherType;
                            hdr.wait.setInvalid();
                        }
                        meta.again = 1;
                    }
                    if (meta.again == 1) {
                        to_recirc();   // the FILL or apply pass, or the hop afresh
                    } else if (meta.emFallback == 1) {
                        // (a fallback without a server instance drops in the apply pass)
                        sm.egress_spec = meta.detourPort;
                        hdr.ethernet.dst = meta.detourMac;
                    }   // else waiting: the EM path sent it round the loopback
                }
            }
        } else {
        if (meta.emApply == 1) {
            // What the EM path decided, from the shim; then the hop as an LM NF's (below).
            if (!sameHop) {
                meta.again = 1;   // the hop changed: taken afresh
            } else if (hdr.wait.act == EM_ACT_DROP) {
                meta.nfDrop = 1;
            } else {
                meta.emAct = hdr.wait.act;
                meta.emData = hdr.wait.data0 ++ hdr.wait.data1 ++ hdr.wait.data2;
                meta.done = 1;
            }
            hdr.ethernet.etherType = hdr.wait.etherType;   // the hop's EM passes are over
            hdr.wait.setInvalid();
        } else if (inEm) {
#else
        } else if (inEm) {
#endif
#ifdef __TARGET_TOFINO__
            em_key.apply(hdr, meta);   // the key pass: the key goes in the shim, the packet recirculates
#endif
            if (meta.emLookup == 0) {
                meta.done = 1;   // nothing to look up (LB: not a VIP): passes as in LM
            }
        } else if (meta.local == 1) {
            // An NF in LM.
            meta.done = 1;
            if (meta.nfKind == NF_FIREWALL) {
                firewall.apply(hdr, meta);
            } else if (meta.nfKind == NF_NAT) {
                nat.apply(hdr, meta);
            } else if (meta.nfKind == NF_LB) {
                lb.apply(hdr, meta);
            } else if (meta.nfKind == NF_RATELIMIT) {
                ratelimit.apply(hdr, meta);
            }
        }
        if (response) {
            return;
        }
#ifndef FABRIC_NO_EM
        if (meta.badShim == 1) {
            mark_to_drop(sm);
            return;
        }
#endif
        if (meta.emPass == 1 && !sameHop) {
            // The hop changed while the packet was in its EM passes (moved to LM, say): it drops
            // what this pass found and takes the hop afresh in the next pass.
            if (meta.emWait == 1 || meta.again == 1) {   // (else the EM path dropped the shim already)
                hdr.ethernet.etherType = hdr.wait.etherType;
                hdr.wait.setInvalid();
            }
            meta.again = 1;
        }
        if (meta.again == 1 && hdr.nsh.isValid()) {
            // One more pass for the same hop (the EM key pass, a hop that changed):
            // NSH unchanged, no hop counted.
            to_recirc();
            return;
        }
        if (hdr.nsh.isValid()) {
            if (meta.local == 1) {
                if (inEm) {
                    // The action id of the entry read decides what is applied.
                    if (meta.done == 1 && meta.emAct == EM_ACT_NAT) {
                        em_nat.apply(hdr, meta, meta.emData);
                    } else if (meta.done == 1 && meta.emAct == EM_ACT_LB) {
                        em_lb.apply(hdr, meta, meta.emData);
                    }
                    if (meta.emFallback == 1) {
                        if (meta.fallbackDetour == 1) {
                            // A server instance of the same NF takes the hop (NSH unchanged).
                            sm.egress_spec = meta.detourPort;
                            hdr.ethernet.dst = meta.detourMac;
                            meta.routed = 1;
                        } else {
                            meta.nfDrop = 1;
                        }
                    }
                }
                if (meta.natPunt == 1) {
                    // No mapping yet: the controller allocates one and sends the packet
                    // back by packet-out (NSH as here: it takes this hop again).
                    hdr.packet_in.setValid();
                    hdr.packet_in.reason = PUNT_NAT_MISS;
                    hdr.packet_in.nf_id = meta.nfId;
                    nat_punts.count((bit<32>) meta.nfId);
                    sm.egress_spec = CPU_PORT;
                    return;
                }
                if (meta.nfDrop == 1) {
                    nf_drops.count((bit<32>) meta.nfId);
                    mark_to_drop(sm);
                    return;
                }
                if (meta.done == 1) {
                    nf_packets.count((bit<32>) meta.nfId);
                    if (meta.hops >= 32) {   // a chain that loops inside one switch ends here
                        mark_to_drop(sm);
                        return;
                    }
                    meta.hops = meta.hops + 1;
                    // The hop is done: next service index, and one more pass for the next hop.
                    hdr.nsh.si = hdr.nsh.si - 1;
                    to_recirc();
                    return;
                }
            }
        }
        if (meta.routed == 0) {
            underlay.apply(hdr, meta, sm);
        }
#ifdef EM_PASSES_APART
        }   // the else of the EM pass (above)
#endif
    }
}

control FabricEgress(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    EmRead() em_read;
    apply {
#ifdef __TARGET_TOFINO__
        // Tofino's deparser takes a checksum's condition as one 1-bit field.
        if (hdr.tcp.isValid() && meta.l4Rewritten == 1) { meta.tcpCsum = 1; }
        if (hdr.udp.isValid() && meta.l4Rewritten == 1 && hdr.udp.csum != 0) { meta.udpCsum = 1; }
#endif
        if (sm.instance_type == 1 && meta.makeRead == 1) {
#ifndef FABRIC_NO_EM
            em_read.apply(hdr, meta, sm);
#endif
        } else if (meta.recirc == 1) {
#ifndef __TARGET_TOFINO__
            recirculate_preserving_field_list(2);   // Tofino: sent to RECIRC_PORT by ingress
#endif
        }
    }
}

V1Switch(FabricParser(), FabricVerifyChecksum(), FabricIngress(), FabricEgress(),
         FabricComputeChecksum(), FabricDeparser()) main;
