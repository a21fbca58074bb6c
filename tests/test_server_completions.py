"""POST /v1/completions through the official openai client, against a live server and the
real default model; whole answers are checked against the runtime's own generation loop."""

from __future__ import annotations

import openai
import pytest

from localcall.runtime.generate import Generation
from localcall.runtime.sampling import SamplingParams

MODEL = "smollm2-135m"
PROMPT = "The capital of France is"


def reference(backend, prompt: str, max_tokens: int) -> str:
    """What the runtime itself generates greedily for this raw prompt."""
    tokens = backend.tokenize(prompt, add_bos=backend.adds_bos)
    return Generation(backend, tokens, SamplingParams(temperature=0, max_tokens=max_tokens)).text()


def test_completion_matches_the_runtime(openai_client, llama_backend):
    r = openai_client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=6, temperature=0)
    assert r.object == "text_completion" and r.id.startswith("cmpl-") and r.system_fingerprint.startswith("fp_")
    choice, = r.choices
    assert choice.text == reference(llama_backend, PROMPT, 6)
    assert choice.finish_reason in ("stop", "length") and choice.logprobs is None
    assert 0 < r.usage.completion_tokens <= 6
    assert r.usage.prompt_tokens == len(llama_backend.tokenize(PROMPT, add_bos=llama_backend.adds_bos))


def test_default_max_tokens_is_16(openai_client):
    r = openai_client.completions.create(model=MODEL, prompt="Once upon a time", temperature=0)
    assert r.usage.completion_tokens <= 16


def test_token_array_prompt_equals_text(openai_client, llama_backend):
    tokens = llama_backend.tokenize(PROMPT, add_bos=llama_backend.adds_bos)
    by_text = openai_client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=5, temperature=0)
    by_tokens = openai_client.completions.create(model=MODEL, prompt=tokens, max_tokens=5, temperature=0)
    assert by_tokens.choices[0].text == by_text.choices[0].text


def test_several_prompts_times_n(openai_client):
    prompts = ["Roses are red,", "One, two, three,"]
    r = openai_client.completions.create(model=MODEL, prompt=prompts, max_tokens=4, n=2, temperature=1.0, seed=3)
    assert [c.index for c in r.choices] == [0, 1, 2, 3]
    for i, p in enumerate(prompts):
        alone = openai_client.completions.create(model=MODEL, prompt=p, max_tokens=4, temperature=1.0, seed=3)
        assert r.choices[2 * i].text == alone.choices[0].text  # choice j of a prompt is seed + j


def test_stop_sequence(openai_client):
    r = openai_client.completions.create(model=MODEL, prompt="1, 2, 3, 4,", max_tokens=20, temperature=0, stop=["7"])
    assert "7" not in r.choices[0].text and r.choices[0].finish_reason == "stop"
    assert "5" in r.choices[0].text


def test_logprobs(openai_client):
    r = openai_client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=5, temperature=0, logprobs=2)
    choice = r.choices[0]
    lp = choice.logprobs
    assert "".join(lp.tokens) == choice.text
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset)
    for token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert logprob <= 0 and token in top and max(top.values()) == pytest.approx(logprob)  # greedy
        assert 1 <= len(top) <= 3
    assert lp.text_offset[0] == len(PROMPT) and lp.text_offset == sorted(lp.text_offset)


def test_stream_matches_whole(openai_client):
    whole = openai_client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=8, temperature=0, logprobs=1)
    text, tokens, finish = "", [], None
    for chunk in openai_client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=8, temperature=0,
                                                  logprobs=1, stream=True):
        c, = chunk.choices
        text += c.text
        tokens += c.logprobs.tokens if c.logprobs else []
        finish = c.finish_reason or finish
    assert text == whole.choices[0].text and tokens == whole.choices[0].logprobs.tokens
    assert finish == whole.choices[0].finish_reason


@pytest.mark.parametrize("extra, param", [
    ({"echo": True}, "echo"), ({"suffix": "end"}, "suffix"), ({"best_of": 3}, "best_of"), ({"logprobs": 6}, "logprobs"),
    ({"prompt": []}, "prompt"), ({"prompt": [99999999]}, "prompt"), ({"n": 0}, "n")])
def test_refused(openai_client, extra, param):
    body = {"model": MODEL, "prompt": PROMPT, "max_tokens": 2, **extra}
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.completions.create(**body)
    assert info.value.param == param
