"""Seeded, bounded fuzzing of Write: random batches of good and bad updates in every
atomicity mode against srem's server over gRPC. Invariants: every request is answered
with the code a model predicts for it, and a Read afterwards equals the model of what
was accepted."""

import random

import grpc
from google.rpc import code_pb2
from p4.v1 import p4runtime_pb2 as R

from tests.p4rt import details, device, ids, primary

SEED, REQUESTS = 7, 160
OK, EXISTS, MISSING, BAD = code_pb2.OK, code_pb2.ALREADY_EXISTS, code_pb2.NOT_FOUND, code_pb2.INVALID_ARGUMENT


def field_key(fm: R.FieldMatch) -> tuple:
    kind = fm.WhichOneof("field_match_type")
    x = getattr(fm, kind)
    names = {"exact": ("value",), "lpm": ("value", "prefix_len"), "ternary": ("value", "mask"),
             "range": ("low", "high"), "optional": ("value",)}[kind]  # fmt: skip
    parts = [getattr(x, f) for f in names]
    return (fm.field_id, kind, *(int.from_bytes(p, "big") if isinstance(p, bytes) else p for p in parts))


def key_of(e: R.Entity) -> tuple:
    if e.WhichOneof("entity") == "table_entry":
        t = e.table_entry
        return ("table", t.table_id, tuple(sorted(field_key(f) for f in t.match)), t.priority)
    return ("mcast", e.packet_replication_engine_entry.multicast_group_entry.multicast_group_id)


def value_of(e: R.Entity) -> tuple:
    if e.WhichOneof("entity") == "table_entry":
        a = e.table_entry.action.action
        return (a.action_id, tuple(int.from_bytes(p.value, "big") for p in a.params))
    return tuple(
        sorted(
            (r.egress_port, r.instance)
            for r in e.packet_replication_engine_entry.multicast_group_entry.replicas
        )
    )


class Gen:
    """Updates from a small key space (so that conflicts happen), some malformed."""

    def __init__(self, compiled, rng: random.Random) -> None:
        self.i, self.rng = ids(compiled), rng

    def update(self) -> tuple[R.Update, bool]:
        """An update and whether it is well formed."""
        r, i = self.rng, self.i
        u = R.Update(type=r.choice([R.Update.INSERT] * 2 + [R.Update.MODIFY, R.Update.DELETE]))
        good = True
        what = r.random()
        if what < 0.15:
            mg = u.entity.packet_replication_engine_entry.multicast_group_entry
            mg.multicast_group_id = r.randint(1, 3)
            for port in r.sample(range(1, 9), r.randint(0, 3)):
                mg.replicas.add(egress_port=port, instance=r.randint(0, 2))
        else:
            te = u.entity.table_entry
            table = r.choice(["ipv4_lpm", "acl", "smac", "prio"])
            te.table_id = i[f"MyIngress.{table}"]
            if table == "ipv4_lpm":
                net, plen = r.choice(
                    [(b"\x0a\x00\x00\x00", 8), (b"\x0a\x01\x00\x00", 16), (b"\x0b\x00\x00\x00", 8)]
                )
                fm = te.match.add(field_id=1)
                fm.lpm.value, fm.lpm.prefix_len = net, plen
                te.action.action.action_id = i["MyIngress.forward"]
                te.action.action.params.add(param_id=1, value=bytes([r.randint(1, 8)]))
                te.action.action.params.add(param_id=2, value=bytes([2, 0, 0, 0, 0, r.randint(1, 9)]))
            elif table == "acl":
                te.priority = r.randint(1, 2)
                fm = te.match.add(field_id=1)
                fm.ternary.value, fm.ternary.mask = bytes([10, r.randint(0, 1), 0, 0]), b"\xff\xff\x00\x00"
                if r.random() < 0.5:
                    rg = te.match.add(field_id=3)
                    rg.range.low, rg.range.high = b"\x00\x50", b"\x00\x51"
                te.action.action.action_id = i[r.choice(["MyIngress.acl_permit", "MyIngress.acl_deny"])]
            elif table == "smac":
                te.match.add(field_id=1).exact.value = bytes([2, 0, 0, 0, 0, r.randint(1, 4)])
                te.action.action.action_id = i[r.choice(["MyIngress.learn", "NoAction"])]
            else:
                te.priority = r.randint(1, 3)
                fm = te.match.add(field_id=1)
                fm.ternary.value, fm.ternary.mask = bytes([0, r.choice([22, 80])]), b"\xff\xff"
                te.action.action.action_id = i[r.choice(["MyIngress.drop", "NoAction"])]
        if r.random() < 0.2:
            good = False
            flaw = r.randrange(5)
            if flaw == 0:
                u.type = R.Update.UNSPECIFIED
            elif flaw == 1:
                u.ClearField("entity")
            elif flaw == 2 and u.entity.HasField("table_entry"):
                u.entity.table_entry.match.add(field_id=77).exact.value = b"\x01"
            elif flaw == 3 and u.entity.HasField("table_entry") and u.type != R.Update.DELETE:
                u.entity.table_entry.action.action.action_id = 0xDEAD
            else:
                u.entity.packet_replication_engine_entry.multicast_group_entry.multicast_group_id = 0
        return u, good


