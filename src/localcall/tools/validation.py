"""Argument validation, in order: the JSON text parses to an object, the object matches the
tool's JSON schema, pydantic reads it into the function's types, the business rules pass.

Each failure is an ArgumentError that says what was wrong and what a valid call looks like,
so the model can correct itself on the next step.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema.exceptions import relevance
from pydantic import ValidationError

from .definition import Tool
from .outcome import ToolError

_MAX_LISTED = 3  # schema errors told to the model; the rest are usually consequences


class ArgumentError(ToolError):
    pass


def validate_arguments(t: Tool, raw: str) -> dict[str, Any]:
    """The keyword arguments to call the tool with, or ArgumentError."""
    try:
        args = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise ArgumentError(f"the arguments are not valid JSON ({exc.msg} at character {exc.pos})",
                            f"send one JSON object; {expected(t)}") from None
    if not isinstance(args, dict):
        raise ArgumentError(f"the arguments must be a JSON object, not {type(args).__name__}",
                            expected(t))
    errors = sorted(t.schema_validator.iter_errors(args), key=relevance, reverse=True)  # most relevant first
    if errors:
        listed = "; ".join(_describe(e) for e in errors[:_MAX_LISTED])
        raise ArgumentError(f"invalid arguments for {t.name}: {listed}", expected(t))
    kwargs = args
    if t.arguments is not None:
        try:
            model = t.arguments.model_validate(args)
        except ValidationError as exc:  # a constraint JSON schema cannot say, e.g. a custom type
            detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}"
                               for e in exc.errors()[:_MAX_LISTED])
            raise ArgumentError(f"invalid arguments for {t.name}: {detail}", expected(t)) from None
        # Attributes, not model_dump: nested models and enums reach the function as such.
        kwargs = {name: getattr(model, name) for name in t.arguments.model_fields}
    for rule in t.validators:
        try:
            rule(kwargs)
        except ToolError as exc:
            raise ArgumentError(exc.error, exc.suggestion or "change the arguments") from None
        except ValueError as exc:
            raise ArgumentError(f"arguments rejected by {t.name}: {exc}", "change the arguments") from None
        except Exception as exc:  # a broken rule is the tool's fault, but must not end the loop either
            raise ArgumentError(f"checking the arguments of {t.name} failed ({type(exc).__name__}: {exc})",
                                "try other arguments, or answer without this tool") from None
    return kwargs


def expected(t: Tool) -> str:
    """A one-line reminder of the parameters, for the suggestion."""
    props = t.parameters.get("properties", {})
    if not props:
        return f"{t.name} takes no arguments: send {{}}"
    required = set(t.parameters.get("required", []))
    parts = []
    for name, schema in props.items():
        if "enum" in schema:
            kind = "one of " + json.dumps(schema["enum"])
        else:
            kind = schema.get("type", "any")
            kind = "/".join(kind) if isinstance(kind, list) else kind
        parts.append(f"{name} ({kind}{', required' if name in required else ''})")
    return f"{t.name} takes: " + ", ".join(parts)


def _describe(error) -> str:
    where = "/".join(map(str, error.absolute_path))
    return f"{where}: {error.message}" if where else error.message
