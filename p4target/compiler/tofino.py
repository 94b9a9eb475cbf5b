"""The open Tofino compiler (bf-p4c) behind srem's usual errors, and what a program uses
of the chip, read from the compiler's own output (`pipe/context.json`,
`pipe/logs/resources.json`).

srem does not compile for Tofino itself: this runs the real compiler where it is
installed (`eval "$(../shared/bfp4c/setup)"` puts it on PATH) and reports its verdict.
No Tofino model runs the output here: compiled, not run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from p4target.compiler.errors import P4Error

TARGETS = {"tofino": ("v1model", "tna"), "tofino2": ("v1model", "t2na")}
# Where ../shared/bfp4c/setup unpacks it when BFP4C_HOME is not set.
DEFAULT_HOME = Path("/var/tmp/bfp4c-9.13.4")
# The compiler's own boilerplate around an error: not what the user needs to read.
_SUMMARY = re.compile(r"^\d+ errors?, \d+ warnings? generated")
_NOISE = re.compile(r"^(In file: /opt/bfbuild|Internal compiler error\. Please submit|\s*$)")


@dataclass
class TofinoBuild:
    """What one bf-p4c run made and what it uses of the pipeline."""

    program: str
    target: str
    arch: str
    out: Path
    stages: int  # MAU stages with at least one table
    stages_available: int
    tables: int  # logical tables placed (gateways included, as the compiler counts them)
    tables_per_stage: dict[int, int] = field(default_factory=dict)
    sram: int = 0  # SRAM blocks used, all stages
    sram_available: int = 0
    tcam: int = 0
    tcam_available: int = 0
    phv: dict[int, int] = field(default_factory=dict)  # container width (bits) -> containers used
    phv_available: dict[int, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "out"}
        d["out"] = str(self.out)
        return d


def find() -> str | None:
    """bf-p4c on PATH, under $BFP4C_HOME/bin, or where the shared setup unpacks it."""
    exe = shutil.which("bf-p4c")
    if exe:
        return exe
    for home in (os.environ.get("BFP4C_HOME"), DEFAULT_HOME):
        if home and (Path(home) / "bin" / "bf-p4c").is_file():
            return str(Path(home) / "bin" / "bf-p4c")
    return None


def compile_tofino(
    program: Path,
    out_dir: Path,
    target: str = "tofino",
    arch: str = "v1model",
    include_dirs: list[Path] | None = None,
    defines: dict[str, str] | None = None,
    timeout: float = 600.0,
) -> TofinoBuild:
    """Run bf-p4c; a refusal is a P4Error carrying the compiler's own message."""
    if target not in TARGETS:
        raise P4Error(None, f"unknown Tofino target {target!r}; one of {', '.join(TARGETS)}")
    if arch not in TARGETS[target]:
        raise P4Error(None, f"{target} takes --arch {' or '.join(TARGETS[target])}, not {arch!r}")
    exe = find()
    if exe is None:
        raise P4Error(None, 'bf-p4c is not installed (eval "$(../shared/bfp4c/setup)" where it is shipped)')
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [exe, "--target", target, "--arch", arch, "-g", "-o", str(out_dir)]
    cmd += [f"-I{d}" for d in include_dirs or []]
    cmd += [f"-D{k}={v}" for k, v in (defines or {}).items()] + [str(program)]
    # A session of its own, so that a timeout stops the compiler it runs (p4c-barefoot) too.
    p = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGTERM)
        p.communicate()
        said = phv_progress(out_dir / "pipe" / "logs")
        raise P4Error(
            None,
            f"bf-p4c did not finish {program.name} for {target} in {timeout:.0f} s"
            + (f": {said}" if said else ""),
        ) from None
    lines = [ln for ln in (stderr + stdout).splitlines() if not _NOISE.match(ln)]
    if p.returncode != 0:
        said = [
            ln for ln in lines if ("error" in ln.lower() or "bug" in ln.lower()) and not _SUMMARY.match(ln)
        ]
        errors = said or lines[-5:]
        raise P4Error(None, f"bf-p4c refused {program.name} for {target}/{arch}:\n" + "\n".join(errors))
    build = resources(out_dir / "pipe", program.stem, target, arch)
    build.warnings = [ln for ln in lines if "warning" in ln.lower()]
    return build


_PHV_TRY = re.compile(r"^allocation\((\w+)\): (Try allocation|Failed)", re.M)


def phv_progress(logs: Path) -> str:
    """Where an unfinished run's PHV allocation was: the configurations it tried and gave up
    (bf-p4c tries one after another before table placement), from its phv_allocation log."""
    f = logs / "phv_allocation_0.log"
    if not f.exists():
        return ""
    tried: dict[str, bool] = {}
    for name, what in _PHV_TRY.findall(f.read_text(errors="replace")):
        tried[name] = tried.get(name, False) or what == "Failed"
    if not tried:
        return "before PHV allocation"
    failed = [n for n, bad in tried.items() if bad]
    going = [n for n, bad in tried.items() if not bad]
    return (
        "PHV allocation failed "
        + (", ".join(failed) or "no configuration")
        + (f", still searching {', '.join(going)}" if going else "")
    )


