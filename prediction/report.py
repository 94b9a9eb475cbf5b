"""Tables (rich and Markdown), the PR-curve plot and docs/prediction.md, from one evaluation."""

from __future__ import annotations

import json
import math
from pathlib import Path

from rich.table import Table

from .config import RunConfig
from .data import INJECTOR
from .evaluate import LSTM, ProtocolResult, Stat, curve, stat

COLUMNS = ("precision", "recall", "f1", "warned", "lead")


def fmt(s: Stat, digits: int = 3) -> str:
    if s.n == 0 or math.isnan(s.mean):
        return "–"
    return f"{s.mean:.{digits}f} ± {s.se:.{digits}f}"


def summary(res: ProtocolResult, cfg: RunConfig) -> dict:
    """{method: {"pr_auc": Stat, thr: {column: Stat}}} over the training seeds."""
    out: dict = {}
    for m in res.methods():
        runs = res.of(m)
        d: dict = {"pr_auc": stat([next(iter(r.by_threshold.values())).pr_auc for r in runs])}
        for thr in cfg.thresholds:
            d[thr] = {c: stat([getattr(r.by_threshold[thr], c) for r in runs]) for c in COLUMNS}
        out[m] = d
    return out


def title(res: ProtocolResult) -> str:
    p = res.protocol
    pos, n = res.positives()
    what = (
        f"record t+{p.horizon} failed" if p.target == "state" else f"a failure starts in t+1..t+{p.horizon}"
    )
    return f"{p.name}: window {p.window}, label = {what}; test {n} windows, {pos} positive"


def rich_table(res: ProtocolResult, cfg: RunConfig) -> Table:
    s = summary(res, cfg)
    t = Table(title=title(res), title_justify="left")
    for c in ("method", "thr", "precision", "recall", "F1", "PR-AUC", "warned", "lead (int.)"):
        t.add_column(c, justify="left" if c == "method" else "right")
    for m, d in s.items():
        for i, thr in enumerate(cfg.thresholds):
            row = d[thr]
            t.add_row(
                m if i == 0 else "",
                f"{thr:g}",
                *(fmt(row[c]) for c in ("precision", "recall", "f1")),
                fmt(d["pr_auc"]) if i == 0 else "",
                fmt(row["warned"], 2),
                fmt(row["lead"], 1),
            )
        t.add_section()
    return t


