"""Tables (rich and Markdown), the PR-curve plot and docs/prediction.md, from one evaluation."""

from __future__ import annotations

import json
import math
from pathlib import Path

from rich.table import Table

from .config import RunConfig
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


def pr_table(res: ProtocolResult) -> str:
    """PR-AUC with both spreads: over training seeds, and over the test failures (bootstrap)."""
    s = {m: stat([next(iter(r.by_threshold.values())).pr_auc for r in res.of(m)]) for m in res.methods()}
    b = res.boot
    lines = [
        "| method | PR-AUC ± SE (seeds) | SE over test failures | LSTM better in |",
        "| --- | ---: | ---: | ---: |",
    ]
    for m, st in s.items():
        se = f"{b.se[m]:.3f}" if b else "–"
        better = f"{b.lstm_better[m]:.0%} of resamples" if b and m in b.lstm_better else ""
        lines.append(f"| {m} | {fmt(st)} | {se} | {better} |")
    return "\n".join(lines)


def _versus(p: float) -> str:
    if p >= 0.95:
        return "beats"
    if p <= 0.05:
        return "loses to"
    return "does not clearly differ from"


def verdicts(results: list[ProtocolResult], cfg: RunConfig) -> list[str]:
    """Plain statements of who ranks failures best, and where the LSTM loses."""
    out = []
    for res in results:
        s = summary(res, cfg)
        ranked = sorted(s, key=lambda m: -s[m]["pr_auc"].mean)
        best = ranked[0]
        line = f"**{res.protocol.name}**: best PR-AUC {best} ({fmt(s[best]['pr_auc'])})"
        if LSTM in s and res.boot:
            parts = [
                f"{_versus(p)} {m} ({p:.0%})"
                for m, p in sorted(res.boot.lstm_better.items(), key=lambda kv: kv[1])
            ]
            line += (
                "; on PR-AUC the LSTM "
                + ", ".join(parts)
                + f" (share of {res.boot.resamples} resamples of the test failures where it ranks better)"
            )
        f1 = {m: max(s[m][t]["f1"].mean for t in cfg.thresholds) for m in s}
        f1 = {m: v for m, v in f1.items() if not math.isnan(v)}
        if f1:
            top = max(f1, key=f1.get)
            line += (
                f". Best F1 at thresholds {', '.join(f'{t:g}' for t in cfg.thresholds)}: {top} ({f1[top]:.3f}"
            )
            line += f"; the LSTM's best {f1[LSTM]:.3f})." if LSTM in f1 and top != LSTM else ")."
        silent = [t for t in cfg.thresholds if LSTM in s and s[LSTM][t]["recall"].mean == 0.0]
        if silent:
            pos, n = res.positives()
            line += (
                f" At {', '.join(f'{t:g}' for t in silent)} the LSTM raises no correct alarm: its probabilities "
                f"stay below (positives are {pos / n:.0%} of the windows)."
            )
        if res.protocol.target == "state":
            line += (
                f" {res.nowcast_share():.0%} of its positive test windows end inside a failure already "
                "going on."
            )
        out.append(line)
    return out


def plot_pr(results: list[ProtocolResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {LSTM: "tab:blue", "indications": "tab:orange", "logistic": "tab:green", "gbt": "tab:red"}
    fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 4.2), squeeze=False)
    for ax, res in zip(axes[0], results, strict=True):
        for m in res.methods():
            recall, precision = curve(res, m)
            ap = next(iter(res.of(m)[0].by_threshold.values())).pr_auc
            ax.step(recall, precision, where="post", color=colours.get(m), label=f"{m} (AP {ap:.2f})")
        pos, n = res.positives()
        ax.axhline(pos / n, color="grey", ls=":", lw=1, label=f"chance ({pos / n:.2f})")
        ax.set_title(res.protocol.name, fontsize=10)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7, loc="best")
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
        boot = vars(res.boot) if res.boot else None
        out["protocols"][res.protocol.name] = {
            "test_windows": n,
            "test_positive": pos,
            "nowcast_share": res.nowcast_share(),
            "bootstrap": boot,
            "runs": runs,
        }
    return out


