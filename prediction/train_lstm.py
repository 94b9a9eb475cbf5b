"""Training the LSTM failure predictor, top to bottom (in the manner of CleanRL's single files).

Seeded and reproducible (one seed drives initialisation, dropout and batch order), a
checkpoint after every epoch that `resume` continues from bit-for-bit, TensorBoard logs
(loss per step; loss and training PR-AUC per epoch) and a progress bar. A finished
checkpoint of the same seed, protocol, network and data is reused as it is, or trained
further when more epochs are asked.
"""

from __future__ import annotations

import random
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from topologies import InputError

from .config import LstmConfig
from .lstm import FailureLSTM, SavedModel
from .metrics import pr_auc
from .windows import Split

CHECKPOINT = "checkpoint.pt"
MODEL = "model.pt"


def predict(net: FailureLSTM, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Failure probabilities of windows x (m, window, features), already scaled."""
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(torch.sigmoid(net(torch.from_numpy(x[i : i + batch]))).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def finished(out: Path, cfg: LstmConfig) -> bool:
    """Whether out/ holds a checkpoint that has run all of cfg's epochs (a resume reuses it)."""
    path = out / CHECKPOINT
    if not path.exists():
        return False
    try:
        return torch.load(path, map_location="cpu", weights_only=False)["epoch"] == cfg.epochs
    except Exception:  # an unreadable checkpoint is not a finished one; train() says why
        return False


def train(
    split: Split,
    cfg: LstmConfig,
    seed: int,
    out: Path,
    resume: bool = False,
    progress: bool = True,
    data_id: str = "",
) -> SavedModel:
    """Train on split.train; write out/checkpoint.pt every epoch, out/model.pt at the end, out/tb/."""
    # 1. Seeding: everything random below draws from these.
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    order_rng = torch.Generator().manual_seed(seed)  # batch order, kept in the checkpoint

    # 2. Data: the protocol's training windows (scaled with the training part's min-max).
    x = torch.from_numpy(split.train.x)
    y = torch.from_numpy(split.train.y.astype(np.float32))
    if len(y) == 0 or y.min() == y.max():
        raise InputError("training part", split.protocol.name, "needs windows of both classes to learn from")

    # 3. Network, loss, optimiser.
    net = FailureLSTM(x.shape[2], cfg.hidden, cfg.layers, cfg.dropout)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    loss_fn = nn.BCEWithLogitsLoss()

    # 4. Resume: weights, optimiser, RNG states and the epoch reached.
    out.mkdir(parents=True, exist_ok=True)
    start_epoch, step = 0, 0
    ckpt_path = out / CHECKPOINT
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        # The same run, possibly extended by more epochs; anything else is another run.
        same = {**ck["lstm"], "epochs": 0} == {**asdict(cfg), "epochs": 0}
        if (ck["seed"], ck["protocol"], ck["data"]) != (seed, repr(split.protocol), data_id) or not same:
            raise InputError(
                str(ckpt_path), "checkpoint", "was made with another seed, protocol, network or data"
            )
        if ck["epoch"] > cfg.epochs:
            raise InputError(
                str(ckpt_path), "checkpoint", f"is at epoch {ck['epoch']}, past the {cfg.epochs} asked"
            )
        net.load_state_dict(ck["net"])
        optimizer.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["torch_rng"])
        order_rng.set_state(ck["order_rng"])
        start_epoch, step = ck["epoch"], ck["step"]
    writer = SummaryWriter(str(out / "tb"))
    writer.add_text("config", f"protocol={split.protocol.name} seed={seed} {asdict(cfg)}")

    # 5. The loop: shuffled mini-batches, one checkpoint per epoch.
    n = len(y)
    for epoch in range(start_epoch, cfg.epochs):
        net.train()
        perm = torch.randperm(n, generator=order_rng)
        total = 0.0
        bar = tqdm(
            range(0, n, cfg.batch_size),
            desc=f"lstm {split.protocol.name} seed {seed} epoch {epoch + 1}/{cfg.epochs}",
            disable=not progress,
            leave=False,
        )
        for i in bar:
            idx = perm[i : i + cfg.batch_size]
            loss = loss_fn(net(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            step += 1
            if step % 50 == 0:
                writer.add_scalar("train/loss_step", loss.item(), step)
        train_ap = pr_auc(split.train.y, predict(net, split.train.x))
        writer.add_scalar("train/loss", total / n, epoch + 1)
        writer.add_scalar("train/pr_auc", train_ap, epoch + 1)
        torch.save(
            {
                "net": net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "order_rng": order_rng.get_state(),
                "epoch": epoch + 1,
                "step": step,
                "seed": seed,
                "lstm": asdict(cfg),
                "protocol": repr(split.protocol),
                "data": data_id,
            },
            ckpt_path,
        )
    writer.close()

    # 6. The model as `score` uses it.
    saved = SavedModel(
        split.protocol, cfg, split.scaler, {k: v.clone() for k, v in net.state_dict().items()}, seed
    )
    saved.save(out / MODEL)
    return saved
