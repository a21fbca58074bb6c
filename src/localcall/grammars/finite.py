"""Does a schema admit any finite value? The question for recursive references.

`{"$ref": "#"}` alone, or an object whose *required* property refers back to the object,
describes only infinitely deep values: an engine asked to generate one loops or fails
mid-generation. This is the productive-nonterminal analysis of a context-free grammar: a
hoisted definition is productive once some value it allows is built only from productive
parts; iterate to the least fixpoint, then check the root.

The analysis is one-sided: it refuses a schema only when it has certainly no finite value
(it reads $ref, allOf/anyOf/oneOf, type, required properties, minItems and contains, and
takes every other keyword as satisfiable), so a satisfiable schema is never refused by it.
"""

from __future__ import annotations

from .keywords import is_schema
from .refs import Hoisted, hoisted_name, references

ALL_TYPES = ("null", "boolean", "object", "array", "number", "integer", "string")


def _types(schema: dict) -> tuple[str, ...]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return (kind,)
    if isinstance(kind, list):
        return tuple(k for k in kind if isinstance(k, str))
    return ALL_TYPES


def _object_parts(schema: dict):
    """(property, schema) for the required properties, each of which must be present."""
    required = schema.get("required")
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    if not isinstance(required, list):
        return
    for name in dict.fromkeys(r for r in required if isinstance(r, str)):
        if name in properties:
            yield ("properties", name), properties[name]
        elif "patternProperties" not in schema and is_schema(schema.get("additionalProperties")):
            yield ("additionalProperties",), schema["additionalProperties"]


def _array_parts(schema: dict):
    """(path, schema) for the items a shortest array must have."""
    if "prefixItems" in schema:
        prefix_key, rest_key = "prefixItems", "items"
    elif isinstance(schema.get("items"), list):  # before 2020-12: a list of items, then additionalItems
        prefix_key, rest_key = "items", "additionalItems"
    else:
        prefix_key, rest_key = None, "items"
    prefix = _list(schema, prefix_key) if prefix_key else []
    least = schema.get("minItems", 0)
    if isinstance(least, int):
        for i in range(min(least, len(prefix))):
            yield (prefix_key, i), prefix[i]
        if least > len(prefix) and is_schema(schema.get(rest_key)):
            yield (rest_key,), schema[rest_key]
    if is_schema(schema.get("contains")) and schema.get("minContains", 1) != 0:
        yield ("contains",), schema["contains"]


def _parts(schema: dict, kind: str):
    if kind == "object":
        return _object_parts(schema)
    if kind == "array":
        return _array_parts(schema)
    return iter(())


class _Finite:
    def __init__(self, productive: dict[str, bool]):
        self.productive = productive

    def ok(self, schema) -> bool:
        return self.blame(schema, ()) is None

    def blame(self, schema, at: tuple) -> tuple[tuple, str] | None:
        """None if `schema` has a finite value, else (path, reason) of a part that has none."""
        if schema is False:
            return at, "the schema false allows no value"
        if not isinstance(schema, dict):
            return None
        name = hoisted_name(schema.get("$ref"))
        if name is not None and not self.productive.get(name, True):
            return at, f"ref:{name}"
        for i, sub in enumerate(_list(schema, "allOf")):
            hit = self.blame(sub, at + ("allOf", i))
            if hit:
                return hit
        for key in ("anyOf", "oneOf"):
            options = _list(schema, key)
            if options and not any(self.ok(o) for o in options):
                return self.blame(options[0], at + (key, 0))
        if "enum" in schema or "const" in schema:
            return None  # the value is spelled out: finite
        first = None
        for kind in _types(schema):
            hit = next((h for path, sub in _parts(schema, kind) if (h := self.blame(sub, at + path))), None)
            if hit is None:
                return None
            first = first or hit
        return first or (at, "no type is allowed")


def _list(schema: dict, key: str) -> list:
    value = schema.get(key)
    return value if isinstance(value, list) else []


def infinite_part(hoisted: Hoisted) -> tuple[tuple, str] | None:
    """None if the schema admits a finite value, else (path, reason) naming where it cannot."""
    root = hoisted.root
    if not isinstance(root, dict):
        return None if root is not False else ((), "the schema false allows no value")
    defs = root.get("$defs", {})
    productive = {name: False for name in defs}
    users: dict[str, set[str]] = {name: set() for name in defs}
    for name, definition in defs.items():
        for used in references(definition):
            users.setdefault(used, set()).add(name)
    finite = _Finite(productive)
    work = list(defs)
    while work:  # each definition turns productive at most once, so this ends
        name = work.pop()
        if not productive[name] and finite.ok(defs[name]):
            productive[name] = True
            work.extend(u for u in users.get(name, ()) if not productive.get(u, True))
    hit = finite.blame({k: v for k, v in root.items() if k != "$defs"}, ())
    if hit is None:
        return None
    path, reason = hit
    if reason.startswith("ref:"):
        name = reason[4:]
        ref = hoisted.original_ref(name)
        if _reaches(defs, name, name):
            reason = (f"the reference {ref!r} admits no finite value: every value it allows must contain "
                      "itself again, without end (make the recursion optional)")
        else:
            reason = f"the reference {ref!r} allows no value"
    return path, reason


def _reaches(defs: dict, start: str, goal: str) -> bool:
    seen, stack = set(), [start]
    while stack:
        for used in references(defs.get(stack.pop(), {})):
            if used == goal:
                return True
            if used not in seen:
                seen.add(used)
                stack.append(used)
    return False
