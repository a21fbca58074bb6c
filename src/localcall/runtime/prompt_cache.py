"""Sequences' KV states kept in host memory, so a prompt seen before is restored, not evaluated.

The slots of a BatchedBackend (runtime/batch.py) each keep the cache of their last sequence,
and a new prompt reuses the longest prefix among them. With more conversations than slots
(several users, agents taking turns, a benchmark rotating its prompts) a slot is soon given
to another prompt, and what it held would be lost. Before that, the scheduler saves the
slot's state (llama_state_seq_get_data: its cells, copied out of the KV cache) here, with
the tokens it holds; a later prompt sharing a longer prefix with a saved state than with any
slot gets that state copied back into its slot (llama_state_seq_set_data) and evaluates only
the rest. Copying a state is memory bandwidth (23 KB a token for the default model); evaluating
the same tokens is arithmetic (~5 ms a token on these cores).

The store holds at most `budget` bytes, least recently used out first
(`localcall serve --prompt-cache-mib`, which sets $LOCALCALL_PROMPT_CACHE_MIB; default 1024,
0 turns it off). A state whose tokens begin another's is dropped, since the longer one serves
both.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass

from .backend import reusable_prefix

DEFAULT_BUDGET_MIB = 1024


def budget_from_environment() -> int:
    """Bytes the prompt cache may hold: $LOCALCALL_PROMPT_CACHE_MIB, else the default."""
    value = os.environ.get("LOCALCALL_PROMPT_CACHE_MIB")
    mib = DEFAULT_BUDGET_MIB if value in (None, "") else int(value)
    if mib < 0:
        raise ValueError("LOCALCALL_PROMPT_CACHE_MIB must be >= 0")
    return mib * 1024 * 1024


@dataclass(eq=False)
class SavedState:
    tokens: tuple[int, ...]  # what the sequence held when saved
    state: object  # the backend's bytes-like copy of its cells
    size: int


class PromptCache:
    def __init__(self, budget: int):
        self.budget = budget
        self.size = 0
        self._states: OrderedDict[tuple[int, ...], SavedState] = OrderedDict()
        self.saved = self.restored = 0  # counters: tests and docs read these

    def __len__(self) -> int:
        return len(self._states)

    def wants(self, tokens: list[int]) -> bool:
        """Whether saving a sequence holding `tokens` would add anything."""
        if not tokens or self.budget <= 0:
            return False
        key = tuple(tokens)
        return not any(saved[:len(key)] == key for saved in self._states)

    def put(self, tokens: list[int], state: object, size: int) -> None:
        key = tuple(tokens)
        if size > self.budget:
            return
        for shorter in [k for k in self._states if key[:len(k)] == k]:  # served by this one now
            self._drop(shorter)
        self._states[key] = SavedState(key, state, size)
        self.size += size
        self.saved += 1
        while self.size > self.budget:
            self._drop(next(iter(self._states)))

    def best(self, tokens: list[int]) -> tuple[SavedState | None, int]:
        """The saved state sharing the longest reusable prefix with a prompt, and its length."""
        best, common = None, 0
        for saved in self._states.values():
            n = reusable_prefix(saved.tokens, tokens)
            if n > common:
                best, common = saved, n
        if best is not None:
            self._states.move_to_end(best.tokens)
        return best, common

    def clear(self) -> None:
        self._states.clear()
        self.size = 0

    def _drop(self, key: tuple[int, ...]) -> None:
        self.size -= self._states.pop(key).size
