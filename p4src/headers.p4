/* fabric: headers, metadata and constants. */
#ifndef FABRIC_HEADERS_P4
#define FABRIC_HEADERS_P4

const bit<16> ETH_IPV4 = 0x0800;
const bit<16> ETH_NSH  = 0x894F;   // RFC 8300
const bit<16> ETH_WAIT = 0x88B5;   // IEEE local experimental: a packet waiting for an EM read
const bit<16> ROCEV2_PORT = 4791;
const bit<8>  PROTO_TCP = 6;
const bit<8>  PROTO_UDP = 17;

// BTH opcodes (RC)
const bit<8> OP_READ_REQUEST = 0x0C;
const bit<8> OP_READ_RESPONSE_ONLY = 0x10;
const bit<8> OP_ACKNOWLEDGE = 0x11;

// NF kinds (sff_local's kind) and host kinds (counter index)
const bit<8> NF_FIREWALL = 1;
const bit<8> NF_NAT = 2;
const bit<8> NF_LB = 3;
const bit<8> NF_RATELIMIT = 4;
const bit<2> HOST_LM = 0;
const bit<2> HOST_EM = 1;
const bit<2> HOST_SERVER = 2;

// EM slot action ids (the EM layout's action id byte)
const bit<8> EM_ACT_NAT = 1;   // data: src, dst, sport, dport after translation
const bit<8> EM_ACT_LB = 2;    // data: backend address, backend port
const bit<8> EM_ACT_DROP = 0xFF;   // Tofino's apply pass only: the NF drops the packet (no entry is)
const bit<8> EM_ACT_TORN = 0xFE;   // in the mailbox only: the entry read was torn (read again)

// rdma_stats counter indices
const bit<32> RS_HIT = 0;
const bit<32> RS_MISS = 1;
const bit<32> RS_READ = 2;
const bit<32> RS_RESP_OK = 3;
const bit<32> RS_BAD_PSN = 4;
const bit<32> RS_BAD_QP = 5;
const bit<32> RS_BAD_ICRC = 6;
const bit<32> RS_NAK = 7;
const bit<32> RS_TORN = 8;
const bit<32> RS_NOT_FOUND = 9;
const bit<32> RS_FALLBACK = 10;
const bit<32> RS_WAIT_PASS = 11;
const bit<32> RS_BAD_LEN = 12;
const bit<32> RS_BAD_SHIM = 13;   // a wait shim from a host port, or an answer not recirculated: dropped

// Mailbox status
const bit<8> MB_EMPTY = 0;
const bit<8> MB_WAITING = 1;
const bit<8> MB_ANSWERED = 2;  // a checked response: the mailbox's action says found, not found (0) or torn
const bit<8> MB_FAILED = 4;    // NAK: the memory server refused the read

#define CACHE_MAX 16384
#define MAILBOX 256
#define EM_SLOTS 4
#define EM_SLOT_BYTES 40
#define N_QP 8
// Rules of the edge classifier and of the firewall per switch. Tofino: 1,024 each, for a
// 4,096-rule table (ternary addresses, port ranges) spans 4 of the 12 stages on its own.
#ifdef __TARGET_TOFINO__
#define CLASSIFIER_SIZE 1024
#define FW_ACL_SIZE 1024
#else
#define CLASSIFIER_SIZE 4096
#define FW_ACL_SIZE 4096
#endif

/* The controller's packets (P4Runtime packet I/O). A packet-in says why it was punted; a
   packet-out names its egress port, 0 for "through the pipeline, as if it had arrived"
   (the LM NAT's first packets are re-injected so). */
const bit<8> PUNT_NAT_MISS = 1;   // an LM NAT has no mapping for a flow from inside (nat_alloc)
#ifdef __TARGET_TOFINO__
#if __TARGET_TOFINO__ == 2
#define CPU_PORT 0       // Tofino 2's PCIe CPU port
#else
#define CPU_PORT 192     // Tofino's PCIe CPU port (2-pipe parts: 64)
#endif
#else
#define CPU_PORT 255     // the switch's --cpu-port (topologies/addressing.py's CPU_PORT)
#endif
@controller_header("packet_in")
header packet_in_t { bit<8> reason; bit<8> nf_id; }
@controller_header("packet_out")
header packet_out_t { bit<9> egress_port; bit<7> _pad; }

