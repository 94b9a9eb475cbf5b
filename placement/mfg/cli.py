"""`srem mfg`: the MEC scenario, the mean-field actor-critic agent, its baselines and evaluation.

Registered on the srem app by `register(app)`. Bad input is one red line and exit status 2.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.table import Table

from topologies import InputError
from topologies.errors import one_line

DEFAULT_MODEL = Path(__file__).parent / "models" / "mfg-ac.pt"
METHOD_NAMES = ("mfg-ac", "ga", "greedy", "random", "optimum")

app = typer.Typer(
    help="Mean-field actor-critic SFC placement over MEC nodes (issue 20).", no_args_is_help=True
)
scenario_app = typer.Typer(help="Write, check and show MEC scenarios.", no_args_is_help=True)
app.add_typer(scenario_app, name="scenario")
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)


def _policy(model: Path | None):
    from .train import load_policy

    return load_policy(model or DEFAULT_MODEL)


@scenario_app.command("new")
@one_line
def scenario_new(
    file: Path,
    nodes: Annotated[int, typer.Option(help="MEC nodes (0: the paper's case).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the generated scenario.")] = 0,
) -> None:
    """Write a scenario: the paper's case, or a seeded generated one with NODES nodes."""
    from . import scenario as S

    if nodes < 0 or nodes == 1 or nodes > 1000:
        raise InputError("--nodes", str(nodes), "must be 0 (the paper's case) or 2..1000")
    s = S.load("paper") if nodes == 0 else S.generate(nodes, seed)
    file.write_text(yaml.safe_dump(S.to_dict(s), sort_keys=False))
    console.print(f"wrote {file}: {s.name}, {len(s.nodes)} nodes, {len(s.vnfs)} VNFs, {len(s.sfcs)} SFCs")


@scenario_app.command("validate")
@one_line
def scenario_validate(file: Path) -> None:
    """Check a scenario file; prints its size or one line naming what is wrong."""
    from . import scenario as S

    s = S.load(file)
    console.print(
        f"{file}: ok ({len(s.nodes)} nodes, {len(s.links)} links, {len(s.vnfs)} VNFs, {len(s.sfcs)} SFCs)"
    )


@scenario_app.command("show")
@one_line
def scenario_show(spec: Annotated[str, typer.Argument(help="File or bundled name.")] = "paper") -> None:
    """Print a scenario (default: the paper's case) as YAML."""
    from . import scenario as S

    console.print(yaml.safe_dump(S.to_dict(S.load(spec)), sort_keys=False), markup=False, highlight=False)


@app.command()
@one_line
def train(
    out: Annotated[Path, typer.Option(help="Folder for checkpoint.pt and TensorBoard logs (tb/).")],
    episodes: Annotated[int, typer.Option(help="Training episodes (the paper: 2000).")] = 2000,
    seed: int = 0,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.pt.")] = False,
    ship: Annotated[bool, typer.Option(help="Copy the result to the shipped policy.")] = False,
) -> None:
    """Train the mean-field actor-critic (the paper's Algorithm 1)."""
    from .train import TrainConfig
    from .train import train as run_training

    if episodes < 1:
        raise InputError("--episodes", str(episodes), "must be >= 1")
    t0 = time.perf_counter()
    ck = run_training(TrainConfig(episodes=episodes, seed=seed), out, resume=resume)
    console.print(f"trained {episodes} episodes in {time.perf_counter() - t0:.0f} s: {ck}")
    if ship:
        DEFAULT_MODEL.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ck, DEFAULT_MODEL)
        console.print(f"shipped as {DEFAULT_MODEL}")


@app.command("train-srem")
@one_line
def train_srem(
    out: Annotated[
        Path, typer.Option(help="Folder for checkpoint.pt, policy.pt and TensorBoard logs (tb/).")
    ],
    episodes: Annotated[int, typer.Option(help="Training days (of the training scenarios).")] = 600,
    seed: int = 0,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.pt.")] = False,
    ship: Annotated[
        bool, typer.Option(help="Copy policy.pt to the shipped policy of `--agent mfg`.")
    ] = False,
) -> None:
    """Train the mean-field actor-critic on SR-EM training days (the agent `srem run --agent mfg`)."""
    from .sremgame import DEFAULT_MODEL as SREM_MODEL
    from .sremtrain import SremTrainConfig
    from .sremtrain import train as run_training

    if episodes < 1:
        raise InputError("--episodes", str(episodes), "must be >= 1")
    if resume and not (out / "checkpoint.pt").exists():
        raise InputError(str(out / "checkpoint.pt"), "checkpoint", "nothing to resume")
    t0 = time.perf_counter()
    pol = run_training(SremTrainConfig(episodes=episodes, seed=seed), out, resume=resume)
    console.print(f"trained {episodes} days in {time.perf_counter() - t0:.0f} s: {pol}")
    if ship:
        SREM_MODEL.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pol, SREM_MODEL)
        console.print(f"shipped as {SREM_MODEL}")


