"""Statements rewritten into simpler ones before the BMv2 back end translates them.

`switch` on a value (integer, enum, error) becomes an if / else-if chain, as p4c's
midend does for targets without a switch on values: case labels that share a body are
or-ed, `default` is the final else. The switched expression is read once per test; the
caller hoists it into a temporary when reading it twice could differ.
"""

from __future__ import annotations

from . import ast as A
from .errors import P4Error


def switch_to_ifs(s: A.Switch, subject: A.Expr) -> A.Stmt:
    """The if-chain equivalent of `s`, testing `subject` (the value switched on)."""
    groups: list[tuple[list[A.Expr], A.Block]] = []
    pending: list[A.Expr] = []
    default: A.Block | None = None
    seen: set[str] = set()
    for case in s.cases:
        if default is not None:
            raise P4Error(case.loc, "the default label must be the last case of a switch")
        if not isinstance(case.label, A.Default):
            key = A.show(case.label)
            if key in seen:
                raise P4Error(case.loc, f"duplicate case label {key}")
            seen.add(key)
        pending.append(case.label)
        if case.body is None:
            continue
        if any(isinstance(x, A.Default) for x in pending):
            default = case.body
        else:
            groups.append((pending, case.body))
        pending = []
    if pending:  # trailing labels without a body do nothing
        if any(isinstance(x, A.Default) for x in pending):
            default = A.Block(s.loc, [])
        else:
            groups.append((pending, A.Block(s.loc, [])))
    chain: A.Stmt | None = default
    for labels, body in reversed(groups):
        cond: A.Expr | None = None
        for lab in labels:
            eq = A.Binary(lab.loc, "==", subject, lab)
            cond = eq if cond is None else A.Binary(lab.loc, "||", cond, eq)
        chain = A.If(s.loc, cond, body, chain)
    return chain if chain is not None else A.Empty(s.loc)
