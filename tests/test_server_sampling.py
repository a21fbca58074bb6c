"""Sampling parity on /v1/chat/completions through the official openai client, against a live
server and the real default model: logprobs (whole and streamed), logit_bias, the penalties,
n > 1, seed, system_fingerprint. And the penalty formula on the runtime's own sampler."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from localcall.runtime.sampling import Sampler, SamplingParams

MODEL = "smollm2-135m"
HI = [{"role": "user", "content": "Say hello."}]
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
                   "required": ["city"], "additionalProperties": False}}}


def greedy(client, **extra):
    return client.chat.completions.create(model=MODEL, messages=extra.pop("messages", HI), temperature=0,
                                          max_tokens=extra.pop("max_tokens", 8), **extra)


def test_logprobs_shape_and_greedy_agreement(openai_client):
    r = greedy(openai_client, logprobs=True, top_logprobs=3)
    choice, = r.choices
    entries = choice.logprobs.content
    assert entries and len(entries) <= 8
    # The tokens spell the content exactly, byte for byte.
    assert b"".join(bytes(e.bytes) for e in entries).decode() == choice.message.content
    for e in entries:
        assert e.logprob <= 0 and len(e.top_logprobs) == 3
        tops = [t.logprob for t in e.top_logprobs]
        assert tops == sorted(tops, reverse=True)
        # Greedy picks the likeliest token, so it heads its own top list.
        assert e.top_logprobs[0].token == e.token and math.isclose(e.top_logprobs[0].logprob, e.logprob)
        assert sum(math.exp(t) for t in tops) <= 1 + 1e-4


def test_streamed_logprobs_match_the_whole_response(openai_client):
    whole = greedy(openai_client, logprobs=True, top_logprobs=2)
    streamed = []
    text = []
    for chunk in greedy(openai_client, logprobs=True, top_logprobs=2, stream=True):
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            if choice.logprobs and choice.logprobs.content:
                streamed.extend(choice.logprobs.content)
    assert "".join(text) == whole.choices[0].message.content
    assert [(e.token, round(e.logprob, 4)) for e in streamed] == \
        [(e.token, round(e.logprob, 4)) for e in whole.choices[0].logprobs.content]


def test_no_logprobs_unless_asked(openai_client):
    assert greedy(openai_client).choices[0].logprobs is None


def test_logprobs_under_the_grammar(openai_client):
    """A forced call: tokens the grammar forces had no alternative (logprob 0, one candidate),
    and no listed alternative is a token the grammar had masked (-inf never appears)."""
    r = greedy(openai_client, messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER],
               tool_choice="required", logprobs=True, top_logprobs=5, max_tokens=40)
    assert r.choices[0].message.tool_calls
    entries = r.choices[0].logprobs.content
    forced = [e for e in entries if e.logprob == 0.0 and len(e.top_logprobs) == 1]
    assert forced, "the call's fixed parts are forced by the grammar"
    assert all(math.isfinite(t.logprob) for e in entries for t in e.top_logprobs)


def test_logit_bias_steers_greedy_choice(openai_client, llama_backend):
    first = greedy(openai_client, logprobs=True, max_tokens=1).choices[0].logprobs.content[0]
    token, = llama_backend.tokenize(bytes(first.bytes).decode(), special=False)
    banned = greedy(openai_client, logprobs=True, max_tokens=1, logit_bias={str(token): -100})
    assert banned.choices[0].logprobs.content[0].token != first.token
    word, = llama_backend.tokenize(" banana", special=False)
    forced = greedy(openai_client, max_tokens=3, logit_bias={str(word): 100})
    assert forced.choices[0].message.content == " banana" * 3


def test_unknown_token_in_logit_bias_is_400(live_server):
    import httpx2

    r = httpx2.post(live_server.url + "/v1/chat/completions", timeout=60,
                    json={"model": MODEL, "messages": HI, "logit_bias": {"9999999": 5}})
    assert r.status_code == 400 and "logit_bias" in r.json()["error"]["message"]


def test_penalties_reduce_repetition(openai_client):
    loop = [{"role": "user", "content": "Write the word yes fifty times."}]
    plain = greedy(openai_client, messages=loop, max_tokens=40, logprobs=True)
    penalised = greedy(openai_client, messages=loop, max_tokens=40, logprobs=True, frequency_penalty=2.0,
                       presence_penalty=1.0)

    def most_repeated(r) -> int:
        return max(Counter(e.token for e in r.choices[0].logprobs.content).values())

    assert most_repeated(penalised) < most_repeated(plain)


def test_penalty_formula_on_the_sampler():
    """OpenAI's formula: logit -= count * frequency_penalty + (count > 0) * presence_penalty."""
    sampler = Sampler(SamplingParams(frequency_penalty=0.5, presence_penalty=0.25, logit_bias=((4, 3.0),)))
    sampler.observe([1, 1, 2])
    logits = np.zeros(6, dtype=np.float32)
    logits[5] = -np.inf  # masked by a grammar: stays masked
    sampler.adjust(logits)
    assert logits.tolist() == [0.0, -1.25, -0.75, 0.0, 3.0, -np.inf]


def test_n_choices_are_seeded_one_after_the_other(openai_client):
    def two(seed):
        r = openai_client.chat.completions.create(model=MODEL, messages=HI, max_tokens=10, temperature=1.0,
                                                  seed=seed, n=2)
        assert [c.index for c in r.choices] == [0, 1]
        return [c.message.content for c in r.choices]

    first = two(11)
    assert two(11) == first  # reproducible
    single = openai_client.chat.completions.create(model=MODEL, messages=HI, max_tokens=10, temperature=1.0, seed=12)
    assert single.choices[0].message.content == first[1]  # choice i of seed s is seed s + i


def test_n_choices_streamed(openai_client):
    whole = openai_client.chat.completions.create(model=MODEL, messages=HI, max_tokens=6, temperature=1.0, seed=5,
                                                  n=3)
    text = {0: "", 1: "", 2: ""}
    finished = {}
    usage = None
    for chunk in openai_client.chat.completions.create(model=MODEL, messages=HI, max_tokens=6, temperature=1.0,
                                                       seed=5, n=3, stream=True,
                                                       stream_options={"include_usage": True}):
        usage = chunk.usage or usage
        for c in chunk.choices:
            text[c.index] += c.delta.content or ""
            if c.finish_reason:
                finished[c.index] = c.finish_reason
    assert [text[i] for i in range(3)] == [c.message.content for c in whole.choices]
    assert set(finished) == {0, 1, 2}
    assert usage.completion_tokens == whole.usage.completion_tokens
    assert usage.prompt_tokens == whole.usage.prompt_tokens  # the prompt counted once


def test_system_fingerprint(openai_client):
    a, b = greedy(openai_client, max_tokens=1), greedy(openai_client, max_tokens=1)
    assert a.system_fingerprint and a.system_fingerprint.startswith("fp_")
    assert a.system_fingerprint == b.system_fingerprint
    chunks = list(greedy(openai_client, max_tokens=2, stream=True))
    assert {c.system_fingerprint for c in chunks} == {a.system_fingerprint}
