/* ECN marking by the egress queue's depth (RFC 3168 style): IPv4 frames from port 1 go
   out of port 2 and back; egress sets CE on an ECN-capable packet (ECT(0) or ECT(1))
   that found at least ECN_AT packets ahead of it in its egress queue, and fixes the IPv4
   header checksum. Written for srem's tests (issue 23): the queue has to be real for any
   packet to be marked. */
#include <core.p4>
#include <v1model.p4>

const bit<19> ECN_AT = 10;
const bit<2>  CE = 3;

header ethernet_t {
    bit<48> dst;
    bit<48> src;
    bit<16> type;
}
header ipv4_t {
    bit<4>  version;
    bit<4>  ihl;
    bit<6>  dscp;
    bit<2>  ecn;
    bit<16> total_len;
    bit<16> ident;
    bit<3>  flags;
    bit<13> frag;
    bit<8>  ttl;
    bit<8>  proto;
    bit<16> csum;
    bit<32> src;
    bit<32> dst;
}
struct headers_t {
    ethernet_t eth;
    ipv4_t     ip;
}
struct meta_t { }

parser EcnParser(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start {
        pkt.extract(hdr.eth);
        transition select(hdr.eth.type) {
            0x0800: ip;
            default: accept;
        }
    }
    state ip {
        pkt.extract(hdr.ip);
        transition accept;
    }
}

control EcnVerify(inout headers_t hdr, inout meta_t meta) { apply { } }

control EcnIngress(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        if (!hdr.ip.isValid()) {
            mark_to_drop(sm);
        } else if (sm.ingress_port == 1) {
            sm.egress_spec = 2;
        } else {
            sm.egress_spec = 1;
        }
    }
}

control EcnEgress(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        // ECT(0) is 2, ECT(1) is 1: only ECN-capable traffic is marked, never Not-ECT (0)
        if (hdr.ip.isValid() && (hdr.ip.ecn == 1 || hdr.ip.ecn == 2) && sm.enq_qdepth >= ECN_AT) {
            hdr.ip.ecn = CE;
        }
    }
}

control EcnChecksum(inout headers_t hdr, inout meta_t meta) {
    apply {
        update_checksum(hdr.ip.isValid(),
            { hdr.ip.version, hdr.ip.ihl, hdr.ip.dscp, hdr.ip.ecn, hdr.ip.total_len, hdr.ip.ident,
              hdr.ip.flags, hdr.ip.frag, hdr.ip.ttl, hdr.ip.proto, hdr.ip.src, hdr.ip.dst },
            hdr.ip.csum, HashAlgorithm.csum16);
    }
}

control EcnDeparser(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.eth);
        pkt.emit(hdr.ip);
    }
}

V1Switch(EcnParser(), EcnVerify(), EcnIngress(), EcnEgress(), EcnChecksum(), EcnDeparser()) main;