header ethernet_t { bit<48> dst; bit<48> src; bit<16> etherType; }

/* A packet in its EM hop's passes carries this shim (p4src/README.md, the EM path in
   passes): the key pass computes the lookup's key and cache index and recirculates with
   them; each later pass starts from the shim rather than from the SFF and the key's tables.
   phase: LOOKUP (look in the cache), WAITING (missed: when it first waited (us), whether its
   next pass sends a READ (issue) and whether that READ is a probe of a QP marked down (down:
   the packet then takes the fallback), how many READs it issued, which PSN answers it), or
   FILL (the answer found in the mailbox, with the READ's flush epoch: the next pass writes
   it to the cache and applies it). Every field a whole number of bytes (Tofino's PHV). */
header wait_t {
    bit<32> deadline; bit<8> reads; bit<32> psn; bit<8> issue; bit<8> down; bit<8> phase;   // psn: the READ's owner tag, 8w1 ++ PSN
    bit<8> nf; bit<32> kSrc; bit<32> kDst; bit<32> k2; bit<16> kDport; bit<32> cidx; bit<32> h32;   // k2: nf ++ proto ++ sport
    bit<8> act; bit<32> data0; bit<32> data1; bit<32> data2; bit<32> epoch;
    bit<16> etherType;
}
const bit<8> PH_LOOKUP = 0;
const bit<8> PH_WAITING = 1;
const bit<8> PH_FILL = 2;
// Tofino only: the pass after the EM path's last, which applies what it decided (act: the
// entry's action, or EM_ACT_DROP) and runs the fabric's tail (p4src/README.md, Tofino).
const bit<8> PH_APPLY = 3;

/* NSH base header + service path header (MD type 2, no context headers). */
header nsh_t {
    bit<2> ver; bit<1> oam; bit<1> u1; bit<6> ttl; bit<6> len;
    bit<4> u2; bit<4> mdType; bit<8> nextProto;
    bit<24> spi; bit<8> si;
}

header ipv4_t {
    bit<4> version; bit<4> ihl; bit<8> tos; bit<16> totalLen; bit<16> id; bit<3> flags;
    bit<13> frag; bit<8> ttl; bit<8> proto; bit<16> csum; bit<32> src; bit<32> dst;
}
header tcp_t {
    bit<16> sport; bit<16> dport; bit<32> seq; bit<32> ack; bit<4> off; bit<4> res;
    bit<8> flags; bit<16> window; bit<16> csum; bit<16> urg;
}
header udp_t { bit<16> sport; bit<16> dport; bit<16> len; bit<16> csum; }

/* RoCEv2 */
header bth_t {
    bit<8> opcode; bit<1> se; bit<1> m; bit<2> pad; bit<4> tver; bit<16> pkey;
    bit<1> fecn; bit<1> becn; bit<6> resv6; bit<24> dqpn; bit<1> ackreq; bit<7> resv7; bit<24> psn;
}
header reth_t { bit<64> va; bit<32> rkey; bit<32> len; }
header aeth_t { bit<8> syndrome; bit<24> msn; }
/* One EM entry (see emac/layout.py): versions at both ends, written head first, tail last. */
header slot_t {
    bit<32> verHead; bit<32> src; bit<32> dst; bit<8> nf; bit<8> proto; bit<16> sport; bit<16> dport;
    bit<8> act; bit<96> data; bit<40> pad; bit<32> verTail;
}
header icrc_t { bit<32> v; }
#ifdef __TARGET_TOFINO__
/* Tofino: what a recirculated packet carries in front of its Ethernet header (metadata does
   not survive a recirculation there); v1model targets keep meta.hops by field list. */
header recirc_t { bit<8> hops; }
#if __TARGET_TOFINO__ == 2
#define RECIRC_PORT 6    // Tofino 2, pipe 0's recirculation port
#else
#define RECIRC_PORT 68   // Tofino, pipe 0's recirculation port
#endif
#endif

