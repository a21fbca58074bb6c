"""The Responses API: POST /v1/responses, GET and DELETE /v1/responses/{id}.

A request becomes a chat request for the same runtime, so the grammar guarantee is the
same as on /v1/chat/completions: `input` (text, or items: messages, `function_call`,
`function_call_output`) after the stored conversation of `previous_response_id` and the
`instructions` as the system message; the flat function `tools`; `tool_choice` (auto, none,
required, a function, allowed_tools); `text.format` as response_format; `max_output_tokens`.
Server-side tools (`--tools`) run here as on chat completions.

The answer is a Response object whose `output` holds a `reasoning` item (families that
think), a `message` item with the text, and one `function_call` item per call. With
`stream`, the Responses event types: response.created, response.in_progress, then per item
response.output_item.added, its deltas (response.output_text.delta,
response.function_call_arguments.delta, response.reasoning_text.delta) and their .done
events, response.output_item.done; at the end response.completed (or response.incomplete
when max_output_tokens cut it short). Unless `store` is false, the response and its
conversation are kept (response_store.py).
"""

from __future__ import annotations

import json
import secrets
import threading
from typing import Annotated, Any, AsyncIterator, Callable, Literal, Union

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from ..messages import (ChatEvent, ChatResult, ContentDelta, MalformedToolCall, Message, ReasoningDelta,
                        ToolCallDelta, ToolCallEnd, ToolCallStart)
from ..runtime.sampling import TokenLogprob
from . import errors
from .catalog import Catalog
from .errors import APIError, bad_request
from .generations import Batch, generations, respond
from .requestlog import STATE_KEY, RequestStats
from .response_store import ResponseStore
from .schemas import (INT64, TOOL_NAME, FunctionDefinition, JsonSchemaFormat, LocalcallExtension, _Request,
                      client_finish_reason, now)

# --- the request ---------------------------------------------------------------------------


class InputText(_Request):
    type: Literal["input_text", "output_text"]
    text: str

    @field_validator("type", mode="before")
    @classmethod
    def _text_only(cls, value: Any) -> Any:
        if value not in ("input_text", "output_text"):
            raise ValueError(f"content parts of type {value!r} are not supported: localcall serves text models; "
                             f"send input_text parts")
        return value


def _joined(content: str | list[InputText]) -> str:
    return content if isinstance(content, str) else "\n".join(p.text for p in content)


class MessageItem(_Request):
    type: Literal["message"] = "message"
    role: Literal["user", "system", "developer", "assistant"]
    content: str | list[InputText]


class FunctionCallItem(_Request):
    type: Literal["function_call"]
    call_id: str = Field(min_length=1)
    name: str = Field(pattern=TOOL_NAME)
    arguments: str


class FunctionCallOutputItem(_Request):
    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1)
    output: str | list[InputText]


class ReasoningItem(_Request):
    """Earlier reasoning sent back (the Agents SDK does): the templates drop past thinking, so do we."""

    type: Literal["reasoning"]


_ITEMS = {"message": "MessageItem", "function_call": "FunctionCallItem",
          "function_call_output": "FunctionCallOutputItem", "reasoning": "ReasoningItem"}


def _item_tag(value: Any) -> str | None:
    kind = value.get("type", "message") if isinstance(value, dict) else getattr(value, "type", None)
    return _ITEMS.get(kind) if isinstance(kind, str) else None


InputItem = Annotated[
    Union[Annotated[MessageItem, Tag("MessageItem")], Annotated[FunctionCallItem, Tag("FunctionCallItem")],
          Annotated[FunctionCallOutputItem, Tag("FunctionCallOutputItem")],
          Annotated[ReasoningItem, Tag("ReasoningItem")]],
    Discriminator(_item_tag, custom_error_type="invalid_type",
                  custom_error_message=f"input items have a type among {', '.join(map(repr, _ITEMS))}"),
]


