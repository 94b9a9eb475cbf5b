"""The rules behavioral-model's JSON loader applies (P4Objects.cpp, expressions.cpp and the
simple_switch / core primitive signatures), written down so a test can check every JSON
srem writes before a real simple_switch ever sees it.

`check(j)` returns the problems found, each naming the object, e.g.
"action a, primitive 0 (assign), parameter 1: Invalid 'type' in expression: ''" —
the same words BMv2 uses where it has them. Only the shape is judged here; the names a
JSON refers to are checked by srem's switch when it loads the program.
"""

from __future__ import annotations

import re
from typing import Any

# Operators BMv2's ExprOpcodesMap knows, plus the four the loader handles itself.
OPCODES = {
    "+", "-", "%", "/", "*", "<<", ">>", "==", "!=", ">", "<", ">=", "<=", "and", "or", "not",
    "&", "|", "^", "~", "valid", "valid_union", "?", "two_comp_mod", "usat_cast", "sat_cast",
    "d2b", "b2d", "dereference_stack", "dereference_header_stack", "dereference_union_stack",
    "last_stack_index", "size_stack", "access_field", "access_union_header",
}  # fmt: skip
DATA_OPS = {"+", "-", "%", "/", "*", "<<", ">>", "&", "|", "^", "~", "two_comp_mod", "usat_cast",
            "sat_cast", "b2d", "last_stack_index", "size_stack", "access_field"}  # fmt: skip
BOOL_OPS = {"==", "!=", ">", "<", ">=", "<=", "and", "or", "not", "valid", "valid_union", "d2b"}
# operand kinds each operator needs (left, right); None: no operand there
OPERANDS: dict[str, tuple[str | None, str]] = {
    **{op: ("data", "data") for op in ("+", "%", "/", "*", "<<", ">>", "&", "|", "^", ">", "<", ">=", "<=",
                                       "two_comp_mod", "usat_cast", "sat_cast")},
    "and": ("bool", "bool"), "or": ("bool", "bool"), "not": (None, "bool"), "~": (None, "data"),
    "d2b": (None, "data"), "b2d": (None, "bool"), "valid": (None, "header"), "valid_union": (None, "union"),
    "dereference_stack": ("stack", "data"), "dereference_header_stack": ("stack", "data"),
    "dereference_union_stack": ("union_stack", "data"), "last_stack_index": (None, "stacks"),
    "size_stack": (None, "stacks"),
}  # fmt: skip
TYPED = {"expression", "header", "field", "bool", "hexstr", "local", "register", "header_stack",
         "stack_field", "header_union", "header_union_stack"}  # fmt: skip
PARAM_TYPES = {"hexstr", "runtime_data", "header", "field", "calculation", "meter_array", "counter_array",
               "register_array", "header_stack", "expression", "register", "extern", "string",
               "stack_field", "header_union", "header_union_stack", "parameters_vector"}  # fmt: skip
# Primitive signatures of simple_switch and bm_sim's core: D data, L data l-value, H header,
# S stack, U union, C calculation, M meter array, K counter array, R register array, T string,
# V parameters vector.
PRIMITIVES = {
    "assign": "LD", "assign_VL": "LD", "assign_header": "HH", "assign_union": "UU",
    "assign_header_stack": "SS", "assign_union_stack": "SS", "push": "SD", "pop": "SD",
    "assume": "D", "assert": "D", "exit": "", "log_msg": "TV", "_jump": "D", "_jump_if_zero": "DD",
    "modify_field": "LD", "modify_field_rng_uniform": "LDD", "add_to_field": "LD",
    "subtract_from_field": "LD", "add": "LDD", "subtract": "LDD", "bit_xor": "LDD", "bit_or": "LDD",
    "bit_and": "LDD", "shift_left": "LDD", "shift_right": "LDD", "drop": "", "mark_to_drop": "H",
    "generate_digest": "DD", "add_header": "H", "add_header_fast": "H", "remove_header": "H",
    "copy_header": "HH", "clone_ingress_pkt_to_egress": "DD", "clone_egress_pkt_to_egress": "DD",
    "resubmit": "D", "recirculate": "D", "modify_field_with_hash_based_offset": "LDCD", "no_op": "",
    "execute_meter": "MDL", "count": "KD", "register_read": "LRD", "register_write": "RDD",
    "truncate": "D",
}  # fmt: skip
_HEX = re.compile(r"^-?0x[0-9a-fA-F]+$")


