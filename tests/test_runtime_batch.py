"""Continuous batching (runtime/batch.py) on the real default model: concurrent generations
share every decode without cross-talk, each keeps its own grammar, cancellation and context
bound, and a slot reuses the prefix it holds."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import threading
import time

import jsonschema
import pytest
from fixtures.waiting import wait_until

from localcall.messages import ContentDelta, Finished
from localcall.runtime.generate import Generation
from localcall.runtime.sampling import SamplingParams

SLOTS = 4
N_CTX = 768  # per sequence: small, so a test can fill one, and room for a ~480-token tool prompt

CAPITALS = {"Germany": "Berlin", "Japan": "Tokyo", "Russia": "Moscow", "Egypt": "Cairo"}

TOOLS = {
    "get_weather": {"type": "object", "properties": {
        "city": {"type": "string", "maxLength": 20}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city", "unit"]},
    "add_numbers": {"type": "object", "properties": {
        "a": {"type": "integer", "minimum": 0, "maximum": 99}, "b": {"type": "integer", "minimum": 0, "maximum": 99}},
        "required": ["a", "b"]},
    "set_alarm": {"type": "object", "properties": {
        "hour": {"type": "integer", "minimum": 0, "maximum": 23}, "label": {"type": "string", "maxLength": 20}},
        "required": ["hour", "label"]},
    "search_books": {"type": "object", "properties": {
        "query": {"type": "string", "maxLength": 30}, "limit": {"type": "integer", "minimum": 1, "maximum": 5}},
        "required": ["query", "limit"]},
}
ASKS = {"get_weather": "What's the weather in Oslo?", "add_numbers": "Add 12 and 30.",
        "set_alarm": "Wake me at 7 for the train.", "search_books": "Find books about whales."}


def tool(name: str) -> dict:
    return {"type": "function", "function": {"name": name, "description": ASKS[name], "parameters": TOOLS[name]}}


@pytest.fixture(scope="module")
def batched(registry):
    """The default model with 4 slots of N_CTX tokens each, in a cache with room for all four
    (`localcall serve --parallel 4 --cache-tokens 3072`): these tests are about the batch, not
    about sharing a full cache (the tests after them)."""
    from localcall.model import ChatModel

    model = ChatModel.load("smollm2-135m", registry=registry, parallel=SLOTS, n_ctx=N_CTX,
                           cache_tokens=SLOTS * N_CTX, progress=False)
    yield model
    model.backend.close()


def ask(model, content: str, **options):
    return model.chat([{"role": "user", "content": content}], **{"temperature": 0, "max_tokens": 24, **options})


def concurrently(fn, items):
    with concurrent.futures.ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(fn, items))


def batched_steps(model):
    """(decode steps, sequences decoded) so far."""
    return model.backend.steps, model.backend.sequences_decoded


def test_concurrent_requests_get_their_own_answers(batched):
    questions = [f"What is the capital of {country}?" for country in CAPITALS]
    alone = [ask(batched, q).content for q in questions]
    steps, sequences = batched_steps(batched)
    together = [r.content for r in concurrently(lambda q: ask(batched, q), questions)]
    steps, sequences = batched.backend.steps - steps, batched.backend.sequences_decoded - sequences
    assert sequences > steps  # some decodes held several sequences
    for country, answer in zip(CAPITALS, together):
        assert CAPITALS[country] in answer, (country, answer)
    # Greedy, so alone and in a batch the same tokens come out (batch shapes did not change them).
    assert together == alone


def test_forced_tool_calls_with_distinct_schemas_batch_and_stay_valid(batched):
    tools = [tool(n) for n in TOOLS]

    def call(name):
        return batched.chat([{"role": "user", "content": ASKS[name]}], tools=tools,
                            tool_choice={"type": "function", "function": {"name": name}}, temperature=0.7,
                            seed=len(name), max_tokens=60)

    warm = call("add_numbers")  # its slot now holds the system prompt and the tools
    steps, sequences = batched_steps(batched)
    results = concurrently(call, list(TOOLS))
    assert batched.backend.sequences_decoded - sequences > batched.backend.steps - steps
    for name, result in zip(TOOLS, results):
        assert result.errors == [] and result.finish_reason == "tool_calls", (name, result)
        (call_,) = result.tool_calls
        assert call_.name == name
        jsonschema.validate(json.loads(call_.arguments), TOOLS[name])
        # Every slot shared the long common prefix the first request left in its own slot.
        assert result.usage.cached_tokens > warm.usage.prompt_tokens - 20


def test_cancelling_one_leaves_the_others_undisturbed(batched):
    questions = [f"What is the capital of {country}?" for country in ("Japan", "Germany")]
    alone = [ask(batched, q).content for q in questions]
    cancel = threading.Event()
    story_tokens = []

    def story():
        for event in batched.stream([{"role": "user", "content": "Write a long story about a dragon."}],
                                    temperature=0, max_tokens=300, cancel=cancel):
            if isinstance(event, ContentDelta):
                story_tokens.append(event.text)
                if len(story_tokens) == 3:
                    cancel.set()
            elif isinstance(event, Finished):
                return event.result

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        cancelled = pool.submit(story)
        others = [pool.submit(ask, batched, q) for q in questions]
        assert cancelled.result().finish_reason == "cancelled"
        assert [f.result().content for f in others] == alone
    assert cancelled.result().usage.completion_tokens < 10


def test_a_sequence_drawn_ahead_whose_draw_fails_ends_alone(batched):
    """A draw runs in the scheduler's thread (runtime/batch.py, Sequence.draw_ahead): when it
    raises, that sequence learns the error and ends; the scheduler and the others go on."""
    backend = batched.backend
    question = "What is the capital of Japan?"
    alone = ask(batched, question).content
    failures, draws = [], []

    def draw(logits):
        draws.append(int(logits.argmax()))
        if len(draws) == 3:
            raise ValueError("a draw that fails")
        return [draws[-1]]

    with backend.lease() as sequence:
        logits = sequence.prefill(batched.prepare([{"role": "user", "content": "Tell me a story."}]).prompt)
        sequence.draw_ahead([int(logits.argmax())], draw, failures.append)
        wait_until(lambda: failures)
        assert len(draws) == 3 and isinstance(failures[0], ValueError) and sequence.ahead is None
    assert ask(batched, question).content == alone


def test_cancelled_prefill_in_a_batch_frees_its_slot_and_keeps_the_cache(batched):
    backend = batched.backend
    text = "The lighthouse keepers wrote down every storm and every ship. " * 40
    prompt = backend.tokenize(f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n")
    assert len(prompt) > 3 * backend.prefill_chunk
    cancel = threading.Event()
    with backend.lease() as sequence:
        def watch():
            while not (sequence.stats.prompt_tokens == len(prompt) and sequence.stats.evaluated_tokens > 0):
                time.sleep(0.005)
            cancel.set()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        gen = Generation(sequence, prompt, SamplingParams(temperature=0, max_tokens=4), cancel=cancel)
        assert list(gen) == [] and gen.finish_reason == "cancelled"
        watcher.join()
        first = sequence.stats
        assert 0 < first.evaluated_tokens < len(prompt) - first.reused_tokens
    # The same prompt again: the slot kept what was evaluated, and the rest is evaluated now.
    with backend.lease() as sequence:
        tokens = list(Generation(sequence, prompt, SamplingParams(temperature=0, max_tokens=2)))
        assert sequence.stats.reused_tokens == first.reused_tokens + first.evaluated_tokens
        assert len(tokens) == 2


def test_a_full_context_ends_that_sequence_with_length(batched):
    sentence = "Tell me everything about the lighthouse keepers of the northern coast and their storms. "
    text, long_ask = "", []
    while N_CTX - len(long_ask) >= 120:  # a prompt that leaves a little room in the slot
        text += sentence
        long_ask = batched.prepare([{"role": "user", "content": text}]).prompt
    room = N_CTX - len(long_ask)
    assert 0 < room < 120
    never_ends = {"type": "json_schema", "json_schema": {"name": "story", "schema": {
        "type": "object", "properties": {"story": {"type": "string", "minLength": 5000}}, "required": ["story"]}}}

    def full():
        return batched.chat([{"role": "user", "content": text}], response_format=never_ends, temperature=0)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        filled = pool.submit(full)
        short = pool.submit(ask, batched, "What is the capital of Germany?")
        assert "Berlin" in short.result().content and short.result().finish_reason == "stop"
        assert filled.result().finish_reason == "length"
        assert filled.result().usage.completion_tokens == room


def test_a_follow_up_turn_reuses_its_own_slot(batched):
    first = [{"role": "user", "content": "What is the capital of Japan?"}]
    other = [{"role": "user", "content": "Name three colours of the rainbow."}]
    reply = batched.chat(first, temperature=0, max_tokens=16)
    batched.chat(other, temperature=0, max_tokens=16)
    follow_up = first + [reply.message(), {"role": "user", "content": "And of Russia?"}]
    again = batched.chat(follow_up, temperature=0, max_tokens=16)
    # The first turn's prompt and most of its answer come from the cache of the slot it used.
    assert again.usage.cached_tokens >= reply.usage.prompt_tokens


def test_a_conversation_rotated_out_of_the_slots_is_restored_from_memory(batched):
    """A conversation's slot goes to another prompt (the one sharing the longest prefix with
    it: a question that differs in its last words), its state to the prompt cache
    (runtime/prompt_cache.py); its next turn is restored from there, evaluates only what is
    new, and answers as it does when everything is evaluated."""
    cache = batched.backend.prompt_cache
    first = [{"role": "user", "content": "What is the capital of Egypt?"}]
    reply = batched.chat(first, temperature=0, max_tokens=16)
    batched.chat([{"role": "user", "content": "What is the capital of France?"}], temperature=0, max_tokens=8)
    prompt = batched.prepare(first).prompt
    assert not any(slot.tokens[:len(prompt) - 1] == prompt[:-1] for slot in batched.backend._slots)
    follow_up = first + [reply.message(), {"role": "user", "content": "And of Japan?"}]
    restored_before = cache.restored
    again = batched.chat(follow_up, temperature=0, max_tokens=16)
    assert cache.restored == restored_before + 1
    assert again.usage.cached_tokens >= reply.usage.prompt_tokens
    cache.clear()
    for slot in batched.backend._slots:  # nothing of it anywhere: evaluated in full
        batched.backend._evict(slot)
    cache.clear()
    fresh = batched.chat(follow_up, temperature=0, max_tokens=16)
    assert fresh.usage.cached_tokens < reply.usage.prompt_tokens
    assert fresh.content == again.content


def test_a_saved_state_that_cannot_be_restored_is_evaluated_instead(batched):
    """llama.cpp refuses a state (here a truncated copy; a full cache does the same) after the
    slot was emptied for it: the prompt is evaluated in full, also when the slot it went to
    held part of it before, and answers as it does without the prompt cache."""
    import ctypes

    backend, cache = batched.backend, batched.backend.prompt_cache
    budapest = [{"role": "user", "content": "Which river flows through Budapest?"}]
    vienna = [{"role": "user", "content": "Which river flows through Vienna?"}]
    fresh = batched.chat(budapest, temperature=0, max_tokens=8)
    prompt = batched.prepare(budapest).prompt
    with backend._cond:  # the scheduler is idle; nothing of Budapest stays in a slot or in memory
        for slot in backend._slots:
            if slot.tokens[:len(prompt) - 1] == prompt[:-1]:
                state, size = backend.base.save_sequence(slot.seq)
                backend._evict(slot)
        cache.clear()
    batched.chat(vienna, temperature=0, max_tokens=8)  # a slot shares "Which river flows through" now
    broken = (ctypes.c_uint8 * (size // 2)).from_buffer_copy(bytes(state)[: size // 2])
    cache.put(prompt, broken, size // 2)
    restored = cache.restored
    again = batched.chat(budapest, temperature=0, max_tokens=8)
    assert cache.restored == restored
    assert again.content == fresh.content and again.usage.cached_tokens == 0


def test_the_prompt_cache_keeps_its_budget_and_the_longest_states():
    from localcall.runtime.prompt_cache import PromptCache

    cache = PromptCache(budget=100)
    cache.put([1, 2, 3], "abc", 40)
    assert not cache.wants([1, 2]) and cache.wants([1, 2, 3, 4])
    cache.put([1, 2, 3, 4], "abcd", 40)  # serves every prompt the shorter one served
    assert len(cache) == 1 and cache.size == 40
    cache.put([7, 8], "x", 40)
    assert cache.best([1, 2, 3, 4, 5])[1] == 4  # and now the most recently used
    cache.put([9], "y", 40)  # over budget: the least recently used, [7, 8], goes
    assert cache.best([7, 8, 0]) == (None, 0) and cache.best([1, 2, 3, 4, 9])[1] == 4
    cache.put([5] * 10, "too big", 101)
    assert cache.best([5] * 11) == (None, 0)
    assert not PromptCache(budget=0).wants([1, 2])


@pytest.fixture(scope="module")
def parallel_server(start_server, batched):
    """`localcall serve --parallel 4` in-process: four generations at once, none waiting."""
    from localcall.server import ServerSettings

    server = start_server({"smollm2-135m": batched}, ServerSettings(max_waiting=0, request_timeout=120))
    server.queue = server.app.state.catalog.get("smollm2-135m")
    return server


def test_server_serves_its_slots_at_once_and_refuses_beyond(parallel_server, batched):
    import httpx2
    import openai

    client = parallel_server.client()
    queue = parallel_server.queue
    assert queue.parallel == SLOTS
    answers = concurrently(lambda c: client.chat.completions.create(
        model="smollm2-135m", temperature=0, max_tokens=16,
        messages=[{"role": "user", "content": f"What is the capital of {c}?"}]), list(CAPITALS))
    for country, answer in zip(CAPITALS, answers):
        assert CAPITALS[country] in answer.choices[0].message.content
    # Four streams hold the four slots; with no room to wait, a fifth request is refused.
    body = {"model": "smollm2-135m", "stream": True, "max_tokens": 400, "temperature": 0,
            "messages": [{"role": "user", "content": "Write a long story about a dragon."}]}
    with contextlib.ExitStack() as held:
        for _ in range(SLOTS):
            response = held.enter_context(httpx2.stream("POST", parallel_server.url + "/v1/chat/completions",
                                                        json=body, timeout=60))
            lines = response.iter_lines()
            held.callback(lines.close)
            next(lines)  # generating
        assert all(slot.owner is not None for slot in batched.backend._slots)
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="smollm2-135m", max_tokens=2,
                                           messages=[{"role": "user", "content": "Hi"}])
    # The clients left: every slot is free again and the server answers.
    wait_until(lambda: queue.admitted == 0 and all(slot.owner is None for slot in batched.backend._slots))
    assert client.chat.completions.create(model="smollm2-135m", max_tokens=2,
                                          messages=[{"role": "user", "content": "Hi"}]).choices


# --- one cache for every slot, as llama-server shares its KV cache among slots -------------

CROWDED_CELLS = 512  # llama.cpp sizes a shared cache in multiples of 256 cells
NEVER_ENDS = {"type": "json_schema", "json_schema": {"name": "story", "schema": {
    "type": "object", "properties": {"story": {"type": "string", "minLength": 5000}}, "required": ["story"]}}}


@pytest.fixture(scope="module")
def crowded(registry):
    """Three slots sharing CROWDED_CELLS cells, as by default (`--parallel 3` on a context of
    512): each sequence may use them all, and together they cannot."""
    from localcall.model import ChatModel

    model = ChatModel.load("smollm2-135m", registry=registry, parallel=3, n_ctx=CROWDED_CELLS, progress=False)
    assert model.backend.cache_tokens == model.backend.n_ctx == CROWDED_CELLS
    yield model
    model.backend.close()


def test_slots_share_one_cache_and_a_full_one_ends_the_longest_sequence(crowded):
    budget = 300  # two of these cannot fit in 512 cells together; one alone can
    cities = ["Oslo", "Lima", "Cairo"]
    all_finished = threading.Barrier(len(cities), timeout=600)

    def story(city):
        # Each stream is held open after its Finished until all three have one, so an ended
        # sequence keeps its lease while the others go on (as a slow consumer keeps it): the
        # cells of a sequence ended for room must be freed by the scheduler, not by that lease.
        events = crowded.stream([{"role": "user", "content": f"Tell me a story about {city}."}],
                                response_format=NEVER_ENDS, temperature=0, max_tokens=budget)
        with contextlib.closing(events):
            try:
                result = next(event.result for event in events if isinstance(event, Finished))
            except BaseException:
                all_finished.abort()  # the others fail at once instead of waiting out the timeout
                raise
            all_finished.wait()
        return result

    ended = crowded.backend.room_made["sequence ended"]
    results = concurrently(story, cities)
    assert crowded.backend.room_made["sequence ended"] - ended == 2
    for result in results:
        assert result.finish_reason == "length" and result.errors == []
        assert result.usage.prompt_tokens + result.usage.completion_tokens <= CROWDED_CELLS
    counts = sorted(r.usage.completion_tokens for r in results)
    assert counts[0] < budget  # the cache ran out: a sequence was ended early...
    assert counts[-1] == budget  # ...and, with its cells freed, the last one got its whole budget
    # Nothing is left broken: a question alone is answered as ever.
    assert "Berlin" in ask(crowded, "What is the capital of Germany?").content


def test_a_prompt_that_finds_no_room_waits_for_a_running_sequence_to_end(crowded):
    question = [{"role": "user", "content": "The keepers wrote down every storm and every ship. " * 12
                 + "What is the capital of Germany?"}]
    alone = crowded.chat(question, temperature=0, max_tokens=16)
    crowded.backend.base.keep_prefix(-1, 0)  # forget every slot's cache: the prompt is evaluated again
    for slot in crowded.backend._slots:
        slot.tokens.clear()
    runner_prompt = [{"role": "user", "content": "Tell me a story about Quito."}]
    long_prompt = crowded.prepare(question).prompt
    runner_tokens = CROWDED_CELLS - len(crowded.prepare(runner_prompt).prompt) - 10
    started = threading.Event()

    def runner():
        count = 0
        for event in crowded.stream(runner_prompt, response_format=NEVER_ENDS, temperature=0, max_tokens=runner_tokens):
            if isinstance(event, ContentDelta):
                count += 1
                if count == CROWDED_CELLS - len(long_prompt):  # from here on the question cannot fit beside it
                    started.set()
            elif isinstance(event, Finished):
                return event.result

    waits = crowded.backend.room_made["prompt waited"]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        running = pool.submit(runner)
        assert started.wait(300)
        waited = pool.submit(crowded.chat, question, temperature=0, max_tokens=16)
        # The running sequence was not cut short for the newcomer...
        assert running.result().usage.completion_tokens == runner_tokens
        # ...which waited, then got the answer it gets alone.
        assert waited.result().content == alone.content and waited.result().finish_reason == alone.finish_reason
    assert crowded.backend.room_made["prompt waited"] > waits