class FunctionTool(FunctionDefinition):
    """A function tool in the Responses API's flat form ({"type", "name", "parameters", ...})."""

    type: Literal["function"]

    @model_validator(mode="before")
    @classmethod
    def _function_only(cls, value: Any) -> Any:
        kind = value.get("type") if isinstance(value, dict) else None
        if kind != "function":  # said before any complaint about the fields a function tool has
            raise ValueError(f"tools of type {kind!r} are not supported: localcall offers function tools "
                             f"(and the server's own tools)")
        return value

    def to_chat(self) -> dict:
        fn = {"name": self.name, "description": self.description or ""}
        if self.parameters is not None:
            fn["parameters"] = self.parameters
        return {"type": "function", "function": fn}


class NamedFunctionChoice(_Request):
    type: Literal["function"]
    name: str


class AllowedToolsChoice(_Request):
    type: Literal["allowed_tools"]
    mode: Literal["auto", "required"]
    tools: list[NamedFunctionChoice] = Field(min_length=1)


class TextFormatText(_Request):
    type: Literal["text"]


class TextFormatJsonObject(_Request):
    type: Literal["json_object"]


class TextFormatJsonSchema(JsonSchemaFormat):
    type: Literal["json_schema"]


class TextConfig(_Request):
    format: TextFormatText | TextFormatJsonObject | TextFormatJsonSchema | None = None


class ResponsesRequest(_Request):
    model: str
    input: str | list[InputItem]
    instructions: str | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedFunctionChoice | AllowedToolsChoice | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    seed: int | None = Field(None, ge=-INT64, lt=INT64)  # an extension, as on chat completions
    stream: bool | None = False
    store: bool | None = True
    previous_response_id: str | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None

    @field_validator("tool_choice")
    @classmethod
    def _allowed_among_tools(cls, value: Any, info) -> Any:
        # A named choice may name a server-side tool: the runtime checks it against all of them.
        offered = {t.name for t in info.data.get("tools") or ()}
        for i, choice in enumerate(value.tools if isinstance(value, AllowedToolsChoice) else ()):
            if choice.name not in offered:
                raise ValueError(f"allowed_tools tools[{i}] names {choice.name!r}, which is not among the tools")
        return value

    def conversation(self) -> list[Message]:
        """`input` as chat messages; consecutive function_call items become one assistant message."""
        if isinstance(self.input, str):
            return [{"role": "user", "content": self.input}]
        out: list[Message] = []
        for item in self.input:
            if isinstance(item, MessageItem):
                role = "system" if item.role in ("system", "developer") else item.role
                out.append({"role": role, "content": _joined(item.content)})
            elif isinstance(item, FunctionCallItem):
                call = {"id": item.call_id, "type": "function",
                        "function": {"name": item.name, "arguments": item.arguments}}
                if out and out[-1]["role"] == "assistant":
                    out[-1].setdefault("tool_calls", []).append(call)
                else:
                    out.append({"role": "assistant", "content": None, "tool_calls": [call]})
            elif isinstance(item, FunctionCallOutputItem):
                out.append({"role": "tool", "tool_call_id": item.call_id, "content": _joined(item.output)})
        return out

    def chat_tools(self) -> list[dict]:
        tools = self.tools or []
        if isinstance(self.tool_choice, AllowedToolsChoice):
            allowed = {t.name for t in self.tool_choice.tools}
            tools = [t for t in tools if t.name in allowed]
        return [t.to_chat() for t in tools]

    def chat_tool_choice(self) -> str | dict | None:
        if isinstance(self.tool_choice, NamedFunctionChoice):
            return {"type": "function", "function": {"name": self.tool_choice.name}}
        if isinstance(self.tool_choice, AllowedToolsChoice):
            return self.tool_choice.mode
        return self.tool_choice

    def options(self, default_max_tokens: int | None) -> dict[str, Any]:
        fmt = self.text.format if self.text else None
        if isinstance(fmt, TextFormatJsonSchema):
            response_format = {"type": "json_schema", "json_schema": {"schema": fmt.schema_}}
        else:
            response_format = {"type": fmt.type} if fmt is not None else None
        return {"parallel_tool_calls": self.parallel_tool_calls is not False, "response_format": response_format,
                "temperature": self.temperature, "top_p": self.top_p,
                "seed": self.seed % 2 ** 64 if self.seed is not None else None,
                "max_tokens": self.max_output_tokens or default_max_tokens}

    def echoed(self) -> dict[str, Any]:
        """The request's settings, as a Response repeats them."""
        fmt = self.text.format.model_dump(by_alias=True, exclude_none=True) if self.text and self.text.format \
            else {"type": "text"}
        choice = self.tool_choice
        return {"instructions": self.instructions,
                "tools": [{"type": "function", "name": t.name, "description": t.description,
                           "parameters": t.parameters, "strict": bool(t.strict)} for t in self.tools or ()],
                "tool_choice": choice.model_dump() if isinstance(choice, _Request) else (choice or "auto"),
                "parallel_tool_calls": self.parallel_tool_calls is not False, "temperature": self.temperature,
                "top_p": self.top_p, "max_output_tokens": self.max_output_tokens,
                "previous_response_id": self.previous_response_id, "store": self.store is not False,
                "text": {"format": fmt}, "metadata": self.metadata or {}, "truncation": "disabled",
                "user": self.user}


