"""Which cases a `--suite` names: BFCL categories, localcall's own suite, or a suite file.

A suite file is JSON: {"tools": {name: {"description", "parameters"}}, "cases": [...]}. A case
names the tools it offers and holds either a "ground_truth" (BFCL's answer shape) or
"steps" for conversations that go on after a call: each step's scripted "calls" and tool
"results" are appended to the history, and each step with a "ground_truth" becomes a case
of its own, judged on the call that should come next with the history before it.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from pathlib import Path

from . import bfcl
from .cases import Case, Expected

# Ships inside the package so `--suite localcall` works from a wheel; benchmarks/suites/ links to it.
LOCALCALL_SUITE = Path(__file__).resolve().parent / "data" / "localcall.json"


def load_suite(spec: str) -> list[Case]:
    """`bfcl:simple_python,parallel`, `localcall`, or the path of a suite file."""
    if spec.startswith("bfcl:"):
        categories = [c.strip() for c in spec.removeprefix("bfcl:").split(",") if c.strip()]
        return [case for category in categories for case in bfcl.load_category(category)]
    if spec == "localcall":
        return load_suite_file(LOCALCALL_SUITE, suite="localcall")
    path = Path(spec)
    if path.suffix == ".json" and path.is_file():
        return load_suite_file(path)
    raise ValueError(f"unknown suite {spec!r}: use bfcl:CATEGORY[,CATEGORY...], localcall, or a suite .json file")


def sample(cases: list[Case], limit: int | None, seed: int, exclude_seeds: tuple[int, ...] = ()) -> list[Case]:
    """At most `limit` cases per (suite, category), chosen by `seed`, in their original order.

    exclude_seeds: first leave out the cases that each of these seeds picks with the same
    limit, so that one seed's cases can be the tuning split and another's, disjoint from it,
    the report split."""
    if limit is None:
        return cases
    for other in exclude_seeds:
        held = {(c.suite, c.id) for c in sample(cases, limit, other)}
        cases = [c for c in cases if (c.suite, c.id) not in held]
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, case in enumerate(cases):
        groups[(case.suite, case.category)].append(index)
    kept: set[int] = set()
    for (suite, category), indices in groups.items():
        # Seeded per category, so adding a category does not reshuffle the others.
        rng = random.Random(f"{seed}:{suite}:{category}")
        kept.update(rng.sample(indices, min(limit, len(indices))))
    return [case for index, case in enumerate(cases) if index in kept]


def load_suite_file(path: Path, suite: str | None = None) -> list[Case]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    suite = suite or Path(path).stem
    cases: list[Case] = []
    for entry in data["cases"]:
        unknown = [name for name in entry["tools"] if name not in data["tools"]]
        if unknown:
            raise ValueError(f"{path}: case {entry['id']!r} offers undefined tools {unknown}")
        functions = [{"name": name, **data["tools"][name]} for name in entry["tools"]]
        if "steps" not in entry:
            cases.append(_case(suite, entry, functions, entry["id"], list(entry["messages"]), entry))
            continue
        messages = list(entry["messages"])
        for number, step in enumerate(entry["steps"], 1):
            if "ground_truth" in step:
                cases.append(_case(suite, entry, functions, f"{entry['id']}:{number}", list(messages), step))
            messages += scripted_turn(f"{entry['id']}:{number}", step.get("calls", []), step.get("results", []))
    return cases


def _case(suite: str, entry: dict, functions: list[dict], case_id: str, messages: list[dict], judged: dict) -> Case:
    """`judged` holds the answer: the entry itself, or one of its steps."""
    return Case(id=case_id, suite=suite, category=entry["category"], messages=messages, functions=functions,
                expected=Expected(calls=tuple(judged["ground_truth"]), no_call_ok=judged.get("no_call_ok", False)),
                tags=tuple(entry.get("tags", ())))


def scripted_turn(where: str, calls: list[dict], results: list) -> list[dict]:
    """The assistant message making `calls` and one tool message per result, OpenAI-shaped."""
    if not calls:
        return []
    if len(results) != len(calls):
        raise ValueError(f"step {where}: {len(calls)} scripted call(s) but {len(results)} result(s)")
    # Fixed ids keep prompts identical across runs; 9 alphanumerics suit Mistral's templates too.
    ids = [hashlib.sha1(f"{where}:{k}".encode()).hexdigest()[:9] for k in range(len(calls))]
    assistant = {"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function",
         "function": {"name": bfcl.openai_name(call["name"]), "arguments": json.dumps(call["arguments"])}}
        for call_id, call in zip(ids, calls, strict=True)]}
    tool_messages = [{"role": "tool", "tool_call_id": call_id,
                      "content": result if isinstance(result, str) else json.dumps(result)}
                     for call_id, result in zip(ids, results, strict=True)]
    return [assistant, *tool_messages]