PROSE_HEAD = """# Failure prediction (`prediction/`, `srem predict`)

Predicts that a server is about to fail from its monitoring data, as the proactive
live-migration paper (Jeong et al., CNSM 2021; `../shared/seeds/001_4a1e4ed725ccc2de.txt`)
does with an LSTM, on the authors' public data set (11,696 records of about 5 s from an
srsEPC vEPC under injected failures; 2,898 failed records, 98 failures). This page is
written by `{command}` ({elapsed}); do not edit it by hand.

## The protocols

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
**onset+injector** is the honest label with the authors' features (column 0 in): it
separates what the label change does from what dropping the column does.

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
so read warned and lead with precision. The test part holds few failures (about 25), so
PR-AUC also gets a spread over them: the test windows are cut into blocks (a failure and
the quiet records before it), resampled with replacement {bootstrap} times, and each
method's PR-AUC (mean over seeds) recomputed on every resample; "LSTM better in" is the
share of resamples where the LSTM's is higher (a paired comparison). That spread over
the test failures is several times the spread over training seeds: the test part is one
stretch of about 3 hours, and its figures would move with another.
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

## Acting on the prediction: failure policies (issue 19, parts 2-4)

`prediction/policy.py` holds the policies as pure functions over the SR-EM model: **none**;
**reactive** (a server is avoided once its failure has been seen: `detect_intervals` down);
**proactive-T** (as reactive, and a server whose predicted score is >= T is avoided before it
fails); **oracle** (knows the failure schedule). When a server is avoided, `evacuate` moves
its VNFs, busiest first, each to the destination with the best expected step reward
(the step model's reward under the step's traffic, weighted by the destination's predicted
probability of failing); a server predicted to fail (or failed) is never a destination.

- `srem predict simulate` (`prediction/simulate.py`, [simulate.md](prediction/simulate.md)):
  the SR-EM paper scenario under server failures drawn from the data set's statistics, each
  policy with the greedy and mpc agents, over test days; the proactive policies read the
  shipped LSTM's scores of monitoring rows replayed from the data set's held-out test part.
  [slow-moves/simulate.md](prediction/slow-moves/simulate.md): the same with a failure seen
  after 30 s and a move taking 2 min (`--config prediction/data/simulate-slow-moves.yaml`).
- `srem inject` (`emulation/inject.py`): CPU and memory stress, a killed NF process, a link
  down or a host cut off (`drop`) on a fabric host's namespace, played from a schedule (YAML,
  or drawn from the data set's statistics by `srem inject draw`), every fault undone at its end
  and on exit.
- `srem predict replay` (`emulation/failures.py`, [replay.md](prediction/replay.md)): the
  policies on the emulated fabric, a failed server's NF process killed while it is down, the
  policy's moves applied make-before-break under traffic; delivered throughput per chain over
  time per policy, packets lost, moves made and wasted.
- The orchestration loop's hooks (`prediction/hook.py`): `srem orch run --risk
  prediction.hook:psutil` (CPU, memory, swap) or `prediction.hook:full` (with the NF's errors
  as paging failures), and `--planner prediction.hook:plan`, which moves a failing instance's
  flows to the instance whose own window is predicted safest. Set the loop's `period_s` to 5
  (the models' sampling period).
"""


def document(results: list[ProtocolResult], cfg: RunConfig, command: str, elapsed: str, plot: str) -> str:
    parts = [
        PROSE_HEAD.format(
            command=command, elapsed=elapsed, lead_window=cfg.lead_window, bootstrap=cfg.bootstrap
        )
    ]
    parts.append("## Results\n")
    parts.append("\n".join(f"- {v}" for v in verdicts(results, cfg)))
    parts.append(contrast(results, cfg))
    parts.append(f"![PR curves]({plot})\n")
    for res in results:
        feats = ", ".join(res.protocol.features)
        parts.append(
            f"### {title(res)}\n\nFeatures: {feats}.\n\n{pr_table(res)}\n\n{markdown_table(res, cfg)}\n"
        )
    parts.append(PROSE_API)
    return "\n\n".join(p.strip("\n") for p in parts if p.strip()) + "\n"


def contrast(results: list[ProtocolResult], cfg: RunConfig) -> str:
    """How the authors' figures compare with the honest ones, in numbers, one change at a time."""
    by = {r.protocol.name: summary(r, cfg) for r in results}
    steps = [n for n in ("authors", "onset+injector", "honest") if n in by]
    if len(steps) < 2 or "authors" not in by:
        return ""
    lines = [
        "How the figures move from the authors' protocol to the honest one"
        + (" (first the label, then the injector column)" if len(steps) == 3 else "")
        + ", PR-AUC and the share of failures warned ahead at 0.5, mean over seeds:",
        "",
        "| method | "
        + " | ".join(f"{n}: PR-AUC" for n in steps)
        + " | "
        + " | ".join(f"{n}: warned" for n in steps)
        + " |",
        "| --- |" + " ---: |" * (2 * len(steps)),
    ]
    thr = cfg.thresholds[0]
    for m in by["authors"]:
        if all(m in by[n] for n in steps):
            pr = " | ".join(f"{by[n][m]['pr_auc'].mean:.3f}" for n in steps)
            warned = " | ".join(f"{by[n][m][thr]['warned'].mean:.2f}" for n in steps)
            lines.append(f"| {m} | {pr} | {warned} |")
    lines += [
        "",
        "PR-AUC is not comparable across the label change (the question and the share of positives "
        "differ); it is within one label. The warned share is comparable throughout: it counts "
        "failures with an alarm before they start, whatever the label.",
    ]
    return "\n".join(lines)


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
