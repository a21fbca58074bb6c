"""The parser of a family's calls, built from its CallSyntax: what the grammar writes is what it reads.

One description (formats.base.CallSyntax) gives the grammar (grammars/spec.py), write(calls)
and, here, the incremental parser of the JSON-body kinds: "json" (an object with name_key and
args_key) and "name_args" (NAME, args_marker, JSON arguments). A family may write several
shapes after one trigger (Mistral: a JSON list, a lone object, NAME[ARGS]{...}); its parser
reads all of them, and the text after the trigger picks one. A family file is then a
description, its render and its detect (hermes.py, llama3.py, mistral.py, generic.py).

How a description is read (besides what every parser does, see stream.py):
- Outside calls, text is content up to a trigger, a section prefix or a reasoning opening.
  A reasoning block is ReasoningDelta, also when the output ends inside it; no trigger in it
  opens a call. Whitespace right after a reasoning block or a call section is layout, dropped.
- A section's markers are read as the grammar writes them, with free whitespace between
  their words; a closing marker (call_end, section_end) that the output ends right before is
  forgiven: the model stopped where only that marker was left.
- Calls are joined by `separator` inside one section. A separator that is only whitespace
  means each call is a section of its own (Hermes' <tool_call> blocks), with content between.
- A "json" body is an object whose keys may come in any order: the name under name_key, the
  arguments under args_key or one of args_aliases (as an object, or a JSON string holding
  one; none means {}), other keys skipped. A "name_args" name must be a plain identifier and
  come within MAX_NAME characters; call_id_marker and the id after it are skipped.
- A family with no trigger (generic) answers with one JSON object: the answer key (the one
  property of answer_schema) streams its string as content, the section's key holds the
  calls, other keys are skipped; an output that does not open that object is content, all of
  it. The output ending inside the answer string or after it is not an error.
"""

from __future__ import annotations

import json
import re
from typing import ClassVar

from ..vocab import SpecialTokens
from .base import CallSyntax
from .stream import ENDED, Malformed, Read, StreamParser
from .templated import TemplateFormat

MAX_NAME = 256
_NAME = re.compile(r"[\w.\-]+")


def _words(text: str, trigger: str = "") -> list[str]:
    """A marker's parts, between which whitespace is free: its words, the trigger on its own."""
    parts: list[str] = []
    for word in text.split():
        if trigger and word.startswith(trigger) and word != trigger:
            parts += [trigger, word[len(trigger):]]
        else:
            parts.append(word)
    return parts


def _answer_key(section_start: str) -> tuple[str, str]:
    """The key of a section that is one key of the answer object ('{"tool_calls": [' →
    "tool_calls"), and what opens its value ("[")."""
    rest = section_start.strip()
    if not rest.startswith("{"):
        raise ValueError(f"a family without trigger opens its answer object with its section, not {section_start!r}")
    key, end = json.JSONDecoder().raw_decode(rest[1:].lstrip())
    value = rest[1:].lstrip()[end:].lstrip()
    if not value.startswith(":"):
        raise ValueError(f"no ':' after the section key in {section_start!r}")
    return key, value[1:].strip()


def _answer_opening(text: str, keys: tuple[str, ...]) -> str | None:
    """Which of `keys` the answer object `text` opens with: the key, "" for anything else
    (plain text), None while undecided."""
    rest = text.lstrip()
    if not rest:
        return None
    if rest[0] != "{":
        return ""
    rest = rest[1:].lstrip()
    if not rest:
        return None
    if rest[0] != '"':
        return ""
    rest = rest[1:]
    for key in keys:
        quoted = key + '"'
        if rest.startswith(quoted):
            after = rest[len(quoted):].lstrip()
            return None if not after else key if after[0] == ":" else ""
    return None if any((k + '"').startswith(rest) for k in keys) else ""


