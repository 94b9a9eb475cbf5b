"""srem's fabric on Tofino: p4src/fabric.p4 through the open Tofino compiler (bf-p4c) for
both chips, and what it uses of them, written into p4src/README.md between two markers.

    python -m controller.fabric.tofino            # compiles 4 builds, rewrites the README section
    python -m controller.fabric.tofino --full 900 # the whole fabric compiled too where its depth fits
    python -m controller.fabric.tofino --check    # exit 1 if the README section is out of date

Two builds per chip: the fabric as BMv2 and srem's switch run it, and the measurement build
`-DFABRIC_NO_EM` (the fabric without its EM path: the whole one does not compile yet, and
the report says where bf-p4c stops and how many dependent stages it needs). Figures come from the compiler's own output (context.json,
resources.json); nothing here runs the binaries (no Tofino model is available): compiled,
not run. LM entries per NF: bytes per entry of each LM table as the compiler packed it,
against the model's `lm_mb` and `vnfs.switch_mb` (the paper scenario).
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from p4target.compiler import tofino
from p4target.compiler.errors import P4Error

ROOT = Path(__file__).resolve().parent.parent.parent
FABRIC = ROOT / "p4src" / "fabric.p4"
README = ROOT / "p4src" / "README.md"
BEGIN, END = "<!-- tofino-report: begin -->", "<!-- tofino-report: end -->"
CHIPS = ("tofino", "tofino2")
VARIANTS = {"fabric": {}, "fabric -DFABRIC_NO_EM": {"FABRIC_NO_EM": "1"}}
SRAM_BYTES = 128 * 1024 // 8  # one SRAM block: 1,024 words of 128 bits
TCAM_BYTES = 44 * 512 // 8  # one TCAM block: 512 words of 44 bits
# The LM tables of the NFs (and the fabric's own), by their P4Info names.
LM_TABLES = {
    "NAT (5-tuple rewrite)": "FabricIngress.nat.nat",
    "LB backends": "FabricIngress.lb.lb_backend",
    "LB VIPs": "FabricIngress.lb.lb_vip",
    "firewall rules": "FabricIngress.firewall.fw_acl",
    "classifier rules": "FabricIngress.classifier.classifier",
    "SFF hops": "FabricIngress.sff.sff",
    "IPv4 routes": "FabricIngress.underlay.ipv4_lpm",
}


@dataclass
class Attempt:
    """One bf-p4c run: its build, or where the compiler stopped."""

    chip: str
    variant: str
    seconds: float
    build: tofino.TofinoBuild | None = None
    error: str | None = None
    stages_needed: int | None = None  # the dependency graph's depth, where it does not fit


@dataclass(frozen=True)
class TableUse:
    entries: int
    sram: int  # blocks, match and action data
    tcam: int

    @property
    def bytes_per_entry(self) -> float:
        return (self.sram * SRAM_BYTES + self.tcam * TCAM_BYTES) / self.entries


def compile_one(chip: str, variant: str, out: Path, full_timeout: float = 0) -> Attempt:
    """A build, or where bf-p4c stops. The whole fabric is first measured by its table
    dependency graph: a chain deeper than the chip's stages cannot be placed, and bf-p4c
    searches PHV allocations and placements for the better part of an hour before it says
    so; the graph says it in under a minute. Where the chain fits, the whole compile runs only
    with `full_timeout` seconds (0: not run): bf-p4c's PHV allocation searches it for longer
    than a report should wait (p4src/README.md)."""
    t0 = time.monotonic()
    need = None
    try:
        if not VARIANTS[variant]:
            need = tofino.dependency_stages(FABRIC, out / "deps", chip)
            n = tofino.STAGES[chip]
            if need > n:
                why = (
                    f"does not fit: its tables depend on each other {need} stages deep (bf-p4c's "
                    f"table dependency graph), the chip has {n}"
                )
                return Attempt(chip, variant, time.monotonic() - t0, error=why, stages_needed=need)
            fits = f"its tables' dependency chain fits ({need} of {n} stages); "
            if not full_timeout:
                why = fits + "the whole compile not run here (`--full SECONDS`)"
                return Attempt(chip, variant, time.monotonic() - t0, error=why, stages_needed=need)
            try:
                b = tofino.compile_tofino(FABRIC, out, chip, timeout=full_timeout)
            except P4Error as e:
                said = _first_error(str(e)) if "refused" in str(e) else str(e).split(": ", 1)[-1]
                why = fits + ("refused: " if "refused" in str(e) else "bf-p4c ") + said
                return Attempt(chip, variant, time.monotonic() - t0, error=why, stages_needed=need)
            return Attempt(chip, variant, time.monotonic() - t0, build=b, stages_needed=need)
        b = tofino.compile_tofino(FABRIC, out, chip, defines=VARIANTS[variant])
        return Attempt(chip, variant, time.monotonic() - t0, build=b)
    except P4Error as e:
        return Attempt(chip, variant, time.monotonic() - t0, error=str(e), stages_needed=None)


def compile_all(out: Path, jobs: int = 2, progress=None, full_timeout: float = 0) -> list[Attempt]:
    """Every (chip, variant), `jobs` compilers at a time (bf-p4c is single-threaded)."""
    runs = [(c, v) for v in VARIANTS for c in CHIPS]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [
            pool.submit(compile_one, c, v, out / f"{c}-{'no-em' if VARIANTS[v] else 'full'}", full_timeout)
            for c, v in runs
        ]
        attempts = []
        for f in futures:
            attempts.append(f.result())
            if progress:
                progress(attempts[-1])
    return attempts


def table_use(pipe: Path) -> dict[str, TableUse]:
    """Memory blocks of every table (its action data, ternary indirection and ways
    included), read from context.json."""
    ctx = json.loads((pipe / "context.json").read_text())
    by_name = {t["name"]: t for t in ctx["tables"]}

    def blocks(node, out: dict[str, int]) -> None:
        if isinstance(node, dict):
            m = node.get("memory_resource_allocation")
            if isinstance(m, dict):
                n = sum(len(u["memory_units"]) for u in m.get("memory_units_and_vpns", []))
                out[m["memory_type"]] = out.get(m["memory_type"], 0) + n
            for k, v in node.items():
                if k != "memory_resource_allocation":
                    blocks(v, out)
        elif isinstance(node, list):
            for v in node:
                blocks(v, out)

    out = {}
    for name, t in by_name.items():
        if t.get("table_type") != "match":
            continue
        used: dict[str, int] = {}
        blocks(t.get("match_attributes", {}), used)
        for ref in t.get("action_data_table_refs", []):
            if ref["name"] in by_name:
                blocks(by_name[ref["name"]].get("stage_tables", []), used)
        out[name] = TableUse(int(t["size"]), used.get("sram", 0), used.get("tcam", 0))
    return out


def _phv(b: tofino.TofinoBuild) -> str:
    return ", ".join(f"{b.phv.get(w, 0)}/{n}×{w}b" for w, n in b.phv_available.items())


def _first_error(msg: str) -> str:
    """The compiler's first error, paths relative to the repository, and how many more."""
    lines = [ln.strip().replace(f"{ROOT}/", "") for ln in msg.splitlines()[1:] if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    if not errors:
        return lines[0] if lines else msg
    more = f" (and {len(errors) - 1} more like it)" if len(errors) > 1 else ""
    return errors[0].replace("|", "\\|") + more


def report(attempts: list[Attempt]) -> str:
    """The README section: pipeline use per chip and build, LM entries per NF."""
    from placement.model.scenario import default

    s = default()
    lm, nf_mb = s.substrate.lm_mb, s.vnfs.switch_mb
    out = [
        BEGIN,
        "",
        "Regenerated by `python -m controller.fabric.tofino` (bf-p4c 9.13.4, `--arch v1model`). "
        "Compiled, not run: no Tofino model is available here.",
        "",
        "| chip | program | verdict | stages | logical tables | SRAM blocks | TCAM blocks | PHV containers used |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for a in attempts:
        if a.build is None and a.stages_needed is not None:
            n = tofino.STAGES[a.chip]
            out.append(f"| {a.chip} | `{a.variant}` | {a.error} | {a.stages_needed}/{n} needed | | | | |")
            continue
        if a.build is None:
            out.append(f"| {a.chip} | `{a.variant}` | refused: {_first_error(a.error or '')} | | | | | |")
            continue
        b = a.build
        out.append(
            f"| {a.chip} | `{a.variant}` | compiles, 0 errors | {b.stages}/{b.stages_available} | {b.tables} "
            f"| {b.sram}/{b.sram_available} | {b.tcam}/{b.tcam_available} | {_phv(b)} |"
        )
    out += [
        "",
        "LM entries per NF (the `-DFABRIC_NO_EM` build; bytes per entry = the SRAM and TCAM blocks "
        f"the compiler gave the table, action data included, over its size; an SRAM block is "
        f"{SRAM_BYTES // 1024} KiB, a TCAM block {TCAM_BYTES} bytes). The model gives every switch "
        f"`lm_mb` = {lm[0]:g}–{lm[1]:g} MB of LM and every VNF `switch_mb` = {nf_mb[0]:g}–{nf_mb[1]:g} MB:",
        "",
        "| chip | table | entries (size) | SRAM + TCAM blocks | bytes / entry | entries per MB "
        f"| entries in a {nf_mb[0]:g} MB NF | in a {nf_mb[1]:g} MB NF |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    totals = []
    for a in attempts:
        if a.build is None or a.variant == "fabric":
            continue
        use = table_use(a.build.out / "pipe")
        mem_mb = (a.build.sram_available * SRAM_BYTES + a.build.tcam_available * TCAM_BYTES) / 2**20
        where = "below" if mem_mb < lm[0] else "within" if mem_mb <= lm[1] else "above"
        totals.append(f"{a.chip}: {mem_mb:.1f} MB of SRAM and TCAM in all, {where} the range")
        for label, name in LM_TABLES.items():
            u = use.get(name)
            if u is None:
                continue
            per_mb = 2**20 / u.bytes_per_entry
            out.append(
                f"| {a.chip} | {label} | {u.entries:,} | {u.sram} + {u.tcam} | {u.bytes_per_entry:.1f} "
                f"| {per_mb:,.0f} | {per_mb * nf_mb[0]:,.0f} | {per_mb * nf_mb[1]:,.0f} |"
            )
    out += [
        "",
        f"Against the scenario's `lm_mb` of {lm[0]:g}–{lm[1]:g} MB per switch, a whole chip has "
        f"{'; '.join(totals)}, for every table of the fabric, not only the NFs'. One VNF of "
        f"{nf_mb[0]:g}–{nf_mb[1]:g} MB in LM stands for more entries than the fabric's tables hold "
        "for all the NFs of a switch together (their sizes above): the model's LM is an abstract "
        "budget, well beyond what the fabric's tables give on a Tofino (MB here: 2^20 bytes).",
        "",
        END,
    ]
    return "\n".join(out)


def write(readme: Path, section: str) -> str:
    """The README with its report section replaced (or appended)."""
    text = readme.read_text()
    if BEGIN in text and END in text:
        return text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) :]
    return text.rstrip("\n") + "\n\n" + section + "\n"


def main(argv: list[str]) -> int:
    from rich.console import Console

    console = Console(stderr=True)
    if tofino.find() is None:
        console.print('[red]bf-p4c is not installed (eval "$(../shared/bfp4c/setup)")[/red]')
        return 2
    out = ROOT / "build" / "tofino"
    full = float(argv[argv.index("--full") + 1]) if "--full" in argv else 0.0
    t0 = time.monotonic()
    with console.status(f"bf-p4c: {len(CHIPS) * len(VARIANTS)} builds of p4src/fabric.p4, 2 at a time"):
        attempts = compile_all(
            out,
            full_timeout=full,
            progress=lambda a: console.print(
                f"{a.chip} {a.variant}: "
                f"{'compiled' if a.build else 'measured' if a.stages_needed else 'refused'} in {a.seconds:.0f} s"
            ),
        )
    text = write(README, report(attempts))
    if "--check" in argv:
        same = README.read_text() == text
        console.print(
            "p4src/README.md is up to date" if same else "[red]p4src/README.md is out of date[/red]"
        )
        return 0 if same else 1
    README.write_text(text)
    console.print(f"wrote the Tofino section of {README} ({time.monotonic() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
