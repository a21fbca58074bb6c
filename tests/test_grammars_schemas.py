"""JSON Schema features one by one: the real default model generates under each schema (several
seeds, high temperature to explore), and every completed output must validate."""

from __future__ import annotations

import json

import pytest

from localcall.grammars import make_engine
from localcall.grammars.schema import SchemaError, check_schema, validate_instance
from localcall.grammars.spec import json_node
from localcall.runtime.generate import Generation
from localcall.runtime.sampling import SamplingParams

SHORT = {"type": "string", "maxLength": 12}
FEATURES = {
    "deep nesting": {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {
        "type": "object", "properties": {"c": {"type": "object", "properties": {"d": {"type": "integer"}},
                                               "required": ["d"]}}, "required": ["c"]}}, "required": ["b"]}},
        "required": ["a"]},
    "enum": {"type": "object", "properties": {"unit": {"enum": ["celsius", "fahrenheit"]}}, "required": ["unit"]},
    "array of objects": {"type": "object", "properties": {"items": {"type": "array", "minItems": 1, "maxItems": 3,
        "items": {"type": "object", "properties": {"sku": SHORT, "qty": {"type": "integer", "minimum": 1}},
                  "required": ["sku", "qty"]}}}, "required": ["items"]},
    "anyOf": {"type": "object", "properties": {"id": {"anyOf": [{"type": "integer"}, SHORT]}}, "required": ["id"]},
    "$ref/$defs": {"$defs": {"point": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                                       "required": ["x", "y"]}},
                   "type": "object", "properties": {"from": {"$ref": "#/$defs/point"}, "to": {"$ref": "#/$defs/point"}},
                   "required": ["from", "to"]},
    "numeric bounds": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 3, "maximum": 7},
                                                        "x": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}},
                       "required": ["n", "x"]},
    "pattern": {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2}$"}},
                "required": ["code"]},
    "required vs optional": {"type": "object", "properties": {"q": SHORT, "limit": {"type": "integer", "maximum": 50},
                                                              "in_stock": {"type": "boolean"}}, "required": ["q"]},
    "additionalProperties schema": {"type": "object", "properties": {"name": SHORT},
                                    "additionalProperties": {"type": "integer"}, "required": ["name"], "maxProperties": 3},
    "additionalProperties false": {"type": "object", "properties": {"a": {"type": "boolean"}}, "required": ["a"],
                                   "additionalProperties": False},
    "const and null": {"type": "object", "properties": {"v": {"const": "fixed"}, "n": {"type": "null"}},
                       "required": ["v", "n"]},
    "string formats": {"type": "object", "properties": {"day": {"type": "string", "format": "date"}}, "required": ["day"]},
}
PROMPT = "<|im_start|>user\nAnswer with a JSON object.<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def engine(llama_backend):
    return make_engine("llguidance", llama_backend)


@pytest.mark.parametrize("name", list(FEATURES))
def test_every_completed_output_validates(name, engine, llama_backend):
    schema = FEATURES[name]
    check_schema(schema, where=name)
    finished = 0
    for seed in range(4):
        gen = Generation(llama_backend, llama_backend.tokenize(PROMPT),
                         SamplingParams(temperature=1.0, seed=seed, max_tokens=160),
                         hook=engine.constraint(json_node(schema)))
        text = gen.text()
        if gen.finish_reason != "stop":
            continue  # cut off inside a value at max_tokens: not a complete document
        finished += 1
        value = json.loads(text)
        assert validate_instance(value, schema) is None, (name, text)
    assert finished >= 2, f"{name}: only {finished} of 4 generations completed"


@pytest.mark.parametrize("keyword, schema", [
    ("not", {"not": {"type": "string"}}),
    ("uniqueItems", {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}),
    ("if", {"type": "object", "if": {"required": ["a"]}, "then": {"required": ["b"]}}),
    ("propertyNames", {"type": "object", "propertyNames": {"pattern": "^a"}}),
])
def test_features_the_engine_cannot_enforce_are_named(keyword, schema, engine):
    with pytest.raises(SchemaError, match=keyword):
        engine.compile(json_node(schema))


def test_a_malformed_schema_names_the_field():
    with pytest.raises(SchemaError) as info:
        check_schema({"type": "object", "properties": {"unit": {"type": "colour"}}}, where="tool 'w' parameters")
    assert info.value.path == "properties/unit/type"
    assert "tool 'w' parameters at properties/unit/type" in str(info.value)


def test_a_dangling_ref_is_refused(engine):
    with pytest.raises(SchemaError, match="missing"):
        engine.compile(json_node({"type": "object", "properties": {"p": {"$ref": "#/$defs/missing"}}}))
