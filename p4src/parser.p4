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
        transition select(hdr.wait.etherType) { ETH_NSH: nsh; ETH_IPV4: chained_ipv4; default: accept; }
    }
    state nsh {
        pkt.extract(hdr.nsh);
        transition select(hdr.nsh.nextProto) { 1: chained_ipv4; default: accept; }
    }
    // Behind NSH or the wait shim, the same IPv4 and L4 but never RoCEv2: an RDMA response
    // comes bare. The EM path's bucket and the wait shim then never share a packet, and
    // Tofino overlays them in the same PHV containers (p4src/README.md, Tofino).
    state chained_ipv4 {
        pkt.extract(hdr.ipv4);
        transition select(hdr.ipv4.ihl, hdr.ipv4.frag, hdr.ipv4.proto) {
            (5, 0, PROTO_TCP): tcp;
            (5, 0, PROTO_UDP): chained_udp;
            default: accept;
        }
    }
    state chained_udp {
        pkt.extract(hdr.udp);
        meta.sport = hdr.udp.sport;
        meta.dport = hdr.udp.dport;
        transition accept;
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
    state udp {
        pkt.extract(hdr.udp);
        meta.sport = hdr.udp.sport;
        meta.dport = hdr.udp.dport;
#ifdef FABRIC_NO_EM
        transition accept;   // a measurement build without the EM path (p4src/README.md)
#else
        transition select(hdr.udp.dport) { ROCEV2_PORT: bth; default: accept; }
#endif
    }
    state bth {
        pkt.extract(hdr.bth);
        transition select(hdr.bth.opcode) {
            OP_READ_REQUEST: reth;
            OP_READ_RESPONSE_ONLY: read_response;
            OP_ACKNOWLEDGE: ack;
            default: accept;
        }
    }
    state reth { pkt.extract(hdr.reth); pkt.extract(hdr.icrc); transition accept; }
    state ack { pkt.extract(hdr.aeth); pkt.extract(hdr.icrc); transition accept; }
    state read_response {
        pkt.extract(hdr.aeth);
        // A response the fabric asked for carries exactly one bucket; anything else is counted bad.
        transition select(hdr.udp.len) {
            8 + 12 + 4 + EM_SLOTS * EM_SLOT_BYTES + 4: bucket;
            default: accept;
        }
    }
    state bucket {
        // Indices, not .next: bf-p4c's v1model translation refuses .next here.
        pkt.extract(hdr.slot[0]);
        pkt.extract(hdr.slot[1]);
        pkt.extract(hdr.slot[2]);
        pkt.extract(hdr.slot[3]);
        pkt.extract(hdr.icrc);
        transition accept;
    }
}

#endif
