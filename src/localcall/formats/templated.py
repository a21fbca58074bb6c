"""The render flow every family shares: OpenAI messages → template variables → prompt text.

Messages arrive as the OpenAI API sends them; templates expect what transformers'
apply_chat_template gives them. So before rendering, every message is copied into that shape
(tool-call arguments as dicts, content as a string, tool results carrying the called name).
Which template runs: the model's own, unless there is none or it cannot show tools while the
conversation needs them; then the family's builtin template, written from its documented
format, speaks for the model.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Callable, ClassVar

from ..messages import Message, ToolSpec
from ..vocab import SpecialTokens
from .base import ChatFormat
from .jinja import BUILTIN_PREFIX, load_builtin_template, render_template

_MENTIONS_TOOLS = re.compile(r"\btools\b")
_MENTIONS_CALLS = re.compile(r"\btool_calls\b")


def knows_tools(template: str) -> bool:
    """Whether a template can show both the offered tools and the calls made."""
    return bool(_MENTIONS_TOOLS.search(template) and _MENTIONS_CALLS.search(template))


def uses_tools(messages: list[Message], tools: list[ToolSpec] | None) -> bool:
    return bool(tools) or any(m.get("tool_calls") or m["role"] == "tool" for m in messages)


def normalize_messages(messages: list[Message]) -> list[Message]:
    """Fresh copies in the shape templates read; the caller's messages are left untouched."""
    names_by_id: dict[str, str] = {}
    out = []
    for original in messages:
        msg = dict(original)
        msg["content"] = _content_text(msg.get("content"))
        if msg.get("tool_calls"):
            msg["tool_calls"] = [_template_call(call) for call in msg["tool_calls"]]
            names_by_id.update((c["id"], c["function"]["name"]) for c in msg["tool_calls"])
        if msg["role"] == "tool" and not msg.get("name"):
            # Some formats name the tool a result comes from; OpenAI only sends the call's id.
            msg["name"] = names_by_id.get(msg.get("tool_call_id", ""), "")
        out.append(msg)
    return out


def _content_text(content) -> str:
    # Templates concatenate content; None (an assistant turn with only calls) would fail or render "None".
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if part.get("type") != "text":
            raise ValueError(f"message content part of type {part.get('type')!r} is not supported; only text")
        parts.append(part["text"])
    return "".join(parts)


def _template_call(call: dict) -> dict:
    fn = call.get("function", call)
    arguments = fn.get("arguments", {})
    if isinstance(arguments, str):
        # OpenAI sends arguments as a JSON text; templates index and tojson them as a dict.
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            pass  # not JSON: the template shows the text as it came
    return {"id": call.get("id", ""), "type": "function", "function": {"name": fn["name"], "arguments": arguments}}


class TemplateFormat(ChatFormat):
    """A family that renders through a Jinja template; families differ in builtin and adapt()."""

    builtin: ClassVar[str | None] = None  # "builtin:NAME", the family's own template, if it has one
    # False for families whose point is driving templates that know nothing of tools.
    builtin_when_template_lacks_tools: ClassVar[bool] = True

    def __init__(self, now: Callable[[], datetime] = datetime.now):
        self.now = now  # templates print today's date (Llama 3.1); tests fix the clock

    def render(self, messages: list[Message], tools: list[ToolSpec] | None, *, template: str | None,
               special: SpecialTokens, add_generation_prompt: bool = True) -> str:
        messages = normalize_messages(messages)
        source, label = self.pick_template(template, uses_tools(messages, tools), special)
        messages, tool_dicts = self.adapt(messages, tools or None)
        return render_template(source, label, messages=messages, tools=tool_dicts, bos_token=special.bos,
                               eos_token=special.eos, add_generation_prompt=add_generation_prompt, now=self.now)

    def pick_template(self, template: str | None, tools_used: bool, special: SpecialTokens) -> tuple[str, str]:
        """(source, label for errors)."""
        if template is not None and template.startswith(BUILTIN_PREFIX):
            return load_builtin_template(template), template
        if template is None or (tools_used and self.builtin_when_template_lacks_tools and not knows_tools(template)):
            name = self.builtin_name(special)
            return load_builtin_template(name), name
        return template, "from the model"

    def builtin_name(self, special: SpecialTokens) -> str:
        if self.builtin is None:
            raise ValueError(f"the {self.name} family renders with the model's own template, and this model has "
                             "none that shows tools; set chat_template in models.toml")
        return self.builtin

    def adapt(self, messages: list[Message], tools: list[ToolSpec] | None) -> tuple[list[Message], list[dict] | None]:
        """What the template receives; by default the messages as they are and the tools as OpenAI dicts."""
        return messages, [t.to_openai() for t in tools] if tools else None
