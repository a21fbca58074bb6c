"""The official BFCL client's outputs, judged by our checker as well as by BFCL's own.

    python benchmarks/bfcl_official.py ROOT MODEL

ROOT is the BFCL_PROJECT_ROOT of a `bfcl generate` + `bfcl evaluate --partial-eval` run (its
result/ and score/ folders), MODEL the model name it ran. For each category and case: BFCL's
verdict (a case is failed when its score file lists it) and ours (bench.checker on the same
calls), and every case where they disagree. The official client runs in its own venv
(bfcl-eval with its dependencies); this script needs only localcall and BFCL's data.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from localcall.bench import bfcl
from localcall.bench.checker import Call, check
from localcall.bench.validity import parse_arguments


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def our_calls(result, functions: list[dict]) -> list[Call]:
    """BFCL's FC result ([{name: arguments JSON}], or text when no call was made) as calls."""
    if not isinstance(result, list):
        return []
    tools = bfcl.tool_set(functions)
    calls = []
    for entry in result:
        for name, arguments in entry.items():
            # As the harness reads a call: arguments that are not a JSON object are None.
            args = parse_arguments(arguments) if isinstance(arguments, str) else arguments
            calls.append(Call(tools.original_name(name), args))
    return calls


def compare(root: Path, model: str) -> dict[str, dict]:
    folder = model.replace("/", "_")
    report = {}
    for result_file in sorted((root / "result" / folder).rglob("BFCL_v*_*_result.json")):
        category = re.fullmatch(r"BFCL_v\d+_(.+)_result\.json", result_file.name).group(1)
        score_file = next((root / "score" / folder).rglob(f"BFCL_v*_{category}_score.json"))
        summary, *failed = _lines(score_file)
        official_failed = {f["id"] for f in failed}
        cases = {c.id: c for c in bfcl.load_category(category)}
        rows = []
        for entry in _lines(result_file):
            case = cases[entry["id"]]
            ours = check(case.expected, case.functions, our_calls(entry["result"], case.functions))
            rows.append((entry["id"], entry["id"] not in official_failed, ours.passed, ours.error_type))
        report[category] = {"official_accuracy": summary.get("accuracy"), "rows": rows}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("model")
    args = parser.parse_args()
    print("| category | cases | official | ours | disagreements |")
    print("|---|---|---|---|---|")
    notes = []
    for category, data in compare(args.root, args.model).items():
        rows = data["rows"]
        official, ours = sum(r[1] for r in rows), sum(r[2] for r in rows)
        differ = [r for r in rows if r[1] != r[2]]
        print(f"| {category} | {len(rows)} | {official} | {ours} | {len(differ)} |")
        notes += [f"{i}: official {'pass' if o else 'fail'}, ours {'pass' if u else 'fail'} ({e})"
                  for i, o, u, e in differ]
    for note in notes:
        print("-", note)


if __name__ == "__main__":
    main()
