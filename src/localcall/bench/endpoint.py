"""A chat target that is any OpenAI-compatible server, so the same suites can score it."""

from __future__ import annotations

import os

from ..messages import ChatResult, ToolCall, ToolSpec, Usage


def _client(base_url: str, timeout: float = 600.0):
    from openai import OpenAI  # the bench extra; only needed for --endpoint

    # Local servers ignore the key, but the client insists on one.
    return OpenAI(base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY", "localcall"), timeout=timeout)


def served_models(base_url: str) -> list[str]:
    return [m.id for m in _client(base_url).models.list()]


class OpenAITarget:
    def __init__(self, base_url: str, model: str, *, timeout: float = 600.0):
        self.model = model
        self.client = _client(base_url, timeout)

    def chat(self, messages: list[dict], tools: list[ToolSpec] | None = None, tool_choice="auto", *,
             constrained: bool = True, **options) -> ChatResult:
        if not constrained:
            raise ValueError("an endpoint decides its own decoding; "
                             "the unconstrained ablation needs an in-process model")
        # Through extra_body, fields the openai client does not know reach the server too
        # (localcall's allow_repeated_tool_calls, say).
        request = dict(model=self.model, messages=messages, extra_body=options)
        if tools:
            request["tools"] = [t.to_openai() for t in tools]
            request["tool_choice"] = tool_choice  # the OpenAI value: "auto" | "none" | "required" | {...}
        response = self.client.chat.completions.create(**request)
        choice = response.choices[0]
        usage = response.usage or Usage()
        return ChatResult(
            content=choice.message.content,
            tool_calls=[ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
                        for c in choice.message.tool_calls or []],
            finish_reason=choice.finish_reason or "stop",
            usage=Usage(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens))