class DescribedParser(StreamParser):
    """The parser of the calls `shapes` describe; shapes after one trigger share its reasoning
    blocks (those of the first shape)."""

    def __init__(self, *shapes: CallSyntax, id_style: str = "openai"):
        self.shapes = shapes
        self.id_style = id_style
        self.blocks = dict(shapes[0].reasoning)
        super().__init__()

    # --- outside calls ---------------------------------------------------------------------------

    def parse(self):
        first = self.shapes[0]
        if not first.trigger:
            yield from self.answer(first)
            return
        prefixes = tuple(p for s in self.shapes for p in s.section_prefixes)
        markers = tuple(dict.fromkeys((*(s.trigger for s in self.shapes), *prefixes, *self.blocks)))
        while True:
            marker = yield from self.text_until(markers, self.content)
            if marker is None:
                return
            if marker in self.blocks:
                yield from self.expect(marker)
                if not (yield from self.reasoning_block(self.blocks[marker])):
                    return
            else:
                yield from self.call_section(marker, prefixed=marker in prefixes)
            yield from self.skip_space()

    def call_section(self, marker: str, prefixed: bool) -> Read:
        """One call section, from `marker` (its trigger, or a prefix written before it)."""
        self.open_section()
        if prefixed:
            yield from self.expect(marker)
        shape, opening = yield from self.shape("" if prefixed else marker, marker)
        yield from self.markers(opening)
        yield from self.call_list(shape, shape.section_end)
        self.close_section()

    def shape(self, trigger: str, label: str) -> Read:
        """The shape the text after `trigger` writes, and the words of its opening still to read."""
        options = [s for s in self.shapes if not trigger or s.trigger == trigger]
        openings = [_words(s.section_start + s.call_start, s.trigger) for s in options]
        consumed = bool(trigger) and all(words[:1] == [trigger] for words in openings)
        if consumed:
            yield from self.expect(trigger)
            openings = [words[1:] for words in openings]
        following = yield from self.skip_space()
        heads = ["".join(words) + ("{" if s.body == "json" else "") for s, words in zip(options, openings)]
        for s, words, head in zip(options, openings, heads):
            if head and head[0] == following:
                return s, words
        for s, words, head in zip(options, openings, heads):
            if not head:  # a name_args body right after the trigger: any text may start the name
                return s, words
        if following is None:
            raise Malformed(ENDED)
        raise Malformed(f"expected a tool call after {label!r}")

    def markers(self, words: list[str]) -> Read:
        for word in words:
            yield from self.skip_space()
            yield from self.expect(word)

    def closing(self, text: str) -> Read:
        """A closing marker, forgiven when the output ends before it."""
        for word in _words(text):
            if (yield from self.skip_space()) is None:
                return
            yield from self.expect(word)

    # --- calls -------------------------------------------------------------------------------------

    def call_list(self, shape: CallSyntax, end: str) -> Read:
        """Calls joined by the shape's separator, up to `end` (the section's closing)."""
        while True:
            yield from self.body(shape)
            yield from self.closing(shape.call_end)
            self.end_call()
            if not (yield from self.another(_words(shape.separator), _words(end))):
                return
            yield from self.markers(_words(shape.call_start))

    def another(self, separator: list[str], end: list[str]) -> Read:
        """Whether another call follows (its separator read); else the section's end is read."""
        if not separator:
            yield from self.closing(" ".join(end))
            return False
        if (yield from self.skip_space()) is None:
            return False
        if (yield from self.starts_with(separator[0])):
            yield from self.markers(separator)
            return True
        if not end:
            return False  # what follows the section is content again (Llama 3's calls end so)
        if (yield from self.starts_with(end[0])):
            yield from self.closing(" ".join(end))
            return False
        raise Malformed(f"expected {separator[0]!r} or {end[0]!r} between tool calls")

    def starts_with(self, literal: str) -> Read:
        """Whether the text goes on with `literal` (left unread)."""
        while len(self.buf) < len(literal) and literal.startswith(self.buf):
            if not (yield from self.more()):
                return False
        return self.buf.startswith(literal)

    def body(self, shape: CallSyntax) -> Read:
        if (yield from self.skip_space()) is None:
            raise Malformed(ENDED)
        if shape.body == "json":
            self.name_keys, self.args_keys = (shape.name_key,), (shape.args_key, *shape.args_aliases)
            yield from self.call_object()
        elif shape.body == "name_args":
            yield from self.named_call(shape)
        else:
            raise ValueError(f"DescribedParser reads json and name_args bodies, not {shape.body!r}")

    def named_call(self, shape: CallSyntax) -> Read:
        head = yield from self.read_until(shape.args_marker, MAX_NAME)
        name = (head.split(shape.call_id_marker)[0] if shape.call_id_marker else head).strip()
        if not _NAME.fullmatch(name):
            raise Malformed(f"the text before {shape.args_marker} is not a tool name")
        self.start_call(name)
        if (yield from self.skip_space()) is None:
            raise Malformed("the output ended before the arguments")
        yield from self.arguments(self.argument)

    # --- a family without trigger: the whole answer is one JSON object --------------------------------

    def answer(self, shape: CallSyntax) -> Read:
        key, opening = _answer_key(shape.section_start)
        answer_key = next(iter((shape.answer_schema or {}).get("properties", {})), None)
        keys = (key,) if answer_key is None else (answer_key, key)
        while (form := _answer_opening(self.buf, keys)) is None and (yield from self.more()):
            pass
        if form:
            yield from self.skip_space()
            self.open_section()
            if not (yield from self.answer_object(shape, key, opening, answer_key)):
                return
            self.close_section()
            yield from self.skip_space()
        yield from self.text_until((), self.content)

    def answer_object(self, shape: CallSyntax, key: str, opening: str, answer_key: str | None) -> Read:
        """The answer object; False when the output ended inside it (outside any call)."""
        end = shape.section_end.strip().removesuffix("}")  # the list's closing; "}" is the object's
        yield from self.expect("{")
        while (yield from self.skip_space()) != "}":
            name = yield from self.json_string()
            yield from self.skip_space()
            yield from self.expect(":")
            if (yield from self.skip_space()) is None:
                return False
            if name == answer_key and self.buf[0] == '"':
                if not (yield from self.json_string_text(self.content)):
                    return False
            elif name == key:
                yield from self.markers(_words(opening))
                yield from self.call_list(shape, end)
            else:
                yield from self.json_value(lambda _: None)
            after = yield from self.skip_space()
            if after is None:
                return False
            if after == ",":
                self.take(1)
            elif after != "}":
                raise Malformed("expected ',' or '}' in the answer object")
        self.take(1)
        return True


class DescribedFormat(TemplateFormat):
    """A family whose calls are described by `shapes`: the parser reads every shape; the
    grammar and write() use call_syntax(special), the first shape unless the family picks one
    by vocabulary."""

    shapes: ClassVar[tuple[CallSyntax, ...]]

    def call_syntax(self, special: SpecialTokens) -> CallSyntax:
        return self.shapes[0]

    def parser(self, tools) -> DescribedParser:
        return DescribedParser(*self.shapes, id_style=self.call_id_style)
