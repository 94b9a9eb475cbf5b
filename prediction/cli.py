"""`srem predict`: train and evaluate failure predictors on the vEPC monitoring data.

Registered on the srem app by the application CLI (`register(app)`). Bad input (a missing
or malformed data file, a bad run file or option) is one red line and exit status 2.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from topologies import InputError
from topologies.errors import one_line

app = typer.Typer(
    help="Predict server failures from monitoring data (LSTM and baselines).", no_args_is_help=True
)
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)

DataOpt = Annotated[
    Path | None,
    typer.Option(help="The data file (default: ../shared/data/vepc-failure/data.tsv beside the checkout)."),
]
ConfigOpt = Annotated[Path | None, typer.Option(help="A run YAML (default: prediction/data/default.yaml).")]


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise InputError("--seeds", text, "must be comma-separated integers, like 0,1,2") from None
    if not seeds:
        raise InputError("--seeds", text, "needs at least one seed")
    return seeds


def _records(data: Path | None):
    from .data import load_records, resolve_data_path

    return load_records(resolve_data_path(data))


def _threads(n: int) -> None:
    import torch

    if n < 1:
        raise InputError("--threads", str(n), "must be >= 1")
    torch.set_num_threads(n)


@app.command("validate")
@one_line
def validate(data: DataOpt = None) -> None:
    """Check a data file and summarise it (records, failures, failed share)."""
    from .metrics import failures

    r = _records(data)
    fs = failures(r.label)
    lengths = sorted(f.stop - f.start for f in fs)
    console.print(
        f"{r.source}: {len(r)} records, {int(r.label.sum())} failed ({r.label.mean():.1%}), "
        f"{len(fs)} failures of {lengths[0] if lengths else 0}..{lengths[-1] if lengths else 0} intervals"
    )


@app.command("train")
@one_line
def train_cmd(
    data: DataOpt = None,
    config: ConfigOpt = None,
    protocol: Annotated[
        str, typer.Option(help="A protocol of the run file: authors, honest, honest-psutil.")
    ] = ("honest"),
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    epochs: Annotated[int | None, typer.Option(help="Epochs (default: the run file's).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Run folder (default: runs/prediction/PROTOCOL-sSEED).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the run folder's checkpoint.")] = False,
    save: Annotated[
        Path | None, typer.Option(help="Also copy the trained model here (e.g. a .pt to ship).")
    ] = None,
    threads: Annotated[int, typer.Option(help="CPU threads for torch.")] = 1,
) -> None:
    """Train the LSTM on one protocol and seed; print its test figures per threshold."""
    from . import config as cf
    from .evaluate import LSTM, ProtocolResult, data_id, evaluate_method
    from .report import rich_table
    from .train_lstm import predict, train
    from .windows import make_split

    cfg = cf.load_run(config)
    chosen = {p.name: p for p in cf.BUILTIN.values()} | {p.name: p for p in cfg.protocols}
    if protocol not in chosen:
        raise InputError("--protocol", protocol, f"unknown (known: {', '.join(chosen)})")
    if epochs is not None:
        if epochs < 1:
            raise InputError("--epochs", str(epochs), "must be >= 1")
        cfg = replace(cfg, lstm=replace(cfg.lstm, epochs=epochs))
    cfg = replace(cfg, seeds=(seed,))
    _threads(threads)
    records = _records(data)
    split = make_split(records, chosen[protocol])
    out = out or Path("runs/prediction") / f"{protocol}-s{seed}"
    if not resume and (out / "checkpoint.pt").exists():
        (out / "checkpoint.pt").unlink()  # a fresh run, not a silent continuation
    t0 = time.perf_counter()
    saved = train(split, cfg.lstm, seed, out, resume=resume, data_id=data_id(records))
    res = ProtocolResult(split.protocol, split)
    res.runs.append(evaluate_method(res, LSTM, seed, predict(saved.network(), split.test.x), 0.0, cfg))
    console.print(rich_table(res, cfg))
    console.print(
        f"trained in {time.perf_counter() - t0:.0f} s; wrote {out}/model.pt, TensorBoard logs in {out}/tb"
    )
    if save:
        save.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "model.pt", save)
        console.print(f"copied the model to {save}")


@app.command("eval")
@one_line
def eval_cmd(
    data: DataOpt = None,
    config: ConfigOpt = None,
    seeds: Annotated[
        str | None, typer.Option(help="Training seeds, comma-separated (default: the run file's).")
    ] = (None),
    epochs: Annotated[int | None, typer.Option(help="LSTM epochs (default: the run file's).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for tables, results.json and the PR plot.")] = Path(
        "docs/prediction"
    ),
    doc: Annotated[Path, typer.Option(help="The Markdown page written from the results.")] = Path(
        "docs/prediction.md"
    ),
    runs: Annotated[Path, typer.Option(help="LSTM checkpoints (finished ones are reused).")] = Path(
        "runs/prediction"
    ),
    ship: Annotated[
        bool,
        typer.Option(help="Copy the first seed's honest models to prediction/models/ (what `score` loads)."),
    ] = False,
    threads: Annotated[int, typer.Option(help="CPU threads for torch.")] = 1,
) -> None:
    """Every protocol, the LSTM against every baseline, over training seeds: tables, plot, docs page."""
    from . import config as cf
    from . import report
    from .api import MODELS

    t0 = time.perf_counter()
    cfg = cf.load_run(config)
    if seeds is not None:
        cfg = replace(cfg, seeds=_seeds(seeds))
    if epochs is not None:
        if epochs < 1:
            raise InputError("--epochs", str(epochs), "must be >= 1")
        cfg = replace(cfg, lstm=replace(cfg.lstm, epochs=epochs))
    _threads(threads)
    records = _records(data)
    from .evaluate import run

    results = run(records, cfg, runs, say=console.print)
    for res in results:
        console.print(report.rich_table(res, cfg))
    for line in report.verdicts(results, cfg):
        console.print(line.replace("**", ""))
    elapsed = time.perf_counter() - t0
    command = "srem predict eval" + (f" --config {config}" if config else "")
    if seeds is not None:
        command += f" --seeds {seeds}"
    if epochs is not None:
        command += f" --epochs {epochs}"
    n_lstm = len(cfg.protocols) * len(cfg.seeds)
    took = f"{elapsed / 60:.1f} min on {threads} CPU thread(s)"
    reused = sum(r.reused for r in results)
    if reused:
        took += f", {reused} of {n_lstm} LSTM runs reused from {runs}/"
    report.write(results, cfg, out, doc, command, took)
    console.print(f"wrote {doc}, {out}/ (tables, results.json, pr_curves.png) in {elapsed:.0f} s")
    if ship:
        for name in ("honest", "honest-psutil"):
            src = runs / f"{name}-s{cfg.seeds[0]}" / "model.pt"
            if src.exists():
                MODELS.mkdir(exist_ok=True)
                shutil.copyfile(src, MODELS / f"{name}.pt")
                console.print(f"shipped {src} as {MODELS / f'{name}.pt'}")


def register(app_: typer.Typer) -> None:
    app_.add_typer(app, name="predict")


@app.command("simulate")
@one_line
def simulate_cmd(
    data: DataOpt = None,
    config: Annotated[
        Path | None, typer.Option(help="A simulate run YAML (default: prediction/data/simulate.yaml).")
    ] = None,
    days: Annotated[int | None, typer.Option(help="Test days (default: the run file's).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for simulate.md, .png, .json.")] = Path("docs/prediction"),
    threads: Annotated[int, typer.Option(help="CPU threads for torch.")] = 1,
) -> None:
    """The SR-EM scenario under server failures: acceptance lost per failure policy and agent."""
    from rich.progress import Progress

    from placement.model.scenario import load
    from placement.model.workload import build_problem

    from .api import FailurePredictor
    from .failures import RowLibrary
    from .sim_config import load_sim
    from .sim_report import cells, simulate, verdicts, write

    t0 = time.perf_counter()
    cfg = load_sim(config)
    if days is not None:
        if days < 1:
            raise InputError("--days", str(days), "must be >= 1")
        cfg = replace(cfg, days=days)
    _threads(threads)
    problem = build_problem(load(cfg.scenario))
    if cfg.days > problem.n_days("test"):
        raise InputError("days", str(cfg.days), f"the scenario has {problem.n_days('test')} test days")
    predictor = library = None
    if any(p.startswith("proactive") for p in cfg.policies):
        path = cfg.model_path()
        if not path.is_file():
            raise InputError("model", str(path), "no such model file")
        predictor = FailurePredictor.load(path)
        library = RowLibrary.from_records(_records(data), predictor.features, predictor.horizon)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("simulating", total=cfg.days * len(cfg.agents))
        rows, refs, worlds = simulate(cfg, problem, library, predictor, lambda what: bar.advance(task))
    for line in verdicts(cfg, cells(cfg, rows, refs)):
        console.print(line)
    elapsed = time.perf_counter() - t0
    command = "srem predict simulate" + (f" --config {config}" if config else "")
    if days is not None:
        command += f" --days {days}"
    took = (
        f"{elapsed / 60:.1f} min on {threads} CPU thread(s), load average {os.getloadavg()[0]:.1f} on 2 cores"
    )
    page = write(cfg, rows, refs, worlds, out, command, took)
    console.print(f"wrote {page}, {out}/simulate.png and simulate.json in {elapsed:.0f} s")