TABLE_TYPES = ("simple", "indirect", "indirect_ws")
TABLE_MATCH_TYPES = ("exact", "lpm", "ternary", "range")
KEY_MATCH_TYPES = ("exact", "lpm", "ternary", "valid", "range", "optional")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _hexbytes(s: str) -> int:
    digits = len(s.lstrip("-")) - 2
    return (digits + 1) // 2


class Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.advice: list[str] = []  # what BMv2 loads but runs wrong: srem's compiler never writes it

    def bad(self, where: str, msg: str) -> None:
        self.problems.append(f"{where}: {msg}")

    # -- expressions (P4Objects::build_expression) -----------------------------------
    def expr(self, j: Any, where: str) -> str:
        """Check a typed node; returns its kind (data, bool, header, stack, union, union_stack, unknown)."""
        if j is None:
            return "unknown"
        if not isinstance(j, dict):
            self.bad(where, f"expected a typed node, found {j!r}")
            return "unknown"
        t, v = j.get("type"), j.get("value")
        if t not in TYPED:
            self.bad(where, f"Invalid 'type' in expression: '{t or ''}'")
            return "unknown"
        if t == "field" or t == "stack_field":
            if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)):
                self.bad(where, f"{t} needs [name, field], found {v!r}")
            return "data"
        if t == "hexstr":
            if not (isinstance(v, str) and _HEX.match(v)):
                self.bad(where, f"bad hexstr {v!r}")
            return "data"
        if t == "local":
            if not _is_int(v) or v < 0:
                self.bad(where, f"local needs an index, found {v!r}")
            return "data"
        if t == "bool":
            if not isinstance(v, bool):
                self.bad(where, f"bool needs true/false, found {v!r}")
            return "bool"
        if t in ("header", "header_stack", "header_union", "header_union_stack"):
            if not isinstance(v, str):
                self.bad(where, f"{t} needs a name, found {v!r}")
            return {"header": "header", "header_stack": "stack", "header_union": "union"}.get(
                t, "union_stack"
            )
        if t == "register":
            if not (isinstance(v, list) and len(v) == 2):
                self.bad(where, f"register needs [name, index], found {v!r}")
            else:
                self.expr(v[1], where)
            return "data"
        # t == "expression": the value is an operator object
        if not isinstance(v, dict) or not isinstance(v.get("op"), str):
            inner = v.get("type") if isinstance(v, dict) else None
            self.bad(where, f"an expression's value must be an operator object (op), found type {inner!r}")
            return "unknown"
        op = v["op"]
        if op not in OPCODES:
            self.bad(where, f"unknown operator {op!r}")
            return "unknown"
        left, right = v.get("left"), v.get("right")
        if op == "?":
            if self.expr(v.get("cond"), where) != "bool":
                self.bad(where, "'?' needs a boolean condition")
            a, b = self.expr(left, where), self.expr(right, where)
            if a != b:
                self.bad(where, f"'?' branches differ: {a} and {b}")
            return a
        if op in ("==", "!="):
            a, b = self.expr(left, where), self.expr(right, where)
            if a != b or a not in ("data", "bool", "header", "union"):
                self.bad(where, f"'{op}' compares {a} with {b}")
            return "bool"
        if op == "access_field":
            if self.expr(left, where) != "header":
                self.bad(where, "access_field needs a header on the left")
            if not _is_int(right):
                self.bad(where, f"access_field needs a field offset on the right, found {right!r}")
            return "data"
        if op == "access_union_header":
            if self.expr(left, where) != "union":
                self.bad(where, "access_union_header needs a union on the left")
            if not _is_int(right):
                self.bad(where, f"access_union_header needs a member offset, found {right!r}")
            return "header"
        if op == "-" and left is None:
            want_l, want_r = None, "data"
        else:
            want_l, want_r = OPERANDS.get(op, ("data", "data"))
        if want_l is None and left is not None:
            self.bad(where, f"'{op}' takes no left operand")
        if want_l is not None:
            got = self.expr(left, where)
            if got != want_l:
                self.bad(where, f"'{op}' needs {want_l} on the left, found {got}")
        got = self.expr(right, where)
        if want_r == "stacks" and got in ("stack", "union_stack"):  # BMv2 counts either kind
            got = want_r
        if op == "valid_union" and got == "header":  # p4c names the union as a "header" node
            got = want_r
        if got != want_r:
            self.bad(where, f"'{op}' needs {want_r} on the right, found {got}")
        if op in DATA_OPS:
            return "data"
        if op in BOOL_OPS:
            return "bool"
        return {"dereference_stack": "header", "dereference_header_stack": "header"}.get(op, "union")

    # -- primitives (P4Objects::add_primitive_to_action / process_single_param) -------
    def param(self, p: Any, slot: str, n_runtime: int, where: str) -> None:
        if not isinstance(p, dict):
            self.bad(where, f"a parameter must be an object, found {p!r}")
            return
        t, v = p.get("type"), p.get("value")
        if t not in PARAM_TYPES:
            self.bad(where, f"Parameter type '{t}' not supported")
            return
        if t == "runtime_data":
            if not _is_int(v) or not 0 <= v < n_runtime:
                self.bad(
                    where, f"Invalid 'runtime_data' parameter reference {v!r} ({n_runtime} parameter(s))"
                )
            kind = "data"
        elif t == "expression":
            kind = self.expr(v, where)
            if kind == "data" and slot == "L":
                inner = v.get("value") if isinstance(v, dict) else None
                if not (
                    v.get("type") == "field"
                    or (isinstance(inner, dict) and inner.get("op") == "access_field")
                ):
                    self.bad(where, "an l-value expression must be a field or access_field")
        elif t == "parameters_vector":
            if not isinstance(v, list):
                self.bad(where, "parameters_vector needs a list")
                return
            for k, x in enumerate(v):  # any value to show: data, headers, booleans, nested lists
                if isinstance(x, list):
                    continue
                if not isinstance(x, dict) or x.get("type") not in PARAM_TYPES | {"bool"}:
                    self.bad(
                        f"{where}[{k}]",
                        f"Parameter type '{x.get('type') if isinstance(x, dict) else x}' not supported",
                    )
                elif x.get("type") == "expression":
                    self.expr(x.get("value"), f"{where}[{k}]")
            kind = "vector"
        else:
            kind = {"hexstr": "data", "field": "data", "stack_field": "data", "header": "header",
                    "header_stack": "stack", "header_union": "union", "header_union_stack": "union_stack",
                    "calculation": "calc", "meter_array": "meter", "counter_array": "counter",
                    "register_array": "register_array", "register": "data", "string": "string",
                    "extern": "extern"}[t]  # fmt: skip
            if t == "hexstr" and not (isinstance(v, str) and _HEX.match(v)):
                self.bad(where, f"bad hexstr {v!r}")
        want = {"D": {"data"}, "L": {"data"}, "H": {"header"}, "S": {"stack", "union_stack"}, "U": {"union"},
                "C": {"calc"}, "M": {"meter"}, "K": {"counter"}, "R": {"register_array"}, "T": {"string"},
                "V": {"vector"}}[slot]  # fmt: skip
        if kind not in want and not (slot == "L" and t == "hexstr"):
            self.bad(where, f"expected {'/'.join(sorted(want))}, found {kind} ({t})")
        if slot == "L" and t == "hexstr":
            self.bad(where, "cannot assign to a constant")

    def primitive(self, p: Any, n_runtime: int, where: str) -> None:
        if not isinstance(p, dict) or not isinstance(p.get("op"), str):
            self.bad(where, "a primitive needs an op")
            return
        op, ps = p["op"], p.get("parameters", [])
        where = f"{where} ({op})"
        sig = PRIMITIVES.get(op)
        if sig is None:
            self.bad(where, f"Unknown primitive action: {op}")
            return
        if not isinstance(ps, list) or len(ps) != len(sig):
            n = len(ps) if isinstance(ps, list) else "?"
            self.bad(where, f"Invalid number of parameters: expected {len(sig)} but got {n}")
            return
        for k, (x, slot) in enumerate(zip(ps, sig, strict=True)):
            self.param(x, slot, n_runtime, f"{where}, parameter {k}")

    # -- parsers ----------------------------------------------------------------------
    def parser(self, prs: dict, widths: dict) -> None:
        for st in prs.get("parse_states", []):
            where = f"parse state {st.get('name')}"
            for k, o in enumerate(st.get("parser_ops", [])):
                self.parser_op(o, f"{where}, op {k}")
            nbytes = 0
            for key in st.get("transition_key", []):
                t, v = key.get("type"), key.get("value")
                if t == "field" and isinstance(v, list) and len(v) == 2 and "." in str(v[1]):
                    # p4c's `stack.last.member.field` of a union stack: ["stack", "member.field"]
                    nbytes += (widths.get(("ustack", v[0], *str(v[1]).split(".", 1)), 0) + 7) // 8
                elif t == "field":
                    nbytes += (widths.get(tuple(v) if isinstance(v, list) else (), 0) + 7) // 8
                elif t == "stack_field":
                    nbytes += (widths.get(("stack", *v), 0) + 7) // 8
                elif t == "lookahead":
                    nbytes += (v[1] + 7) // 8
                elif t == "union_stack_field":
                    nbytes += (widths.get(("ustack", *v), 0) + 7) // 8
                else:
                    self.bad(where, f"Invalid entry in parse state key: {t!r}")
            for tr in st.get("transitions", []):
                t = tr.get("type", "hexstr")
                if t == "hexstr" and tr.get("value") != "default":
                    for part in ("value", "mask"):
                        s = tr.get(part)
                        if s is None:
                            continue
                        if not (isinstance(s, str) and _HEX.match(s)):
                            self.bad(where, f"transition {part} {s!r} is not a hexstr")
                        elif _hexbytes(s) != nbytes:
                            self.bad(where, f"Parser transition {part} has incorrect width, expected width is "
                                     f"{nbytes} bytes but actual width is {_hexbytes(s)} bytes")  # fmt: skip
                elif t not in ("hexstr", "default", "parse_vset"):
                    self.bad(where, f"unknown transition type {t!r}")

    def parser_op(self, o: dict, where: str) -> None:
        op, ps = o.get("op"), o.get("parameters", [])
        where = f"{where} ({op})"
        if op in ("extract", "extract_VL"):
            if len(ps) != (1 if op == "extract" else 2):
                self.bad(where, "wrong number of parameters")
                return
            if ps[0].get("type") not in ("regular", "stack", "union_stack"):
                self.bad(where, f"Extract type '{ps[0].get('type')}' not supported")
            if op == "extract_VL":
                if ps[1].get("type") != "expression":
                    self.bad(
                        where, "Parser 'extract_VL' operation has invalid length type, expected 'expression'"
                    )
                else:
                    self.expr(ps[1].get("value"), where)
        elif op == "set":
            if len(ps) != 2:
                self.bad(where, "wrong number of parameters")
                return
            if ps[0].get("type") != "field":
                self.bad(where, "Parser 'set' operation has invalid destination type, expected 'field'")
            t = ps[1].get("type")
            if t == "expression":
                self.expr(ps[1].get("value"), where)
            elif t not in ("field", "hexstr", "lookahead"):
                self.bad(where, f"Parser 'set' operation has unsupported source type '{t}'")
        elif op == "verify":
            if len(ps) != 2:
                self.bad(where, "wrong number of parameters")
                return
            if self.expr(ps[0], where) != "bool":
                self.bad(where, "verify needs a boolean condition")
            if not _is_int(ps[1]):
                self.expr(ps[1], where)
        elif op == "primitive":
            if len(ps) != 1:
                self.bad(where, "wrong number of parameters")
                return
            self.primitive(ps[0], 0, where)
        elif op == "shift":
            if len(ps) != 1 or not _is_int(ps[0]):
                self.bad(where, "Parser 'shift' takes one integer (bytes)")
        elif op == "advance":
            t = ps[0].get("type") if len(ps) == 1 and isinstance(ps[0], dict) else None
            if t == "expression":
                self.expr(ps[0].get("value"), where)
            elif t not in ("field", "hexstr"):
                self.bad(where, f"Parser 'advance' operation has unsupported parameter type '{t}'")
        else:
            self.bad(where, f"Parser op '{op}' not supported")

    # -- the whole program ----------------------------------------------------------
    def program(self, j: dict) -> list[str]:
        types = {t["name"]: t for t in j.get("header_types", [])}
        widths: dict[tuple, int] = {}
        for h in j.get("headers", []):
            for f in types.get(h.get("header_type"), {}).get("fields", []):
                widths[(h["name"], f[0])] = 1 if f[0] == "$valid$" else (f[1] if _is_int(f[1]) else 0)
        for s in j.get("header_stacks", []):
            for f in types.get(s.get("header_type"), {}).get("fields", []):
                widths[("stack", s["name"], f[0])] = f[1] if _is_int(f[1]) else 0
        union_types = {t["name"]: t.get("headers", []) for t in j.get("header_union_types", [])}
        for us in j.get("header_union_stacks", []):
            for member, htype in union_types.get(us.get("union_type"), []):
                for f in types.get(htype, {}).get("fields", []):
                    widths[("ustack", us["name"], member, f[0])] = f[1] if _is_int(f[1]) else 0
        for kind in ("header_types", "headers", "header_stacks", "header_unions", "actions", "parsers",
                     "deparsers", "calculations", "counter_arrays", "meter_arrays", "register_arrays",
                     "pipelines", "parse_vsets", "extern_instances"):  # fmt: skip
            seen: dict = {}
            for x in j.get(kind, []):
                if not isinstance(x, dict):
                    continue
                i = x.get("id")
                if not isinstance(i, int | str) or isinstance(i, bool):
                    self.bad(kind, f"'{x.get('name')}' has no usable id ({i!r})")
                elif i in seen:  # BMv2: "Several objects of type ... have the same id"
                    self.bad(kind, f"'{x.get('name')}' and '{seen[i]}' have the same id {i} (duplicate ids)")
                else:
                    seen[i] = x.get("name")
        for a in j.get("actions", []):
            n = len(a.get("runtime_data", []))
            for k, p in enumerate(a.get("primitives", [])):
                self.primitive(p, n, f"action {a.get('name')}, primitive {k}")
        for prs in j.get("parsers", []):
            self.parser(prs, widths)
        for pl in j.get("pipelines", []):
            for c in pl.get("conditionals", []):
                if self.expr(c.get("expression"), f"conditional {c.get('name')}") != "bool":
                    self.bad(f"conditional {c.get('name')}", "the expression must be boolean")
            for t in pl.get("tables", []):
                if not isinstance(t, dict):
                    self.bad(f"pipeline {pl.get('name')}", f"a table must be an object, found {t!r}")
                    continue
                # BMv2 aborts on these (a JSON type error, an assertion), so srem refuses them
                if t.get("type", "simple") not in TABLE_TYPES:
                    self.bad(f"table {t.get('name')}", f"type {t.get('type')!r} is not one of {TABLE_TYPES}")
                if t.get("match_type", "exact") not in TABLE_MATCH_TYPES:
                    self.bad(f"table {t.get('name')}",
                             f"match_type {t.get('match_type')!r} is not one of {TABLE_MATCH_TYPES}")  # fmt: skip
                for k in t.get("key", []):
                    if not isinstance(k, dict) or k.get("match_type") not in KEY_MATCH_TYPES:
                        self.bad(
                            f"table {t.get('name')}", f"key {k!r}: match_type is not one of {KEY_MATCH_TYPES}"
                        )
                if sum(k.get("match_type") == "lpm" for k in t.get("key", []) if isinstance(k, dict)) > 1:
                    self.bad(f"table {t.get('name')}", "features 2 LPM match fields")
                if "max_size" not in t and "entries" not in t:
                    self.bad(f"table {t.get('name')}", "has neither 'max_size' nor 'entries' attribute")
                for e in t.get("entries", []):
                    if len(e.get("match_key", [])) != len(t.get("key", [])):
                        self.bad(f"table {t.get('name')}", "Invalid number of fields in match key")
        for calc in j.get("calculations", []):
            for x in calc.get("input", []):
                if x.get("type") not in ("field", "hexstr", "header", "payload"):
                    self.bad(f"calculation {calc.get('name')}", f"Unsupported input type '{x.get('type')}'")
                # BMv2 loads without complaint but reads past a constant narrower than its
                # bitwidth (seen as wrong checksums): srem's JSON must never have one.
                if (x.get("type") == "hexstr" and isinstance(x.get("value"), str) and _is_int(x.get("bitwidth"))
                        and _hexbytes(x["value"]) < (x["bitwidth"] + 7) // 8):  # fmt: skip
                    self.advice.append(
                        f"calculation {calc.get('name')}: constant {x['value']} has fewer bytes than its "
                        f"bitwidth {x['bitwidth']} (BMv2 loads it but reads past it)"
                    )
        return self.problems


def check(j: dict, refused_only: bool = False) -> list[str]:
    """Every way `j` breaks a rule of BMv2's loader (empty: BMv2 would load its shape), and
    unless `refused_only`, what BMv2 would load but run wrong (srem's compiler must write
    neither; srem's switch refuses only the first, as BMv2 does)."""
    if not isinstance(j, dict):
        return [f"a BMv2 JSON program is an object, not {type(j).__name__}"]
    c = Checker()
    try:
        c.program(j)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as e:
        # a member of a shape no rule expects: say where the walk stopped, never raise
        c.problems.append(f"malformed BMv2 JSON ({type(e).__name__}: {e})")
    return c.problems if refused_only else c.problems + c.advice
