"""The fabric's pipeline: p4src/fabric.p4 compiled, as the controller pushes it to every switch."""

from __future__ import annotations

import json
from pathlib import Path

from controller.fabric.switches import Pipeline
from p4rt.schema import P4InfoIndex
from p4target.compiler.driver import compile_p4

FABRIC_P4 = Path(__file__).resolve().parents[2] / "p4src" / "fabric.p4"


def fabric_pipeline() -> tuple[Pipeline, P4InfoIndex]:
    """p4src/fabric.p4 compiled by srem's compiler, with its P4Info indexed."""
    compiled = compile_p4(FABRIC_P4)
    return Pipeline(compiled.p4info, json.dumps(compiled.json).encode()), P4InfoIndex(compiled.p4info)
