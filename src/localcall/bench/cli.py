"""`localcall bench ...`: the benchmark commands (mounted by the main CLI)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

import typer
from rich.console import Console
from rich.markdown import Markdown

from .report import accuracy_table, summarize, write_report
from .runner import ChatTarget, read_results, run_cases
from .suites import load_suite, sample

app = typer.Typer(no_args_is_help=True)
console = Console()

DEFAULT_SUITE = "bfcl:simple_python,multiple,parallel,parallel_multiple,irrelevance"


def parse_options(pairs: list[str]) -> dict:
    """KEY=VALUE pairs; a VALUE that reads as JSON is that value (true, 0, 1.5), else the text."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--option")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def run_label(model: str, label: str | None, options: dict) -> str:
    """The name a run goes by in results and tables: an ablation is a model of its own."""
    suffix = label or ",".join(f"{k}={json.dumps(v)}" for k, v in options.items())
    return f"{model} [{suffix}]" if suffix else model


def results_path(out: Path, model: str, constrained: bool) -> Path:
    stem = re.sub(r"[^\w.@-]+", "_", model)  # model names may be paths
    return out / "results" / (f"{stem}.jsonl" if constrained else f"{stem}.unconstrained.jsonl")


def _in_process(names: list[str | None]) -> Iterator[tuple[str, ChatTarget, str]]:
    """Each model loaded in turn, so only one is in memory at a time (None: the default model)."""
    from ..model import ChatModel

    for name in names:
        try:
            model = ChatModel.load(name)
        except (KeyError, FileNotFoundError) as exc:  # unknown name, weights not installed
            raise typer.BadParameter(exc.args[0] if exc.args else str(exc), param_hint="--models") from exc
        yield model.name, model, model.spec.description


def _served(endpoint: str, names: list[str] | None) -> Iterator[tuple[str, ChatTarget, str]]:
    from .endpoint import OpenAITarget, served_models

    for name in names or served_models(endpoint)[:1]:
        # The address is part of the label: the same model served elsewhere is another result.
        yield f"{name}@{urlparse(endpoint).netloc}", OpenAITarget(endpoint, name), f"served at {endpoint}"


def _decision_probe(model):
    from .decision import decision_margin

    return lambda case: decision_margin(model, case)


@app.callback()
def bench():
    """Benchmarks: tool-calling accuracy across models, on BFCL's data and localcall's own suite."""


@app.command()
def accuracy(
    models: str = typer.Option(None, help="Comma-separated model names or paths. Default: the registry's "
                                          "default model; with --endpoint, the first model the server lists."),
    suite: list[str] = typer.Option([DEFAULT_SUITE], help="bfcl:CATEGORY[,CATEGORY...], localcall, or a suite "
                                                          ".json file; repeat for several."),
    limit: int = typer.Option(None, min=1, help="At most N cases per category, sampled with --seed."),
    seed: int = typer.Option(0, help="Seed of the per-category sample."),
    exclude_seed: list[int] = typer.Option([], help="Leave out the cases this seed picks with the same --limit "
                                                    "(repeatable): e.g. tune on --seed 0, report on --seed 1 "
                                                    "--exclude-seed 0."),
    endpoint: str = typer.Option(None, help="Score an OpenAI-compatible server instead, e.g. http://127.0.0.1:8000/v1"),
    compare: bool = typer.Option(False, help="Run each model with and without constrained decoding."),
    out: Path = typer.Option(Path("bench-results"), help="Folder for results (resumable) and the report."),
    max_tokens: int = typer.Option(None, min=1, help="Cap each answer; default: the model's own setting."),
    option: list[str] = typer.Option([], help="KEY=VALUE passed with every request (repeatable): in-process, a "
                                              "ChatModel.chat keyword (temperature=0, allow_repeated_calls=true); "
                                              "with --endpoint, a field of the request body."),
    label: str = typer.Option(None, help="Name this run's variant in results and tables (default: its --option "
                                         "pairs)."),
    decision: bool = typer.Option(False, help="Also record each case's call-or-answer decision margin "
                                              "(in-process models)."),
):
    """Tool-calling accuracy per category and model, BFCL-compatible; resumable."""
    if compare and endpoint:
        raise typer.BadParameter("--compare turns constrained decoding off, which only in-process models allow",
                                 param_hint="--compare")
    if decision and endpoint:
        raise typer.BadParameter("the decision margin is read from the logits of an in-process model",
                                 param_hint="--decision")
    extra = parse_options(option)
    try:
        cases = sample([case for spec in suite for case in load_suite(spec)], limit, seed, tuple(exclude_seed))
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--suite") from exc
    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    targets = _served(endpoint, names) if endpoint else _in_process(names or [None])
    options = {**({"max_tokens": max_tokens} if max_tokens else {}), **extra}
    wanted = {(c.suite, c.id) for c in cases}
    records = []
    for model, target, info in targets:
        model = run_label(model, label, extra)
        probe = _decision_probe(target) if decision else None
        for constrained in (True, False) if compare else (True,):
            path = results_path(out, model, constrained)
            run_cases(target, cases, path, model=model, constrained=constrained, model_info=info, options=options,
                      probe=probe if constrained else None)
            # The report covers this command's cases, whatever else the file holds from other runs.
            records += [r for r in read_results(path) if r.key in wanted]
    files = write_report(records, out)
    console.print(Markdown(accuracy_table(summarize(records))))
    console.print(f"results: {out / 'results'}\nreport: {files.markdown}, {files.csv}, {files.plot}")


@app.command()
def speed(
    models: str = typer.Option(None, help="Comma-separated model names or paths (default: the registry's default)."),
    tokens: int = typer.Option(128, min=8, help="Tokens generated per measurement."),
    repeat: int = typer.Option(3, min=1, help="Measurements per figure (the median is kept)."),
    out: Path = typer.Option(Path("benchmarks/out/speed.json"), help="Where the JSON report goes."),
):
    """Prefill/decode tokens/s, time to first token, time to a complete tool call, constrained vs
    unconstrained decode, load time and memory: JSON with the machine's description, and ratios."""
    from .speed import render, run

    names = [m.strip() for m in models.split(",")] if models else [None]
    report = run(names, tokens=tokens, repeat=repeat, out=out)
    console.print(render(report), markup=False, highlight=False)
    console.print(f"written to {out}")
