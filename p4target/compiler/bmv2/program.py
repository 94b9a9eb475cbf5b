"""BMv2 JSON (format 2.23, behavioral-model docs/JSON_format.md) from an elaborated
v1model program: the input of simple_switch and of srem's own switch.

Storage: the headers struct's headers become header instances and stacks header
stacks; every scalar (metadata fields, locals of blocks and actions) lives in one
metadata header `scalars`; `standard_metadata` is its own metadata header.
Control blocks become pipelines of tables and conditionals: statements outside
tables are gathered into hidden actions applied by hidden keyless tables, as p4c
does. Anything the back end cannot translate is a P4Error at its location.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .. import ast as A
from ..inline import Inliner
from ..semantics import Program
from .actions import Actions
from .controls import Controls
from .expressions import Expressions
from .externs import Externs
from .headers import Headers
from .model import JSON, bits
from .parsers import Parsers

VERSION = [2, 23]  # the BMv2 JSON format written


@dataclass
class Builder(Headers, Expressions, Actions, Externs, Controls, Parsers):
    prog: Program
    header_types: list[JSON] = field(default_factory=list)
    headers: list[JSON] = field(default_factory=list)
    stacks: list[JSON] = field(default_factory=list)
    union_types: list[JSON] = field(default_factory=list)
    unions: list[JSON] = field(default_factory=list)
    union_stacks: list[JSON] = field(default_factory=list)
    scalars: list[list] = field(default_factory=list)
    actions: list[JSON] = field(default_factory=list)
    calculations: list[JSON] = field(default_factory=list)
    learn_lists: list[JSON] = field(default_factory=list)
    field_lists: list[JSON] = field(default_factory=list)
    counter_arrays: list[JSON] = field(default_factory=list)
    meter_arrays: list[JSON] = field(default_factory=list)
    register_arrays: list[JSON] = field(default_factory=list)
    _types: dict[str, str] = field(default_factory=dict)
    _names: set[str] = field(default_factory=set)
    _action_ids: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    enums: dict[str, dict[str, int]] = field(default_factory=dict)
    meter_targets: dict[str, list] = field(default_factory=dict)
    _predeclared: set[int] = field(default_factory=set)
    _table_actions: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> action name -> id

    def __post_init__(self) -> None:
        self.inliner = Inliner({n: d for n, d in self.prog.decls.items() if isinstance(d, A.FunctionDecl)})
        self.errors = {e: i for i, e in enumerate(self.prog.errors)}
        self.header_types.append({"name": "scalars_0", "id": 0, "fields": self.scalars})
        self.headers.append(
            {"name": "scalars", "id": 0, "header_type": "scalars_0", "metadata": True, "pi_omit": True}
        )

    # -- the whole program ---------------------------------------------------------
    def build(self) -> JSON:
        self.warnings: list[str] = []
        self.checksums: list[JSON] = []
        self._pipelines: list[JSON] = []
        self._all_profiles: list[JSON] = []
        self._all_conds: list[str] = []
        self._states: list[str] = []
        self.roots()
        parser = self.parser_json(self.prog.blocks["parser"])
        self.checksums_of(self.prog.blocks["verify_checksum"], verify=True)
        for role in ("ingress", "egress"):
            self._pipelines.append(self.pipeline(self.prog.blocks[role], role))
        self.checksums_of(self.prog.blocks["compute_checksum"], verify=False)
        deparser = self.deparser_json(self.prog.blocks["deparser"])
        self.arrays()
        self.finish_scalars()
        aliases = []
        for fname, _ in self.sm_ty.fields:
            d = next(f for f in self.prog.decls["standard_metadata_t"].fields if f.name == fname)
            a = A.annotation(d.annotations, "alias")
            if a is not None:
                aliases.append([a.args[0].value, ["standard_metadata", fname]])
        enums = [
            {"name": n, "entries": [[m, k] for k, m in enumerate(d.members)]}
            for n, d in self.prog.decls.items() if isinstance(d, A.EnumDecl) and d.underlying is None
        ]  # fmt: skip
        return {
            "header_types": self.header_types, "headers": self.headers, "header_stacks": self.stacks,
            "header_union_types": self.union_types, "header_unions": self.unions, "header_union_stacks": self.union_stacks,
            "field_lists": self.field_lists, "errors": [[e, v] for e, v in self.errors.items()], "enums": enums,
            "parsers": [parser], "parse_vsets": self.parse_vsets(), "deparsers": [deparser],
            "meter_arrays": self.meter_arrays, "counter_arrays": self.counter_arrays,
            "register_arrays": self.register_arrays, "calculations": self.calculations,
            "learn_lists": self.learn_lists, "actions": self.actions, "pipelines": self._pipelines,
            "checksums": self.checksums, "force_arith": [], "extern_instances": [], "field_aliases": aliases,
            "program": self.prog.ast.decls[-1].loc.file if self.prog.ast.decls else "",
            "__meta__": {"version": VERSION, "compiler": "srem p4target"},
        }  # fmt: skip

    def parse_vsets(self) -> list[JSON]:
        out = []
        for b in self.prog.blocks.values():
            for name, ty, size in b.value_sets.values():
                out.append({"name": name, "id": len(out), "compressed_bitwidth": bits(ty), "max_size": size})
        return out


def compile_program(prog: Program) -> tuple[JSON, list[str]]:
    """BMv2 JSON of an elaborated program, and the compiler's warnings."""
    b = Builder(prog)
    j = b.build()
    return j, b.warnings


def dumps(j: JSON) -> str:
    return json.dumps(j, indent=2) + "\n"
