"""The simpler predictors the LSTM is measured against, fitted on the same training windows.

- indications: share of the last k intervals with a paging-failure indication (k chosen on
  the training part); needs no learning beyond k.
- logistic regression and gradient-boosted trees (scikit-learn) on summary statistics of
  each window: last value, mean of the last 6, mean, max and standard deviation per feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol as TypingProtocol

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .metrics import pr_auc
from .windows import Windows

K_CHOICES = (1, 3, 6, 12, 30, 60)


class Predictor(TypingProtocol):
    name: str

    def fit(self, train: Windows, seed: int) -> Predictor: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...


def summary_features(x: np.ndarray) -> np.ndarray:
    """(m, window, F) -> (m, 5F): what a tabular model sees of a window."""
    recent = x[:, -6:, :].mean(axis=1)
    return np.concatenate([x[:, -1, :], recent, x.mean(axis=1), x.max(axis=1), x.std(axis=1)], axis=1)


@dataclass
class IndicationRule:
    """Alarm on paging-failure indications: score = share of the last k intervals with one."""

    column: int  # the paging_failures column in the window
    name: str = "indications"
    k: int = 6

    def score(self, x: np.ndarray, k: int) -> np.ndarray:
        k = min(k, x.shape[1])
        return (x[:, -k:, self.column] > 0).mean(axis=1)

    def fit(self, train: Windows, seed: int) -> IndicationRule:
        # The k that ranks the training windows best (seed unused: nothing random).
        best = max(K_CHOICES, key=lambda k: (pr_auc(train.y, self.score(train.x, k)), -k))
        self.k = min(best, train.x.shape[1])
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.score(x, self.k)


@dataclass
class Tabular:
    """A scikit-learn classifier on summary_features."""

    name: str
    model: object = None

    def fit(self, train: Windows, seed: int) -> Tabular:
        if self.name == "logistic":
            self.model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
        else:
            self.model = HistGradientBoostingClassifier(random_state=seed)
        self.model.fit(summary_features(train.x), train.y)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(summary_features(x))[:, 1]


def baselines(features: tuple[str, ...]) -> list[Predictor]:
    """Every baseline that applies to these features (the rule needs the indications)."""
    out: list[Predictor] = []
    if "paging_failures" in features:
        out.append(IndicationRule(features.index("paging_failures")))
    out += [Tabular("logistic"), Tabular("gbt")]
    return out
