"""Another call or the end: a bias on the choice a call section makes after each call.

In a family whose call section is a JSON list (the generic protocol's `{"tool_calls": [...]}`,
Mistral's `[TOOL_CALLS][...]`), after each call the grammar admits both the separator (`, `:
another call) and the list's end (`]`). A small model asked for several calls often closes
the list after one. ContinuationHook wraps the grammar's hook and, wherever the allowed tokens
include both a token that reaches the list's `,` and one that reaches its `]`, adds
`more_calls_bias` to the former. A repeated call that this brings is dropped by the repeat
guard (model/repeats.py), which also ends the message there.

The position is found by scanning the JSON written since the section opened (depth and
strings); only tokens at the list's level or one below (a call's own object) are classified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..formats.base import CallSyntax


@dataclass(frozen=True)
class JsonState:
    depth: int = 0  # 0: inside the list itself; -1: the list has ended
    in_string: bool = False
    escaped: bool = False


def scan(state: JsonState, data: bytes) -> tuple[JsonState, str | None]:
    """`state` after `data`, and the first list-level event in it: "more" (the list's `,`),
    "end" (its `]`), or None."""
    depth, in_string, escaped = state.depth, state.in_string, state.escaped
    event = None
    for byte in data:
        if depth < 0:
            break
        c = chr(byte)
        if in_string:
            escaped, in_string = (False, True) if escaped else (c == "\\", c != '"')
        elif c == '"':
            in_string = True
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth < 0 and event is None:
                event = "end"
        elif c == "," and depth == 0 and event is None:
            event = "more"
    return JsonState(depth, in_string, escaped), event


def json_list_section(syntax: CallSyntax) -> bool:
    """Whether the family's calls are the items of one JSON list."""
    return (syntax.section_start.rstrip().endswith("[") and syntax.separator.strip() == ","
            and syntax.section_end.lstrip().startswith("]") and not syntax.call_start and not syntax.call_end)


class ContinuationHook:
    """A LogitsHook around another: the same constraint, with "another call" biased by `bias`."""

    def __init__(self, inner, section_start: str, token_bytes: Callable[[int], bytes], bias: float):
        self.inner = inner
        self.section_start = section_start.encode("utf-8")
        self.token_bytes = token_bytes
        self.bias = bias
        self.before = b""  # written before the section opened
        self.state: JsonState | None = None  # once it has

    def mask(self, logits: np.ndarray) -> None:
        self.inner.mask(logits)
        if self.state is None or self.state.in_string or not 0 <= self.state.depth <= 1:
            return
        allowed = np.flatnonzero(np.isfinite(logits))
        kinds = np.array([scan(self.state, self.token_bytes(int(t)))[1] or "" for t in allowed])
        more = allowed[kinds == "more"]
        if more.size and (kinds == "end").any():
            logits[more] += self.bias

    def accept(self, token: int) -> list[int]:
        forced = self.inner.accept(token)
        data = b"".join(self.token_bytes(t) for t in (token, *forced))
        if self.state is not None:
            self.state = scan(self.state, data)[0]
        else:
            self.before += data
            at = self.before.find(self.section_start)
            if at >= 0:
                self.state = scan(JsonState(), self.before[at + len(self.section_start):])[0]
        return forced

    def done(self) -> bool:
        return self.inner.done()


def biased(hook, syntax: CallSyntax, backend, bias: float):
    """`hook` with "another call" biased by `bias`; the hook itself when there is nothing to do."""
    if hook is None or not bias or not json_list_section(syntax):
        return hook
    return ContinuationHook(hook, syntax.section_start, backend.token_bytes, bias)