def markdown_table(res: ProtocolResult, cfg: RunConfig) -> str:
    s = summary(res, cfg)
    lines = [
        "| method | threshold | precision | recall | F1 | PR-AUC | warned | lead (intervals) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m, d in s.items():
        for thr in cfg.thresholds:
            row = d[thr]
            lines.append(
                f"| {m} | {thr:g} | {fmt(row['precision'])} | {fmt(row['recall'])} | {fmt(row['f1'])} | "
                f"{fmt(d['pr_auc'])} | {fmt(row['warned'], 2)} | {fmt(row['lead'], 1)} |"
            )
    return "\n".join(lines)


def verdicts(results: list[ProtocolResult], cfg: RunConfig) -> list[str]:
    """Plain statements of who ranks failures best, and where the LSTM loses."""
    out = []
    for res in results:
        s = summary(res, cfg)
        ranked = sorted(s, key=lambda m: -s[m]["pr_auc"].mean)
        best = ranked[0]
        line = f"**{res.protocol.name}**: best PR-AUC {best} ({fmt(s[best]['pr_auc'])})"
        if LSTM in s and best != LSTM:
            lstm, b = s[LSTM]["pr_auc"], s[best]["pr_auc"]
            clear = lstm.mean + 2 * lstm.se < b.mean - 2 * b.se
            line += f"; the LSTM ({fmt(lstm)}) {'loses to' if clear else 'does not beat'} {best}"
            beaten = [m for m in ranked if m != LSTM and s[m]["pr_auc"].mean > lstm.mean]
            if len(beaten) > 1:
                line += f" (and to {', '.join(m for m in beaten if m != best)})"
        elif LSTM in s and len(ranked) > 1:
            second = ranked[1]
            lead = s[LSTM]["pr_auc"].mean - s[second]["pr_auc"].mean
            line += f"; next {second} ({fmt(s[second]['pr_auc'])}), {lead:.3f} behind"
        f1 = {m: max(s[m][t]["f1"].mean for t in cfg.thresholds) for m in s}
        f1 = {m: v for m, v in f1.items() if not math.isnan(v)}
        if f1:
            top = max(f1, key=f1.get)
            line += f". Best F1 at these thresholds: {top} ({f1[top]:.3f}"
            line += f"; the LSTM's best {f1[LSTM]:.3f})." if LSTM in f1 and top != LSTM else ")."
        out.append(line)
    return out


def plot_pr(results: list[ProtocolResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 4.2), squeeze=False)
    for ax, res in zip(axes[0], results, strict=True):
        for m in res.methods():
            recall, precision = curve(res, m)
            ap = res.of(m)[0].by_threshold
            ax.step(recall, precision, where="post", label=f"{m} (AP {next(iter(ap.values())).pr_auc:.2f})")
        pos, n = res.positives()
        ax.axhline(pos / n, color="grey", ls=":", lw=1, label=f"chance ({pos / n:.2f})")
        ax.set_title(res.protocol.name, fontsize=10)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("Precision-recall on the test part (first training seed)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def results_json(results: list[ProtocolResult], cfg: RunConfig) -> dict:
    out: dict = {"config": cfg.as_dict(), "protocols": {}}
    for res in results:
        pos, n = res.positives()
        runs = [
            {
                "method": r.method,
                "seed": r.seed,
                "fit_s": round(r.fit_s, 2),
                "by_threshold": {str(t): vars(s) for t, s in r.by_threshold.items()},
            }
            for r in res.runs
        ]
        out["protocols"][res.protocol.name] = {"test_windows": n, "test_positive": pos, "runs": runs}
    return out


PROSE_HEAD = """# Failure prediction (`prediction/`, `srem predict`)

Predicts that a server is about to fail from its monitoring data, as the proactive
live-migration paper (Jeong et al., CNSM 2021; `../shared/seeds/001_4a1e4ed725ccc2de.txt`)
does with an LSTM, on the authors' public data set (11,696 records of about 5 s from an
srsEPC vEPC under injected failures; 2,898 failed records, 98 failures). This page is
written by `{command}` ({elapsed}); do not edit it by hand.

## The two protocols

**The authors'** (their `train_test_split.py`): the features are columns 0, 2, 3, 4, 5:
the injector's period length (column 0), CPU, memory and swap use and the count of paging
failure indications (T3413 expiries). Records are split in time order, the first 80 %
for training and the last 20 % for testing; a window holds the 60 records before T and
is labelled with record T's failure state. The min-max scaling is fitted on the training
part and fitted again on the test part. They trained 2 LSTM layers of 32 units (dropout
0.2) and a linear output on the squared error, 10 epochs, batches of 32. We keep all
of that except the output: a sigmoid trained on cross-entropy, so that the score is a
probability and the thresholds 0.5 / 0.7 / 0.9 mean what they say.

What is wrong with it for a migration decision: (1) column 0 is written by the failure
injector, not by a monitor; it takes a new value when the injector starts a stress
period, and a failure follows (in this file, 153 of its 201 changes are followed by a
failure start within 100 intervals; most failures start 4 to 50 intervals after one), so
it announces the failure; (2) the label is the
state of the next record, so most positives are windows that end inside a failure that
is already going on: a model scores well by saying "still failed", which comes too late
to migrate anything; (3) scaling the test part with its own minimum and maximum uses
the test data.

**Honest**: the features are what a monitor sees (no column 0); a window ending at
record t is labelled 1 when a failure starts in t+1 .. t+H (H = 12 intervals, about one
minute, time to migrate); windows that end inside a failure are left out (the server is
down already; that is the reactive path's job). The split is the same 80/20 in time;
windows and their label horizons are cut inside each part, so none straddles the split,
and the scaling is the training part's. **honest-psutil** is the same without the
paging-failure count, i.e. with only what psutil gives (CPU, memory, swap).

## Methods

- `lstm`: the network above, 3 training seeds (initialisation, dropout, batch order).
- `indications`: the share of the last k intervals with at least one paging-failure
  indication (k from 1, 3, 6, 12, 30, 60, chosen by PR-AUC on the training part).
- `logistic`, `gbt`: scikit-learn's logistic regression and histogram gradient-boosted
  trees on per-window summaries (last value, mean of the last 6, mean, max, standard
  deviation of each feature). Both are deterministic on this data: their spread is 0.

## Measures

Per test window: precision, recall and F1 of the alarms (score ≥ threshold) against the
window labels, and PR-AUC (average precision; it does not depend on the threshold).
Per test failure: **warned** is the share of failures with an alarm in the
{lead_window} intervals before they start (not reaching back past the previous failure's
end), **lead** the mean number of intervals from the first such alarm to the failure's
start, over the warned failures. Every figure is the mean ± standard error over the
training seeds. A method that alarms all the time warns every failure with a long lead,
so read warned and lead with precision.
"""

PROSE_API = """## Using a trained model: the failure-risk hook

```python
from prediction import FailurePredictor, score
p = FailurePredictor.load()                   # prediction/models/honest.pt, or a path
p.features                                    # ('cpu_percent', 'memory_percent', 'swap_percent', 'paging_failures')
p.window                                      # 60 records, oldest first
risk = p.score(rows)                          # rows: (>= 60, 4) array or a list of {feature: value}
risk = score(rows)                            # the same with the shipped model
```

`score` returns the probability that a failure starts within the model's horizon (12
intervals of 5 s for the shipped models) after the last row. Feature names and where
srem's host monitor gets them:

| feature | data set column | from psutil |
| --- | --- | --- |
| `cpu_percent` | 2, CPU use % | `psutil.cpu_percent()` |
| `memory_percent` | 3, memory use % | `psutil.virtual_memory().percent` |
| `swap_percent` | 4, swap use % | `psutil.swap_memory().percent` |
| `paging_failures` | 5, T3413 paging-failure indications per interval | no: an LTE core's log count, not memory paging; psutil's page faults (or swap in/out) measure something else and must not be fed here |

`prediction.host_sample()` reads the three psutil features (add `paging_failures=n`
when an NF log counts them). Where
no NF log gives paging failures, use `prediction/models/honest-psutil.pt`, trained
without them. The models were trained at 5 s intervals; sample at that period.
"""


def document(results: list[ProtocolResult], cfg: RunConfig, command: str, elapsed: str, plot: str) -> str:
    parts = [PROSE_HEAD.format(command=command, elapsed=elapsed, lead_window=cfg.lead_window)]
    parts.append("## Results\n")
    parts.append("\n".join(f"- {v}" for v in verdicts(results, cfg)))
    parts.append(contrast(results, cfg))
    parts.append(f"![PR curves]({plot})\n")
    for res in results:
        feats = ", ".join(res.protocol.features)
        parts.append(f"### {title(res)}\n\nFeatures: {feats}.\n\n{markdown_table(res, cfg)}\n")
    parts.append(PROSE_API)
    return "\n\n".join(parts).rstrip() + "\n"


def contrast(results: list[ProtocolResult], cfg: RunConfig) -> str:
    """How the authors' figures compare with the honest ones, in numbers."""
    by = {r.protocol.name: summary(r, cfg) for r in results}
    authors = next((r for r in results if INJECTOR in r.protocol.features), None)
    honest = next((r for r in results if r.protocol.target == "onset"), None)
    if authors is None or honest is None:
        return ""
    a, h = by[authors.protocol.name], by[honest.protocol.name]
    rows = []
    for m in a:
        if m in h:
            rows.append(f"{m} {a[m]['pr_auc'].mean:.3f} → {h[m]['pr_auc'].mean:.3f}")
    thr = cfg.thresholds[0]
    wa = a.get(LSTM, {}).get(thr, {}).get("warned")
    wh = h.get(LSTM, {}).get(thr, {}).get("warned")
    text = (
        f"\nPR-AUC, {authors.protocol.name} → {honest.protocol.name}: " + "; ".join(rows) + ". "
        "The two are not the same question (the authors' positives are mostly windows inside a "
        "failure), so the drop measures how much of the authors' figure is the nowcast and the injector column."
    )
    if wa and wh:
        text += (
            f" Failures warned ahead by the LSTM at {thr:g}: {wa.mean:.2f} ({authors.protocol.name}) and "
            f"{wh.mean:.2f} ({honest.protocol.name})."
        )
    return text


def write(
    results: list[ProtocolResult], cfg: RunConfig, out: Path, doc: Path, command: str, elapsed: str
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    plot_pr(results, out / "pr_curves.png")
    (out / "results.json").write_text(json.dumps(results_json(results, cfg), indent=1, default=float) + "\n")
    for res in results:
        (out / f"{res.protocol.name}.md").write_text(f"# {title(res)}\n\n{markdown_table(res, cfg)}\n")
    try:
        plot = str((out / "pr_curves.png").resolve().relative_to(doc.resolve().parent))
    except ValueError:
        plot = str((out / "pr_curves.png").resolve())
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(document(results, cfg, command, elapsed, plot))
