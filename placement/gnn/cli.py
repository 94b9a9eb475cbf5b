"""`srem gnn train | finetune | check`: the GNN placement policy's commands."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from topologies import InputError
from topologies.errors import one_line

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "gnn.pt"
console = Console(soft_wrap=True)
LIMITS = {"hidden": 1024, "layers": 32, "heads": 32}  # policy size options: beyond these, a typo


@one_line
def train_cmd(
    out: Annotated[Path, typer.Option(help="Folder for last.pt, policy.pt and TensorBoard logs.")] = Path(
        "runs/gnn"
    ),
    iterations: Annotated[int, typer.Option(help="DAgger iterations.")] = 20,
    days: Annotated[
        int, typer.Option(help="Training days rolled out (and labelled by mpc) per iteration.")
    ] = 8,
    epochs: Annotated[int, typer.Option(help="Passes over the collected states after each iteration.")] = 3,
    scenarios: Annotated[
        int, typer.Option(help="Training scenarios (paper ranges, k=2/k=4 trees, TEA, 3 loads).")
    ] = 32,
    seed: Annotated[int, typer.Option()] = 0,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last.pt.")] = False,
    teacher: Annotated[
        str,
        typer.Option(
            help="mpc, mpc-forecast, or mpc-oracle (privileged: sees the training day's future rates)."
        ),
    ] = "mpc",
    max_updates: Annotated[int, typer.Option(help="Gradient steps per iteration at most.")] = 600,
    kinds: Annotated[
        str, typer.Option(help="Substrate kinds, comma-separated: paper, fattree-kK, tea (TEA's EM).")
    ] = "fattree-k2,paper,fattree-k4,tea",
    workers: Annotated[
        int,
        typer.Option(
            help="Roll each iteration's days out on a local Ray with this many workers (1: serial)."
        ),
    ] = 1,
    ray_address: Annotated[
        str | None,
        typer.Option(help="Roll the days out on the Ray cluster at this address (ray://host:10001)."),
    ] = None,
    value_loss: Annotated[
        str,
        typer.Option(
            help="none (cross-entropy on the teacher's host), regret (+ weight x expected regret under "
            "the policy, from the teacher's value of every single-instance move), or soft "
            "(cross-entropy against softmax(-regret / tau))."
        ),
    ] = "none",
    value_weight: Annotated[
        float, typer.Option(help="Weight of the regret term (--value-loss regret).")
    ] = 10.0,
    value_tau: Annotated[
        float, typer.Option(help="Temperature of the soft target, in reward per step (--value-loss soft).")
    ] = 0.02,
    batch: Annotated[int, typer.Option(help="States per gradient step.")] = 1,
    hidden: Annotated[
        int | None,
        typer.Option(help="Policy size: width of every layer (default 64; with --resume, the checkpoint's)."),
    ] = None,
    layers: Annotated[
        int | None,
        typer.Option(help="Policy size: GATv2 layers (default 3; with --resume, the checkpoint's)."),
    ] = None,
    heads: Annotated[
        int | None,
        typer.Option(
            help="Policy size: attention heads per GATv2 layer, averaged (default 2; with --resume, the checkpoint's)."
        ),
    ] = None,
) -> None:
    """Imitate mpc, DAgger-style, on a distribution of training scenarios (seeds >= 1000).
    A Ray run collects the same states and labels as a serial one for the same seed."""
    from placement.gnn.policy import GnnConfig
    from placement.gnn.train import TrainConfig, train

    for name, v in (("--iterations", iterations), ("--days", days), ("--epochs", epochs),
                    ("--scenarios", scenarios)):  # fmt: skip
        if v < 1:
            raise InputError(name, str(v), "must be at least 1")
    if teacher not in ("mpc", "mpc-forecast", "mpc-oracle"):
        raise InputError("--teacher", teacher, "must be mpc, mpc-forecast or mpc-oracle")
    if max_updates < 1:
        raise InputError("--max-updates", str(max_updates), "must be at least 1")
    kind_list = tuple(k.strip() for k in kinds.split(",") if k.strip())
    for k in kind_list:
        if not (k in ("paper", "tea") or (k.startswith("fattree-k") and k[len("fattree-k") :].isdigit())):
            raise InputError("--kinds", k, "must be paper, tea or fattree-kK")
    if not kind_list:
        raise InputError("--kinds", kinds, "names no substrate kind")
    if workers < 1:
        raise InputError("--workers", str(workers), "must be at least 1")
    if value_loss not in ("none", "regret", "soft"):
        raise InputError("--value-loss", value_loss, "must be none, regret or soft")
    if not value_weight >= 0:
        raise InputError("--value-weight", str(value_weight), "must be at least 0")
    if not value_tau > 0:
        raise InputError("--value-tau", str(value_tau), "must be above 0")
    if batch < 1:
        raise InputError("--batch", str(batch), "must be at least 1")
    size = {"hidden": hidden, "layers": layers, "heads": heads}
    for name, v in size.items():
        if v is not None and not 1 <= v <= LIMITS[name]:
            raise InputError(f"--{name}", str(v), f"must be 1 to {LIMITS[name]}")
    if resume and not (out / "last.pt").exists():
        raise InputError(str(out / "last.pt"), "checkpoint", "nothing to resume")
    asked = {k: v for k, v in size.items() if v is not None}
    if resume:  # a checkpoint's weights fix its size: a different one asked is refused, not ignored
        import torch

        have = torch.load(out / "last.pt", weights_only=False)["net"]
        for k, v in asked.items():
            if have.get(k) != v:
                raise InputError(f"--{k}", str(v), f"the checkpoint's policy has {k} = {have.get(k)}")
    t0 = time.perf_counter()
    cfg = TrainConfig(
        iterations=iterations,
        days_per_iteration=days,
        epochs=epochs,
        scenarios=scenarios,
        seed=seed,
        teacher=teacher,
        max_updates=max_updates,
        kinds=kind_list,
        value_loss=value_loss,
        value_weight=value_weight,
        value_tau=value_tau,
        batch=batch,
    )
    # Unset sizes are GnnConfig's defaults: a default run builds and draws exactly as before.
    net = GnnConfig(**asked)
    train(cfg, out, resume=resume, net=net, workers=workers, address=ray_address)
    console.print(f"wrote {out / 'policy.pt'} (for --agent gnn --model) in {time.perf_counter() - t0:.0f} s")


@one_line
def check_cmd(model: Annotated[Path, typer.Argument(help="A gnn policy file.")] = DEFAULT_MODEL) -> None:
    """Read a policy file and say what it holds (one-line error if it is not a valid one)."""
    from placement.gnn.policy import load

    p = load(model)
    n = sum(t.numel() for t in p.parameters())
    console.print(
        f"{model}: gnn policy, {p.cfg.layers} GATv2 layers of {p.cfg.hidden} "
        f"({p.cfg.heads} heads), {n:,} weights"
    )


@one_line
def finetune_cmd(
    model: Annotated[Path, typer.Option(help="The imitated policy to start from.")] = DEFAULT_MODEL,
    out: Annotated[Path, typer.Option(help="Folder for policy.pt (best on validation) and logs.")] = Path(
        "runs/gnn-finetune"
    ),
    days: Annotated[int, typer.Option(help="Training days played (each twice: sampled and argmax).")] = 600,
    lr: Annotated[float, typer.Option()] = 1e-4,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Self-critical REINFORCE on the training scenarios' days, from an imitated policy."""
    from placement.gnn.finetune import FinetuneConfig, finetune
    from placement.gnn.policy import load

    if days < 1:
        raise InputError("--days", str(days), "must be at least 1")
    policy = load(model)
    finetune(policy, FinetuneConfig(days=days, lr=lr, seed=seed), out)
    console.print(f"wrote {out / 'policy.pt'} (the best on validation days)")


