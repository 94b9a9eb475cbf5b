"""The LSTM failure predictor's network and its saved form (what `score` loads)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from topologies import InputError

from .config import LstmConfig, Protocol
from .windows import Scaler

FORMAT = "srem-prediction-lstm/1"


class FailureLSTM(nn.Module):
    """Stacked LSTM over a window, the last step's state to one logit (the authors' layout,
    with a sigmoid output trained on cross-entropy so the score is a probability)."""

    def __init__(self, n_features: int, hidden: int = 32, layers: int = 2, dropout: float = 0.2) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            n_features, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(self.drop(out[:, -1, :])).squeeze(-1)


@dataclass(frozen=True)
class SavedModel:
    """Everything needed to score raw monitoring windows: weights, features, scaling, protocol."""

    protocol: Protocol
    lstm: LstmConfig
    scaler: Scaler
    state: dict
    seed: int

    def network(self) -> FailureLSTM:
        net = FailureLSTM(len(self.protocol.features), self.lstm.hidden, self.lstm.layers, self.lstm.dropout)
        net.load_state_dict(self.state)
        return net.eval()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "format": FORMAT,
                "protocol": {**asdict(self.protocol), "features": list(self.protocol.features)},
                "lstm": asdict(self.lstm),
                "scaler": {"lo": self.scaler.lo.tolist(), "hi": self.scaler.hi.tolist()},
                "state": self.state,
                "seed": self.seed,
            },
            path,
        )

    @classmethod
    def load(cls, path: Path) -> SavedModel:
        try:
            d = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(d, dict) or d.get("format") != FORMAT:
                raise ValueError(f"not a {FORMAT} file")
            p = dict(d["protocol"])
            p["features"] = tuple(p["features"])
            scaler = Scaler(
                np.asarray(d["scaler"]["lo"], np.float32), np.asarray(d["scaler"]["hi"], np.float32)
            )
            return cls(Protocol(**p), LstmConfig(**d["lstm"]), scaler, d["state"], int(d["seed"]))
        except FileNotFoundError:
            raise InputError("--model", str(path), "no such file") from None
        except (RuntimeError, KeyError, EOFError, ValueError, TypeError, OSError) as e:
            raise InputError(str(path), "model", f"cannot be read ({str(e).splitlines()[0]})") from None
