"""The llguidance engine: grammar tree → Lark (with inline %json) → LLMatcher → token masks.

The default engine (benchmarks/grammar.py measures why): it computes a mask in ~0.1 ms on a
49k vocabulary, compiles a tool schema in about a millisecond, and hands back the tokens a
grammar forces so the loop can evaluate them as one batch (jump-forward).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

import llguidance
import llguidance.numpy as llnp
import numpy as np

from .errors import GrammarEngineError, SchemaError
from .spec import Alt, Json, Lit, Node, Optional_, Pattern, RawText, Repeat, Seq, Special, Text


JSON_OPTIONS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


class LarkWriter:
    """Writes a grammar tree as llguidance Lark: one `start` rule, helper rules as needed."""

    def __init__(self):
        self.rules: list[str] = []
        self._names: dict[Node, str] = {}

    def write(self, root: Node) -> str:
        start = self.expr(root)
        return "\n".join([f"start: {start}", *self.rules]) + "\n"

    def _rule(self, node: Node | tuple, prefix: str, body: str, options: str = "") -> str:
        name = self._names.get(node)
        if name is None:
            name = self._names[node] = f"{prefix}{len(self._names)}"
            self.rules.append(f"{name}{options}: {body}")
        return name

    def expr(self, node: Node) -> str:
        if isinstance(node, Lit):
            return json.dumps(node.text, ensure_ascii=False) if node.text else '""'
        if isinstance(node, Special):
            return f"<[{node.token_id}]>"
        if isinstance(node, Json):
            # Compact, canonical separators: fewer tokens, and more of them forced.
            schema = {**node.schema, "x-guidance": JSON_OPTIONS}
            return self._rule(node, "json", f"%json {json.dumps(schema, ensure_ascii=False)}")
        if isinstance(node, Text):
            return self._text(node)
        if isinstance(node, RawText):
            bound = f"{{{node.min_length},{'' if node.max_length is None else node.max_length}}}"
            if not node.stop:  # ends where the grammar goes on with a control token
                return self._rule(node, "RAW", f"/(?s:.{bound})/")
            # Lazy: the value ends at the first occurrence of its stop text, which it thus
            # never contains.
            return self._rule(node, "raw", f"/(?s:.{bound}){_regex_literal(node.stop)}/", "[lazy]")
        if isinstance(node, Pattern):
            return self._rule(node, "PATTERN", f"/{node.regex}/")
        if isinstance(node, Seq):
            return " ".join(self.expr(i) for i in node.items) or '""'
        if isinstance(node, Alt):
            return "(" + " | ".join(self.expr(o) for o in node.options) + ")"
        if isinstance(node, Optional_):
            return f"({self.expr(node.item)})?"
        if isinstance(node, Repeat):
            item = self.expr(node.item)
            if node.max == 1:
                return item
            more = f"({self.expr(node.separator)} {item})"
            required = " ".join([item] + [more] * (max(node.min, 1) - 1))
            if node.max == max(node.min, 1):
                return required
            bound = "*" if node.max is None else f"{{0,{node.max - max(node.min, 1)}}}"
            return f"{required} {more}{bound}"
        raise TypeError(f"unknown grammar node {node!r}")

    def _text(self, node: Text) -> str:
        excluded = ""  # a text holding none of `excluding`: the regex, and not any text containing one
        if node.excluding:
            excluded = f" & ~/(?s:.*)(?:{'|'.join(map(_regex_literal, node.excluding))})(?s:.*)/"
        if node.lazy_until:
            # Lazy: the lexeme ends at the first occurrence of the trigger.
            trigger = json.dumps(node.lazy_until, ensure_ascii=False)
            if excluded:  # the text before the trigger is a lexeme of its own, with the exclusion
                head = self._rule(("head text", node.excluding), "HEAD", f"/(?s:.*)/{excluded}")
                return self._rule(node, "head", f"{head} {trigger}", "[lazy]")
            return self._rule(node, "head", f"/(?s:.*)/ {trigger}", "[lazy]")
        if node.not_starting_with:
            first = "".join("\\" + c if not c.isalnum() else c for c in node.not_starting_with)
            return self._rule(node, "TEXT", f"/[^{first}](?s:.*)/{excluded}")
        return self._rule(node, "TEXT", f"/(?s:.+)/{excluded}")


def _regex_literal(text: str) -> str:
    """`text` as a literal inside a Lark /regex/ (regex metacharacters and the / delimiter escaped)."""
    return "".join("\\n" if c == "\n" else "\\" + c if c in r".^$*+?()[]{}|\/" else c for c in text)


def to_lark(node: Node) -> str:
    return LarkWriter().write(node)


def apply_bitmask(logits: np.ndarray, bitmask: np.ndarray) -> None:
    """Set to -inf every logit whose bit is 0 in a packed int32 token bitmask (the layout both
    llguidance and outlines_core write). unpackbits is a few µs; llguidance.numpy's own
    apply kernel builds vocabulary-sized temporaries on every call."""
    allowed = np.unpackbits(bitmask.view(np.uint8), bitorder="little", count=logits.shape[0])
    logits[allowed == 0] = -np.inf


class MatcherHook:
    """A LogitsHook over one LLMatcher: mask, accept (with forced tokens), done."""

    def __init__(self, matcher: llguidance.LLMatcher, n_vocab: int, grammar: str = ""):
        self.matcher = matcher
        self.n_vocab = n_vocab
        self.grammar = grammar  # the Lark text, for the error report
        self.bitmask = llnp.allocate_token_bitmask(1, n_vocab)
        self.consumed: list[int] = []

    def mask(self, logits: np.ndarray) -> None:
        llnp.fill_next_token_bitmask(self.matcher, self.bitmask)
        self._raise_on_error()
        apply_bitmask(logits, self.bitmask)

    def accept(self, token: int) -> list[int]:
        self.matcher.consume_token(token)
        self._raise_on_error()
        self.consumed.append(token)
        forced = self.matcher.compute_ff_tokens()
        self._raise_on_error()
        if forced:
            self.matcher.consume_tokens(forced)
            self._raise_on_error()
            self.consumed.extend(forced)
        return forced

    def done(self) -> bool:
        return self.matcher.is_stopped()

    def _raise_on_error(self) -> None:
        if self.matcher.is_error():
            raise GrammarEngineError("llguidance", self.matcher.get_error(), grammar=self.grammar, tokens=self.consumed)


class LLGuidanceEngine:
    name = "llguidance"

    def __init__(self, tokens: list[bytes], control_ids: frozenset[int], stop_ids: frozenset[int], tokenize):
        """tokens: every token's bytes; tokenize: text → ids, used to tokenize forced text."""
        marked = [b"\xff" + t if i in control_ids else t for i, t in enumerate(tokens)]
        wrapper = llguidance.TokenizerWrapper(_Vocab(marked, tokenize, min(stop_ids)))
        self.n_vocab = len(tokens)
        self.tokenizer = llguidance.LLTokenizer(wrapper, n_vocab=len(tokens), eos_token=sorted(stop_ids))
        self._compiled = lru_cache(maxsize=256)(self._compile)

    def _compile(self, node: Node) -> tuple[llguidance.LLMatcher, str]:
        lark = to_lark(node)
        matcher = llguidance.LLMatcher(self.tokenizer, llguidance.grammar_from("lark", lark), log_level=0)
        if matcher.is_error():
            raise SchemaError(_clean_error(matcher.get_error()), where="grammar (llguidance)")
        return matcher, lark

    def compile(self, node: Node) -> None:
        """Compile (and cache) a grammar now, raising SchemaError if the engine cannot enforce it."""
        self._compiled(node)

    def constraint(self, node: Node) -> MatcherHook:
        matcher, lark = self._compiled(node)
        return MatcherHook(matcher.deep_copy(), self.n_vocab, lark)


class _Vocab:
    """The object llguidance.TokenizerWrapper reads a vocabulary from."""

    def __init__(self, tokens: list[bytes], tokenize, eos: int):
        self.tokens = tokens
        self.eos_token_id = eos
        self.bos_token_id = None
        self._tokenize = tokenize

    def __call__(self, text):
        # Bytes go through as they are: forced bytes can end inside a character, and the
        # spelling tokenizer (vocab.py) spells those from vocabulary entries.
        return self._tokenize(text)


def _clean_error(message: str) -> str:
    """llguidance errors carry the whole grammar and a position in our generated Lark; the
    first line, past that position, says what is wrong ("Unimplemented keys: ["not"]")."""
    if not message:
        return "invalid grammar"
    first = message.split("<grammar>")[0].strip().splitlines()[0]
    return re.sub(r"^at \d+\(\d+\): (failed to compile JSON schema: )?", "", first)
