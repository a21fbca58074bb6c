"""The outlines engine (outlines_core): grammar tree → one regular expression → token index.

The design card's named alternative to llguidance. A regular expression cannot say "free text
up to the first trigger, then a call", nor name a control token, so this engine serves the
modes that are constrained from the first token (required, named, the generic family,
response_format) and rejects the rest with a SchemaError naming what it cannot express.
Index construction walks the whole vocabulary per grammar; it is cached.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from functools import lru_cache

import numpy as np
from outlines_core import Guide, Index, Vocabulary
from outlines_core.json_schema import build_regex_from_schema

from .llguidance_engine import JSON_OPTIONS, apply_bitmask
from .errors import GrammarEngineError, SchemaError
from .refs import recursive_definition, reference_depth
from .spec import Alt, Json, Lit, Node, Optional_, Pattern, RawText, Repeat, Seq, Special, Text

# $refs resolved one inside another that outlines_core still builds right (measured: 4;
# the fifth becomes an empty object).
MAX_REFERENCE_DEPTH = 4

# No free whitespace, as llguidance is told; outlines then writes "," and ":" without the
# space llguidance puts after them. Both are valid, compact JSON.
_WHITESPACE = "" if not JSON_OPTIONS["whitespace_flexible"] else r"[ ]?"


# Keywords outlines_core's regex builder accepts but does not enforce (seen: "maximum": 9
# still admits 5791168; "oneOf" is built as "anyOf", so 123 passes oneOf [integer, number]).
# A schema using one is refused, never half-enforced.
UNENFORCED = frozenset({
    "oneOf", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minProperties",
    "maxProperties", "uniqueItems", "not", "if", "then", "else", "contains", "patternProperties",
    "dependentRequired", "dependentSchemas", "propertyNames",
})


def unenforced(schema, path: str = "") -> tuple[str, str] | None:
    """The first (path, keyword) in `schema` that outlines would silently ignore."""
    if isinstance(schema, list):
        for i, item in enumerate(schema):
            hit = unenforced(item, f"{path}/{i}")
            if hit:
                return hit
        return None
    if not isinstance(schema, dict):
        return None
    for key, value in schema.items():
        if key in ("enum", "const", "default", "examples", "description", "title"):
            continue
        if key in UNENFORCED or (key == "additionalProperties" and isinstance(value, dict)):
            return (path or "(root)", key)
        hit = unenforced(value, f"{path}/{key}")
        if hit:
            return hit
    return None


def to_regex(node: Node) -> str:
    if isinstance(node, Lit):
        return re.escape(node.text)
    if isinstance(node, Json):
        hit = unenforced(node.schema)
        if hit:
            raise SchemaError(f"the outlines engine cannot enforce {hit[1]!r}; use llguidance",
                              where="grammar (outlines)", path=hit[0].lstrip("/"))
        # outlines_core resolves $refs nested only a few deep, then puts an empty object
        # there (for a fifth level that must be a boolean: {"a": {"a": {"a": {"a": {}}}}}),
        # and so unrolls any recursion into something else: refused, never half-enforced.
        recursive = recursive_definition(node.schema)
        if recursive:
            raise SchemaError(f"the outlines engine cannot enforce a recursive $ref (definition {recursive!r}); "
                              "use llguidance", where="grammar (outlines)")
        depth = reference_depth(node.schema)
        if depth > MAX_REFERENCE_DEPTH:
            raise SchemaError(f"the outlines engine resolves $refs nested at most {MAX_REFERENCE_DEPTH} deep, "
                              f"and this schema nests {depth}; use llguidance", where="grammar (outlines)")
        try:
            body = build_regex_from_schema(node.schema_json, _WHITESPACE)
        except Exception as exc:  # outlines_core raises plain errors for unsupported keywords
            raise SchemaError(str(exc), where="grammar (outlines)") from None
        return f"(?:{body})"
    if isinstance(node, Seq):
        return "".join(to_regex(i) for i in node.items)
    if isinstance(node, Alt):
        return "(?:" + "|".join(to_regex(o) for o in node.options) + ")"
    if isinstance(node, Optional_):
        return f"(?:{to_regex(node.item)})?"
    if isinstance(node, Repeat):
        item = to_regex(node.item)
        if node.max == 1:
            return item
        more, least = f"(?:{to_regex(node.separator)}{item})", max(node.min, 1)
        if node.max == least:
            return item + more * (least - 1)
        bound = "*" if node.max is None else f"{{0,{node.max - least}}}"
        return f"{item}{more * (least - 1)}{more}{bound}"
    if isinstance(node, Special):
        raise SchemaError(f"the outlines engine cannot require the control token {node.text!r}; use llguidance",
                          where="grammar (outlines)")
    if isinstance(node, Pattern):
        return f"(?:{node.regex})"
    if isinstance(node, RawText):
        raise SchemaError("the outlines engine cannot express raw-text arguments that end at a marker; use llguidance",
                          where="grammar (outlines)")
    if isinstance(node, Text):
        raise SchemaError("the outlines engine cannot express free text followed by a tool call "
                          "(tool_choice='auto' for this model family); use llguidance", where="grammar (outlines)")
    raise TypeError(f"unknown grammar node {node!r}")


class GuideHook:
    def __init__(self, guide: Guide, n_vocab: int, stop_ids: frozenset[int], eos: int, regex: str = ""):
        self.guide = guide
        self.regex = regex  # for the error report
        self.consumed: list[int] = []
        self.bitmask = np.zeros((n_vocab + 31) // 32, dtype=np.int32)
        self.stop_ids = sorted(stop_ids)
        self.eos = eos

    def mask(self, logits: np.ndarray) -> None:
        self.bitmask[:] = 0
        with self._engine_errors():
            self.guide.write_mask_into(self.bitmask.ctypes.data, self.bitmask.size, 4)
        if self._eos_allowed():
            words = self.bitmask.view(np.uint32)
            for t in self.stop_ids:  # outlines knows one eos; the model may end its turn with any
                words[t // 32] |= np.uint32(1 << (t % 32))
        apply_bitmask(logits, self.bitmask)

    def _eos_allowed(self) -> bool:
        return bool((self.bitmask[self.eos // 32] >> (self.eos % 32)) & 1)

    def accept(self, token: int) -> list[int]:
        with self._engine_errors():
            self.guide.advance(token, return_tokens=False)
        self.consumed.append(token)
        return []  # no jump-forward: finding the forced tokens would cost a full mask scan

    def done(self) -> bool:
        return self.guide.is_finished() and self.guide.get_tokens() == [self.eos]

    @contextmanager
    def _engine_errors(self):
        try:
            yield
        except Exception as exc:  # outlines_core raises plain ValueErrors from Rust
            raise GrammarEngineError("outlines", f"{type(exc).__name__}: {exc}", grammar=self.regex,
                                     tokens=self.consumed) from exc


class OutlinesEngine:
    name = "outlines"

    def __init__(self, tokens: list[bytes], control_ids: frozenset[int], stop_ids: frozenset[int], tokenize):
        self.n_vocab = len(tokens)
        self.stop_ids = stop_ids
        self.eos = min(stop_ids)
        by_bytes: dict[bytes, list[int]] = {}
        for i, piece in enumerate(tokens):
            if piece and i not in control_ids and i not in stop_ids:
                by_bytes.setdefault(piece, []).append(i)
        self.vocabulary = Vocabulary(self.eos, by_bytes)
        self._index = lru_cache(maxsize=64)(self._build_index)

    def _build_index(self, node: Node) -> tuple[Index, str]:
        regex = to_regex(node)
        return Index(regex, self.vocabulary), regex

    def compile(self, node: Node) -> None:
        self._index(node)

    def constraint(self, node: Node) -> GuideHook:
        index, regex = self._index(node)
        return GuideHook(Guide(index), self.n_vocab, self.stop_ids, self.eos, regex)
