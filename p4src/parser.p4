/* fabric: parser. Ethernet, then the wait shim, NSH, IPv4, TCP/UDP, and RoCEv2 on UDP 4791. */
#ifndef FABRIC_PARSER_P4
#define FABRIC_PARSER_P4

parser FabricParser(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
#ifdef __TARGET_TOFINO__
        transition select(sm.ingress_port) {
            RECIRC_PORT: recirculated;
            CPU_PORT: packet_out;
            default: ethernet;
        }
    }
    state recirculated {
        pkt.extract(hdr.recirc);
        meta.hops = hdr.recirc.hops;
        transition ethernet;
    }
#else
        // A recirculated packet may keep the CPU port as its ingress port: only a fresh
        // one (instance type 0) carries the packet-out header.
        transition select(sm.instance_type, sm.ingress_port) {
            (0, CPU_PORT): packet_out;
            default: ethernet;
        }
    }
#endif
    state packet_out {
        pkt.extract(hdr.packet_out);
        transition ethernet;
    }
    state ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.etherType) {
            ETH_WAIT: wait;
            ETH_NSH: nsh;
            ETH_IPV4: ipv4;
            default: accept;
        }
    }
    state wait {
        pkt.extract(hdr.wait);
        transition select(hdr.wait.etherType) { ETH_NSH: nsh; ETH_IPV4: ipv4; default: accept; }
    }
    state nsh {
        pkt.extract(hdr.nsh);
        transition select(hdr.nsh.nextProto) { 1: ipv4; default: accept; }
    }
    state ipv4 {
        pkt.extract(hdr.ipv4);
        transition select(hdr.ipv4.ihl, hdr.ipv4.frag, hdr.ipv4.proto) {
            (5, 0, PROTO_TCP): tcp;
            (5, 0, PROTO_UDP): udp;
            default: accept;
        }
    }
    state tcp {
        pkt.extract(hdr.tcp);
        meta.sport = hdr.tcp.sport;
        meta.dport = hdr.tcp.dport;
        transition accept;
    }
    // Each header is extracted in one state only: Tofino 2 copies a header extracted in
    // several for its egress deparser, past its 128 bits of egress validity containers.
    state udp {
        pkt.extract(hdr.udp);
        meta.sport = hdr.udp.sport;
        meta.dport = hdr.udp.dport;
#ifdef FABRIC_NO_EM
        transition accept;   // a measurement build without the EM path (p4src/README.md)
#else
        // RoCEv2 only bare, never behind NSH or the wait shim (an RDMA response comes bare):
        // the EM path's bucket shares no packet with the shim or NSH, and Tofino overlays
        // them in the same PHV containers (headers.p4; p4src/README.md, Tofino).
        transition select(hdr.udp.dport, hdr.ethernet.etherType) { (ROCEV2_PORT, ETH_IPV4): bth; default: accept; }
#endif
    }
    // What the EM path reads: a READ response (one bucket) and an ACK/NAK. Anything else on
    // RoCEv2 (a READ request between hosts, say) is forwarded as payload.
    state bth {
        pkt.extract(hdr.bth);
        transition select(hdr.bth.opcode) {
            OP_READ_RESPONSE_ONLY: aeth;
            OP_ACKNOWLEDGE: aeth;
            default: accept;
        }
    }
    state aeth {
        pkt.extract(hdr.aeth);
        // A response the fabric asked for carries exactly one bucket; anything else is counted bad.
        transition select(hdr.bth.opcode, hdr.udp.len) {
            (OP_ACKNOWLEDGE, _): icrc;
            (OP_READ_RESPONSE_ONLY, 8 + 12 + 4 + EM_SLOTS * EM_SLOT_BYTES + 4): bucket;
            default: accept;
        }
    }
    state bucket {
        // Indices, not .next: bf-p4c's v1model translation refuses .next here.
        pkt.extract(hdr.slot[0]);
        pkt.extract(hdr.slot[1]);
        pkt.extract(hdr.slot[2]);
        pkt.extract(hdr.slot[3]);
        transition icrc;
    }
    state icrc {
        pkt.extract(hdr.icrc);
        transition accept;
    }
}

#endif