#ifdef __TARGET_TOFINO__
// An RDMA response (its bucket) never comes behind the wait shim or NSH (FabricParser reads
// RoCEv2 only under a bare Ethernet/IPv4), and the ingress sets the shim valid only behind NSH
// (the EM key pass): they may share PHV containers.
@pa_mutually_exclusive("ingress", "hdr.wait", "hdr.slot[0]")
@pa_mutually_exclusive("ingress", "hdr.wait", "hdr.slot[1]")
@pa_mutually_exclusive("ingress", "hdr.wait", "hdr.slot[2]")
@pa_mutually_exclusive("ingress", "hdr.wait", "hdr.slot[3]")
@pa_mutually_exclusive("ingress", "hdr.nsh", "hdr.slot[0]")
@pa_mutually_exclusive("ingress", "hdr.nsh", "hdr.slot[1]")
@pa_mutually_exclusive("ingress", "hdr.nsh", "hdr.slot[2]")
@pa_mutually_exclusive("ingress", "hdr.nsh", "hdr.slot[3]")
// EmPath's lookup passes and a response are one if/else, and a response never has the shim:
// the lookup's locals (the instance's name `em`, then the local's) may share them too.
#define EM_NOT_WITH_BUCKET(f) \
    @pa_mutually_exclusive("ingress", f, "hdr.slot[0]") @pa_mutually_exclusive("ingress", f, "hdr.slot[1]") \
    @pa_mutually_exclusive("ingress", f, "hdr.slot[2]") @pa_mutually_exclusive("ingress", f, "hdr.slot[3]")
EM_NOT_WITH_BUCKET("em_ce")
EM_NOT_WITH_BUCKET("em_ct0")
EM_NOT_WITH_BUCKET("em_ct1")
EM_NOT_WITH_BUCKET("em_ct2")
EM_NOT_WITH_BUCKET("em_ct3")
EM_NOT_WITH_BUCKET("em_downTs")
EM_NOT_WITH_BUCKET("em_issue")
EM_NOT_WITH_BUCKET("em_pEpoch")
EM_NOT_WITH_BUCKET("em_pOwner")
EM_NOT_WITH_BUCKET("em_pSt")
EM_NOT_WITH_BUCKET("em_pp")
EM_NOT_WITH_BUCKET("em_psn")
EM_NOT_WITH_BUCKET("em_pt0")
EM_NOT_WITH_BUCKET("em_pt1")
EM_NOT_WITH_BUCKET("em_pt2")
EM_NOT_WITH_BUCKET("em_pt3")
EM_NOT_WITH_BUCKET("em_pts")
EM_NOT_WITH_BUCKET("em_wOwner")
EM_NOT_WITH_BUCKET("em_wSt")
EM_NOT_WITH_BUCKET("em_wT")
EM_NOT_WITH_BUCKET("em_wTag0")
EM_NOT_WITH_BUCKET("em_wTag1")
EM_NOT_WITH_BUCKET("em_wTag2")
EM_NOT_WITH_BUCKET("em_wTag3")
EM_NOT_WITH_BUCKET("em_bucket")
EM_NOT_WITH_BUCKET("em_off")
EM_NOT_WITH_BUCKET("em_off5")
EM_NOT_WITH_BUCKET("em_off7")
EM_NOT_WITH_BUCKET("em_hit")
EM_NOT_WITH_BUCKET("meta.slack")
EM_NOT_WITH_BUCKET("meta.sinceRetry")
EM_NOT_WITH_BUCKET("meta.young")
// A response's wanted key comes whole from a register (a stateful ALU writes one container)
// and is compared byte-aligned with four slots: not split into smaller containers.
@pa_container_size("ingress", "em_want0", 32)
@pa_container_size("ingress", "em_want1", 32)
@pa_container_size("ingress", "em_want2", 32)
@pa_container_size("ingress", "em_want3", 16)
#endif
struct headers_t {
    packet_in_t packet_in;
    packet_out_t packet_out;
#ifdef __TARGET_TOFINO__
    recirc_t recirc;
#endif
    ethernet_t ethernet;
    wait_t wait;
    nsh_t nsh;
    ipv4_t ipv4;
    tcp_t tcp;
    udp_t udp;
    bth_t bth;
    reth_t reth;
    aeth_t aeth;
    slot_t[EM_SLOTS] slot;
    icrc_t icrc;
}

