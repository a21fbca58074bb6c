"""`strict: true` checked as OpenAI checks it before it accepts a schema for Structured
Outputs: at every object level, each property is listed in `required` and
`additionalProperties` is false. (localcall enforces every schema with its grammar whether or
not it is strict; a strict schema that breaks these rules is refused, as OpenAI refuses it,
so that a request that works here works there.)"""

from __future__ import annotations

from typing import Any, Iterator

from ..grammars.keywords import subschemas


def strict_problem(schema: Any) -> str | None:
    """What makes `schema` unacceptable in strict mode, naming the place; None if it is fine."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return "the root must be a schema of type 'object'"
    for path, node in _objects(schema):
        where = f"at {path}" if path else "at the root"
        if node.get("additionalProperties") is not False:
            return f"{where}: additionalProperties must be false"
        missing = [name for name in node.get("properties", {}) if name not in node.get("required", ())]
        if missing:
            return f"{where}: every property must be required, and {', '.join(map(repr, missing))} is not"
    return None


def _objects(schema: dict) -> Iterator[tuple[str, dict]]:
    """Every object schema in `schema`, depth first, with its path (properties.address.items...).
    An explicit stack: the schema is user input (grammars/schema.py bounds its size later)."""
    stack: list[tuple[str, Any]] = [("", schema)]
    while stack:
        path, node = stack.pop()
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        if kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node:
            yield path, node
        children = [(_join(path, where), sub) for where, sub in subschemas(node)]
        stack.extend(reversed(children))


def _join(path: str, where: tuple) -> str:
    """("items",) → "items"; ("properties", "city") → "properties.city"; ("anyOf", 0) → "anyOf[0]"."""
    key = f"{path}.{where[0]}" if path else where[0]
    if len(where) == 1:
        return key
    return f"{key}[{where[1]}]" if isinstance(where[1], int) else f"{key}.{where[1]}"
