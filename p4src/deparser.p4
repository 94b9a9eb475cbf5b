/* fabric: checksums and deparser. */
#ifndef FABRIC_DEPARSER_P4
#define FABRIC_DEPARSER_P4

control FabricVerifyChecksum(inout headers_t hdr, inout meta_t meta) {
    apply { }
}

/* IPv4 always; TCP/UDP only when a NAT or LB rewrote the 5-tuple (a UDP checksum of 0
   stays 0: the sender chose none). The RoCEv2 ICRC is computed in egress (em.p4).
   The zeroed checksum field is two 8w0, not one 16w0: srem's compiler wrote a 16-bit
   constant of a calculation as the hexstr "0x0" (fixed in p4target since, 1de469a), and
   BMv2 then took two bytes from a one-byte buffer (the checksum came out 0x61 short, the
   packet lost at the receiver). Same bits either way; any compiler's JSON is safe. */
control FabricComputeChecksum(inout headers_t hdr, inout meta_t meta) {
    apply {
        update_checksum(hdr.ipv4.isValid(),
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.tos, hdr.ipv4.totalLen, hdr.ipv4.id,
              hdr.ipv4.flags, hdr.ipv4.frag, hdr.ipv4.ttl, hdr.ipv4.proto, hdr.ipv4.src, hdr.ipv4.dst },
            hdr.ipv4.csum, HashAlgorithm.csum16);
#ifdef __TARGET_TOFINO__
        // Tofino updates an L4 checksum from the parser's residual (incremental), and its
        // deparser takes the condition as one 1-bit field (set in FabricEgress).
        update_checksum_with_payload(meta.tcpCsum == 1,
#else
        update_checksum_with_payload(hdr.tcp.isValid() && meta.l4Rewritten == 1,
#endif
            { hdr.ipv4.src, hdr.ipv4.dst, 8w0, hdr.ipv4.proto, meta.l4len,
              hdr.tcp.sport, hdr.tcp.dport, hdr.tcp.seq, hdr.tcp.ack, hdr.tcp.off, hdr.tcp.res,
              hdr.tcp.flags, hdr.tcp.window, 8w0, 8w0, hdr.tcp.urg },
            hdr.tcp.csum, HashAlgorithm.csum16);
#ifdef __TARGET_TOFINO__
        update_checksum_with_payload(meta.udpCsum == 1,
#else
        update_checksum_with_payload(hdr.udp.isValid() && meta.l4Rewritten == 1 && hdr.udp.csum != 0,
#endif
            { hdr.ipv4.src, hdr.ipv4.dst, 8w0, hdr.ipv4.proto, hdr.udp.len,
              hdr.udp.sport, hdr.udp.dport, hdr.udp.len, 8w0, 8w0 },
            hdr.udp.csum, HashAlgorithm.csum16);
    }
}

control FabricDeparser(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.packet_in);   // a punt: the controller's header first
#ifdef __TARGET_TOFINO__
        pkt.emit(hdr.recirc);
#endif
        pkt.emit(hdr.ethernet);
        pkt.emit(hdr.wait);
        pkt.emit(hdr.nsh);
        pkt.emit(hdr.ipv4);
        pkt.emit(hdr.tcp);
        pkt.emit(hdr.udp);
        pkt.emit(hdr.bth);
        pkt.emit(hdr.reth);
        pkt.emit(hdr.aeth);
        pkt.emit(hdr.slot);
        pkt.emit(hdr.icrc);
    }
}

#endif
