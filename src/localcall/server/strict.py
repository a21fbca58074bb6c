"""`strict: true` checked as OpenAI checks it before it accepts a schema for Structured
Outputs: at every object level, each property is listed in `required` and
`additionalProperties` is false. (localcall enforces every schema with its grammar whether or
not it is strict; a strict schema that breaks these rules is refused, as OpenAI refuses it,
so that a request that works here works there.)"""

from __future__ import annotations

from typing import Any, Iterator

# Keywords whose values are schemas, or maps or lists of schemas.
_SUBSCHEMA = ("items", "additionalItems", "contains", "not", "if", "then", "else")
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")


def strict_problem(schema: Any) -> str | None:
    """What makes `schema` unacceptable in strict mode, naming the place; None if it is fine."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return "the root must be a schema of type 'object'"
    for path, node in _objects(schema, ""):
        where = f"at {path}" if path else "at the root"
        if node.get("additionalProperties") is not False:
            return f"{where}: additionalProperties must be false"
        missing = [name for name in node.get("properties", {}) if name not in node.get("required", ())]
        if missing:
            return f"{where}: every property must be required, and {', '.join(map(repr, missing))} is not"
    return None


def _objects(node: Any, path: str) -> Iterator[tuple[str, dict]]:
    """Every object schema in `node`, with its path (properties.address.items...)."""
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node:
        yield path, node
    join = (lambda key: f"{path}.{key}" if path else key)
    for key in _SUBSCHEMA:
        yield from _objects(node.get(key), join(key))
    for key in _SCHEMA_LISTS:
        for i, sub in enumerate(node.get(key) or ()):
            yield from _objects(sub, f"{join(key)}[{i}]")
    for key in _SCHEMA_MAPS:
        for name, sub in (node.get(key) or {}).items():
            yield from _objects(sub, f"{join(key)}.{name}")
