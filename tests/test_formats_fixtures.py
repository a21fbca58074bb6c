"""The tiny GGUF fixtures: they load in llama.cpp, and their templates render the goldens."""

from __future__ import annotations

import llama_cpp
import pytest
from fixtures.chat_cases import CONVERSATION, TOOLS, clock, golden
from fixtures.tiny_gguf import KINDS, tiny_gguf_path

from localcall.formats import FORMATS, detect_format, load_builtin_template
from localcall.runtime.llamacpp import LlamaCppBackend

# A special token of each kind that must tokenize to one id.
SPECIAL = {"llama3": "<|python_tag|>", "mistral": "[TOOL_CALLS]", "mistral-args": "[ARGS]",
           "hermes": "<tool_call>", "generic": "<|im_end|>", "gemma": "<start_of_turn>"}


@pytest.mark.parametrize("kind", KINDS)
def test_fixture_loads_in_llama_cpp(tiny_gguf, kind):
    llm = llama_cpp.Llama(model_path=str(tiny_gguf(kind)), vocab_only=False, n_ctx=256, verbose=False)
    try:
        token = SPECIAL[kind]
        (token_id,) = llm.tokenize(token.encode(), add_bos=False, special=True)
        assert llm.detokenize([token_id], special=True) == token.encode()
        text = "Hé, ça va? 😀\n{\"a\": [1]}"
        assert llm.detokenize(llm.tokenize(text.encode(), add_bos=False, special=False)).decode() == text
        template = KINDS[kind].template
        assert llm.metadata.get("tokenizer.chat_template") == (template and load_builtin_template(template))
    finally:
        llm.close()


@pytest.mark.parametrize("kind", [k for k in KINDS if KINDS[k].template])
def test_template_read_from_the_file_renders_the_golden(tiny_gguf, kind):
    backend = LlamaCppBackend(tiny_gguf(kind), vocab_only=True)
    family = FORMATS[detect_format(backend.chat_template, backend.special)](now=clock)
    text = family.render(CONVERSATION, TOOLS, template=backend.chat_template, special=backend.special,
                         add_generation_prompt=False)
    assert text == golden(KINDS[kind].template.removeprefix("builtin:"))


def test_fixture_evaluates_a_prompt(tiny_gguf):
    """The lead's backend (extra buffer types off) runs a multi-token batch on a fixture."""
    backend = LlamaCppBackend(tiny_gguf("hermes"), n_ctx=512)
    prompt = backend.tokenize("<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n", add_bos=False)
    assert backend.prefill(prompt).shape == (backend.n_vocab,)


def test_fixtures_are_cached_by_content(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALCALL_CACHE", str(tmp_path))
    first = tiny_gguf_path("gemma")
    built = first.stat().st_mtime_ns
    assert first.parent == tmp_path / "fixtures" and first.name.startswith("tiny-gemma-")
    assert tiny_gguf_path("gemma") == first and first.stat().st_mtime_ns == built
    assert list(first.parent.iterdir()) == [first]  # no partial file left behind
