"""A function's signature → a pydantic model for its arguments → the JSON schema the model sees.

Pydantic does the type work (Literal and Enum → enum, Optional → anyOf null, defaults, nested
models, lists). The schema is then made plain for small models and grammar engines: titles
dropped (noise in the prompt) and non-recursive $refs inlined (a tiny model reads a flat
object better than a pointer into $defs). `additionalProperties: false` is kept, so a
constrained decoder cannot invent parameters.
"""

from __future__ import annotations

import copy
import inspect
import typing
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SCHEMA_ONES = ("items", "additionalProperties", "not", "if", "then", "else", "contains",
                "propertyNames", "unevaluatedProperties", "unevaluatedItems")


def arguments_model(fn: Callable, name: str, descriptions: dict[str, str]) -> type[BaseModel]:
    """The pydantic model of fn's parameters; docstring descriptions fill in where the
    annotation (Annotated[..., Field(description=...)]) gives none."""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except NameError as exc:
        raise TypeError(f"tool {name!r}: cannot resolve a type hint ({exc}); define the types "
                        "it names at module level") from exc
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise TypeError(f"tool {name!r}: parameter {param.name!r} must be a named parameter; "
                            "for a free-form tool pass parameters= with a JSON schema")
        default = ... if param.default is param.empty else param.default
        hint = hints.get(param.name, Any)
        described = {} if _described(hint) or param.name not in descriptions else {
            "description": descriptions[param.name]}
        fields[param.name] = (hint, Field(default, **described))
    return create_model(f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)


def _described(hint: Any) -> bool:
    """Annotated[..., Field(description=...)]: that description wins over the docstring's."""
    if typing.get_origin(hint) is not typing.Annotated:
        return False
    return any(isinstance(m, FieldInfo) and m.description for m in hint.__metadata__)


def model_schema(model: type[BaseModel]) -> dict:
    return clean_schema(model.model_json_schema())


def clean_schema(schema: dict) -> dict:
    schema = copy.deepcopy(schema)
    defs = schema.pop("$defs", {})
    recursive = {name for name in defs if _refers_to(defs[name], name, defs, set())}
    out = _walk(schema, defs, recursive)
    kept = {name: _walk(defs[name], defs, recursive) for name in recursive}
    if kept:
        out["$defs"] = kept
    return out


def _walk(node: Any, defs: dict, keep: set[str]) -> Any:
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref", "")
    name = ref.removeprefix("#/$defs/")
    if ref and name in defs and name not in keep:
        # Keys beside a $ref (description, default) describe this use; they win.
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        node = {**copy.deepcopy(defs[name]), **siblings}
    out = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: _walk(v, defs, keep) for k, v in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_walk(v, defs, keep) for v in value]
        elif key in _SCHEMA_ONES:
            out[key] = _walk(value, defs, keep)
        else:
            out[key] = value
    return out


def _refers_to(node: Any, target: str, defs: dict, seen: set[str]) -> bool:
    """Does this schema reach $defs/target through $refs (so inlining would never end)?"""
    if isinstance(node, dict):
        ref = node.get("$ref", "").removeprefix("#/$defs/")
        if ref == target:
            return True
        if ref in defs and ref not in seen:
            seen.add(ref)
            if _refers_to(defs[ref], target, defs, seen):
                return True
        return any(_refers_to(v, target, defs, seen) for v in node.values())
    if isinstance(node, list):
        return any(_refers_to(v, target, defs, seen) for v in node)
    return False