@one_line
def forecast_cmd(
    out: Annotated[Path, typer.Option(help="The forecast file (YAML).")] = Path(
        "placement/mpc/models/forecast.yaml"
    ),
    scenarios: Annotated[int, typer.Option(help="Training scenarios (as `gnn train`).")] = 48,
    days: Annotated[int, typer.Option(help="Train days of each scenario.")] = 20,
) -> None:
    """Fit mpc-forecast's rate forecast on training scenarios' train days (seeds >= 1000)."""
    from placement.gnn.train import TrainConfig, training_scenarios
    from placement.model.workload import build_problem
    from placement.mpc.forecast import fit, save

    for name, v in (("--scenarios", scenarios), ("--days", days)):
        if v < 1:
            raise InputError(name, str(v), "must be at least 1")
    problems = [build_problem(s) for s in training_scenarios(TrainConfig(scenarios=scenarios))]
    fc = fit(problems, days)
    save(fc, out)
    console.print(f"wrote {out}: {len(fc.steps)} hour pairs from {len(problems)} scenarios × {days} days")


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="The GNN placement policy (imitation of mpc).", no_args_is_help=True)
    sub.command("train")(train_cmd)
    sub.command("finetune")(finetune_cmd)
    sub.command("check")(check_cmd)
    sub.command("forecast")(forecast_cmd)
    app.add_typer(sub, name="gnn")
