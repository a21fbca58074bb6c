"""A tool: a Python callable plus what the model is shown and how the pipeline treats it.

`@tool` builds one from a function (sync or async): the name from the function, the
description and per-parameter descriptions from the docstring, the parameters schema from
the type hints. `Tool.from_json_schema` wraps a handler under a schema written by hand.
"""

from __future__ import annotations

import copy
import inspect
import random
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Awaitable, Callable, Literal, Union

from jsonschema import Draft202012Validator
from pydantic import BaseModel

from ..messages import ToolSpec
from .docstrings import parse_docstring
from .outcome import TransientError
from .schema import arguments_model, model_schema

Risk = Literal["low", "medium", "high"]
RISKS = ("low", "medium", "high")
# A business rule: gets the validated arguments, raises ToolError or ValueError to refuse them.
Validator = Callable[[dict[str, Any]], None]
Handler = Callable[..., Union[Any, Awaitable[Any]]]
DEFAULT_MAX_RESULT_BYTES = 16_384
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what the OpenAI API accepts as a function name


def is_async_callable(fn: Callable) -> bool:
    """An async function, or an object whose __call__ is one."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))


@dataclass(frozen=True)
class RetryPolicy:
    """Retries for transient errors only: a wrong argument fails the same way every time."""

    attempts: int = 4  # the first try and three retries: 1 s, 2 s, 4 s
    base_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.1  # each delay moves by up to ±10%, so callers hit by one outage spread out
    transient: tuple[type[BaseException], ...] = (TransientError, ConnectionError, TimeoutError)

    def __post_init__(self):
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts counts the first try, so it is at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("RetryPolicy.jitter is a fraction in [0, 1)")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry)."""
        base = min(self.max_delay, self.base_delay * self.factor ** (retry - 1))
        return base * (1 + random.uniform(-self.jitter, self.jitter))

    def is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, self.transient)


NO_RETRY = RetryPolicy(attempts=1)


@dataclass(frozen=True, eq=False)
class Tool:
    name: str
    description: str
    parameters: dict  # JSON schema of the arguments object
    fn: Handler
    risk: Risk = "low"  # "high": a human approves each call
    timeout: float | None = 30.0  # seconds per attempt; None waits for ever
    # Of the result the model reads (and the audit log keeps); past it the text is cut, with a
    # note saying how much there was. About 4,000 tokens: a small model's context is short.
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    fallback: Tool | str | None = None  # a Tool, or the name of one in the registry
    validators: tuple[Validator, ...] = ()
    # The pydantic model the arguments are read into (enums, nested models); None for a
    # hand-written schema, whose handler gets the plain JSON values.
    arguments: type[BaseModel] | None = None

    def __post_init__(self):
        if not _NAME.match(self.name):
            raise ValueError(f"tool name {self.name!r} must be 1-64 letters, digits, '_' or '-'")
        if self.risk not in RISKS:
            raise ValueError(f"tool {self.name!r}: risk must be one of {RISKS}, not {self.risk!r}")
        if self.parameters.get("type") != "object":
            raise ValueError(f"tool {self.name!r}: parameters must be a JSON schema of type object")
        Draft202012Validator.check_schema(self.parameters)
        if self.max_result_bytes < 256:
            raise ValueError(f"tool {self.name!r}: max_result_bytes must be at least 256")

    def __call__(self, *args, **kwargs):
        """The decorated function stays callable as it was."""
        return self.fn(*args, **kwargs)

    @property
    def is_async(self) -> bool:
        return is_async_callable(self.fn)

    @property
    def needs_approval(self) -> bool:
        return self.risk == "high"

    @cached_property
    def schema_validator(self) -> Draft202012Validator:
        return Draft202012Validator(self.parameters)

    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)

    @classmethod
    def from_json_schema(cls, spec: ToolSpec | dict, handler: Handler, **options) -> Tool:
        """A tool from an OpenAI tool dict or a ToolSpec; handler(**arguments) does the work."""
        spec = spec if isinstance(spec, ToolSpec) else ToolSpec.from_openai(spec)
        return tool(handler, name=spec.name, description=spec.description,
                    parameters=spec.parameters, **options)


def tool(fn: Handler | None = None, *, name: str | None = None, description: str | None = None,
         parameters: dict | None = None, risk: Risk = "low", timeout: float | None = 30.0,
         retry: RetryPolicy | None = None, fallback: Tool | str | None = None,
         validators: tuple[Validator, ...] | list[Validator] = (),
         max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES):
    """`@tool` or `@tool(risk="high", timeout=5, ...)` on a function; see Tool for the options.

    With `parameters` the schema is taken as given and the handler is called with the JSON
    arguments as keywords; otherwise it comes from the type hints.
    """

    def build(fn: Handler) -> Tool:
        tool_name = name or fn.__name__
        doc_description, param_docs = parse_docstring(fn.__doc__)
        model = None
        if parameters is None:
            model = arguments_model(fn, tool_name, param_docs)
            schema = model_schema(model)
        else:
            schema = copy.deepcopy(parameters)
        return Tool(name=tool_name, description=description or doc_description, parameters=schema,
                    fn=fn, risk=risk, timeout=timeout, retry=retry or RetryPolicy(),
                    fallback=fallback, validators=tuple(validators), arguments=model,
                    max_result_bytes=max_result_bytes)

    return build if fn is None else build(fn)
