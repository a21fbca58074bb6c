"""Tables and a plot from results: one row per suite × category × model.

Metrics, each over a group of cases:
- accuracy: cases passed;
- tool selection: cases without a selection error (right functions, right number of calls,
  no call when none was wanted), whatever the arguments;
- validity: calls that parse and validate against the offered schema, out of every call
  attempted (a call cut off mid-way counts as attempted); empty when no call was attempted;
- leakage: cases whose content holds tool-call-looking text;
- latency p50/p95 per case, and tokens/s: completion tokens per second of wall time, prompt
  processing included (a ChatResult carries no finer timing).
"""

from __future__ import annotations

import csv
import math
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from .cases import CaseResult

ALL = "all"  # the category of the per-suite totals


@dataclass(frozen=True)
class Row:
    suite: str
    category: str
    model: str
    cases: int
    accuracy: float
    tool_selection: float
    validity: float | None
    leakage: float
    latency_p50_s: float
    latency_p95_s: float
    tokens_per_s: float | None


def summarize(records: list[CaseResult]) -> list[Row]:
    groups: dict[tuple[str, str, str], list[CaseResult]] = defaultdict(list)
    for r in records:
        groups[(r.suite, r.category, r.label)].append(r)
        groups[(r.suite, ALL, r.label)].append(r)
    return [_row(key, group) for key, group in
            sorted(groups.items(), key=lambda kv: (_place_key(kv[0][:2]), kv[0][2]))]


def _place_key(place: tuple[str, str]) -> tuple:
    suite, category = place
    return (suite, category == ALL, category)  # each suite's total after its categories


def _places(rows: list[Row]) -> list[tuple[str, str]]:
    return sorted({(r.suite, r.category) for r in rows}, key=_place_key)


def _row(key: tuple[str, str, str], group: list[CaseResult]) -> Row:
    n = len(group)
    attempts = sum(r.call_attempts for r in group)
    latency = sum(r.latency_s for r in group)
    tokens = sum(r.completion_tokens for r in group)
    p50, p95 = np.percentile([r.latency_s for r in group], [50, 95])
    return Row(*key, cases=n,
               accuracy=sum(r.passed for r in group) / n,
               tool_selection=sum(r.error_kind != "selection" for r in group) / n,
               validity=sum(r.valid_calls for r in group) / attempts if attempts else None,
               leakage=sum(r.leaked for r in group) / n,
               latency_p50_s=float(p50), latency_p95_s=float(p95),
               tokens_per_s=tokens / latency if tokens and latency > 0 else None)


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows)]


def accuracy_table(rows: list[Row]) -> str:
    """Markdown: accuracy with categories down and models across."""
    models = sorted({r.model for r in rows})
    accuracy = {(r.suite, r.category, r.model): r.accuracy for r in rows}
    return "\n".join(_table(["suite", "category", *models],
                            [[s, c, *(accuracy.get((s, c, m)) for m in models)] for s, c in _places(rows)]))


def markdown(rows: list[Row], records: list[CaseResult]) -> str:
    models = sorted({r.model for r in rows})
    lines = ["# Tool-calling accuracy", "", "## Accuracy per category", "", accuracy_table(rows)]
    columns = [f.name for f in fields(Row)]
    lines += ["", "## All metrics", ""] + _table(columns, [list(asdict(r).values()) for r in rows])
    info = {r.label: r.model_info for r in records}
    lines += ["", "## Models", ""] + _table(["model", "about"], [[m, info[m] or "–"] for m in models])
    errors: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        if not r.passed:
            errors[r.label][r.error_type] += 1
    lines += ["", "## Errors", ""] + _table(["model", "error type", "cases"],
                                           [[m, e, n] for m in models for e, n in errors[m].most_common()])
    return "\n".join(lines) + "\n"


def write_csv(rows: list[Row], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([f.name for f in fields(Row)])
        writer.writerows(["" if v is None else v for v in asdict(r).values()] for r in rows)


def plot(rows: list[Row], path: Path) -> None:
    """Grouped bars: accuracy per category, one bar per model."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on servers and CI
    import matplotlib.pyplot as plt

    models = sorted({r.model for r in rows})
    places = _places(rows)
    accuracy = {(r.suite, r.category, r.model): r.accuracy for r in rows}
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(places) * max(1, len(models)) ** 0.5 + 2), 4.5))
    for i, model in enumerate(models):
        xs = [p + (i - (len(models) - 1) / 2) * width for p in range(len(places))]
        # NaN leaves a gap where a model did not run a category; 0 is a real score.
        values = [accuracy.get((s, c, model), math.nan) for s, c in places]
        bars = ax.bar(xs, values, width, label=model)
        ax.bar_label(bars, labels=["" if math.isnan(v) else f"{v:.2f}" for v in values], fontsize=7)
    ax.set_xticks(range(len(places)), [f"{s}/{c}" for s, c in places], rotation=35, ha="right")
    ax.set_ylim(0, 1.08)  # room for the labels above a perfect score
    ax.set_ylabel("accuracy")
    ax.set_title("Tool-calling accuracy per category")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: bars stay readable
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    csv: Path
    plot: Path


def write_report(records: list[CaseResult], out_dir: Path) -> ReportFiles:
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = summarize(records)
    files = ReportFiles(out_dir / "summary.md", out_dir / "summary.csv", out_dir / "accuracy.png")
    files.markdown.write_text(markdown(rows, records), encoding="utf-8")
    write_csv(rows, files.csv)
    plot(rows, files.plot)
    return files
