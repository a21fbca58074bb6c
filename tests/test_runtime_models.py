"""The other shipped ways to run a model: a GGUF through transformers' own loader, and Gemma 3
270M (a 262k vocabulary, assembled from chunk packages, no chat template of its own)."""

from __future__ import annotations

import json

from localcall.grammars.schema import validate_instance
from localcall.model import ChatModel
from localcall.runtime.generate import Generation
from localcall.runtime.sampling import SamplingParams
from localcall.runtime.sources import resolve

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"location": {"type": "string", "maxLength": 20},
                                     "unit": {"enum": ["celsius", "fahrenheit"]}}, "required": ["location"]}}}


def test_transformers_loads_a_gguf_file_directly(registry, llama_backend):
    from localcall.runtime.hf import TransformersBackend

    gguf = resolve(registry.get("smollm2-135m"), registry)
    backend = TransformersBackend(gguf, n_ctx=1024)
    prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    assert backend.tokenize(prompt) == llama_backend.tokenize(prompt)
    text = Generation(backend, backend.tokenize(prompt), SamplingParams(temperature=0, max_tokens=12)).text()
    assert "Paris" in text


def test_gemma3_assembles_loads_and_calls_tools(registry):
    model = ChatModel.load("gemma3-270m", registry=registry, progress=False)
    assert model.backend.n_vocab == 262144 and model.format_name == "generic"
    assert "<start_of_turn>" in model.format.render([{"role": "user", "content": "hi"}], None,
                                                     template=model.template, special=model.backend.special)
    for seed in range(2):
        result = model.chat([{"role": "user", "content": "Weather in Oslo?"}], tools=[WEATHER], seed=seed,
                            tool_choice="required", parallel_tool_calls=False, temperature=0.7, max_tokens=80)
        assert result.finish_reason == "tool_calls", result
        for call in result.tool_calls:
            assert validate_instance(json.loads(call.arguments), WEATHER["function"]["parameters"]) is None