STAGES = {"tofino": 12, "tofino2": 20}  # MAU stages per pipe
# The compiler's table dependency graph (with -g): one dump per pass over the program, each
# table under the earliest stage its dependencies allow.
_DEP_STAGE = re.compile(r"^ Stage #(\d+)$", re.M)


def dependency_stages(
    program: Path,
    out_dir: Path,
    target: str = "tofino",
    arch: str = "v1model",
    defines: dict[str, str] | None = None,
    timeout: float = 600.0,
) -> int:
    """How many MAU stages the program's chain of dependent tables needs, from bf-p4c's own
    table dependency graph: a lower bound on the stages, known before PHV allocation and
    table placement (which, for a program that cannot fit, search for a long time before
    they give up). Runs bf-p4c until it has written the graph, then stops it. A refusal
    before that is a P4Error, as in compile_tofino."""
    if target not in TARGETS or arch not in TARGETS[target]:
        raise P4Error(None, f"unknown Tofino target/arch {target}/{arch}")
    exe = find()
    if exe is None:
        raise P4Error(None, 'bf-p4c is not installed (eval "$(../shared/bfp4c/setup)" where it is shipped)')
    out_dir.mkdir(parents=True, exist_ok=True)
    logs = out_dir / "pipe" / "logs"
    cmd = [exe, "--target", target, "--arch", arch, "-g", "-o", str(out_dir)]
    cmd += [f"-D{k}={v}" for k, v in (defines or {}).items()] + [str(program)]
    err = out_dir / "bf-p4c.stderr"
    with open(err, "w") as f:
        # A session of its own, so that stopping it stops the compiler it runs (p4c-barefoot).
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    graph = logs / "table_dependency_graph.log"
    try:
        # The graph is complete once PHV allocation (the next pass) has started its log and the
        # graph's log has stopped growing (the compiler writes it in pieces).
        size, still = -1, 0
        while p.poll() is None and still < 6:
            if time.monotonic() > deadline:
                raise P4Error(None, f"bf-p4c wrote no dependency graph for {program.name} in {timeout:.0f} s")
            time.sleep(0.5)
            if (logs / "phv_allocation_0.log").exists():
                n = graph.stat().st_size if graph.exists() else 0
                size, still = n, still + 1 if n == size else 0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait()
    text = graph.read_text() if graph.exists() else ""
    if p.returncode not in (None, 0, -signal.SIGTERM) or not text:
        lines = [ln for ln in err.read_text().splitlines() if not _NOISE.match(ln)]
        said = [ln for ln in lines if "error" in ln.lower() and not _SUMMARY.match(ln)]
        raise P4Error(
            None, f"bf-p4c refused {program.name} for {target}/{arch}:\n" + "\n".join(said or lines[-5:])
        )
    # The last complete stage list (it ends with a blank line): the graph after the
    # compiler's own merging of tables and conditions, the one it places.
    dumps = [d[: d.index("\n\n")] for d in text.split("MIN STAGE INFO")[1:] if "\n\n" in d]
    stages = [int(n) for n in _DEP_STAGE.findall(dumps[-1])] if dumps else []
    if not stages:
        raise P4Error(None, f"bf-p4c's dependency graph of {program.name} lists no stages ({graph})")
    return 1 + max(stages)


def resources(pipe: Path, program: str, target: str, arch: str) -> TofinoBuild:
    """The pipeline use of a finished build, from its context.json and resources.json."""
    try:
        res = json.loads((pipe / "logs" / "resources.json").read_text())["resources"]
        ctx = json.loads((pipe / "context.json").read_text())
    except (OSError, ValueError, KeyError) as e:
        raise P4Error(None, f"bf-p4c wrote no readable resource report in {pipe}: {e}") from None
    per_stage: Counter[int] = Counter()
    sram = sram_all = tcam = tcam_all = 0
    for st in res["mau"]["mau_stages"]:
        n = len(st["logical_tables"]["ids"])
        if n:
            per_stage[int(st["stage_number"])] += n
        sram += len(st["rams"]["srams"])
        tcam += len(st["tcams"]["tcams"])
        # The report lists only the stages in use; every stage has the same memories.
        sram_all = st["rams"]["nRows"] * st["rams"]["nColumns"] * int(res["mau"]["nStages"])
        tcam_all = st["tcams"]["nRows"] * st["tcams"]["nColumns"] * int(res["mau"]["nStages"])
    used: dict[int, set[int]] = {}
    for stage in ctx.get("phv_allocation", []):  # one entry per stage (and the parser)
        for gress in ("ingress", "egress"):
            for c in stage.get(gress, []):
                used.setdefault(int(c["word_bit_width"]), set()).add(int(c["phv_number"]))
    available = Counter()
    for kind in res.get("phv_containers", {}).values():
        for group in kind:
            available[int(group["width"])] += int(group["units"])
    return TofinoBuild(
        program=program,
        target=target,
        arch=arch,
        out=pipe.parent,
        stages=len(per_stage),
        stages_available=int(res["mau"]["nStages"]),
        tables=sum(per_stage.values()),
        tables_per_stage=dict(sorted(per_stage.items())),
        sram=sram,
        sram_available=sram_all,
        tcam=tcam,
        tcam_available=tcam_all,
        phv={w: len(ids) for w, ids in sorted(used.items())},
        phv_available=dict(sorted(available.items())),
    )