@app.command()
@one_line
def place(
    scenario: Annotated[
        str, typer.Option(help="YAML file or bundled name (paper, mec-10, mec-30, mec-100).")
    ] = "paper",
    method: Annotated[str, typer.Option(help="mfg-ac, ga, greedy, random or optimum.")] = "mfg-ac",
    seed: Annotated[int, typer.Option(help="Seed of the request set (and of the method).")] = 0,
    model: Annotated[Path | None, typer.Option(help="Policy (default: the shipped one).")] = None,
    milp_time_limit: float = 60.0,
) -> None:
    """Place one seeded request set with one method: where each VNF goes and each SFC's delay."""
    import numpy as np

    from . import delay as D
    from . import evaluate as E
    from . import scenario as S

    if method not in METHOD_NAMES:
        raise InputError("--method", method, f"must be one of {', '.join(METHOD_NAMES)}")
    s = S.load(scenario)
    net = _policy(model)[0] if method == "mfg-ac" else None
    m = D.compile_model(s)
    req = S.sample_requests(s, seed)
    vol = req.volumes(m.n_sfcs)
    t0 = time.perf_counter()
    x, extra = E.placers(net, milp_time_limit)[method](m, vol, seed)
    secs = time.perf_counter() - t0
    t = Table(title=f"{s.name}, request set {seed} ({len(req.sfc)} requests), {method}: placement")
    t.add_column("VNF")
    t.add_column("node")
    for j, v in enumerate(s.vnfs):
        t.add_row(v.name, s.nodes[x[j]].name)
    console.print(t)
    d = D.request_delays(m, x, req)
    t2 = Table(title="E2E delay")
    for c in ("SFC", "requests", "MB", "ms per MB", "mean delay (ms)", "over timeout"):
        t2.add_column(c)
    per = D.sfc_ms_per_mb(m, x)
    for k, f in enumerate(s.sfcs):
        sel = req.sfc == k
        t2.add_row(
            f.name, str(int(sel.sum())), f"{vol[k]:.1f}", f"{per[k]:.1f}",
            f"{d[sel].mean():.1f}" if sel.any() else "–", f"{int((d[sel] > req.timeout[sel]).sum())}",
        )  # fmt: skip
    console.print(t2)
    note = ""
    if method == "optimum":
        note = ", proven optimal" if extra["proven"] else f", not proven: bound {extra['bound']:,.0f} ms"
    fits = "fits" if D.feasible(m, x) else "DOES NOT FIT the nodes"
    console.print(
        f"total delay {D.total_delay(m, x, vol):,.0f} ms ({fits}{note}); decided in {secs:.3f} s; "
        f"mean {np.mean(d) if len(d) else 0:.1f} ms per request"
    )


@app.command("eval")
@one_line
def evaluate_cmd(
    out: Annotated[Path, typer.Option(help="Folder for results.md, results.json and the figures.")] = Path(
        "docs/mfg"
    ),
    seeds: Annotated[int, typer.Option(help="Request sets on the paper's case (>= 20 for the docs).")] = 20,
    quick: Annotated[
        bool, typer.Option(help="5 request sets on mec-10, 2 per scaling point, MILP <= 5 s.")
    ] = False,
    model: Annotated[Path | None, typer.Option(help="Policy (default: the shipped one).")] = None,
    milp_time_limit: Annotated[float, typer.Option(help="Seconds per MILP solve.")] = 20.0,
    scales: Annotated[
        str, typer.Option(help="Scenarios of the decision-time plot.")
    ] = "paper,mec-10,mec-30,mec-100",
) -> None:
    """Every method on seeded request sets: Fig. 3, Fig. 4, decision time, gap to the optimum."""
    import torch

    from . import evaluate as E
    from . import scenario as S

    if seeds < 2:
        raise InputError("--seeds", str(seeds), "must be >= 2 (standard errors need two)")
    if milp_time_limit <= 0:
        raise InputError("--milp-time-limit", str(milp_time_limit), "must be > 0")
    names = tuple(x.strip() for x in scales.split(",") if x.strip())
    for n in names:
        if n not in S.BUNDLED:
            raise InputError("--scales", n, f"must be bundled names ({', '.join(S.BUNDLED)})")
    torch.set_num_threads(1)
    net, ck = _policy(model)
    res = E.evaluate(
        net, ck.get("history"), out, seeds=seeds, quick=quick, milp_limit=milp_time_limit, scales=names
    )
    t = res["gap"]["paper"]["table"]
    tab = Table(title=f"paper's case, {seeds} request sets: total E2E delay and gap to the optimum")
    for c in ("method", "total delay (ms)", "gap", "decision time (s)"):
        tab.add_column(c)
    for meth, r in t.items():
        gap = f"{100 * r['gap'][0]:.1f} % ± {100 * r['gap'][1]:.1f}" if r["gap"] else "–"
        tab.add_row(meth, E._pm(r["total_ms"]), gap, f"{r['seconds'][0]:.4f}")
    console.print(tab)
    console.print(f"wrote {out}/results.md, results.json and figures in {res['seconds']:.0f} s")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="mfg")