def check_answered(messages: list[Message]) -> None:
    """A function_call_output must answer a call made earlier in the conversation."""
    made: set[str] = set()
    for msg in messages:
        made.update(c["id"] for c in msg.get("tool_calls") or ())
        if msg["role"] == "tool" and msg["tool_call_id"] not in made:
            raise bad_request(f"the function_call_output for call_id {msg['tool_call_id']!r} answers no "
                              f"function_call of the conversation", "input")


# --- the response --------------------------------------------------------------------------

def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def message_item(item_id: str, text: str, status: str = "completed") -> dict:
    return {"type": "message", "id": item_id, "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}


def reasoning_item(item_id: str, text: str) -> dict:
    return {"type": "reasoning", "id": item_id, "summary": [], "content": [{"type": "reasoning_text", "text": text}]}


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str = "completed") -> dict:
    return {"type": "function_call", "id": item_id, "call_id": call_id, "name": name, "arguments": arguments,
            "status": status}


def output_of(result: ChatResult) -> list[dict]:
    items = []
    if result.reasoning:
        items.append(reasoning_item(_id("rs"), result.reasoning))
    if result.content:
        items.append(message_item(_id("msg"), result.content))
    items += [call_item(_id("fc"), c.id, c.name, c.arguments) for c in result.tool_calls]
    # Calls generation stopped inside (max_output_tokens): as far as generated, marked incomplete.
    items += [call_item(_id("fc"), c.id, c.name, c.arguments, "incomplete") for c in result.incomplete_calls]
    return items


def finished(head: dict, result: ChatResult, output: list[dict], executed: list) -> dict:
    """The whole Response object."""
    incomplete = client_finish_reason(result.finish_reason) == "length"
    usage = result.usage
    body = {**head, "status": "incomplete" if incomplete else "completed", "completed_at": now(),
            "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None, "output": output,
            "usage": {"input_tokens": usage.prompt_tokens,
                      "input_tokens_details": {"cached_tokens": usage.cached_tokens},
                      "output_tokens": usage.completion_tokens,
                      "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": usage.total_tokens}}
    extension = LocalcallExtension.of([result], executed)
    if extension is not None:
        body["localcall"] = extension.model_dump(mode="json")
    return body


def sse_event(kind: str, sequence: int, **fields) -> str:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, 'sequence_number': sequence, **fields})}\n\n"