def expected(model: dict, u: R.Update) -> int:
    k = key_of(u.entity)
    if u.type == R.Update.INSERT:
        return EXISTS if k in model else OK
    return OK if k in model else MISSING


def apply(model: dict, u: R.Update) -> None:
    if u.type == R.Update.DELETE:
        del model[key_of(u.entity)]
    else:
        model[key_of(u.entity)] = value_of(u.entity)


def snapshot(c) -> dict:
    """Every table entry and multicast group the server holds, in model form."""
    read = c.read(
        R.Entity(table_entry=R.TableEntry()),
        R.Entity(packet_replication_engine_entry=R.PacketReplicationEngineEntry(
            multicast_group_entry=R.MulticastGroupEntry())),
    )  # fmt: skip
    return {key_of(e): value_of(e) for e in read if not e.table_entry.is_default_action}


def test_random_writes_are_answered_and_reads_match_the_model(sink):
    rng = random.Random(SEED)
    with device() as (client, _ports, _service):
        c = primary(client, sink)
        gen = Gen(sink, rng)
        model: dict = snapshot(c)  # the program's const entries
        seen = {OK: 0, EXISTS: 0, MISSING: 0, BAD: 0}
        for n in range(REQUESTS):
            batch = [gen.update() for _ in range(rng.randint(1, 6))]
            mode = rng.choice([R.WriteRequest.CONTINUE_ON_ERROR, R.WriteRequest.ROLLBACK_ON_ERROR,
                               R.WriteRequest.DATAPLANE_ATOMIC])  # fmt: skip
            # What the server must answer, update by update, against the evolving state.
            after, want = dict(model), []
            for u, good in batch:
                code = expected(after, u) if good else BAD
                want.append(code)
                if code == OK:
                    apply(after, u)
                elif mode != R.WriteRequest.CONTINUE_ON_ERROR:
                    break
            try:
                c.write(*[u for u, _ in batch], atomicity=mode)
                got = [OK] * len(batch)
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.UNKNOWN, (n, e.code(), e.details())
                got = [x.canonical_code for x in details(e)]
            if mode == R.WriteRequest.CONTINUE_ON_ERROR:
                assert got == want, (n, got, want)
                for (u, _), g in zip(batch, got, strict=True):
                    if g == OK:
                        apply(model, u)
            elif len(want) == len(batch) and all(w == OK for w in want):
                assert got == want, (n, got)
                model = after
            else:  # the failure is reported, everything else is ABORTED, nothing changed
                k = len(want) - 1
                assert got == [code_pb2.ABORTED] * k + [want[k]] + [code_pb2.ABORTED] * (len(batch) - k - 1), (
                    n, got, want)  # fmt: skip
            for w in want:
                seen[w if w in seen else BAD] += 1
        assert snapshot(c) == model
        assert all(v > 5 for v in seen.values()), seen  # every outcome was exercised
