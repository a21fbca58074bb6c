"""The `localcall` command: models | chat | serve | convert | bench.

Heavy imports (llama.cpp, torch, the server) happen inside the commands, so `localcall --help`
and `localcall models` stay quick.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Local open-weight models with native, grammar-constrained tool calling.",
                  no_args_is_help=True, add_completion=False)
console = Console()
err = Console(stderr=True)

RegistryOpt = typer.Option(None, "--registry", envvar="LOCALCALL_MODELS",
                           help="Your models.toml; its entries override the shipped ones.")
ModelOpt = typer.Option(None, "--model", "-m", help="A registry name, a .gguf file or an HF directory (default: the registry's default).")
ThreadsOpt = typer.Option(None, "--threads", envvar="LOCALCALL_THREADS", min=1,
                          help="llama.cpp threads (default: every usable core; see docs/runtime.md).")


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)  # one line, whatever the terminal's width
    raise typer.Exit(1)


def _use_threads(threads: Optional[int]) -> None:
    if threads:  # the backend reads it when it loads (runtime/llamacpp.py)
        os.environ["LOCALCALL_THREADS"] = str(threads)


def _registry(path: Optional[str]):
    from .runtime.registry import RegistryError, load_registry

    try:
        return load_registry(path)
    except RegistryError as exc:
        _fail(str(exc))


def _load(name: Optional[str], registry, engine: Optional[str] = None):
    from .model import ChatModel
    from .runtime.sources import WeightsMissing

    kwargs = {"engine": engine} if engine else {}
    try:
        return ChatModel.load(name, registry=registry, **kwargs)
    except (KeyError, WeightsMissing, FileNotFoundError, RuntimeError, ValueError) as exc:
        _fail(str(exc).strip("'\""))


@app.command()
def models(registry: Optional[str] = RegistryOpt) -> None:
    """List the models in the registry, whether their weights are here, and their chat format."""
    from .model.catalog import describe

    reg = _registry(registry)
    table = Table(title=f"models ({', '.join(reg.files)})")
    for column in ("name", "backend", "weights", "present", "chat format", "context"):
        table.add_column(column)
    for spec in reg.models.values():
        info = describe(spec, reg)
        name = f"{info.name} [bold](default)[/bold]" if info.default else info.name
        table.add_row(name, info.backend, info.source, "yes" if info.present else "[yellow]no[/yellow]",
                      info.chat_format, info.context)
    console.print(table)


@app.command()
def chat(
    message: Optional[str] = typer.Argument(None, help="The message; omit it to chat interactively."),
    model: Optional[str] = ModelOpt,
    system: Optional[str] = typer.Option(None, "--system", "-s", help="A system message."),
    tools: Optional[str] = typer.Option(None, "--tools", help="A Python file or module of tools the model may call: its @tool functions, or else its public annotated functions."),
    tool_choice: Optional[str] = typer.Option(None, "--tool-choice", help="With --tools: auto (default), required, none, or a tool's name to force that call (first step of each turn)."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens"),
    temperature: Optional[float] = typer.Option(None, "--temperature", "-t"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    engine: Optional[str] = typer.Option(None, "--engine", help="Grammar engine: llguidance (default) or outlines."),
    registry: Optional[str] = RegistryOpt,
    threads: Optional[int] = ThreadsOpt,
) -> None:
    """Answer a message, streaming the reply as it is generated."""
    _use_threads(threads)
    if tools:
        from .tools import AuditLog
        from .tools.terminal import load_terminal_tools, run_chat_with_tools

        try:  # before the model loads: a wrong file is told at once
            toolset, choice = load_terminal_tools(tools, tool_choice)
        except ValueError as exc:
            _fail(str(exc))
        audit = AuditLog()
    elif tool_choice is not None:
        _fail("--tool-choice needs --tools")
    chat_model = _load(model, _registry(registry), engine)
    sampling = {"max_tokens": max_tokens, "temperature": temperature, "seed": seed}
    messages = [{"role": "system", "content": system}] if system else []
    from .model import RequestError

    prompts = [message] if message is not None else _read_prompts()
    for prompt in prompts:
        messages.append({"role": "user", "content": prompt})
        try:
            if tools:
                messages = run_chat_with_tools(chat_model, messages, toolset, console, audit=audit,
                                               tool_choice=choice, **sampling)
            else:
                messages.append(_stream_reply(chat_model, messages, sampling))
        except RequestError as exc:
            _fail(str(exc))


def _read_prompts():
    err.print("[dim]interactive chat; an empty line or Ctrl-D ends it[/dim]")
    while True:
        try:
            line = console.input("[bold]> [/bold]")
        except EOFError:
            return
        if not line.strip():
            return
        yield line


def _stream_reply(chat_model, messages, sampling) -> dict:
    from .messages import ContentDelta, Finished, ReasoningDelta

    for event in chat_model.stream(messages, **sampling):
        if isinstance(event, ContentDelta):
            console.print(event.text, end="", markup=False, highlight=False)
        elif isinstance(event, ReasoningDelta):
            console.print(event.text, end="", style="dim", markup=False, highlight=False)
        elif isinstance(event, Finished):
            console.print()
            if event.result.finish_reason == "length":
                err.print("[dim](stopped at max_tokens)[/dim]")
            return event.result.message()
    raise AssertionError("stream ended without Finished")


@app.command()
def serve(
    model: Optional[list[str]] = typer.Option(None, "--model", "-m", help="Serve this model (repeatable); default: the registry's default."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    api_key: Optional[list[str]] = typer.Option(None, "--api-key", envvar="LOCALCALL_API_KEY",
                                                help="Accepted Bearer key, KEY or NAME=KEY (repeatable); NAME is who tool permissions and the audit log see."),
    no_auth: bool = typer.Option(False, "--no-auth", help="Allow requests without a key even when binding beyond loopback."),
    tools: Optional[str] = typer.Option(None, "--tools", help="A Python file or module whose @tool functions the server executes."),
    no_ui: bool = typer.Option(False, "--no-ui", help="Serve no playground at /."),
    bench_dir: Optional[Path] = typer.Option(None, "--bench-dir", exists=True, file_okay=False,
                                             help="Show the `localcall bench` reports in this folder in the playground."),
    ask_approval: bool = typer.Option(False, "--ask-approval",
                                      help="High-risk server tools no policy allows wait for Approve/Deny in the playground instead of being refused."),
    registry: Optional[str] = RegistryOpt,
    ray: bool = typer.Option(False, "--ray", help="Serve as replicas of a Ray Serve deployment (needs the ray extra; see docs/ray.md)."),
    replicas: Optional[int] = typer.Option(None, "--replicas", help="With --ray: this many replicas (default 1)."),
    autoscale: Optional[str] = typer.Option(None, "--autoscale", metavar="MIN:MAX", help="With --ray: from MIN to MAX replicas, as the load asks."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="With --ray: join this cluster (auto, or the head's HOST:PORT); default: start a local Ray instance."),
    replica_cpus: float = typer.Option(1.0, "--replica-cpus", help="With --ray: CPUs per replica (also its llama.cpp threads unless LOCALCALL_THREADS is set)."),
    replica_gpus: float = typer.Option(0.0, "--replica-gpus", help="With --ray: GPUs per replica."),
    threads: Optional[int] = ThreadsOpt,
    parallel: Optional[int] = typer.Option(None, "--parallel", min=1, help="Requests each model generates at once, "
                                           "batched (docs/runtime.md). Default: 4 on llama.cpp, 1 on transformers."),
    cache_tokens: Optional[int] = typer.Option(None, "--cache-tokens", min=1, help="KV cache cells the parallel "
                                               "requests of a model share (default: its context; more lets several "
                                               "long requests run at once, at that memory)."),
    prompt_cache_mib: Optional[int] = typer.Option(None, "--prompt-cache-mib", envvar="LOCALCALL_PROMPT_CACHE_MIB",
                                                   min=0, help="Host memory (MiB) per model for the KV states that "
                                                   "leave the parallel slots, restored when their conversation comes "
                                                   "back (default 1024; 0: none)."),
) -> None:
    """Serve the OpenAI-compatible API (POST /v1/chat/completions, GET /v1/models) and the playground at /."""
    from .server.ui import UiSettings

    _use_threads(threads)
    if prompt_cache_mib is not None:  # read where a batched backend opens (runtime/prompt_cache.py)
        os.environ["LOCALCALL_PROMPT_CACHE_MIB"] = str(prompt_cache_mib)

    _registry(registry)  # a bad registry is reported here, before the server starts
    if no_ui and (bench_dir or ask_approval):
        _fail("--bench-dir and --ask-approval are for the playground, which --no-ui turns off")
    options = dict(host=host, port=port, api_keys=list(api_key or []), tools=tools, registry=registry,
                   no_auth=no_auth, ui=None if no_ui else UiSettings(bench_dir=bench_dir), ask_approval=ask_approval,
                   parallel=parallel, cache_tokens=cache_tokens)
    try:
        if ray or replicas is not None or autoscale is not None or ray_address is not None:
            _serve_on_ray(model or [], ray, replicas, autoscale, ray_address, replica_cpus, replica_gpus, options)
        else:
            from .server.serve import run

            run(model or [], **options)
    except ValueError as exc:  # a refusal to start (no keys off loopback, a bad key, two models one name)
        _fail(str(exc))


def _serve_on_ray(models, ray, replicas, autoscale, address, cpus, gpus, options) -> None:
    if not ray:
        _fail("--replicas, --autoscale and --ray-address go with --ray")
    import importlib.util

    if importlib.util.find_spec("ray") is None:  # found, not imported: a local instance sets Ray's environment first
        _fail("--ray needs Ray Serve: pip install 'localcall\\[ray]'")
    from .server.ray_serve import DeploymentFailed, RayOptions, run

    ray_options = RayOptions(address=address, replicas=replicas, replica_cpus=cpus, replica_gpus=gpus,
                             autoscale=RayOptions.parse_autoscale(autoscale) if autoscale else None)
    try:
        run(ray_options, models=models, **options)
    except DeploymentFailed as exc:
        _fail(str(exc))


@app.command()
def convert(name: str = typer.Argument(..., help="A registry entry whose source is `convert`."),
            registry: Optional[str] = RegistryOpt) -> None:
    """Make the HF directory a `convert` entry needs (once; cached)."""
    from .runtime.sources import resolve

    reg = _registry(registry)
    spec = reg.get(name)
    if spec.source.kind != "convert":
        _fail(f"{name} is not a converted model (its source is {spec.source.describe()})")
    console.print(f"{name}: {resolve(spec, reg)}")


def _mount_bench() -> None:
    try:
        from .bench.cli import app as bench_app
    except ImportError:  # the bench extras are optional
        return
    app.add_typer(bench_app, name="bench", help="Tool-selection accuracy and speed benchmarks.")


_mount_bench()

if __name__ == "__main__":
    app()