struct meta_t {
    bit<16> sport;          // L4 ports of the 5-tuple (0 when neither TCP nor UDP)
    bit<16> dport;
    bit<16> l4len;
    bit<8> nfId;
    bit<8> nfKind;
    bit<2> hostKind;
    bit<1> local;           // a local NF runs in this pass
    bit<1> done;            // the local NF answered (not waiting)
    bit<1> nfDrop;
    bit<1> recirc;
    bit<1> l4Rewritten;
    bit<1> routed;          // egress chosen by the fabric, skip the underlay
    bit<1> natPunt;         // an LM NAT miss the controller allocates for: to the CPU port
    bit<1> emWait;          // the EM entry is not here yet: loop and look again
    bit<1> emFallback;      // the EM did not answer in time: the NF's fallback
    bit<1> badShim;         // a wait shim from neither a recirculation nor a wait_port
    bit<1> emPass;          // a later pass of an EM hop: arrived with the wait shim and NSH
    bit<1> emApply;         // Tofino: the pass that applies what the EM path decided (PH_APPLY)
    bit<1> again;           // one more pass for the same hop (the EM key pass; a hop changed meanwhile)
    // EM lookup: the key the NF's EM table is read with (EmKey): the 5-tuple for a NAT,
    // (0, VIP, proto, flow slot, VIP port) for a load balancer
    bit<1> emLookup;
    bit<32> kSrc;
    bit<32> kDst;
    bit<8> kProto;
    bit<16> kSport;
    bit<16> kDport;
    bit<32> cacheMask;      // the cache's size - 1 (em_cache)
    bit<32> epoch;          // the cache's flush epoch (em_cache)
    // Register and counter indices, each computed into a field of its own (Tofino takes a
    // plain field as an index, not an expression)
    bit<32> qpIdx;          // meta.qp
    bit<32> mslot;          // a PSN's mailbox: psn mod MAILBOX
    bit<32> rtt;            // a READ's round trip (us): fetch_hist's cell is floor(log2)
    bit<32> session;        // the READ's clone session: 100 + QP
    bit<8> emAct;
    bit<96> emData;
    @field_list(1) bit<8> qp;   // the READ's QP (EmRead's em_read_qp)
    // EM configuration of the NF (em_config)
    bit<64> emBase;
    bit<32> emMask;
    bit<32> boundUs;
    bit<32> retryUs;
    bit<32> retryFrom;      // now - retryUs: a READ issued before it may be read again
    // Ages as differences, compared by their sign bit (a Tofino gateway compares a field with
    // a constant, not two fields' difference): deadline - now, mailbox's issue time - retryFrom,
    // retryFrom - in-flight READ's issue time
    bit<32> slack;
    bit<32> sinceRetry;
    bit<32> young;
    bit<9> loopPort;
    bit<1> fallbackDetour;
    bit<9> detourPort;
    bit<48> detourMac;
    // READ request built from an I2E clone in egress
    @field_list(1) bit<1> makeRead;
    // 8w1 ++ the READ's PSN: who holds the PSN's mailbox (mb_psn, p_psn), and the BTH's PSN
    // (32 bits whole: Tofino bridges it in one container)
    @field_list(1) bit<32> rdOwner;
    @field_list(1) bit<64> rdVa;
    bit<32> icrc;
    // Local hops done in this switch (kept across recirculations): a bound on the loop.
    @field_list(2) bit<8> hops;
    // Load balancer: the flow's 16-bit hash, the VIP's number of backends, the slot chosen
    bit<16> lbHash;
    bit<32> lbN;
    bit<16> lbSlot;
    bit<16> lbGroup;
    bit<2> color;
    bit<10> chainIdx;       // counter index: SPI mod 1024
#ifdef __TARGET_TOFINO__
    bit<1> tcpCsum;         // the deparser recomputes the TCP / UDP checksum
    bit<1> udpCsum;
#endif
}

#endif
