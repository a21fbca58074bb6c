"""BFCL's shipped data: its cases and answers, and its schemas as JSON Schema.

The data comes from the `bfcl-eval` package, installed with `--no-deps` (its dependencies are
vendor SDKs). Only its files are read: importing its modules would import those SDKs.

BFCL writes parameter schemas in its own dialect: `"type": "dict"`, `float`, `tuple`, `any`,
and Java/JavaScript spellings (`String`, `HashMap`, `long`, …); function names contain dots.
normalize_function turns one into an OpenAI tool with a JSON Schema and a valid name.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..messages import ToolSpec
from .cases import Case, Expected

# The single-turn categories we can judge, and how. Java and JavaScript are left out: BFCL
# judges their values by parsing them as Java/JS source, which this checker does not do.
CALLS, NO_CALL, ANY_CALL = "calls", "no_call", "any_call"
CATEGORIES = {
    "simple_python": CALLS,
    "multiple": CALLS,
    "parallel": CALLS,
    "parallel_multiple": CALLS,
    "irrelevance": NO_CALL,
    "live_simple": CALLS,
    "live_multiple": CALLS,
    "live_parallel": CALLS,
    "live_parallel_multiple": CALLS,
    "live_irrelevance": NO_CALL,
    "live_relevance": ANY_CALL,
}
# BFCL appends this to every function description of its Python categories, whichever model
# it scores; so do we, to score the same prompts.
PYTHON_HINT = " Note that the provided function is in Python 3 syntax."
# Every single-turn category that carries function schemas; the multi-turn categories keep
# theirs in data/multi_turn_func_doc/.
SCHEMA_CATEGORIES = (*CATEGORIES, "simple_java", "simple_javascript")

# BFCL type name → JSON Schema type; None means any JSON value. These are all the names
# that occur in the shipped schemas, plus JSON Schema's own "object" and "number" (used by
# our suite and by schemas already in OpenAI form). "" occurs once (a JavaScript field with
# no stated type).
TYPES = {
    "string": "string", "String": "string", "char": "string",
    "integer": "integer", "long": "integer",
    "float": "number", "double": "number", "number": "number",
    "boolean": "boolean", "Boolean": "boolean",
    "array": "array", "tuple": "array", "Array": "array", "ArrayList": "array",
    "dict": "object", "object": "object", "HashMap": "object",
    "any": None, "": None,
}
# Keywords that mean the same in JSON Schema and are copied as they are.
PLAIN_KEYWORDS = {"description", "default", "enum", "format", "minimum", "maximum", "minItems", "maxItems"}
# BFCL's own annotation; whether a parameter may be left out is already in "required".
DROPPED_KEYWORDS = {"optional"}
_JSON_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
               "object": (dict,), "array": (list,)}
_INVALID_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")
MAX_NAME_LENGTH = 64  # OpenAI's limit: ^[a-zA-Z0-9_-]{1,64}$


class BfclMissing(RuntimeError):
    pass


class SchemaError(ValueError):
    """A BFCL schema that has no JSON Schema equivalent; the message names the function and the field."""


def data_dir() -> Path:
    spec = importlib.util.find_spec("bfcl_eval")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise BfclMissing("BFCL's data is not installed: pip install --no-deps bfcl-eval")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _category_file(folder: Path, category: str) -> Path:
    pattern = re.compile(rf"BFCL_v\d+_{re.escape(category)}\.json")
    found = [p for p in folder.glob("BFCL_v*.json") if pattern.fullmatch(p.name)]
    if len(found) != 1:
        raise FileNotFoundError(f"expected one BFCL data file for {category!r} in {folder}, found {len(found)}")
    return found[0]


def _read_json_lines(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_category(category: str) -> list[Case]:
    """A category's cases with their answers, in the data's order."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown BFCL category {category!r}; known: {', '.join(CATEGORIES)}")
    folder = data_dir()
    entries = _read_json_lines(_category_file(folder, category))
    mode = CATEGORIES[category]
    answers: dict[str, list] = {}
    if mode == CALLS:
        answer_file = _category_file(folder / "possible_answer", category)
        answers = {a["id"]: a["ground_truth"] for a in _read_json_lines(answer_file)}
    return [Case(id=e["id"], suite="bfcl", category=category,
                 messages=e["question"][0],  # single-turn: one turn of messages
                 functions=[{**fn, "description": fn.get("description", "") + PYTHON_HINT} for fn in e["function"]],
                 expected=Expected(calls=tuple(answers[e["id"]]) if mode == CALLS else (),
                                   any_call=mode == ANY_CALL))
            for e in entries]


@dataclass(frozen=True)
class FunctionSchema:
    source: str  # "<category>/<case id>" or "multi_turn_func_doc/<file>"
    function: dict


