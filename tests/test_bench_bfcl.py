"""BFCL's shipped data: loading, and its schemas as JSON Schema with OpenAI-style names."""

from __future__ import annotations

import json
from collections import Counter

import jsonschema
import pytest

from localcall.bench import bfcl

JSON_TYPES = {"string", "integer", "number", "boolean", "object", "array", "null"}


def _types(schema: dict):
    if "type" in schema:
        yield schema["type"]
    for sub in schema.get("properties", {}).values():
        yield from _types(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _types(schema[key])


def _function(case_id: str, name: str) -> dict:
    source = f"{case_id.rsplit('_', 1)[0]}/{case_id}"
    return next(s.function for s in bfcl.iter_function_schemas()
                if s.source == source and s.function["name"] == name)


def test_every_shipped_schema_normalizes_or_is_rejected_by_name():
    normalized, rejected, by_source = 0, Counter(), Counter()
    distinct = {}  # the same schema recurs across cases; the meta-schema check is slow
    for schema in bfcl.iter_function_schemas():
        by_source[schema.source.split("/")[0]] += 1
        try:
            tool, original = bfcl.normalize_function(schema.function)
        except bfcl.SchemaError as exc:
            assert schema.function["name"] in str(exc)
            rejected[str(exc)] += 1
            continue
        normalized += 1
        parameters = tool["function"]["parameters"]
        distinct[json.dumps(parameters, sort_keys=True)] = parameters
        assert original == schema.function["name"]
        assert tool["function"]["name"] == original.replace(".", "_")
    for parameters in distinct.values():
        jsonschema.Draft202012Validator.check_schema(parameters)
        assert set(_types(parameters)) <= JSON_TYPES
    total = sum(by_source.values())
    print(f"\nBFCL function schemas: {total} total, {normalized} normalized, {sum(rejected.values())} rejected"
          f" {dict(rejected)}; by source {dict(by_source)}")
    assert total > 8800  # 8,726 in single-turn cases + 162 multi-turn docs in the shipped version
    assert normalized + sum(rejected.values()) == total
    assert not rejected  # every schema BFCL ships today has a JSON Schema equivalent


def test_bfcl_types_map_to_json_schema():
    tool, name = bfcl.normalize_function({
        "name": "demo.fn", "description": "d",
        "parameters": {"type": "dict", "optional": ["b"], "required": ["a"], "properties": {
            "a": {"type": "float", "description": "x", "default": 1.5},
            "b": {"type": "tuple", "items": {"type": "integer"}, "optional": True},
            "c": {"type": "any"},
            "d": {"type": "HashMap", "properties": {"e": {"type": "long"}, "f": {"type": "Boolean"}}},
            "g": {"type": "ArrayList", "items": {"type": "String", "enum": ["x", "y"]}},
            "h": {"type": "dict", "additionalProperties": {"type": "double"}},
            "i": {"type": "Array", "items": {"type": "char"}},
        }}})
    assert name == "demo.fn"
    assert tool["function"]["name"] == "demo_fn"
    assert tool["function"]["parameters"] == {"type": "object", "required": ["a"], "properties": {
        "a": {"type": "number", "description": "x", "default": 1.5},
        "b": {"type": "array", "items": {"type": "integer"}},
        "c": {},
        "d": {"type": "object", "properties": {"e": {"type": "integer"}, "f": {"type": "boolean"}}},
        "g": {"type": "array", "items": {"type": "string", "enum": ["x", "y"]}},
        "h": {"type": "object", "additionalProperties": {"type": "number"}},
        "i": {"type": "array", "items": {"type": "string"}},
    }}


def test_real_java_and_javascript_schemas_normalize():
    tool, _ = bfcl.normalize_function(_function("simple_javascript_23", "createAuthToken"))
    options = tool["function"]["parameters"]["properties"]["options"]
    assert options["type"] == "object"
    assert "type" not in options["properties"]["issuer"]  # BFCL wrote "type": ""
    tool, _ = bfcl.normalize_function(_function("simple_java_22", "PmsProductServiceImpl.updateNewStatus"))
    ids = tool["function"]["parameters"]["properties"]["ids"]
    assert (ids["type"], ids["items"]) == ("array", {"type": "integer"})  # ArrayList of long


def test_enums_that_contradict_their_type_keep_their_meaning():
    tool, _ = bfcl.normalize_function(_function("live_multiple_146-58-0", "get_sensor_readings_latest"))
    metrics = tool["function"]["parameters"]["properties"]["metrics"]
    assert "enum" not in metrics and "temperature" in metrics["items"]["enum"]  # per element
    tool, _ = bfcl.normalize_function(_function("live_parallel_multiple_21-18-0", "Services_1_FindProvider"))
    unisex = tool["function"]["parameters"]["properties"]["is_unisex"]
    assert "type" not in unisex and unisex["enum"] == ["True", "False", "dontcare"]
    jsonschema.validate({"city": "Berkeley, CA", "is_unisex": "dontcare"}, tool["function"]["parameters"])


@pytest.mark.parametrize("schema, field, what", [
    ({"type": "Set"}, "demo.fn.outer.inner", "'Set'"),
    ({"type": "string", "oneOf": []}, "demo.fn.outer.inner", "'oneOf'"),
])
def test_unmappable_schema_raises_naming_function_and_field(schema, field, what):
    fn = {"name": "demo.fn", "description": "", "parameters": {"type": "dict", "properties": {
        "outer": {"type": "dict", "properties": {"inner": schema}}}}}
    with pytest.raises(bfcl.SchemaError, match=rf"^{field}: .*{what}"):
        bfcl.normalize_function(fn)


def test_tool_set_maps_offered_names_back():
    tools = bfcl.tool_set(bfcl.load_category("multiple")[0].functions)
    for spec in tools.specs:
        assert "." not in spec.name
        assert tools.original_name(spec.name).replace(".", "_") == spec.name
    assert tools.original_name("not_offered") == "not_offered"
    with pytest.raises(bfcl.SchemaError, match="also that of"):
        bfcl.tool_set([{"name": "a.b", "parameters": {"type": "dict", "properties": {}}},
                       {"name": "a_b", "parameters": {"type": "dict", "properties": {}}}])


def test_categories_load_with_their_answers():
    sizes = {category: len(bfcl.load_category(category)) for category in bfcl.CATEGORIES}
    assert sizes == {"simple_python": 400, "multiple": 200, "parallel": 200, "parallel_multiple": 200,
                     "irrelevance": 240, "live_simple": 258, "live_multiple": 1053, "live_parallel": 16,
                     "live_parallel_multiple": 24, "live_irrelevance": 884, "live_relevance": 16}
    parallel = bfcl.load_category("parallel")[0]
    assert parallel.suite == "bfcl" and parallel.category == "parallel"
    assert parallel.messages[-1]["role"] == "user" and len(parallel.expected.calls) > 1
    assert parallel.functions[0]["description"].endswith(bfcl.PYTHON_HINT)  # as BFCL prompts
    assert all(not c.expected.calls for c in bfcl.load_category("irrelevance"))
    assert all(c.expected.any_call for c in bfcl.load_category("live_relevance"))
    with pytest.raises(ValueError, match="unknown BFCL category 'simple_java'"):
        bfcl.load_category("simple_java")
