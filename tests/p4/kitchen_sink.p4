/* Exercises the v1model constructs the reference compiler must accept. */
#include <core.p4>
#include <v1model.p4>

#define CPU_PORT 255
#ifdef NOT_DEFINED
#error this branch is never taken
#endif

typedef bit<48> mac_t;
typedef bit<32> ip4_t;
const bit<16> TYPE_IPV4 = 0x800;
const bit<16> TYPE_NSH  = 16w0x894F;

enum bit<8> Proto { TCP = 6, UDP = 17 }
enum Verdict { PASS, DROP }
error { BadIhl, BadTtl }

@controller_header("packet_in")
header packet_in_t { bit<9> ingress_port; bit<7> _pad; }
@controller_header("packet_out")
header packet_out_t { bit<9> egress_port; bit<7> _pad; }

header ethernet_t { mac_t dst; mac_t src; bit<16> ether_type; }
header vlan_t { bit<3> pcp; bit<1> cfi; bit<12> vid; bit<16> ether_type; }
header ipv4_t {
    bit<4> version; bit<4> ihl; bit<8> diffserv; bit<16> total_len;
    bit<16> identification; bit<3> flags; bit<13> frag_offset;
    bit<8> ttl; bit<8> protocol; bit<16> hdr_checksum;
    ip4_t src; ip4_t dst;
}
header ipv4_options_t { varbit<320> options; }
header l4_t { bit<16> sport; bit<16> dport; }

struct headers_t {
    packet_out_t packet_out;
    packet_in_t  packet_in;
    ethernet_t   ethernet;
    vlan_t[2]    vlan;
    ipv4_t       ipv4;
    ipv4_options_t ipv4_options;
    l4_t         l4;
}

struct digest_t { mac_t src; bit<9> port; }

struct meta_t {
    bit<16> l4_key;
    bit<32> meter_color;
    bit<14> ecmp;
    @field_list(1) bit<9> saved_port;
    bool    acl_hit;
}

parser MyParser(packet_in pkt, out headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    value_set<bit<16>>(4) custom_types;

    state start {
        transition select(sm.ingress_port) {
            CPU_PORT: parse_packet_out;
            default: parse_ethernet;
        }
    }
    state parse_packet_out {
        pkt.extract(hdr.packet_out);
        transition parse_ethernet;
    }
    state parse_ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) {
            0x8100 &&& 0xEFFF: parse_vlan;
            TYPE_IPV4: parse_ipv4;
            custom_types: accept;
            0x0600 .. 0x06FF: reject;
            default: accept;
        }
    }
    state parse_vlan {
        pkt.extract(hdr.vlan.next);
        transition select(hdr.vlan.last.ether_type) {
            0x8100: parse_vlan;
            TYPE_IPV4: parse_ipv4;
            default: accept;
        }
    }
    state parse_ipv4 {
        pkt.extract(hdr.ipv4);
        verify(hdr.ipv4.ihl >= 5, error.BadIhl);
        pkt.extract(hdr.ipv4_options, (bit<32>)(((bit<16>)hdr.ipv4.ihl - 5) * 32));
        bit<32> peek = pkt.lookahead<bit<32>>();
        meta.l4_key = peek[31:16];
        transition select(hdr.ipv4.protocol, hdr.ipv4.frag_offset) {
            (Proto.TCP, 0): parse_l4;
            (17, _): parse_l4;
            default: accept;
        }
    }
    state parse_l4 {
        pkt.extract(hdr.l4);
        transition accept;
    }
}

control MyVerify(inout headers_t hdr, inout meta_t meta) {
    apply {
        verify_checksum(hdr.ipv4.isValid(),
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.diffserv, hdr.ipv4.total_len,
              hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.frag_offset,
              hdr.ipv4.ttl, hdr.ipv4.protocol, hdr.ipv4.src, hdr.ipv4.dst },
            hdr.ipv4.hdr_checksum, HashAlgorithm.csum16);
    }
}

bit<16> fold(in bit<32> x) {
    return x[31:16] |+| x[15:0];
}

