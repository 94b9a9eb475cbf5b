"""The house's floors hold: no import circle, no import from a higher floor, no file over
~800 lines, every package says what it owns (`python -m tests.layering` shows the graph)."""

import ast

import networkx as nx

from tests import layering


def test_no_module_imports_itself_around_a_circle():
    assert layering.circles(layering.graph()) == []


def test_packages_form_no_circle():
    p = layering.package_graph(layering.graph())
    assert [c for c in nx.strongly_connected_components(p) if len(c) > 1] == []


def test_no_package_imports_a_higher_floor():
    assert layering.upward(layering.graph()) == []


def test_the_ground_floors_import_no_other_srem_package():
    p = layering.package_graph(layering.graph())
    assert sorted(p.successors("p4rt")) == []
    assert sorted(p.successors("topologies")) == []


def test_no_file_is_over_the_limit():
    assert [(n, f) for n, f in layering.largest(50) if n > layering.MAX_LINES] == []


def test_every_package_opens_with_what_it_owns():
    silent = [
        str(path.relative_to(layering.ROOT))
        for name, path in layering.modules().items()
        if path.name == "__init__.py" and not ast.get_docstring(ast.parse(path.read_text()))
    ]
    assert silent == []


def test_the_checker_sees_a_circle_and_an_upward_import():
    g = nx.DiGraph([("p4rt.a", "controller.b"), ("controller.b", "p4rt.a")])
    assert layering.circles(g) == [["controller.b", "p4rt.a"]]
    assert layering.upward(g) == [("p4rt.a", "controller.b")]
