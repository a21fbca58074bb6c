"""Tool calling for models whose template knows nothing of tools (SmolLM2, Gemma 3 base).

Prompt: the model's own turn template is kept; the tools are described in the system
message, which asks for exactly one JSON object as the answer, either

    {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}
    {"response": "It is sunny in Paris."}

Since the template cannot show calls or results, the conversation is rewritten before
rendering: an assistant turn with calls becomes that JSON object as its text, an assistant
answer becomes {"response": ...}, and each run of tool results becomes one user turn, every
result opened by a line naming the tool and the call id. The grammar constrains the answer
from its first token (empty trigger), so the object is always whole. Grammar, parser and
writer come from SYNTAX (described.py says how a family without trigger is read).

The protocol stays on for as long as the conversation has used tools, even in a request that
offers none (the last step of most agent loops): the history shows calls as JSON, and a model
told to answer in prose copies that JSON into its answer. With no tools offered the
instructions ask for {"response": ...} only, and the runtime's grammar allows nothing else.
"""

from __future__ import annotations

import json

from ..messages import Message, ToolSpec
from ..vocab import SpecialTokens
from .base import CallSyntax, register
from .described import DescribedFormat
from .templated import uses_tools

RESPONSE, TOOL_CALLS = "response", "tool_calls"
ANSWER_SCHEMA = {"type": "object", "properties": {RESPONSE: {"type": "string"}}, "required": [RESPONSE],
                 "additionalProperties": False}
SYNTAX = CallSyntax(trigger="", section_start=f'{{"{TOOL_CALLS}": [', separator=", ", section_end="]}",
                    answer_schema=ANSWER_SCHEMA)
INSTRUCTIONS = """You can use tools. Each tool is described by a JSON object with its name, what it does, and the JSON Schema of its arguments:
{tools}

Answer with exactly one JSON object and nothing else, in one of two forms:
{{"tool_calls": [{{"name": "<tool name>", "arguments": {{<arguments>}}}}]}} to call one or more tools;
{{"response": "<your answer>"}} to answer directly.

Call a tool only when one of these tools does what the user asks; when none does, answer directly. Make each needed call once, and several calls only for several different requests. Take every argument value from the user's words."""
INSTRUCTIONS_WITHOUT_TOOLS = """No tools are available now. Answer with exactly one JSON object and nothing else:
{"response": "<your answer>"}"""


def describe_tools(tools: list[ToolSpec]) -> str:
    if not tools:
        return INSTRUCTIONS_WITHOUT_TOOLS
    lines = [json.dumps({"name": t.name, "description": t.description, "parameters": t.parameters},
                        ensure_ascii=False) for t in tools]
    return INSTRUCTIONS.format(tools="\n".join(lines))


def answer_text(msg: Message, protocol: bool) -> str:
    """An assistant turn as the JSON object the model is asked to write."""
    if msg.get("tool_calls"):
        # The protocol has no room for text beside calls; the calls are what the turn did.
        calls = [{"name": c["function"]["name"], "arguments": c["function"]["arguments"]} for c in msg["tool_calls"]]
        return json.dumps({TOOL_CALLS: calls}, ensure_ascii=False)
    if protocol:
        return json.dumps({RESPONSE: msg["content"]}, ensure_ascii=False)
    return msg["content"]


def result_text(msg: Message) -> str:
    return f"Result of tool {msg['name']} (call id {msg.get('tool_call_id', '')}):\n{msg['content']}"


def rewrite(messages: list[Message], tools: list[ToolSpec] | None) -> list[Message]:
    protocol = uses_tools(messages, tools)
    out: list[Message] = []
    after_result = False
    for msg in messages:
        if msg["role"] == "tool":
            if after_result:  # one user turn per run of results: templates want turns to alternate
                out[-1]["content"] += "\n\n" + result_text(msg)
            else:
                out.append({"role": "user", "content": result_text(msg)})
            after_result = True
            continue
        after_result = False
        if msg["role"] == "assistant":
            out.append({"role": "assistant", "content": answer_text(msg, protocol)})
        else:
            out.append(msg)
    if protocol:
        if out and out[0]["role"] == "system":
            out[0] = {**out[0], "content": out[0]["content"] + "\n\n" + describe_tools(tools)}
        else:
            out.insert(0, {"role": "system", "content": describe_tools(tools)})
    return out


@register
class GenericFormat(DescribedFormat):
    name = "generic"
    builtin = "builtin:chatml"
    builtin_when_template_lacks_tools = False
    shapes = (SYNTAX,)

    def adapt(self, messages: list[Message], tools: list[ToolSpec] | None):
        # The template never sees `tools`: a template that knew them would show them twice.
        return rewrite(messages, tools), None

    @classmethod
    def detect(cls, template: str | None, special: SpecialTokens) -> int:
        return 1  # any template can be driven this way; every native family scores higher
