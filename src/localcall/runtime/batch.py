"""Continuous batching on llama.cpp: several generations share one context and every decode.

`BatchedBackend` owns a LlamaCppBackend opened with `slots` sequences (n_seq_max, one unified
KV cache, each sequence bounded to the model's context) and one scheduler thread, the only
thread that calls llama_decode. A generation leases a `Sequence`, which is the Backend protocol
for one slot: its prefill and append do not decode but hand their tokens to the scheduler and
wait for their logits. So `runtime.generate.Generation` runs unchanged per request, in its own
thread: its sampler, logits hook (grammar), stop strings, max_tokens and cancellation are per
sequence by construction, and llguidance computes the masks of the sequences in their threads
while the scheduler decodes.

A sequence without a constraint is drawn ahead (`Sequence.draw_ahead`): once its prompt is in,
the scheduler itself samples each of its tokens (the generation's own sampler, called in the
scheduler thread right after the decode) and evaluates it in the very next step, while the
generation's thread emits the token before. A constrained sequence cannot be: its grammar
state lives in its thread between two tokens, so it hands in each token as above. Drawing
ahead takes the consumers' Python (stop strings, parsing, streaming) out of the gap between
two decodes. It costs the tokens decoded past the one a stop string ends the turn on (one, as
the emitting thread keeps up: its work on a token takes a fraction of a millisecond, a step
tens of them); they stay in that slot's cache like any other.

One step of the scheduler: wait briefly (`gather` seconds at most) until every running sequence
that samples in its own thread has handed in its next tokens; admit prompts into free slots;
build one batch: the next tokens of every running sequence first, then chunks of the prompts
being prefilled in arrival order (at most `prefill_chunk` tokens each, `n_batch` in all), so a
long prompt never stalls the others for more than a chunk; decode; hand each sequence whose
tokens are all evaluated its logits, or draw its next token and queue it for the next step.

The cache is shared: its n_ctx cells (the model's context, as for one sequence) hold every
slot's tokens, so N slots cost the memory of one context, as llama-server's slots do. Each
sequence may grow to n_ctx while the others leave room. When a batch finds no cells
(CacheFull), the scheduler makes room, cheapest first: the caches idle slots keep for prefix
reuse go; then, while other sequences run, the newest prompt in the batch gives its cells back
and waits until a generation ends; last, the running sequence holding the most tokens ends
with finish_reason "length", its cells freed at once. Nothing is lost but those cached tokens
and that one ending.

The prefix cache: a prompt goes to the free slot whose cache shares the longest prefix with
it (least recently used among equals); when another slot, free or busy, holds a longer one,
the new sequence shares those cells (llama_memory_seq_cp in the unified cache: no copy, no
evaluation). Only the rest is evaluated; Sequence.stats reports the reused tokens as for a
single-sequence backend. A cancelled prefill stops between chunks and leaves the evaluated
prefix cached.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from .backend import PREFILL_CHUNK, CacheFull, Cancelled, EvalStats, check_fits, reusable_prefix
from .llamacpp import LlamaCppBackend
from .prompt_cache import PromptCache, budget_from_environment

GATHER_SECONDS = 0.005  # how long a step waits for sequences still sampling their next token


@dataclass(eq=False)
class _Slot:
    seq: int
    tokens: list[int] = field(default_factory=list)  # what the KV cache holds for this sequence
    owner: "Sequence | None" = None
    last_used: int = 0


@dataclass(eq=False)
class _Ahead:
    """How the scheduler goes on with a sequence drawn ahead (Sequence.draw_ahead)."""

    draw: Callable[[np.ndarray], list[int]]  # logits (valid until the next decode) -> the next tokens, [] to stop
    failed: Callable[[BaseException], None]  # how the sequence learns that it ended in error


@dataclass(eq=False)
class _Work:
    """Tokens a sequence handed in, waiting to be evaluated."""

    sequence: "Sequence"
    tokens: list[int]  # a whole prompt (prefill) or the next tokens (append)
    prefill: bool
    cancel: threading.Event | None = None
    todo: list[int] | None = None  # what is left to evaluate; None until admitted
    waits: bool = False  # a prompt that gave its cells back: not admitted until a generation ends
    ahead: _Ahead | None = None  # drawn by the scheduler: no consumer waits on `done`
    logits: np.ndarray | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)  # its consumer waits on this alone


class Sequence:
    """One generation's view of a BatchedBackend: the Backend protocol for one slot."""

    def __init__(self, owner: "BatchedBackend"):
        self._owner = owner
        self.slot: _Slot | None = None
        self.stats = EvalStats()
        self.forget_cache = False
        self.ahead: _Ahead | None = None  # set while the scheduler draws this sequence's tokens

    def __getattr__(self, name):  # vocabulary and facts: the model's own
        return getattr(self._owner.base, name)

    def prefill(self, tokens: list[int], cancel: threading.Event | None = None) -> np.ndarray:
        reusable_prefix([], tokens)  # refuses an empty prompt here, in the caller's thread
        check_fits(0, len(tokens), self._owner.n_ctx)
        return self._owner._run(_Work(self, list(tokens), prefill=True, cancel=cancel))

    def append(self, tokens: list[int]) -> np.ndarray:
        if self.slot is None:
            raise RuntimeError("append before prefill")
        check_fits(len(self.slot.tokens), len(tokens), self._owner.n_ctx)
        return self._owner._run(_Work(self, list(tokens), prefill=False))

    def draw_ahead(self, tokens: list[int], draw: Callable[[np.ndarray], list[int]],
                   failed: Callable[[BaseException], None]) -> None:
        """Hand the rest of this generation to the scheduler and return at once: it evaluates
        `tokens`, then, in its own thread, calls draw(logits) as soon as each step's logits are
        there and evaluates what draw returns in the very next step, until draw returns [],
        stop_drawing() or the lease ends. So the next token is decoding while the caller emits
        this one (runtime/generate.py uses this for a sequence without a constraint). An error
        (the shared cache full, the model closing) goes to failed(error)."""
        if self.slot is None:
            raise RuntimeError("draw_ahead before prefill")
        check_fits(len(self.slot.tokens), len(tokens), self._owner.n_ctx)
        self.ahead = _Ahead(draw, failed)
        self._owner._submit(_Work(self, list(tokens), prefill=False, ahead=self.ahead))

    def stop_drawing(self) -> None:
        """No more tokens drawn ahead; what is being evaluated stays cached."""
        self._owner._stop_drawing(self)

    def reset(self) -> None:
        """The next prefill evaluates everything."""
        self.forget_cache = True


