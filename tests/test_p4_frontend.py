"""The P4_16 front end: tokens, preprocessor, parse trees and errors with locations."""

from pathlib import Path

import pytest

from p4target.compiler import P4Error, parse_file, parse_text
from p4target.compiler import ast as A
from p4target.compiler.lexer import tokenize
from p4target.compiler.parser import Parser, parse_int

P4 = Path(__file__).parent / "p4"


def expr(text: str, types: set[str] = frozenset()) -> str:
    from p4target.compiler.lexer import Preprocessor

    p = Parser(Preprocessor().run(Path("e.p4"), text))
    p.types |= set(types)
    e = p.expression()
    assert p.peek().kind == "eof", f"left over: {p.peek().text}"
    return A.show(e)


@pytest.mark.parametrize(
    ("text", "value", "width", "signed"),
    [("42", 42, None, False), ("0x2A", 42, None, False), ("8w0b1010_1010", 170, 8, False),
     ("16w0x894F", 0x894F, 16, False), ("4s7", 7, 4, True), ("0o17", 15, None, False), ("32w1_000", 1000, 32, False)],
)  # fmt: skip
def test_integer_literals(text, value, width, signed):
    lit = parse_int(text, None)
    assert (lit.value, lit.width, lit.signed) == (value, width, signed)


def test_tokens_keep_locations_and_adjacency():
    toks = tokenize("bit<8>  x; /* a\ncomment */ y >> 2; // end", "f.p4")
    assert [t.text for t in toks] == ["bit", "<", "8", ">", "x", ";", "y", ">", ">", "2", ";"]
    y = toks[6]
    assert (y.loc.line, y.loc.col) == (2, 12)
    assert toks[8].adjacent and not toks[7].adjacent  # '>>' is two adjacent '>'


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a + b * c", "(a + (b * c))"),
        ("a & b == c", "((a & b) == c)"),  # p4c: bitwise binds tighter than comparison
        ("a | b ^ c & d", "(a | (b ^ (c & d)))"),
        ("a << 2 + 1", "(a << (2 + 1))"),
        ("x ++ y + z", "((x ++ y) + z)"),
        ("a >> 1", "(a >> 1)"),
        ("!a && b || c", "(((!a) && b) || c)"),
        ("c ? 1 : d ? 2 : 3", "(c ? 1 : (d ? 2 : 3))"),
        ("(bit<8>) x + 1", "(((bit<8>) x) + 1)"),
        ("(int<32>)(-5) >> 1", "(((int<32>) (-5)) >> 1)"),
        ("h.f[7:0]", "h.f[7:0]"),
        ("s.vlan[0].vid", "s.vlan[0].vid"),
        ("p.extract<T>(h.x)", "p.extract<T>(h.x)"),
        ("p.lookahead<bit<32>>()", "p.lookahead<bit<32>>()"),
        ("a < b", "(a < b)"),
        ("a < b && c > d", "((a < b) && (c > d))"),
        ("x |+| y |-| 1", "((x |+| y) |-| 1)"),
        ("{a, {b, c}}", "{a, {b, {c}}}".replace("{b, {c}}", "{b, c}")),
        ("{f = 1, g = x}", "{f = 1, g = x}"),
        ("f(dst = a, _)", "f(dst=a, _)"),
        ("-a - -b", "((-a) - (-b))"),
        ("t.apply().action_run", "t.apply().action_run"),
    ],
)
def test_expression_trees(text, tree):
    assert expr(text, {"T"}) == tree


def test_kitchen_sink_program():
    prog = parse_file(P4 / "kitchen_sink.p4")
    mine = {d.name: d for d in prog.decls if d.loc.file.endswith("kitchen_sink.p4")}
    assert isinstance(mine["main"], A.Instantiation) and A.show(mine["main"].type) == "V1Switch"
    parser = mine["MyParser"]
    assert [s.name for s in parser.states] == [
        "start",
        "parse_packet_out",
        "parse_ethernet",
        "parse_vlan",
        "parse_ipv4",
        "parse_l4",
    ]
    eth = parser.states[2].transition
    assert [A.show(c.keyset) for c in eth.cases] == [
        "(33024 &&& 61439)",
        "TYPE_IPV4",
        "custom_types",
        "(1536 .. 1791)",
        "default",
    ]
    ipv4 = parser.states[4]
    assert [A.show(c.keyset) for c in ipv4.transition.cases] == ["{Proto.TCP, 0}", "{17, _}", "default"]
    assert isinstance(ipv4.stmts[3], A.VarDecl) and A.show(ipv4.stmts[3].init) == "pkt.lookahead<bit<32>>()"
    ingress = mine["MyIngress"]
    tables = {d.name: d for d in ingress.locals if isinstance(d, A.TableDecl)}
    assert set(tables) == {"ipv4_lpm", "acl", "nat_table", "lb", "smac", "prio"}
    key = tables["acl"].prop("key").value
    assert [(A.show(k.expr), k.match_kind) for k in key][2:] == [
        ("hdr.l4.dport", "range"),
        ("hdr.ipv4.protocol", "optional"),
    ]
    lpm_key = tables["ipv4_lpm"].prop("key").value[0]
    assert A.annotation(lpm_key.annotations, "name").args[0].value == "dst_addr"
    entries = tables["nat_table"].prop("entries")
    assert entries.const and [A.show(e.keyset) for e in entries.value] == [
        "{167772161, 80}",
        "{167772162, 443}",
    ]
    assert [A.show(e.priority) for e in tables["prio"].prop("entries").value] == ["10", "5"]
    assert tables["acl"].prop("default_action").const
    sw = next(s for s in ingress.body.stmts if isinstance(s, A.Switch))
    assert [A.show(c.label) for c in sw.cases] == ["forward", "drop", "default"]
    assert A.show(mine["fold"].body.stmts[0].value) == "(x[31:16] |+| x[15:0])"
    assert isinstance(mine["Proto"], A.EnumDecl) and A.show(mine["Proto"].underlying) == "bit<8>"
    hdrs = mine["headers_t"]
    assert (
        A.show(hdrs.fields[3].type) == "vlan_t[2]"
        and A.show(mine["ipv4_options_t"].fields[0].type) == "varbit<320>"
    )
    assert A.annotation(mine["packet_in_t"].annotations, "controller_header").args[0].value == "packet_in"