def iter_function_schemas() -> Iterator[FunctionSchema]:
    """Every function schema BFCL ships: the single-turn cases', then the multi-turn docs'."""
    folder = data_dir()
    for category in SCHEMA_CATEGORIES:
        for entry in _read_json_lines(_category_file(folder, category)):
            for fn in entry["function"]:
                yield FunctionSchema(f"{category}/{entry['id']}", fn)
    for doc in sorted((folder / "multi_turn_func_doc").glob("*.json")):
        for fn in _read_json_lines(doc):
            yield FunctionSchema(f"multi_turn_func_doc/{doc.stem}", fn)


# --- normalization ---------------------------------------------------------------------------

def openai_name(name: str) -> str:
    """A name OpenAI-style APIs accept: dots and other characters outside [A-Za-z0-9_-] become `_`."""
    cleaned = _INVALID_NAME_CHARS.sub("_", name)
    if not cleaned or len(cleaned) > MAX_NAME_LENGTH:
        raise SchemaError(f"function {name!r}: a tool name must be 1 to {MAX_NAME_LENGTH} characters")
    return cleaned


def _fits(value, json_type: str) -> bool:
    if isinstance(value, bool) and json_type != "boolean":
        return False
    return isinstance(value, _JSON_TYPES[json_type])


def normalize_schema(schema, where: str) -> dict:
    """One BFCL schema node → JSON Schema. `where` names the function and field for errors."""
    if not isinstance(schema, dict):
        raise SchemaError(f"{where}: expected a schema object, got {type(schema).__name__}")
    out: dict = {}
    json_type = None
    if "type" in schema:
        if schema["type"] not in TYPES:
            raise SchemaError(f"{where}: type {schema['type']!r} has no JSON Schema equivalent")
        json_type = TYPES[schema["type"]]
        if json_type:
            out["type"] = json_type
    for key, value in schema.items():
        if key == "type" or key in DROPPED_KEYWORDS:
            continue
        if key in PLAIN_KEYWORDS:
            out[key] = value
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: normalize_schema(sub, f"{where}.{name}") for name, sub in value.items()}
        elif key == "items":
            out[key] = normalize_schema(value, f"{where}[]")
        elif key == "additionalProperties":
            out[key] = value if isinstance(value, bool) else normalize_schema(value, f"{where}{{}}")
        elif key == "required" and isinstance(value, list) and all(isinstance(v, str) for v in value):
            out[key] = list(value)
        else:
            raise SchemaError(f"{where}: keyword {key!r} (value {value!r:.60}) is not supported")
    if "enum" in out and json_type:
        _reconcile_enum(out, json_type)
    return out


def _reconcile_enum(node: dict, json_type: str) -> None:
    """Some BFCL schemas put an enum where JSON Schema cannot satisfy it; keep what was meant."""
    if json_type == "array" and "enum" not in node.get("items", {}):
        # An enum on an array lists what each element may be.
        node["items"] = {**node.get("items", {}), "enum": node.pop("enum")}
    elif not all(_fits(v, json_type) for v in node["enum"]):
        # e.g. boolean with ["True", "False", "dontcare"]: the answers use the enum's values,
        # so the enum wins over the stated type.
        del node["type"]


def normalize_function(fn: dict) -> tuple[dict, str]:
    """A BFCL function → (an OpenAI tool dict with a JSON Schema, the function's original name)."""
    name = fn["name"]
    parameters = normalize_schema(fn.get("parameters") or {"type": "dict", "properties": {}}, name)
    if parameters.get("type") != "object":
        raise SchemaError(f"{name}: parameters must be an object schema, got type {parameters.get('type')!r}")
    tool = {"type": "function", "function": {"name": openai_name(name), "description": fn.get("description", ""),
                                             "parameters": parameters}}
    return tool, name


@dataclass(frozen=True)
class ToolSet:
    """The tools one case offers, as the model sees them, and the way back to BFCL's names."""

    specs: list[ToolSpec]
    original: dict[str, str]  # offered name → BFCL name

    def original_name(self, offered: str) -> str:
        return self.original.get(offered, offered)

    def spec(self, offered: str) -> ToolSpec | None:
        return next((s for s in self.specs if s.name == offered), None)


def tool_set(functions: list[dict]) -> ToolSet:
    specs, original = [], {}
    for fn in functions:
        tool, name = normalize_function(fn)
        spec = ToolSpec.from_openai(tool)
        if spec.name in original:
            raise SchemaError(f"{name}: its tool name {spec.name!r} is also that of {original[spec.name]!r}")
        specs.append(spec)
        original[spec.name] = name
    return ToolSet(specs, original)