control MyIngress(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    register<bit<32>>(1024) flow_bytes;
    counter(64, CounterType.packets_and_bytes) port_pkts;
    direct_counter(CounterType.packets) acl_hits;
    meter(32, MeterType.bytes) limiter;
    direct_meter<bit<32>>(MeterType.packets) acl_meter;
    action_profile(128) lb_profile;
    bit<32> tmp = 0;

    action drop() { mark_to_drop(sm); }
    action forward(bit<9> port, mac_t dmac) {
        sm.egress_spec = port;
        hdr.ethernet.src = hdr.ethernet.dst;
        hdr.ethernet.dst = dmac;
        hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
    }
    action to_cpu() {
        sm.egress_spec = CPU_PORT;
        hdr.packet_in.setValid();
        hdr.packet_in.ingress_port = sm.ingress_port;
    }
    action acl_permit() { acl_hits.count(); acl_meter.read(meta.meter_color); meta.acl_hit = true; }
    action acl_deny() { acl_hits.count(); mark_to_drop(sm); }
    action nat(ip4_t addr, bit<16> port) { hdr.ipv4.src = addr; hdr.l4.sport = port; }
    action set_backend(bit<9> port) {
        if (port == 0) { mark_to_drop(sm); return; } else { sm.egress_spec = port; }
        meta.ecmp = 0;
    }
    action learn() { digest<digest_t>(1, { hdr.ethernet.src, sm.ingress_port }); }

    table ipv4_lpm {
        key = { hdr.ipv4.dst : lpm @name("dst_addr"); }
        actions = { forward; drop; to_cpu; NoAction; }
        default_action = drop();
        size = 1024;
    }
    table acl {
        key = {
            hdr.ipv4.src : ternary;
            hdr.ipv4.dst : ternary;
            hdr.l4.dport : range;
            hdr.ipv4.protocol : optional;
        }
        actions = { acl_permit; acl_deny; }
        counters = acl_hits;
        meters = acl_meter;
        const default_action = acl_permit();
    }
    table nat_table {
        key = { hdr.ipv4.src : exact; hdr.l4.sport : exact; }
        actions = { nat; @defaultonly NoAction; }
        const entries = {
            (0x0a000001, 80) : nat(0xc0a80001, 8080);
            (0x0a000002, 443) : nat(0xc0a80002, 8081);
        }
    }
    table lb {
        key = { hdr.ipv4.dst : exact; meta.ecmp : selector; }
        actions = { set_backend; }
        implementation = lb_profile;
    }
    table smac {
        key = { hdr.ethernet.src : exact; }
        actions = { learn; NoAction; }
        default_action = learn;
        support_timeout = true;
    }
    table prio {
        key = { hdr.l4.dport : ternary; }
        actions = { drop; NoAction; }
        entries = {
            priority = 10: 0x0017 &&& 0xFFFF : drop();  // telnet: the largest priority wins
            priority = 5: _ : NoAction();
        }
    }

    apply {
        if (hdr.packet_out.isValid()) {
            sm.egress_spec = hdr.packet_out.egress_port;
            hdr.packet_out.setInvalid();
            exit;
        }
        if (smac.apply().miss) { meta.acl_hit = false; }
        if (!hdr.ipv4.isValid()) { return; }
        hash(meta.ecmp, HashAlgorithm.crc16, (bit<14>)0,
             { hdr.ipv4.src, hdr.ipv4.dst, hdr.ipv4.protocol }, (bit<32>)16384);
        switch (ipv4_lpm.apply().action_run) {
            forward: { acl.apply(); }
            drop: {}
            default: { log_msg("no route for {}", { hdr.ipv4.dst }); }
        }
        if (nat_table.apply().hit) { lb.apply(); } else if (hdr.l4.isValid()) { prio.apply(); }
        limiter.execute_meter((bit<32>)sm.ingress_port, meta.meter_color);
        if (meta.meter_color == V1MODEL_METER_COLOR_RED) { mark_to_drop(sm); }
        flow_bytes.read(tmp, (bit<32>)meta.ecmp);
        flow_bytes.write((bit<32>)meta.ecmp, tmp + sm.packet_length);
        port_pkts.count((bit<32>)sm.ingress_port);
        bit<16> folded = fold(hdr.ipv4.src ^ hdr.ipv4.dst);
        meta.l4_key = folded |-| 16w1;
        hdr.ipv4.diffserv = (hdr.ipv4.diffserv & 8w0xFC) | (8w1 << 1);
        bit<64> wide = hdr.ipv4.src ++ hdr.ipv4.dst;
        tmp = wide[63:32] + (bit<32>)((int<32>)(-5) >> 1);
        meta.saved_port = sm.ingress_port;
        if (meta.acl_hit && hdr.l4.isValid() && hdr.l4.dport == 16w53) {
            clone_preserving_field_list(CloneType.I2E, 5, 1);
        }
        bit<8> r;
        random(r, 8w0, 8w255);
        if (r > 250 || sm.instance_type == 1) { resubmit_preserving_field_list(1); }
        random<bit<32>>(tmp, 0, 100);
        hdr.vlan[0].vid = hdr.vlan[1].vid;
        meta.acl_hit = hdr.vlan.size == 2 ? true : false;
    }
}

control MyEgress(inout headers_t hdr, inout meta_t meta, inout standard_metadata_t sm) {
    apply {
        if (sm.instance_type == 2) { recirculate_preserving_field_list(1); }
        if (sm.egress_port == 7) { truncate(64); }
    }
}

control MyCompute(inout headers_t hdr, inout meta_t meta) {
    apply {
        update_checksum(hdr.ipv4.isValid(),
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.diffserv, hdr.ipv4.total_len,
              hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.frag_offset,
              hdr.ipv4.ttl, hdr.ipv4.protocol, hdr.ipv4.src, hdr.ipv4.dst },
            hdr.ipv4.hdr_checksum, HashAlgorithm.csum16);
        update_checksum_with_payload(hdr.l4.isValid(), { hdr.ipv4.src, hdr.ipv4.dst, 8w0, hdr.ipv4.protocol },
            hdr.l4.sport, HashAlgorithm.csum16);
    }
}

control MyDeparser(packet_out pkt, in headers_t hdr) {
    apply {
        pkt.emit(hdr.packet_in);
        pkt.emit(hdr.ethernet);
        pkt.emit(hdr.vlan);
        pkt.emit(hdr.ipv4);
        pkt.emit(hdr.ipv4_options);
        pkt.emit(hdr.l4);
    }
}

V1Switch(MyParser(), MyVerify(), MyIngress(), MyEgress(), MyCompute(), MyDeparser()) main;
