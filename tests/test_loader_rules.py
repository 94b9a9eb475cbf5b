"""JSON both ways: every JSON srem writes follows BMv2's loader rules, and srem's switch runs
hand-written JSON in the shapes p4c writes (nested expression nodes, expressions where a
header is expected, and every operator of BMv2's expression language)."""

import copy
import json
import random
from pathlib import Path

import pytest

from p4target.compiler.driver import compile_p4
from p4target.compiler.loader_rules import check
from p4target.stf import run_stf
from p4target.switch import JsonError, load

P4 = Path(__file__).parent / "p4"
FIXTURES = sorted((P4 / "json").glob("*.json"))


@pytest.mark.parametrize(
    "path", [*sorted(P4.glob("*.p4")), P4.parent.parent / "p4src" / "fabric.p4"], ids=lambda p: p.stem
)
def test_every_json_srem_writes_follows_the_loader_rules(path):
    assert check(compile_p4(path).json) == []


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_hand_written_p4c_shapes_load_and_run(path):
    j = json.loads(path.read_text())
    assert check(j) == []  # the fixture itself is in the loader's shapes
    r = run_stf(load(j), path.with_suffix(".stf").read_text())
    assert r.passed, r.failures
    assert r.packets_out >= 2


def _param(j, action, prim, k):
    a = next(a for a in j["actions"] if a["name"] == action)
    return a["primitives"][prim]["parameters"], k


def test_the_checker_refuses_what_bmv2_refuses():
    j = json.loads((P4 / "json" / "expr_shapes.json").read_text())
    # The shape srem wrote before: the operator object directly as an `expression` parameter.
    bad = copy.deepcopy(j)
    ps, k = _param(bad, "act", 0, 1)
    ps[k] = ps[k]["value"]
    assert any("Invalid 'type' in expression: ''" in p for p in check(bad))
    # `runtime_data` inside an expression (BMv2 only knows `local` there).
    bad = copy.deepcopy(j)
    ps, k = _param(bad, "act", 1, 1)
    ps[k]["value"]["value"]["left"]["value"]["right"] = {"type": "runtime_data", "value": 0}
    assert any("Invalid 'type' in expression: 'runtime_data'" in p for p in check(bad))
    # A transition value narrower than its key, an unknown primitive, a wrong parameter count.
    bad = copy.deepcopy(j)
    bad["parsers"][0]["parse_states"][0]["transitions"][0]["value"] = "0x12"
    bad["actions"][0]["primitives"].append({"op": "frobnicate", "parameters": []})
    bad["actions"][0]["primitives"].append({"op": "add_header", "parameters": []})
    probs = "\n".join(check(bad))
    assert "expected width is 2 bytes but actual width is 1 bytes" in probs
    assert "Unknown primitive action: frobnicate" in probs
    assert "expected 1 but got 0" in probs
    # A header comparison with data on the other side.
    bad = copy.deepcopy(j)
    cond = bad["pipelines"][0]["conditionals"][0]["expression"]["value"]["right"]["value"]
    cond["left"] = {"type": "header", "value": "h"}
    assert any("'==' compares header with data" in p for p in check(bad))


def test_a_shape_error_is_a_named_json_error_not_a_crash():
    j = json.loads((P4 / "json" / "expr_shapes.json").read_text())
    bad = copy.deepcopy(j)
    ps, k = _param(bad, "act", 4, 1)
    ps[k]["value"]["value"]["op"] = "dereference_union_stack"
    with pytest.raises(JsonError, match="action act, primitive 4 \\(assign_header\\)"):
        load(bad)


def test_mutated_json_loads_or_is_refused_cleanly():
    """Seeded, bounded: drop or retype random members of the fixture; the switch either loads
    it or raises a JsonError, never another exception."""
    base = json.loads((P4 / "json" / "expr_shapes.json").read_text())
    rng = random.Random(9)
    nodes: list = []

    def walk(x):
        if isinstance(x, dict):
            nodes.append(x)
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(base)
    refused = 0
    for _ in range(150):
        j = copy.deepcopy(base)
        nodes.clear()
        walk(j)
        node = rng.choice(nodes)
        key = rng.choice(sorted(node))
        if rng.random() < 0.5:
            del node[key]
        else:
            node[key] = rng.choice([None, 7, "x", [], {}, {"type": "expression", "value": {}}])
        try:
            load(j)
        except JsonError:
            refused += 1
    assert refused > 20  # the mutations do reach the checks


def test_header_ids_may_have_gaps_as_in_bmv2():
    """BMv2 places headers by id and allows gaps (p4c leaves some); the program runs the same."""
    j = json.loads((P4 / "json" / "expr_shapes.json").read_text())
    shift = {h["id"]: h["id"] + (3 if h["id"] >= 2 else 0) for h in j["headers"]}
    for h in j["headers"]:
        h["id"] = shift[h["id"]]
    for s in j["header_stacks"] + j["header_unions"]:
        s["header_ids"] = [shift[i] for i in s["header_ids"]]
    r = run_stf(load(j), (P4 / "json" / "expr_shapes.stf").read_text())
    assert r.passed, r.failures
    j["headers"][-1]["id"] = 10**9  # an id far beyond the headers: refused, not allocated
    with pytest.raises(JsonError, match="small non-negative"):
        load(j)
