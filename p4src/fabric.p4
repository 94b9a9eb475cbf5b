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

    // This switch's own RDMA address: responses to it go to the EM path.
    table rdma_endpoint {
        key = { hdr.ipv4.dst : exact; }
        actions = { NoAction; }
        default_action = NoAction();
        size = 16;
    }

    apply {
#ifdef __TARGET_TOFINO__
        hdr.recirc.setInvalid();   // read by the parser (meta.hops); sent again only to recirculate
#endif
        if (hdr.packet_out.isValid()) {
            // From the controller: out of the port it names, or (0) through the pipeline.
            hdr.packet_out.setInvalid();
            if (hdr.packet_out.egress_port != 0) {
                sm.egress_spec = hdr.packet_out.egress_port;
                return;
            }
        }
        if (hdr.ipv4.isValid()) {
            meta.l4len = hdr.ipv4.totalLen - 20;
        }
        bool response = false;
        if (hdr.bth.isValid() && !hdr.nsh.isValid()) {
            response = rdma_endpoint.apply().hit;
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
        if (inEm) {
            em_key.apply(hdr, meta);
            if (meta.emLookup == 0) {
                meta.done = 1;   // nothing to look up (LB: not a VIP): passes as in LM
            }
        } else if (meta.local == 1) {
            // An NF in LM, in the other branch of the same if as the EM key, so that Tofino
            // may place both in the same stages.
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
        if (response || (inEm && meta.emLookup == 1)) {
#ifndef FABRIC_NO_EM
            em.apply(hdr, meta, sm);
#endif
        }
        if (hdr.wait.isValid() && meta.emWait == 0 && !response) {
            // A packet that no longer waits for EM (its hop changed meanwhile) drops the shim.
            hdr.ethernet.etherType = hdr.wait.etherType;
            hdr.wait.setInvalid();
        }
        if (response) {
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
                    meta.recirc = 1;
#ifdef __TARGET_TOFINO__
                    // Tofino recirculates through a port chosen in ingress, and keeps no
                    // metadata across it: the hop count travels in a header of its own.
                    sm.egress_spec = RECIRC_PORT;
                    hdr.recirc.setValid();
                    hdr.recirc.hops = meta.hops;
#else
                    sm.egress_spec = 0;
#endif
                    return;
                }
            }
        }
        if (meta.routed == 0) {
            underlay.apply(hdr, meta, sm);
        }
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
