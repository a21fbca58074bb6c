"""Checks on the JSON schemas users hand us, before any engine sees them.

A malformed schema is a SchemaError naming where it is wrong (tool, JSON path). In order:
the schema is walked once without recursion, bounding its nesting and refusing text that is
not valid Unicode (a lone surrogate cannot be encoded for the engine or the tokenizer);
then it is checked against its metaschema; its references must all resolve locally; and it
must admit some finite value (grammars.finite). What an engine cannot enforce is reported by
the engine itself, also as a SchemaError: we never fall back to an unconstrained generation.
"""

from __future__ import annotations

import json
from functools import lru_cache

import jsonschema
from jsonschema.validators import validator_for

from .errors import SchemaError, schema_path
from .finite import infinite_part
from .refs import hoist

# JSON containers (objects and lists) nested in one schema: 32 levels of object properties.
# jsonschema's checks recurse per level, and a real tool schema nests far less (pydantic
# names nested models in $defs).
MAX_DEPTH = 64
# JSON values (each key's value and each list item) in one schema: 60 times BFCL's largest
# function schema. jsonschema's metaschema check costs about a millisecond per subschema,
# so this bounds the first check of a schema to a few seconds (later ones hit the cache).
MAX_VALUES = 20_000
# Containers nested in a generated value, checked before jsonschema recurses into it.
MAX_VALUE_DEPTH = 128

__all__ = ["SchemaError", "check_schema", "check_text", "check_tool", "validate_instance", "MAX_DEPTH"]


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(text, *, where: str) -> None:
    """A string from the request that goes to the tokenizer or the engine: it must be valid
    Unicode (JSON allows escaped lone surrogates like "\\ud800"; UTF-8 cannot carry them)."""
    if isinstance(text, str) and not _encodable(text):
        raise SchemaError("contains a lone surrogate (an unpaired \\ud800-\\udfff escape), which is not text",
                          where=where)


def _bounded_walk(value, *, where: str, limit: int) -> None:
    """Depth and text checks over any JSON value, with an explicit stack (no recursion, so a
    hostile nesting cannot exhaust Python's)."""
    stack, seen = [(value, ())], 0
    while stack:
        node, path = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise SchemaError(f"is too large: more than {MAX_VALUES} JSON values", where=where)
        if isinstance(node, str):
            if not _encodable(node):
                raise SchemaError("contains a lone surrogate (an unpaired \\ud800-\\udfff escape), which is not text",
                                  where=where, path=schema_path(path))
            continue
        if not isinstance(node, (dict, list)):
            continue
        if len(path) >= limit:
            raise SchemaError(f"nested more than {limit} levels deep", where=where, path=schema_path(path))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if isinstance(key, str) and not _encodable(key):
                raise SchemaError("a key contains a lone surrogate (an unpaired \\ud800-\\udfff escape)",
                                  where=where, path=schema_path(path))
            stack.append((child, path + (key,)))


def check_schema(schema: dict, *, where: str) -> None:
    if not isinstance(schema, dict):
        raise SchemaError(f"must be a JSON schema object, not {type(schema).__name__}", where=where)
    _bounded_walk(schema, where=where, limit=MAX_DEPTH)
    problem = _problem(json.dumps(schema, separators=(",", ":")))  # an agent loop sends the same tools each turn
    if problem is not None:
        raise SchemaError(problem.reason, where=where, path=problem.path)


@lru_cache(maxsize=512)
def _problem(schema_json: str) -> SchemaError | None:
    """What is wrong with a schema that passed the bounded walk (without `where`), or None."""
    schema = json.loads(schema_json)
    cls = validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return SchemaError(exc.message, path=schema_path(exc.absolute_path))
    try:
        hoisted = hoist(schema)
    except SchemaError as exc:
        return exc
    hit = infinite_part(hoisted)
    return SchemaError(hit[1], path=schema_path(hit[0])) if hit is not None else None


def check_tool(tool) -> None:
    """Everything of a tool (messages.ToolSpec) that reaches the prompt or the engine."""
    check_text(tool.name, where="tool name")
    check_text(tool.description, where=f"tool {tool.name!r} description")
    check_schema(tool.parameters, where=f"tool {tool.name!r} parameters")


def _depth_within(value, limit: int) -> bool:
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth >= limit:
                return False
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return True


def validate_instance(instance, schema: dict) -> str | None:
    """None if `instance` matches `schema`, else a message naming the failing field."""
    if not _depth_within(instance, MAX_VALUE_DEPTH):
        return f"(root): nested more than {MAX_VALUE_DEPTH} levels deep"
    cls = validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        error = jsonschema.exceptions.best_match(cls(schema).iter_errors(instance))
    except RecursionError:  # a reference cycle that consumes nothing of the value
        return "(root): the schema's references recurse without end"
    if error is None:
        return None
    return f"{schema_path(error.absolute_path)}: {error.message}"
