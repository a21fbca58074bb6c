"""Run cases against a chat target and append one JSON line per finished case.

A target is anything with `.chat(messages, tools=[ToolSpec], tool_choice=..., constrained=...,
**options) -> ChatResult`: the in-process ChatModel, or endpoint.OpenAITarget for any
OpenAI-compatible server. Results are appended as each case finishes, so a run that stops
can be started again and skips what is done.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterable, Protocol

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..messages import ChatResult, ToolSpec
from .bfcl import tool_set
from .cases import Case, CaseResult, model_label
from .checker import Call, check
from .validity import is_valid_call, leaks_call, parse_arguments


class ChatTarget(Protocol):
    def chat(self, messages: list[dict], tools: list[ToolSpec] | None = None, tool_choice="auto", *,
             constrained: bool = True, **options) -> ChatResult: ...


def read_results(path: Path) -> list[CaseResult]:
    """The records of a results file; a line cut short by a crash is skipped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            fields = json.loads(line)
        except json.JSONDecodeError:
            continue
        records.append(CaseResult(**fields))
    return records


# Measures something of a case before it runs, e.g. bench.decision.decision_margin.
Probe = Callable[[Case], float | None]


def run_case(target: ChatTarget, case: Case, *, model: str, constrained: bool, model_info: str = "",
             options: dict | None = None, probe: Probe | None = None) -> CaseResult:
    tools = tool_set(case.functions)
    margin = probe(case) if probe else None
    started = time.perf_counter()
    try:
        result = target.chat(case.messages, tools=tools.specs, tool_choice="auto", constrained=constrained,
                             **(options or {}))
    except Exception as exc:  # one case failing must not end a run of thousands; it is recorded
        result, error = ChatResult(finish_reason="error"), f"{type(exc).__name__}: {exc}"
    else:
        error = None
    latency = time.perf_counter() - started
    calls = [Call(tools.original_name(c.name), parse_arguments(c.arguments)) for c in result.tool_calls]
    verdict = check(case.expected, case.functions, calls)
    return CaseResult(
        suite=case.suite, category=case.category, id=case.id, model=model, constrained=constrained,
        passed=verdict.passed and error is None,
        error_type="target:exception" if error else verdict.error_type,
        message=error or verdict.message,
        messages=case.messages, tools=[s.name for s in tools.specs], content=result.content,
        calls=[{"name": c.name, "arguments": c.arguments} for c in result.tool_calls],
        malformed=[m.text for m in result.errors], finish_reason=result.finish_reason,
        valid_calls=sum(is_valid_call(c, tools) for c in result.tool_calls),
        call_attempts=len(result.tool_calls) + len(result.errors),
        leaked=leaks_call(result.content, tools), latency_s=latency,
        prompt_tokens=result.usage.prompt_tokens, completion_tokens=result.usage.completion_tokens,
        model_info=model_info, tags=list(case.tags), decision_margin=margin)


def run_cases(target: ChatTarget, cases: Iterable[Case], results: Path, *, model: str, constrained: bool = True,
              model_info: str = "", options: dict | None = None, progress: bool = True,
              probe: Probe | None = None) -> list[CaseResult]:
    """Run the cases not yet in `results`, appending each record as it finishes; returns the new ones."""
    done = {r.key for r in read_results(results)}
    todo = [c for c in cases if (c.suite, c.id) not in done]
    results.parent.mkdir(parents=True, exist_ok=True)
    new: list[CaseResult] = []
    label = model_label(model, constrained)
    with results.open("a", encoding="utf-8") as out, \
            Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                     disable=not progress) as bar:
        if out.tell() and not _ends_with_newline(results):
            out.write("\n")  # a crash cut the last line short; start clean after it
        task = bar.add_task(label, total=len(todo))
        for case in todo:
            record = run_case(target, case, model=model, constrained=constrained, model_info=model_info,
                              options=options, probe=probe)
            out.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
            out.flush()
            new.append(record)
            passed = sum(r.passed for r in new)
            bar.update(task, advance=1, description=f"{label}  {passed}/{len(new)} passed")
    return new


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        f.seek(-1, 2)
        return f.read(1) == b"\n"