class BatchedBackend:
    """A llama.cpp model serving `slots` sequences at once. Vocabulary and facts are the base
    backend's; generations run on `lease()`d sequences (ChatModel does this when a backend
    has `lease`)."""

    def __init__(self, base: LlamaCppBackend, *, prefill_chunk: int = PREFILL_CHUNK,
                 gather: float = GATHER_SECONDS, prompt_cache_bytes: int | None = None):
        if getattr(base, "slots", 1) < 2:
            raise ValueError("a BatchedBackend needs a LlamaCppBackend opened with slots >= 2")
        self.base = base
        self.slots = base.slots
        self.prefill_chunk = min(prefill_chunk, base.n_batch)
        self.gather = gather
        self._slots = [_Slot(seq) for seq in range(base.slots)]
        self._cond = threading.Condition()
        self._pending: deque[_Work] = deque()
        self._waiting_for_tokens: set[Sequence] = set()  # running, sampling their next token
        self._clock = 0
        self._closing = False
        self.steps = 0  # decodes so far, and how many sequences they held: tests read these
        self.sequences_decoded = 0
        # States leaving the slots, kept in host memory (runtime/prompt_cache.py).
        self.prompt_cache = PromptCache(budget_from_environment() if prompt_cache_bytes is None
                                        else prompt_cache_bytes)
        self.room_made = Counter()  # how a full cache was dealt with: "idle evicted", "prompt waited", "sequence ended"
        self._thread = threading.Thread(target=self._loop, name="localcall-batch", daemon=True)
        self._thread.start()

    def __getattr__(self, name):  # tokenize, token_bytes, special, n_ctx, ...: the base backend's
        if name == "base":  # not set yet: __init__ failed
            raise AttributeError(name)
        return getattr(self.base, name)

    @contextmanager
    def lease(self) -> Iterator[Sequence]:
        """A sequence for one generation; its slot is free again (its cache kept) at the end."""
        sequence = Sequence(self)
        try:
            yield sequence
        finally:
            with self._cond:
                self._stop_drawing(sequence)
                self._waiting_for_tokens.discard(sequence)
                if sequence.slot is not None:
                    sequence.slot.owner = None
                    sequence.slot = None
                for work in self._pending:  # its cells can be had now
                    work.waits = False
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        self.base.close()

    # --- the consumers' side ---------------------------------------------------------------

    def _run(self, work: _Work) -> np.ndarray:
        self._submit(work)
        work.done.wait()
        if work.error is not None:
            raise work.error
        return work.logits

    def _submit(self, work: _Work) -> None:
        with self._cond:
            if self._closing:
                raise RuntimeError("the model is closing")
            self._waiting_for_tokens.discard(work.sequence)
            self._pending.append(work)
            self._cond.notify_all()  # the scheduler: the condition's only waiter

    def _stop_drawing(self, sequence: Sequence) -> None:
        with self._cond:  # re-entrant: the lease holds it already
            sequence.ahead = None
            for work in [w for w in self._pending if w.sequence is sequence and w.ahead is not None]:
                self._pending.remove(work)

    # --- the scheduler thread --------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cond:
                parts = self._next_step()
                if parts is None:
                    return
                slots = [w.sequence.slot for w, _ in parts]  # a lease may end during the decode
                calls = [(slot.seq, chunk, len(slot.tokens), len(chunk) == len(w.todo))
                         for (w, chunk), slot in zip(parts, slots)]
            try:
                logits = self.base.decode_sequences(calls)  # outside the lock: consumers sample meanwhile
            except CacheFull as exc:  # nothing of this batch stays cached: make room, then retry
                with self._cond:
                    self._make_room(parts, exc)
                continue
            except Exception as exc:  # nothing of this batch stays cached: fail its works
                with self._cond:
                    for work, _ in parts:
                        self._finish(work, error=exc)
                continue
            drawing = []
            with self._cond:
                self.steps += 1
                self.sequences_decoded += len(parts)
                for (work, chunk), slot, out in zip(parts, slots, logits):
                    slot.tokens.extend(chunk)
                    work.todo = work.todo[len(chunk):]
                    if work.prefill:
                        work.sequence.stats.evaluated_tokens += len(chunk)
                    if work.todo:
                        continue
                    if work.ahead is None:
                        work.logits = out.copy()  # the next decode overwrites llama.cpp's buffer
                        self._finish(work)
                    elif work in self._pending:  # not stopped meanwhile
                        self._pending.remove(work)
                        drawing.append((work, out))
            # Drawn here, before the next decode overwrites the logits, and outside the lock.
            drawn = [(work, *self._draw(work, out)) for work, out in drawing]
            with self._cond:
                for work, tokens, error in drawn:
                    sequence = work.sequence
                    if error is not None:
                        self._finish(work, error=error)
                    elif tokens and sequence.ahead is work.ahead and sequence.slot is not None:
                        self._pending.append(_Work(sequence, tokens, prefill=False, ahead=work.ahead))

    @staticmethod
    def _draw(work: _Work, logits: np.ndarray) -> tuple[list[int], BaseException | None]:
        """A drawn-ahead sequence's next tokens; a failing draw ends that sequence, not the
        scheduler."""
        try:
            return work.ahead.draw(logits), None
        except Exception as exc:
            return [], exc

    def _next_step(self) -> list[tuple[_Work, list[int]]] | None:
        """Under the lock: wait for work, then the parts of the next batch (None: closing)."""
        while True:
            while not self._pending and not self._closing:
                self._cond.wait()
            if self._closing:
                for work in list(self._pending):
                    self._finish(work, error=RuntimeError("the model is closing"))
                return None
            deadline = time.monotonic() + self.gather
            while self._waiting_for_tokens and not self._closing and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            parts = self._parts()
            if parts:
                return parts
            self._cond.wait()  # every pending prompt waits for a slot: until one is released

    def _parts(self) -> list[tuple[_Work, list[int]]]:
        budget = self.base.n_batch
        parts = []
        # Running sequences first (one token each, or a few forced ones), then prompts in order.
        for work in sorted(self._pending, key=lambda w: w.prefill):
            if work.prefill and work.cancel is not None and work.cancel.is_set():
                self._finish(work, error=Cancelled(f"cancelled with {len(work.todo or work.tokens)} of "
                                                   f"{len(work.tokens)} prompt tokens left"))
                continue
            if work.waits:
                continue
            if work.todo is None and not self._admit(work):
                continue
            n = min(len(work.todo), budget, self.prefill_chunk if work.prefill else len(work.todo))
            if n == 0:
                break
            parts.append((work, work.todo[:n]))
            budget -= n
        return parts

    def _admit(self, work: _Work) -> bool:
        """Bind a prompt to a slot (the free one sharing the longest prefix) and drop the part of
        that slot's cache it does not share; an append continues its sequence's slot."""
        sequence = work.sequence
        if not work.prefill:
            work.todo = work.tokens
            return True
        if sequence.slot is None:
            free = [s for s in self._slots if s.owner is None]
            if not free:
                return False
            sequence.slot = max(free, key=lambda s: (reusable_prefix(s.tokens, work.tokens), -s.last_used))
            sequence.slot.owner = sequence
        slot = sequence.slot
        self._clock += 1
        slot.last_used = self._clock
        forget, sequence.forget_cache = sequence.forget_cache, False
        common = 0 if forget else reusable_prefix(slot.tokens, work.tokens)
        if len(slot.tokens) > common + 1 and self.prompt_cache.wants(slot.tokens):
            self.prompt_cache.put(slot.tokens, *self.base.save_sequence(slot.seq))  # before it is lost
        self.base.keep_prefix(slot.seq, common)
        del slot.tokens[common:]
        if not forget:
            common = self._reuse_more(slot, work.tokens, common)
        sequence.stats = EvalStats(prompt_tokens=len(work.tokens), reused_tokens=common)
        work.todo = work.tokens[common:]
        return True

    def _reuse_more(self, slot: _Slot, tokens: list[int], common: int) -> int:
        """Where another slot, even a busy one, holds more of this prompt, `slot` shares its
        cells; where a state saved in host memory does, it is copied back. Returns how many
        leading tokens `slot` holds for the prompt now."""
        donor = max(self._slots, key=lambda s: reusable_prefix(s.tokens, tokens))
        shared = reusable_prefix(donor.tokens, tokens)
        saved, restorable = self.prompt_cache.best(tokens)
        if restorable > max(shared, common):
            if self.base.restore_sequence(slot.seq, saved.state, saved.size):
                self.base.keep_prefix(slot.seq, restorable)
                slot.tokens[:] = saved.tokens[:restorable]
                self.prompt_cache.restored += 1
                return restorable
            slot.tokens.clear()  # refused (no room): the slot was emptied, its own prefix too
            common = 0
        if shared > common and donor is not slot:
            self.base.share_prefix(donor.seq, slot.seq, shared)
            slot.tokens[:] = donor.tokens[:shared]
            return shared
        return common

    def _make_room(self, parts: list[tuple[_Work, list[int]]], full: CacheFull) -> None:
        """Under the lock, after a batch found no cells in the shared cache (see the module
        docstring for the order)."""
        idle = [slot for slot in self._slots if slot.owner is None and slot.tokens]
        if idle:
            for slot in idle:
                self._evict(slot)
            self.room_made["idle evicted"] += 1
            return
        prompts = [work for work, _ in parts if work.prefill]
        waiting = {work.sequence for work in self._pending if work.waits}
        # Some other sequence will go on, end and free cells, so the newest prompt can wait.
        others = prompts and any(slot.owner not in (None, prompts[-1].sequence, *waiting) for slot in self._slots)
        if others:
            newest = prompts[-1]
            self._evict(newest.sequence.slot)
            newest.todo, newest.waits = None, True  # admitted afresh once a generation ends
            self.room_made["prompt waited"] += 1
            return
        running = [work for work, _ in parts if not work.prefill]
        if running:
            longest = max(running, key=lambda w: len(w.sequence.slot.tokens))
            # Its cells go now, not when its lease ends: the retry that follows this call may
            # come first, and would find the cache as full as before and end another sequence.
            self._evict(longest.sequence.slot)
            self._finish(longest, error=CacheFull(str(full)))
            self.room_made["sequence ended"] += 1
        else:  # one prompt alone, every other cell freed: it is larger than the cache
            self._finish(prompts[0], error=full)

    def _evict(self, slot: _Slot) -> None:
        if slot.owner is None and self.prompt_cache.wants(slot.tokens):  # an idle slot's cache: kept in memory
            self.prompt_cache.put(slot.tokens, *self.base.save_sequence(slot.seq))
        self.base.keep_prefix(slot.seq, 0)
        slot.tokens.clear()

    def _finish(self, work: _Work, error: BaseException | None = None) -> None:
        work.error = error
        if work in self._pending:
            self._pending.remove(work)
        if work.ahead is not None:  # error is set: a drawn sequence ends (see _loop for the rest)
            if work.sequence.ahead is work.ahead:
                work.sequence.ahead = None
                work.ahead.failed(error)
            return
        if error is None and work.sequence.slot is not None:
            # Running: the next step waits (briefly) for its next token, counted from now, not
            # from when its thread wakes up, or a step would start before the others woke.
            self._waiting_for_tokens.add(work.sequence)
        work.done.set()
