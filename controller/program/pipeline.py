"""The fabric's pipeline: p4src/fabric.p4 compiled, as the controller pushes it to every switch."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from google.protobuf import text_format
from p4.config.v1 import p4info_pb2

from controller.fabric.switches import Pipeline
from controller.fabric.targets import check
from p4rt.schema import P4InfoIndex
from p4target.compiler.driver import compile_p4, run_p4c

FABRIC_P4 = Path(__file__).resolve().parents[2] / "p4src" / "fabric.p4"


def fabric_pipeline(compiler: str = "srem") -> tuple[Pipeline, P4InfoIndex]:
    """p4src/fabric.p4 compiled by srem's compiler or by p4c (`p4c-bm2-ss`), with its P4Info
    indexed. Both give the same P4Info names and ids, so a controller drives either."""
    check("srem", compiler)
    if compiler == "p4c-bm2-ss":
        with tempfile.TemporaryDirectory(prefix="srem-p4c-") as d:
            jpath, ipath = run_p4c(FABRIC_P4, Path(d), [], {})
            info = text_format.Parse(ipath.read_text(), p4info_pb2.P4Info())
            return Pipeline(info, jpath.read_bytes()), P4InfoIndex(info)
    compiled = compile_p4(FABRIC_P4)
    return Pipeline(compiled.p4info, json.dumps(compiled.json).encode()), P4InfoIndex(compiled.p4info)
