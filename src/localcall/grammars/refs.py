"""Local references, made to survive embedding.

A tool's parameters arrive as a schema of their own: `"$ref": "#/$defs/Address"` means "from
the root of *this* schema". Generation places them inside a larger schema (the call object
{"name": ..., "arguments": PARAMETERS}), where "#" is another root and the reference would
no longer resolve. `hoist` rewrites a schema so that every reference points to an entry of
one top-level `$defs`: each distinct target ("#/$defs/A", "#/definitions/B", "#/properties/x",
the root "#") becomes one hoisted definition, and the schema's own definition tables are
dropped (nothing refers into them any more). The result means the same as the original; to
embed it, move its `$defs` to the new root.

Only local JSON-pointer references are supported; remote ones ("other.json#/x"), anchors
("#name"), `$dynamicRef`/`$recursiveRef` and nested `$id`s are refused with a SchemaError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from .errors import SchemaError, schema_path
from .keywords import DEFINITIONS, is_schema, map_subschemas, subschemas

DEFS_PREFIX = "#/$defs/"
_MISSING = object()
_UNSUPPORTED = ("$dynamicRef", "$recursiveRef")


def parse_pointer(ref: str) -> tuple[str, ...] | None:
    """'#' → (), '#/$defs/A%20b' → ('$defs', 'A b'); None for anything but a local pointer."""
    if ref == "#":
        return ()
    if not ref.startswith("#/"):
        return None
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in unquote(ref[2:]).split("/"))


def resolve(schema, pointer: tuple[str, ...]):
    node = schema
    for token in pointer:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
    return node


def hoisted_name(ref: str) -> str | None:
    """The definition a hoisted reference names, or None if `ref` is not one."""
    return ref[len(DEFS_PREFIX):] if isinstance(ref, str) and ref.startswith(DEFS_PREFIX) else None


@dataclass
class Hoisted:
    root: object  # the schema, every $ref pointing into root["$defs"]
    origin: dict[str, tuple[str, ...]] = field(default_factory=dict)  # hoisted name → original pointer

    def original_ref(self, name: str) -> str:
        pointer = self.origin.get(name, ())
        return "#" + "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in pointer)


class _Hoister:
    def __init__(self, schema):
        self.schema = schema
        self.names: dict[tuple[str, ...], str] = {}
        self.taken: set[str] = set()
        self.queue: list[tuple[str, ...]] = []

    def name_of(self, ref, at: tuple) -> str:
        where = schema_path(at)
        if not isinstance(ref, str):
            raise SchemaError("$ref must be a string", path=where)
        pointer = parse_pointer(ref)
        if pointer is None:
            kind = "an anchor" if ref.startswith("#") else "a remote reference"
            raise SchemaError(f"the reference {ref!r} is {kind}; only local JSON pointers "
                              "('#/$defs/Name', '#') are supported", path=where)
        if pointer not in self.names:
            target = resolve(self.schema, pointer)
            if target is _MISSING:
                raise SchemaError(f"the reference {ref!r} points to nothing (missing)", path=where)
            if not is_schema(target):
                raise SchemaError(f"the reference {ref!r} points to a {type(target).__name__}, not a schema",
                                  path=where)
            self.names[pointer] = self._fresh(pointer)
            self.queue.append(pointer)
        return self.names[pointer]

    def _fresh(self, pointer: tuple[str, ...]) -> str:
        base = re.sub(r"[^A-Za-z0-9_]", "_", pointer[-1])[:40] if pointer else "root"
        name, n = base or "def", 1
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name

    def rewrite(self, schema, at: tuple):
        """`schema` (found at path `at` of the original) with hoisted references."""
        if not isinstance(schema, dict):
            return schema
        for key in _UNSUPPORTED:
            if key in schema:
                raise SchemaError(f"{key} is not supported", path=schema_path(at + (key,)))
        if "$id" in schema and at:
            raise SchemaError("a nested $id (a schema resource inside another) is not supported",
                              path=schema_path(at + ("$id",)))
        out = map_subschemas(schema, lambda path, sub: self.rewrite(sub, at + path))
        for key in (*DEFINITIONS, "$schema", "$id", "$anchor", "$dynamicAnchor"):
            out.pop(key, None)
        if "$ref" in schema:
            out["$ref"] = DEFS_PREFIX + self.name_of(schema["$ref"], at)
        return out


def hoist(schema) -> Hoisted:
    """The schema with all references into one top-level `$defs` (see the module docstring)."""
    if not isinstance(schema, dict):
        return Hoisted(schema)
    hoister = _Hoister(schema)
    body = hoister.rewrite(schema, ())
    defs = {}
    for pointer in hoister.queue:  # rewriting a definition may queue more
        defs[hoister.names[pointer]] = hoister.rewrite(resolve(schema, pointer), pointer)
    if defs:
        body["$defs"] = defs
    return Hoisted(body, {name: pointer for pointer, name in hoister.names.items()})


def references(schema) -> set[str]:
    """The hoisted names a (hoisted) schema refers to, not following them."""
    found, stack = set(), [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            name = hoisted_name(node.get("$ref"))
            if name is not None:
                found.add(name)
            stack.extend(sub for path, sub in subschemas(node) if path[0] not in DEFINITIONS)
    return found


def recursive_definition(root) -> str | None:
    """A hoisted definition reachable from the root that refers back to itself, if any."""
    if not isinstance(root, dict):
        return None
    defs = root.get("$defs", {})
    graph = {name: references(d) for name, d in defs.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(references(root)):
        if state.get(start):
            continue
        state[start] = 1
        stack = [(start, iter(sorted(graph.get(start, ()))))]
        while stack:
            name, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[name] = 2
                stack.pop()
            elif state.get(child) == 1:
                return child
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(sorted(graph.get(child, ())))))
    return None


def reference_depth(root) -> int:
    """The most references a path through a hoisted schema resolves one inside another (a
    "$ref" to A, whose property refers to B: 2). For a schema without recursion
    (recursive_definition is None); computed without recursion, as the chain may be long."""
    if not isinstance(root, dict):
        return 0
    defs = root.get("$defs", {})
    graph = {name: references(d) for name, d in defs.items()}
    depth: dict[str, int] = {}
    for start in graph:
        stack, entered = [start], {start}
        while stack:
            name = stack[-1]
            waiting = [m for m in graph[name] if m in graph and m not in depth and m not in entered]
            if waiting:
                stack.extend(waiting)
                entered.update(waiting)
                continue
            stack.pop()
            depth[name] = 1 + max((depth.get(m, 0) for m in graph[name]), default=0)
    return max((depth.get(m, 1) for m in references(root)), default=0)
