"""What a vocabulary is and what its tokenizer can do: the facts formats and grammars need
from a backend, without importing the backends.

SpecialTokens: the vocabulary's special tokens, as a backend reports them.

SpellingTokenizer: text → tokens whose bytes are exactly that text. Grammar engines need it
for the text a grammar forces (jump-forward): the tokens they are handed must spell the
forced bytes, or the engine rejects its own forced tokens. A plain tokenizer does not promise
that: SentencePiece vocabularies (Llama 2, Mistral 7B) add a word-prefix space at the start of
the text and after every special token ("[" → " ["), and invalid UTF-8 cannot be tokenized
at all.

The method is llguidance's own for llama.cpp: if tokenizing "a" does not spell "a", tokenize a
sentinel byte followed by the text, and drop the sentinel's tokens. The sentinel is a
control character whose byte token starts no other token, so the tokens after it are the
text's own. Added tokens (Qwen's <tool_call>) are kept whole; whatever still does not spell
the text falls back to the longest vocabulary entry at each position.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field
from typing import Callable

Tokenize = Callable[[str], list[int]]


@dataclass(frozen=True)
class SpecialTokens:
    bos_id: int | None
    eos_id: int | None
    bos: str = ""
    eos: str = ""
    # Tokens that end an assistant turn besides eos (<|eot_id|>, <|im_end|>, <end_of_turn>...).
    end_of_turn_ids: frozenset[int] = field(default_factory=frozenset)
    # Every control or user-defined token of the vocabulary by text, for format detection.
    by_text: dict[str, int] = field(default_factory=dict)
    # Control tokens: the model writes them as one token, never spelled out, so grammars refer
    # to them by id. User-defined tokens (Qwen's <tool_call>) are matched as text.
    control_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def stop_ids(self) -> frozenset[int]:
        ids = set(self.end_of_turn_ids)
        if self.eos_id is not None:
            ids.add(self.eos_id)
        return frozenset(ids)


class SpellingTokenizer:
    def __init__(self, tokenize: Tokenize, tokens: list[bytes], added: dict[str, int],
                 excluded: frozenset[int] = frozenset()):
        """tokenize: text → ids, never parsing special tokens; tokens: every token's bytes;
        added: added tokens to keep whole, by text; excluded: ids never to spell text with
        (control tokens: the model writes them as one token, they are not text)."""
        self._tokenize = tokenize
        self._added = dict(added)
        self._split = (re.compile("(" + "|".join(re.escape(t) for t in sorted(added, key=len, reverse=True)) + ")")
                       if added else None)
        self._tokens = tokens
        self._excluded = excluded
        self._by_bytes = {t: i for i, t in reversed(list(enumerate(tokens))) if t and i not in excluded}
        self._longest = max(map(len, self._by_bytes), default=1)
        self._sentinel, self._sentinel_ids = None, []
        if self._spell(tokenize("a")) != b"a":
            self._sentinel = _sentinel(tokens)
            self._sentinel_ids = tokenize(self._sentinel)

    @classmethod
    def for_backend(cls, backend, tokens: list[bytes] | None = None) -> "SpellingTokenizer":
        """Over a backend's tokenizer; tokens: its token bytes, when the caller has them already."""
        special = backend.special
        tokens = tokens if tokens is not None else [backend.token_bytes(i) for i in range(backend.n_vocab)]
        added = {text: i for text, i in special.by_text.items() if text and i not in special.control_ids}
        # A weak reference: engines are cached per backend (grammars.make_engine), and must not
        # keep the backend alive themselves.
        tokenize = weakref.WeakMethod(backend.tokenize)
        return cls(lambda text: tokenize()(text, special=False), tokens, added, excluded=special.control_ids)

    def __call__(self, text: str | bytes) -> list[int]:
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:  # a partial character: only vocabulary entries can spell it
                return self._greedy(text)
        pieces = self._split.split(text) if self._split else [text]
        ids: list[int] = []
        for piece in pieces:
            if piece in self._added:
                ids.append(self._added[piece])
            elif piece:
                ids.extend(self._fragment(piece))
        return ids

    def _fragment(self, text: str) -> list[int]:
        ids = self._tokenize_bare(text)
        data = text.encode("utf-8")
        return ids if self._spell(ids) == data else self._greedy(data)

    def _tokenize_bare(self, text: str) -> list[int]:
        if self._sentinel is None:
            return self._tokenize(text)
        ids = self._tokenize(self._sentinel + text)
        n = len(self._sentinel_ids)
        return ids[n:] if ids[:n] == self._sentinel_ids else []  # [] → the greedy fallback

    def _spell(self, ids: list[int]) -> bytes | None:
        if any(i in self._excluded or not 0 <= i < len(self._tokens) for i in ids):
            return None
        return b"".join(self._tokens[i] for i in ids)

    def _greedy(self, data: bytes) -> list[int]:
        ids, at = [], 0
        while at < len(data):
            for size in range(min(self._longest, len(data) - at), 0, -1):
                token = self._by_bytes.get(data[at:at + size])
                if token is not None:
                    ids.append(token)
                    at += size
                    break
            else:
                raise ValueError(f"no token of this vocabulary spells byte {data[at]:#04x}")
        return ids


def _sentinel(tokens: list[bytes]) -> str:
    """A control character that is one token of its own and begins no longer token, alone or
    after a space (llguidance's choice for llama.cpp tokenizers that add a prefix space)."""
    singles = {t[0] for t in tokens if len(t) == 1}
    starts = {t[0] for t in tokens if len(t) > 1}
    after_space = {t[1] for t in tokens if len(t) > 2 and t[0] == 0x20}
    for byte in range(1, 32):
        if byte in singles and byte not in starts and byte not in after_space:
            return chr(byte)
    raise ValueError("this vocabulary has no control-character token to tokenize forced text with")