class ResponseEventWriter:
    """The Responses API's stream, item by item as the runtime's events arrive. `done` is
    given the final Response object and the result (to store them)."""

    def __init__(self, head: dict, done: Callable[[dict, ChatResult], None]):
        self.head, self.done = head, done
        self.sequence = 0
        self.items: list[dict] = []
        self.open: dict | None = None  # the item being streamed
        self._text: list[str] = []

    def _emit(self, kind: str, **fields) -> str:
        self.sequence += 1
        return sse_event(kind, self.sequence - 1, **fields)

    def begin(self, index: int = 0) -> str:
        response = {**self.head, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
        return self._emit("response.created", response=response) + self._emit("response.in_progress",
                                                                              response=response)

    def _add(self, item: dict) -> str:
        out = self._close()
        self.items.append(item)
        self.open, self._text = item, []
        return out + self._emit("response.output_item.added", output_index=len(self.items) - 1, item=item)

    def _where(self) -> dict:
        return {"item_id": self.open["id"], "output_index": len(self.items) - 1}

    def _close(self, status: str = "completed") -> str:
        item, self.open = self.open, None
        if item is None:
            return ""
        text = "".join(self._text)
        where = {"item_id": item["id"], "output_index": len(self.items) - 1}
        out = ""
        if item["type"] == "message":
            part = message_item(item["id"], text)["content"][0]
            out = (self._emit("response.output_text.done", **where, content_index=0, text=text, logprobs=[]) +
                   self._emit("response.content_part.done", **where, content_index=0, part=part))
            final = message_item(item["id"], text, status)
        elif item["type"] == "reasoning":
            out = self._emit("response.reasoning_text.done", **where, content_index=0, text=text)
            final = reasoning_item(item["id"], text)
        else:
            final = call_item(item["id"], item["call_id"], item["name"], text, status)
        self.items[-1] = final
        return out + self._emit("response.output_item.done", output_index=where["output_index"], item=final)

    def event(self, event: ChatEvent | TokenLogprob) -> str | None:
        kind = self.open["type"] if self.open else None
        if isinstance(event, ContentDelta) and event.text:
            out = ""
            if kind != "message":
                item_id = _id("msg")
                out = self._add({"type": "message", "id": item_id, "status": "in_progress", "role": "assistant",
                                 "content": []})
                out += self._emit("response.content_part.added", **self._where(), content_index=0,
                                  part={"type": "output_text", "text": "", "annotations": [], "logprobs": []})
            self._text.append(event.text)
            return out + self._emit("response.output_text.delta", **self._where(), content_index=0,
                                    delta=event.text, logprobs=[])
        if isinstance(event, ReasoningDelta) and event.text:
            out = "" if kind == "reasoning" else self._add({"type": "reasoning", "id": _id("rs"), "summary": []})
            self._text.append(event.text)
            return out + self._emit("response.reasoning_text.delta", **self._where(), content_index=0,
                                    delta=event.text)
        if isinstance(event, ToolCallStart):
            return self._add({"type": "function_call", "id": _id("fc"), "call_id": event.id, "name": event.name,
                              "arguments": "", "status": "in_progress"})
        if isinstance(event, ToolCallDelta) and kind == "function_call" and event.arguments:
            self._text.append(event.arguments)
            return self._emit("response.function_call_arguments.delta", **self._where(), delta=event.arguments)
        if isinstance(event, ToolCallEnd) and kind == "function_call":
            done = self._emit("response.function_call_arguments.done", **self._where(), name=self.open["name"],
                              arguments="".join(self._text))
            return done + self._close()
        if isinstance(event, MalformedToolCall) and kind == "function_call":
            return self._close("incomplete")  # generation stopped inside the call: it is not one
        return None

    def executed(self, call) -> None:
        """Server-side calls are reported with the finished response, not as they run."""
        return None

    def finish(self, result: ChatResult, executed: list) -> str:
        out = self._close("incomplete" if client_finish_reason(result.finish_reason) == "length" else "completed")
        kept = {c.id for c in result.tool_calls}
        for item in self.items:  # a call that failed the final schema check is not a call
            if item["type"] == "function_call" and item["call_id"] not in kept:
                item["status"] = "incomplete"
        response = finished(self.head, result, self.items, executed)
        self.done(response, result)
        kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
        return out + self._emit(kind, response=response)

    def end(self, results: list[ChatResult]) -> str:
        return ""  # the Responses stream has no [DONE]

    def error(self, exc: APIError) -> str:
        error = exc.body()["error"]
        return self._emit("error", code=error["code"], message=error["message"], param=error["param"], error=error)


# --- the routes ----------------------------------------------------------------------------

def install(app: FastAPI, catalog: Catalog, settings, principal: Callable[..., str]) -> None:
    """Add the Responses routes to `app`; the store opens on first use (settings.responses_db)."""
    opened: list[ResponseStore] = []

    def store() -> ResponseStore:
        if not opened:
            opened.append(ResponseStore(settings.responses_db))
        return opened[0]

    def stored(who: str, response_id: str, param: str | None = None):
        found = store().get(who, response_id)
        if found is None:
            raise APIError(404, f"No response with id {response_id!r} is stored for this API key.", param=param,
                           code="response_not_found")
        return found

    @app.post("/v1/responses", response_model=None,
              responses={200: {"content": {"text/event-stream": {}},
                               "description": "A Response object, or with stream=true its events"},
                         **errors.error_responses(400, 401, 404, 413, 429, 503)})
    async def create_response(body: ResponsesRequest, request: Request, who: str = Depends(principal)) -> Response:
        queue = catalog.get(body.model)
        stats = RequestStats(model=body.model, principal=who)
        setattr(request.state, STATE_KEY, stats)
        earlier = stored(who, body.previous_response_id, "previous_response_id").conversation \
            if body.previous_response_id else []
        history = earlier + body.conversation()
        check_answered(history)
        messages = ([{"role": "system", "content": body.instructions}] if body.instructions else []) + history
        options = body.options(queue.model.defaults.max_tokens or settings.default_max_tokens)
        tools = settings.tools if settings.tools is not None and settings.tools.available_to(who) else None

        def start(cancel: threading.Event, deadline: float) -> AsyncIterator[Batch]:
            if tools is not None:
                return tools.run(queue, messages, principal=who, client_tools=body.chat_tools(),
                                 tool_choice=body.chat_tool_choice(), cancel=cancel, deadline=deadline,
                                 options=options)
            return queue.stream(messages, cancel=cancel, deadline=deadline, tools=body.chat_tools(),
                                tool_choice=body.chat_tool_choice(), **options)

        events = generations(queue, settings.request_timeout, [start])
        head = {"id": _id("resp"), "object": "response", "created_at": now(), "model": body.model, "error": None,
                **body.echoed()}

        def keep(response: dict, result: ChatResult) -> None:
            if body.store is not False:
                store().put(who, response, history + [result.message()])

        def whole(results: list[ChatResult], logprobs: list, executed: list) -> Response:
            result, = results
            stats.record(result, len(executed))
            response = finished(head, result, output_of(result), executed)
            keep(response, result)
            return JSONResponse(response)

        writer = ResponseEventWriter(head, keep) if body.stream else None
        return await respond(request, events, 1, stats, whole, writer)

    @app.get("/v1/responses/{response_id}", responses=errors.error_responses(401, 404))
    async def get_response(response_id: str, who: str = Depends(principal)) -> JSONResponse:
        return JSONResponse(stored(who, response_id).response)

    @app.delete("/v1/responses/{response_id}", responses=errors.error_responses(401, 404))
    async def delete_response(response_id: str, who: str = Depends(principal)) -> JSONResponse:
        if not store().delete(who, response_id):
            stored(who, response_id)  # raises the 404
        return JSONResponse({"id": response_id, "object": "response", "deleted": True})
