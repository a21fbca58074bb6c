"""Shared fixtures. Models are loaded once per session: the real default model (SmolLM2-135M)
on llama.cpp and the same weights on transformers."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def registry():
    from localcall.runtime.registry import load_registry

    return load_registry()


@pytest.fixture(scope="session")
def llama_backend(registry):
    from localcall.runtime.llamacpp import LlamaCppBackend
    from localcall.runtime.sources import resolve

    spec = registry.get("smollm2-135m")
    return LlamaCppBackend(resolve(spec, registry, progress=False), n_ctx=spec.context_length)


@pytest.fixture(scope="session")
def hf_backend(registry):
    from localcall.runtime.hf import TransformersBackend
    from localcall.runtime.sources import resolve

    spec = registry.get("smollm2-135m-hf")
    return TransformersBackend(resolve(spec, registry, progress=False), n_ctx=spec.context_length)


@pytest.fixture(scope="session", params=["llama.cpp", "transformers"])
def any_backend(request):
    """Each backend in turn, on the same real weights."""
    return request.getfixturevalue("llama_backend" if request.param == "llama.cpp" else "hf_backend")


@pytest.fixture(scope="session")
def default_model(registry, llama_backend):
    """The embedded default model as a ChatModel (llama.cpp backend)."""
    from localcall.model import ChatModel

    return ChatModel(registry.get("smollm2-135m"), llama_backend)


@pytest.fixture(scope="session")
def hf_model(registry, hf_backend):
    """The same weights on the transformers backend."""
    from localcall.model import ChatModel

    return ChatModel(registry.get("smollm2-135m-hf"), hf_backend)


@pytest.fixture(scope="session", params=["llama.cpp", "transformers"])
def any_model(request):
    """Each backend in turn as a ChatModel, on the same real weights."""
    return request.getfixturevalue("default_model" if request.param == "llama.cpp" else "hf_model")


# --- tools and the agent loop (tests/test_tools_*.py) ----------------------------------------


class ScriptedModel:
    """A test double for the model in agent-loop tests: it replies from a script and records
    every request. A reply is a ChatResult, or a function of the messages returning one."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.requests: list[dict] = []

    def chat(self, messages, *, tools=None, tool_choice="auto", **options):
        self.requests.append({"messages": [dict(m) for m in messages],
                              "tools": [t.name for t in tools or []],
                              "tool_choice": tool_choice, "options": options})
        if not self.replies:
            raise AssertionError("the model was asked more often than the script foresaw")
        reply = self.replies.pop(0)
        return reply(messages) if callable(reply) else reply

    @staticmethod
    def calls(*calls):
        """A reply calling tools: calls are (name, arguments dict or raw JSON text)."""
        import json

        from localcall.messages import ChatResult, ToolCall

        tool_calls = [ToolCall(id=f"call_{name}_{i}", name=name,
                               arguments=args if isinstance(args, str) else json.dumps(args))
                      for i, (name, args) in enumerate(calls)]
        return ChatResult(content=None, tool_calls=tool_calls, finish_reason="tool_calls")

    @staticmethod
    def answer(text):
        from localcall.messages import ChatResult

        return ChatResult(content=text, finish_reason="stop")


@pytest.fixture
def scripted_model():
    """The ScriptedModel class: scripted_model(scripted_model.calls(...), scripted_model.answer(...))."""
    return ScriptedModel


@pytest.fixture
def tools_audit(tmp_path):
    """An audit log in a real SQLite file of its own."""
    from localcall.tools import AuditLog

    with AuditLog(tmp_path / "audit.sqlite3") as log:
        yield log


# --- benchmarks (tests/test_bench_*.py) --------------------------------------------------------


_OMIT = object()


def _first_allowed(allowed: list):
    """A concrete value for one parameter: its first allowed value that is not "" (_OMIT when
    "" is all there is). Nested answers {key: [allowed]} recurse."""
    values = [a for a in allowed if a != ""]
    return _concrete(values[0]) if values else _OMIT


def _concrete(option):
    if isinstance(option, dict) and all(isinstance(v, list) for v in option.values()):
        picked = {k: _first_allowed(v) for k, v in option.items()}
        return {k: v for k, v in picked.items() if v is not _OMIT}
    if isinstance(option, list):
        return [_concrete(o) for o in option]
    return option


def _answer_calls(case):
    """The calls a case's ground truth describes. A parameter that may be left out and that
    the schema does not know is left out (BFCL's answers list a few such)."""
    from localcall.bench.checker import Call

    docs = {fn["name"]: fn for fn in case.functions}
    calls = []
    for answer in case.expected.calls:
        (name, params), = answer.items()
        known = docs[name]["parameters"].get("properties", {})
        picked = {param: _first_allowed(allowed) for param, allowed in params.items()
                  if param in known or "" not in allowed}
        arguments = {param: value for param, value in picked.items() if value is not _OMIT}
        calls.append(Call(name, arguments))
    return calls


@pytest.fixture
def answer_calls():
    """answer_calls(case) -> [Call]: the calls the case's ground truth describes."""
    return _answer_calls


# --- the server (tests/test_server_*.py) ---------------------------------------------------------


def _openai_client(server, api_key: str = "unused", **options):
    """The official openai client for a BackgroundServer; no retries, so a 429 reaches the test."""
    import openai

    return openai.OpenAI(base_url=server.url + "/v1", api_key=api_key, max_retries=0,
                         timeout=options.pop("timeout", 120), **options)


@pytest.fixture(scope="session")
def start_server():
    """start_server(models, settings) -> a BackgroundServer (a live uvicorn on a free loopback port)
    with .client(api_key=...) for the openai client; every server stops at the end of the session."""
    from functools import partial

    from localcall.server import create_app
    from localcall.server.serve import BackgroundServer

    servers = []

    def start(models, settings=None):
        server = BackgroundServer(create_app(models, settings))
        server.client = partial(_openai_client, server)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def live_server(start_server, default_model):
    """The default model (SmolLM2-135M) served as "smollm2-135m", no key, generous limits."""
    from localcall.server import ServerSettings

    return start_server({"smollm2-135m": default_model}, ServerSettings(request_timeout=300, default_max_tokens=256))


@pytest.fixture(scope="session")
def openai_client(live_server):
    return live_server.client()


# --- chat formats (tests/test_formats_*.py) ----------------------------------------------------


@pytest.fixture(scope="session")
def tiny_gguf():
    """tiny_gguf(kind) -> Path of a tiny random-weight GGUF that loads in llama.cpp, for a chat
    format family: "llama3", "mistral", "mistral-args", "hermes", "generic" (ChatML without
    tools) or "gemma" (no template). Built on first use, cached under $LOCALCALL_CACHE/fixtures."""
    from fixtures.tiny_gguf import tiny_gguf_path

    return tiny_gguf_path
