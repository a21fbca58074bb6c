"""Where a JSON schema holds other schemas, so a walk over a schema never mistakes data (an
enum value, a property *named* "$ref") for a keyword."""

from __future__ import annotations

from typing import Iterator

ONE = frozenset({"additionalProperties", "additionalItems", "contains", "not", "if", "then", "else",
                 "propertyNames", "unevaluatedItems", "unevaluatedProperties", "contentSchema"})
BY_NAME = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas",
                     "dependencies"})
IN_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
DEFINITIONS = ("$defs", "definitions")


def is_schema(value) -> bool:
    return isinstance(value, (dict, bool))


def subschemas(schema) -> Iterator[tuple[tuple, object]]:
    """(path below `schema`, subschema) for each schema directly inside this one."""
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key in ONE or (key == "items" and is_schema(value)):
            if is_schema(value):
                yield (key,), value
        elif key in BY_NAME and isinstance(value, dict):
            for name, sub in value.items():
                if is_schema(sub):  # "dependencies" also maps to lists of names
                    yield (key, name), sub
        elif (key in IN_LIST or key == "items") and isinstance(value, list):
            for i, sub in enumerate(value):
                if is_schema(sub):
                    yield (key, i), sub


def map_subschemas(schema: dict, fn) -> dict:
    """A copy of `schema` with fn(path, sub) in place of each direct subschema."""
    out = dict(schema)
    for path, sub in subschemas(schema):
        if len(path) == 1:
            out[path[0]] = fn(path, sub)
        else:
            key, name = path
            if out[key] is schema[key]:
                out[key] = dict(schema[key]) if isinstance(schema[key], dict) else list(schema[key])
            out[key][name] = fn(path, sub)
    return out
