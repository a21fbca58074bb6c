"""The generation loop on both real backends: stops, seeds, cancellation, prefix reuse, the hook."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from localcall.runtime.generate import Generation, StopMatcher
from localcall.runtime.sampling import Sampler, SamplingParams

QUESTION = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
STORY = "<|im_start|>user\nWrite a long story about a dragon.<|im_end|>\n<|im_start|>assistant\n"


def run(backend, text, **params):
    gen = Generation(backend, backend.tokenize(text), SamplingParams(**params))
    return gen, gen.text()


def test_greedy_answer_ends_at_end_of_turn(any_backend):
    gen, text = run(any_backend, QUESTION, temperature=0, max_tokens=40)
    assert "Paris" in text
    assert gen.finish_reason == "stop" and gen.completion_tokens < 40
    assert "<|im_end|>" not in text


def test_backends_agree_on_the_first_greedy_tokens(llama_backend, hf_backend):
    # Same weights (Q4_1, and its dequantized copy): the likeliest tokens should coincide.
    a = Generation(llama_backend, llama_backend.tokenize(QUESTION), SamplingParams(temperature=0, max_tokens=3))
    b = Generation(hf_backend, hf_backend.tokenize(QUESTION), SamplingParams(temperature=0, max_tokens=3))
    assert llama_backend.tokenize(QUESTION) == hf_backend.tokenize(QUESTION)
    assert [t.token for t in a][:2] == [t.token for t in b][:2]


def test_max_tokens_gives_length(any_backend):
    gen, _ = run(any_backend, STORY, temperature=0, max_tokens=7)
    assert gen.finish_reason == "length" and gen.completion_tokens == 7


def test_stop_string_ends_and_is_not_emitted(any_backend):
    _, full = run(any_backend, QUESTION, temperature=0, max_tokens=40)
    stop = "Paris"
    gen, text = run(any_backend, QUESTION, temperature=0, max_tokens=40, stop=(stop,))
    assert gen.finish_reason == "stop" and gen.stop_text == stop
    assert text == full[: full.index(stop)]


def test_same_seed_same_text(any_backend):
    a = run(any_backend, STORY, temperature=1.0, seed=7, max_tokens=24)[1]
    b = run(any_backend, STORY, temperature=1.0, seed=7, max_tokens=24)[1]
    assert a == b and a


def test_cancellation_stops_between_tokens(any_backend):
    cancel = threading.Event()
    gen = Generation(any_backend, any_backend.tokenize(STORY), SamplingParams(temperature=0, max_tokens=200), cancel=cancel)
    seen = 0
    for _ in gen:
        seen += 1
        if seen == 3:
            cancel.set()
    assert gen.finish_reason == "cancelled"
    assert gen.completion_tokens == 3


def test_second_turn_evaluates_only_the_new_suffix(any_backend):
    first = any_backend.tokenize(QUESTION)
    gen, answer = run(any_backend, QUESTION, temperature=0, max_tokens=20)
    turn2 = QUESTION + answer + "<|im_end|>\n<|im_start|>user\nAnd of Spain?<|im_end|>\n<|im_start|>assistant\n"
    tokens = any_backend.tokenize(turn2)
    Generation(any_backend, tokens, SamplingParams(temperature=0, max_tokens=2)).text()
    stats = any_backend.stats
    assert stats.prompt_tokens == len(tokens)
    # Everything the cache held and the new prompt shares was reused; only the rest was evaluated.
    assert stats.reused_tokens >= len(first)
    assert stats.evaluated_tokens == len(tokens) - stats.reused_tokens
    assert stats.evaluated_tokens < len(tokens) - len(first) + 2


class OnlyToken:
    """A logits hook that allows one token, then forces two more, then ends."""

    def __init__(self, allowed: int, forced: list[int]):
        self.allowed, self.forced, self.accepted = allowed, forced, []

    def mask(self, logits):
        keep = logits[self.allowed]
        logits[:] = -np.inf
        logits[self.allowed] = keep

    def accept(self, token):
        self.accepted.append(token)
        return self.forced

    def done(self):
        return bool(self.accepted)


def test_logits_hook_masks_and_forced_tokens_join_the_batch(any_backend):
    word = any_backend.tokenize(" banana")
    hook = OnlyToken(word[0], any_backend.tokenize(" split"))
    gen = Generation(any_backend, any_backend.tokenize(QUESTION), SamplingParams(temperature=1.0, seed=0), hook=hook)
    tokens = list(gen)
    assert tokens[0].token == word[0] and not tokens[0].forced
    assert all(t.forced for t in tokens[1:]) and gen.forced_tokens == len(tokens) - 1
    assert gen.finish_reason == "stop"


def test_stop_matcher_holds_back_possible_prefixes():
    m = StopMatcher(("END",))
    assert m.push("abcE") == ("abc", None)
    assert m.push("N") == ("", None)
    assert m.push("Dx") == ("", "END")
    m = StopMatcher(("END",))
    assert m.push("abE") == ("ab", None) and m.push("x") == ("Ex", None)


def test_sampler_respects_top_k_and_top_p():
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05], dtype=np.float32))
    top1 = Sampler(SamplingParams(temperature=1.0, top_k=1, seed=0))
    assert {top1(logits.copy()) for _ in range(50)} == {0}
    nucleus = Sampler(SamplingParams(temperature=1.0, top_p=0.75, seed=0))
    assert {nucleus(logits.copy()) for _ in range(300)} == {0, 1}
    free = Sampler(SamplingParams(temperature=1.0, seed=0))
    assert {free(logits.copy()) for _ in range(500)} == {0, 1, 2, 3}


@pytest.mark.parametrize("bad", [dict(temperature=-1), dict(top_p=0), dict(top_k=-2), dict(max_tokens=0)])
def test_bad_sampling_values_are_refused(bad):
    with pytest.raises(ValueError):
        SamplingParams(**bad).validate()


def test_prompt_longer_than_context_is_refused(llama_backend):
    with pytest.raises(ValueError, match="context holds"):
        Generation(llama_backend, [1] * (llama_backend.n_ctx + 5), SamplingParams())


def test_forced_text_cut_by_max_tokens_ends_with_length(default_model):
    """The grammar forces a long text after the first token; max_tokens cuts it. The answer was
    cut, so "length", even though the grammar had (in its own state) reached its end."""
    key = "the_name_of_a_property_long_enough_to_be_forced_over_many_tokens"
    schema = {"type": "object", "properties": {key: {"const": "and a constant value that is forced too"}},
              "required": [key], "additionalProperties": False}
    fmt = {"type": "json_schema", "json_schema": {"name": "forced", "schema": schema}}
    whole = default_model.chat([{"role": "user", "content": "Hi"}], response_format=fmt, temperature=0)
    assert whole.finish_reason == "stop" and whole.usage.completion_tokens > 6
    cut = default_model.chat([{"role": "user", "content": "Hi"}], response_format=fmt, temperature=0, max_tokens=4)
    assert cut.usage.completion_tokens == 4 and cut.content == whole.content[:len(cut.content)]
    assert cut.finish_reason == "length"


@pytest.mark.parametrize("head_width", [16.0, 4.0])
def test_sampler_draws_from_the_softmax_at_its_temperature(head_width, monkeypatch):
    """The draw (runtime/sampling.py) is exactly one from softmax(logits / T), whatever part of
    the vocabulary its envelope takes for the tail: the default width (the tail all but never
    proposed) and 4 (the unlikely tokens in the tail, proposed most of the time and mostly
    rejected); masked tokens are never drawn, also when they are most of the tail."""
    import numpy as np

    from localcall.runtime.sampling import Sampler, SamplingParams

    monkeypatch.setattr(Sampler, "head_width", head_width)
    small = np.array([*np.log([0.5, 0.3, 0.15, 0.05]), -np.inf], dtype=np.float32)  # the last is masked
    large = np.full(1000, -np.inf, dtype=np.float32)
    large[[0, 255, 512, 999]] = np.log([0.4, 0.3, 0.2, 0.1])
    large[600:900] = np.log(0.001)  # a long unlikely tail
    for logits in (small, large):
        for temperature in (1.0, 0.5):
            sampler = Sampler(SamplingParams(temperature=temperature, seed=7))
            counts = np.bincount([sampler(logits.copy()) for _ in range(20000)], minlength=logits.shape[0])
            expected = np.exp(logits / temperature) / np.exp(logits / temperature).sum()
            assert np.abs(counts / 20000 - expected).max() < 0.01, (temperature, counts, expected)
            assert abs(counts[600:900].sum() / 20000 - expected[600:900].sum()) < 0.01
            assert counts[~np.isfinite(logits)].sum() == 0
    sampler = Sampler(SamplingParams(temperature=0.7, seed=1))
    assert sampler(np.full(10, -np.inf, dtype=np.float32)) == 0  # nothing drawable: generate.py stops