@pytest.mark.parametrize(
    ("source", "line", "col", "message"),
    [
        ("header h { bit<8> a }", 1, 21, "expected ';'"),
        ("control C() { apply { x = ; } }", 1, 27, "expected an expression"),
        ("const bit<8> X = 1\nconst bit<8> Y = 2;", 2, 1, "expected ';'"),
        ("parser P() { state s { transition a; x = 1; } }", 1, 38, "the transition must end the state"),
        ('#include "nope.p4"', 1, 2, "cannot find include file"),
        ("#if 1\nheader h {}", 1, 2, "#if without #endif"),
        ("header h { bit<8> a; } $", 1, 24, "unexpected character"),
        ("control C() { }", 1, 9, "has no apply block"),
        ("#define F(x) x\nF(1, 2)", 2, 1, "macro F takes 1 arguments, got 2"),
        ("#define F(x) x\nF(1", 2, 1, "unterminated call to macro F"),
        ("#define S(x) #x", 1, 14, "# and ## in macro bodies"),
    ],
)
def test_errors_name_file_line_and_column(source, line, col, message):
    with pytest.raises(P4Error) as e:
        parse_text(source, "bad.p4")
    assert (e.value.loc.line, e.value.loc.col) == (line, col), str(e.value)
    assert e.value.loc.file.endswith("bad.p4") and message in e.value.message
    assert str(e.value).startswith(f"{e.value.loc.file}:{line}:{col}: error:")


def test_preprocessor_defines_and_conditionals(tmp_path):
    (tmp_path / "inc.p4").write_text("const bit<8> FROM_INC = WIDTH;\n")
    (tmp_path / "main.p4").write_text(
        '#define WIDTH 8\n#include "inc.p4"\n#ifdef WIDTH\nconst bit<8> A = WIDTH;\n#else\nconst bit<8> A = 0;\n#endif\n'
        "#if defined(WIDTH) && !defined(OTHER)\nconst bit<8> B = 1;\n#endif\n"
    )
    prog = parse_file(tmp_path / "main.p4")
    consts = {d.name: A.show(d.value) for d in prog.decls if isinstance(d, A.ConstDecl)}
    assert consts["FROM_INC"] == "8" and consts["A"] == "8" and consts["B"] == "1"
    inc = next(d for d in prog.decls if d.name == "FROM_INC")
    assert inc.loc.file.endswith("inc.p4") and inc.loc.line == 1


def test_function_like_macros_expand_with_nested_calls():
    src = (
        "#define ADD(a, b) ((a) + (b))\n#define TWICE(x) ADD(x, x)\n#define ZERO() 0\n"
        "const bit<8> C = TWICE(ADD(1, 2)) + ZERO();\n#undef TWICE\nconst bit<8> TWICE = 3;\n"
    )
    prog = parse_text(src, "m.p4")
    consts = {d.name: A.show(d.value) for d in prog.decls if isinstance(d, A.ConstDecl)}
    assert consts["C"] == "(((1 + 2) + (1 + 2)) + 0)" and consts["TWICE"] == "3"


def test_a_backslash_at_a_line_end_continues_a_define():
    """cpp's line splicing: a #define's body may run over several lines, and the lines after
    it keep their own numbers."""
    src = "#define SUM(a, b) \\\n    ((a) + \\\n     (b))\nconst bit<8> C = SUM(1, 2);\nconst bit<8> D = 4;\n"
    prog = parse_text(src, "m.p4")
    consts = {d.name: d for d in prog.decls if isinstance(d, A.ConstDecl)}
    assert A.show(consts["C"].value) == "(1 + 2)" and consts["D"].loc.line == 5
