"""The latest `localcall bench` reports in a folder (`localcall serve --bench-dir DIR`).

A report is a folder holding tables (.csv), plots (.png) and notes (.md), as `localcall bench
accuracy --out DIR` writes them: DIR itself, or any folder below it (a few levels down),
newest first by the time its files were last written. Raw per-case results (.jsonl) are
not shown.
"""

from __future__ import annotations

import csv
from pathlib import Path

SHOWN = {".csv", ".png", ".md"}
MAX_DEPTH = 3
MAX_REPORTS = 10
MAX_TABLE_ROWS = 500
MAX_NOTE_CHARS = 200_000


def reports(root: Path) -> list[dict]:
    """[{"folder", "modified", "tables": [{"name", "columns", "rows"}], "images": [path],
    "notes": [{"name", "text"}]}], newest first; paths are relative to root."""
    if not root.is_dir():
        return []
    found = []
    for folder in _folders(root, MAX_DEPTH):
        files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix in SHOWN)
        if files:
            found.append(_report(root, folder, files))
    found.sort(key=lambda r: r["modified"], reverse=True)
    return found[:MAX_REPORTS]


def image_path(root: Path, relative: str) -> Path | None:
    """The plot `relative` names inside root; None for anything else (other files, ../)."""
    base = root.resolve()
    path = (base / relative).resolve()
    if path.suffix != ".png" or not path.is_relative_to(base) or not path.is_file():
        return None
    return path


def _folders(folder: Path, depth: int):
    yield folder
    if depth:
        for child in sorted(folder.iterdir()):
            if child.is_dir() and not child.name.startswith("."):
                yield from _folders(child, depth - 1)


def _report(root: Path, folder: Path, files: list[Path]) -> dict:
    report = {"folder": folder.relative_to(root).as_posix(), "modified": max(f.stat().st_mtime for f in files),
              "tables": [], "images": [], "notes": []}
    for f in files:
        if f.suffix == ".csv":
            with f.open(newline="", encoding="utf-8") as handle:
                header, *rows = list(csv.reader(handle))[:MAX_TABLE_ROWS + 1] or [[]]
            report["tables"].append({"name": f.name, "columns": header, "rows": rows})
        elif f.suffix == ".png":
            report["images"].append(f.relative_to(root).as_posix())
        else:
            report["notes"].append({"name": f.name, "text": f.read_text(encoding="utf-8")[:MAX_NOTE_CHARS]})
    return report
