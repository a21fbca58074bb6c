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
    from localcall.runtime.chat import ChatModel

    return ChatModel(registry.get("smollm2-135m"), llama_backend)


@pytest.fixture(scope="session")
def hf_model(registry, hf_backend):
    """The same weights on the transformers backend."""
    from localcall.runtime.chat import ChatModel

    return ChatModel(registry.get("smollm2-135m-hf"), hf_backend)


@pytest.fixture(scope="session", params=["llama.cpp", "transformers"])
def any_model(request):
    """Each backend in turn as a ChatModel, on the same real weights."""
    return request.getfixturevalue("default_model" if request.param == "llama.cpp" else "hf_model")
