"""Compile a P4_16 v1model program to BMv2 JSON and P4Info, with srem's compiler or
with p4c (`p4c-bm2-ss`) when it is installed and asked for."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from p4.config.v1 import p4info_pb2

from . import ast as A
from . import bmv2, p4info
from .errors import Loc, P4Error
from .parser import parse_file
from .semantics import elaborate

COMPILERS = ("srem", "p4c-bm2-ss")


@dataclass
class Compiled:
    json: dict
    p4info: p4info_pb2.P4Info
    warnings: list[str] = field(default_factory=list)


def compile_p4(
    path: str | Path, include_dirs: list[Path] | None = None, defines: dict[str, str] | None = None
) -> Compiled:
    """srem's own compiler: parse, elaborate, then both back ends."""
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, 12000))  # the syntax tree's depth is bounded by the parser
    try:
        prog = elaborate(parse_file(path, include_dirs, defines))
        info = p4info.build(prog)
        j, warnings = bmv2.compile_program(prog)
    except P4Error as e:
        if e.loc is not None:
            raise
        # always located: the construct being translated, else the file itself
        loc = _innermost_node(e.__traceback__)[0] or Loc(str(path), 1, 1)
        raise P4Error(loc, e.message) from None
    except RecursionError:
        raise P4Error(_innermost_loc(), "the program is nested too deeply to compile") from None
    except Exception as e:  # a compiler bug: still a located error naming the construct, no traceback
        loc, what = _innermost_node(e.__traceback__)
        raise P4Error(
            loc, f"internal compiler error while translating {what}: {type(e).__name__}: {e}"
        ) from None
    finally:
        sys.setrecursionlimit(old_limit)
    return Compiled(j, info, warnings)


def _innermost_node(tb) -> tuple[Loc | None, str]:
    """The innermost syntax-tree node (with a location) the failing code was working on."""
    found: tuple[Loc | None, str] = (None, "the program")
    while tb is not None:
        for v in tb.tb_frame.f_locals.values():
            loc = getattr(v, "loc", None)
            if isinstance(loc, Loc) and hasattr(v, "__dataclass_fields__"):
                shown = A.show(v) if isinstance(v, A.Expr) else type(v).__name__.lower()
                found = (loc, f"{type(v).__name__} '{shown[:60]}'" if isinstance(v, A.Expr) else shown)
                break
        tb = tb.tb_next
    return found


def _innermost_loc() -> Loc | None:
    return _innermost_node(sys.exc_info()[2])[0]


def write(out_dir: Path, stem: str, c: Compiled, p4info_format: str = "text") -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    jpath = out_dir / f"{stem}.json"
    jpath.write_text(bmv2.dumps(c.json))
    if p4info_format == "binary":
        ipath = out_dir / f"{stem}.p4info.binpb"
        ipath.write_bytes(c.p4info.SerializeToString())
    else:
        ipath = out_dir / f"{stem}.p4info.txtpb"
        ipath.write_text(p4info.to_text(c.p4info))
    return jpath, ipath


def run_p4c(
    path: Path, out_dir: Path, include_dirs: list[Path], defines: dict[str, str]
) -> tuple[Path, Path]:
    """The real p4c back end for BMv2, when it is on PATH."""
    exe = shutil.which("p4c-bm2-ss")
    if exe is None:
        raise P4Error(None, "p4c-bm2-ss is not on PATH; use --compiler srem")
    out_dir.mkdir(parents=True, exist_ok=True)
    jpath, ipath = out_dir / f"{path.stem}.json", out_dir / f"{path.stem}.p4info.txtpb"
    cmd = [exe, "--arch", "v1model", "-o", str(jpath), "--p4runtime-files", str(ipath)]
    # A p4c built into a prefix of its own (../shared/p4real) searches no include folder by
    # default: give it the p4include beside it, so core.p4 and v1model.p4 are p4c's own.
    beside = Path(exe).resolve().parent.parent / "share" / "p4c" / "p4include"
    if beside.is_dir():
        include_dirs = [*include_dirs, beside]
    cmd += [f"-I{d}" for d in include_dirs] + [f"-D{k}={v}" for k, v in defines.items()] + [str(path)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise P4Error(None, f"p4c-bm2-ss failed:\n{p.stderr.strip()}")
    return jpath, ipath
