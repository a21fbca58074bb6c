"""References, recursion and hostile schemas, on the real default model and both engines.

A schema embedded in a call object keeps its references working (grammars.refs); a recursive
schema with finite values generates; one without is refused before generation, as is a
schema nested too deep or holding text that is not Unicode; an engine failure mid-generation
is a GrammarEngineError carrying the engine's state."""

from __future__ import annotations

import json
from typing import Literal, Union

import numpy as np
import pytest
from pydantic import BaseModel, Field

from localcall import formats
from localcall.grammars import make_engine
from localcall.grammars.errors import GrammarEngineError
from localcall.grammars.refs import hoist
from localcall.grammars.schema import MAX_DEPTH, MAX_VALUES, SchemaError, check_schema, check_tool, validate_instance
from localcall.grammars.spec import build_tool_grammar, closed, json_node
from localcall.messages import ToolCallDelta, ToolCallStart, ToolChoice, ToolSpec
from localcall.runtime.generate import Generation
from localcall.runtime.sampling import SamplingParams

ENGINES = ["llguidance", "outlines"]
PROMPT = "<|im_start|>user\nPlace an order for me.<|im_end|>\n<|im_start|>assistant\n"


class Address(BaseModel):
    city: str = Field(max_length=8)


class Item(BaseModel):
    gift: bool


class Parcel(BaseModel):
    """Send a parcel."""
    to: Address
    items: list[Item] = Field(min_length=1, max_length=2)


class Order(BaseModel):
    ship_to: Address
    bill_to: Address | None = None


# pydantic's own output: "$defs" and "$ref": "#/$defs/Address" (small: outlines indexes
# each grammar over the whole vocabulary, and string lengths cost it most).
PARCEL = Parcel.model_json_schema()
ORDER = Order.model_json_schema()
TREE = {"type": "object", "properties": {"v": {"type": "boolean"},
                                         "kids": {"type": "array", "maxItems": 2, "items": {"$ref": "#"}}},
        "required": ["v"]}
# The same references in the other spellings users send.
REFERENCE_FORMS = {
    "$defs": PARCEL,
    "definitions (draft 7)": {"$schema": "http://json-schema.org/draft-07/schema#",
                              "definitions": {"Point": {"type": "object", "properties": {"x": {"type": "boolean"}},
                                                        "required": ["x"]}},
                              "type": "object", "properties": {"p": {"$ref": "#/definitions/Point"}},
                              "required": ["p"]},
    "pointer into properties": {"type": "object", "properties": {
        "home": {"type": "object", "properties": {"zip": {"type": "string", "maxLength": 5}}, "required": ["zip"]},
        "work": {"$ref": "#/properties/home"}}, "required": ["home", "work"]},
    "escaped names": {"$defs": {"a/b": {"type": "boolean"}, "c d": {"enum": ["x", "y"]}},
                      "type": "object", "properties": {"s": {"$ref": "#/$defs/a~1b"}, "t": {"$ref": "#/$defs/c%20d"}},
                      "required": ["s", "t"]},
}


@pytest.fixture(scope="module", params=ENGINES)
def engine(request, llama_backend):
    return make_engine(request.param, llama_backend)


def generate(backend, engine, node, seed: int, max_tokens: int = 120) -> tuple[str | None, str]:
    """(finish reason, text) of one constrained generation."""
    gen = Generation(backend, backend.tokenize(PROMPT), SamplingParams(temperature=1.0, seed=seed,
                                                                       max_tokens=max_tokens),
                     hook=engine.constraint(node))
    text = gen.text()
    return gen.finish_reason, text


def calls_in(family: str, text: str) -> list[tuple[str, str]]:
    parser = formats.get_format(family).parser([])
    names, args = {}, {}
    for event in [*parser.feed(text), *parser.finish()]:
        if isinstance(event, ToolCallStart):
            names[event.index], args[event.index] = event.name, ""
        elif isinstance(event, ToolCallDelta):
            args[event.index] += event.arguments
    return [(names[i], args[i]) for i in sorted(names)]


@pytest.mark.parametrize("family", ["generic", "hermes", "llama3", "mistral"])
def test_embedded_references_resolve_in_every_call_body(family, engine, llama_backend):
    """generic and hermes embed the parameters in {"name", "arguments"}; llama3 and mistral
    write NAME + arguments. Either way pydantic's $refs resolve and every call validates."""
    tool = ToolSpec("send", "Send a parcel.", PARCEL)
    special = llama_backend.special
    grammar = build_tool_grammar(formats.get_format(family).call_syntax(special), [tool], ToolChoice("required"),
                                 parallel=False, special=special, control_ids=special.control_ids)
    engine.compile(grammar)
    completed = 0
    for seed in range(2):
        finish, text = generate(llama_backend, engine, grammar, seed, max_tokens=80)
        if finish != "stop":
            continue
        completed += 1
        (name, arguments), = calls_in(family, text)
        assert name == "send"
        assert validate_instance(json.loads(arguments), PARCEL) is None, arguments
        Parcel.model_validate_json(arguments)
    assert completed, "no generation completed"


@pytest.mark.parametrize("form", list(REFERENCE_FORMS))
def test_every_reference_form_generates_valid_values(form, engine, llama_backend):
    schema = REFERENCE_FORMS[form]
    check_schema(schema, where=form)
    node = json_node(schema)
    completed = 0
    for seed in range(8):  # sampled at temperature 1: some draws run past the budget
        finish, text = generate(llama_backend, engine, node, seed, max_tokens=60)
        if finish == "stop":
            completed += 1
            assert validate_instance(json.loads(text), schema) is None, text
            if completed == 2:
                break
    assert completed, "no generation completed"


def test_a_recursive_tree_generates_valid_trees_on_llguidance(llama_backend):
    engine = make_engine("llguidance", llama_backend)
    check_schema(TREE, where="tree")
    node = json_node(TREE)
    completed = 0
    for seed in range(8):  # sampled at temperature 1: a tree may grow past the budget
        finish, text = generate(llama_backend, engine, node, seed, max_tokens=120)
        if finish == "stop":
            completed += 1
            assert validate_instance(json.loads(text), TREE) is None, text
            if completed == 2:
                break
    assert completed >= 1


def ref_chain(hops: int) -> dict:
    """A path through `hops` references, one inside another, to a boolean (pydantic writes
    one per nested model: Order → Item → Product → Price …)."""
    defs = {f"D{i}": {"type": "object", "properties": {"a": {"$ref": f"#/$defs/D{i + 1}"}}, "required": ["a"]}
            for i in range(hops - 1)}
    defs[f"D{hops - 1}"] = {"type": "boolean"}
    return {"$defs": defs, "type": "object", "properties": {"p": {"$ref": "#/$defs/D0"}}, "required": ["p"]}


@pytest.mark.parametrize("hops", [4, 8])
def test_references_nested_deep_resolve_to_the_end(hops, engine, llama_backend):
    """outlines_core resolves only 4 nested references (then writes an empty object); the
    outlines engine refuses more, llguidance resolves them all."""
    schema = ref_chain(hops)
    if engine.name == "outlines" and hops > 4:
        with pytest.raises(SchemaError, match="nested at most 4 deep"):
            engine.compile(json_node(schema))
        return
    finish, text = generate(llama_backend, engine, json_node(schema), seed=0, max_tokens=60)
    assert finish == "stop" and validate_instance(json.loads(text), schema) is None, text


@pytest.mark.parametrize("schema, message", [
    # outlines_core unrolls a recursive $ref three levels and then allows any object there.
    (TREE, "recursive"),
    # ... and builds oneOf as anyOf: 123 would pass, though it matches both options.
    ({"type": "object", "properties": {"p": {"oneOf": [{"type": "integer"}, {"type": "number"}]}}}, "oneOf"),
])
def test_outlines_refuses_what_it_would_only_approximate(schema, message, llama_backend):
    engine = make_engine("outlines", llama_backend)
    with pytest.raises(SchemaError, match=message):
        engine.compile(json_node(schema))


@pytest.mark.parametrize("schema, path", [
    ({"$ref": "#"}, "(root)"),
    ({"type": "object", "properties": {"n": {"$ref": "#"}}, "required": ["n"]}, "properties/n"),
    ({"$defs": {"A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}}, "required": ["b"]},
                "B": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/A"}}},
      "type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}, "required": ["a"]}, "properties/a"),
    ({"type": "object", "properties": {"n": {"anyOf": [{"$ref": "#"}, {"allOf": [{"$ref": "#"}]}]}},
      "required": ["n"]}, "properties/n/anyOf/0"),
])
def test_a_schema_with_no_finite_value_is_refused(schema, path):
    with pytest.raises(SchemaError, match="no finite value") as info:
        check_schema(schema, where="tool 'loop' parameters")
    assert info.value.path == path
    assert str(info.value).startswith(f"tool 'loop' parameters at {path}: ")


def test_an_impossible_required_property_is_refused():
    with pytest.raises(SchemaError, match="allows no value") as info:
        check_schema({"type": "object", "properties": {"a": False}, "required": ["a"]}, where="t")
    assert info.value.path == "properties/a"


@pytest.mark.parametrize("schema", [
    TREE,
    {"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}, "required": ["next"]},
    {"$defs": {"A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}}, "required": ["b"]},
               "B": {"type": "array", "items": {"$ref": "#/$defs/A"}}},  # B may be empty
     "$ref": "#/$defs/A"},
    {"type": ["object", "string"], "properties": {"n": {"$ref": "#"}}, "required": ["n"]},  # a string is finite
    {"type": "object", "properties": {"n": {"$ref": "#"}}},  # n is optional
])
def test_recursion_with_finite_values_passes_the_check(schema, llama_backend):
    check_schema(schema, where="t")
    make_engine("llguidance", llama_backend).compile(json_node(schema))


def nested(levels: int) -> dict:
    schema: dict = {"type": "integer"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"x": schema}, "required": ["x"]}
    return schema


@pytest.mark.parametrize("levels", [200, 20_000])
def test_deep_nesting_is_refused_before_anything_recurses(levels):
    """20,000 levels would overflow any recursive walk (Python's limit is 1,000 frames)."""
    with pytest.raises(SchemaError, match=f"nested more than {MAX_DEPTH} levels") as info:
        check_schema(nested(levels), where="tool 'deep' parameters")
    assert info.value.path.startswith("properties/x/properties/x/")
    assert str(info.value).startswith("tool 'deep' parameters at properties/x/")


def test_a_huge_schema_is_refused_before_the_metaschema_check():
    """jsonschema's metaschema check costs about a millisecond per subschema."""
    schema = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(MAX_VALUES)}}
    with pytest.raises(SchemaError, match=f"too large: more than {MAX_VALUES} JSON values"):
        check_schema(schema, where="tool 'big' parameters")


def test_nesting_within_the_bound_compiles(llama_backend):
    schema = nested(MAX_DEPTH // 2 - 1)
    check_schema(schema, where="t")
    make_engine("llguidance", llama_backend).compile(json_node(schema))


def test_a_deep_value_is_reported_not_a_recursion_error():
    value: object = 1
    for _ in range(5000):
        value = {"kids": [value]}
    problem = validate_instance(value, {"type": "object", "properties": {"kids": {"type": "array",
                                                                                 "items": {"$ref": "#"}}}})
    assert problem is not None and "nested more than" in problem


@pytest.mark.parametrize("schema, path", [
    ({"type": "object", "properties": {"city": {"type": "string", "description": "\ud800"}}}, "properties/city/description"),
    ({"type": "object", "properties": {"ci\udfffty": {"type": "string"}}}, "properties"),
    ({"type": "object", "properties": {"u": {"enum": ["ok", "\udc00"]}}}, "properties/u/enum/1"),
])
def test_a_lone_surrogate_in_a_schema_names_the_field(schema, path):
    with pytest.raises(SchemaError, match="lone surrogate") as info:
        check_schema(schema, where="response_format.json_schema.schema")
    assert info.value.path == path


def test_a_lone_surrogate_in_a_tool_description_names_the_tool():
    with pytest.raises(SchemaError, match="tool 'w' description: contains a lone surrogate"):
        check_tool(ToolSpec("w", "Weather \ud83d for a city", {"type": "object", "properties": {}}))
    check_tool(ToolSpec("w", "Weather \U0001f326 for a city", {"type": "object", "properties": {}}))  # a real emoji


@pytest.mark.parametrize("ref, message", [
    ("#/$defs/missing", "points to nothing"),
    ("other.json#/$defs/A", "remote reference"),
    ("#anchor", "an anchor"),
    ("#/required", "not a schema"),
])
def test_a_reference_that_cannot_be_resolved_locally_names_the_field(ref, message):
    schema = {"type": "object", "properties": {"p": {"$ref": ref}}, "required": ["p"]}
    with pytest.raises(SchemaError, match=message) as info:
        check_schema(schema, where="tool 't' parameters")
    assert info.value.path == "properties/p"


@pytest.mark.parametrize("schema, instance", [
    # Closing under "not" would *widen*: {"b": 1} matches the inner schema, so the original
    # rejects it; an inner schema closed to {"a"} would not match it, and "not" would pass it.
    ({"type": "object", "not": {"properties": {"a": {"type": "string"}}}}, {"b": 1}),
    ({"$defs": {"A": {"properties": {"a": {"type": "string"}}}}, "type": "object",
      "properties": {"x": {"$ref": "#/$defs/A"}, "y": {"not": {"$ref": "#/$defs/A"}}}}, {"y": {"b": 1}}),
    # Under "oneOf", an object the first option allows only when open also matches the second.
    ({"oneOf": [{"type": "object", "properties": {"a": {"type": "integer"}}}, {"type": "object", "required": ["b"]}]},
     {"a": 1, "b": 2}),
])
def test_closing_objects_never_admits_what_the_original_rejects(schema, instance):
    assert validate_instance(instance, schema) is not None
    assert validate_instance(instance, closed(hoist(schema).root)) is not None


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = Field(ge=1, le=9)


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class Pet(BaseModel):
    pet: Union[Cat, Dog] = Field(discriminator="kind")


def test_a_tagged_union_stays_closed_and_validates(llama_backend):
    """pydantic's discriminated union is a oneOf whose options fix "kind" to different
    constants: they exclude each other, so closing them is sound (and llguidance takes it)."""
    schema = Pet.model_json_schema()
    assert "oneOf" in schema["properties"]["pet"]
    node = json_node(schema)
    assert set(node.schema["$defs"]) == {"Cat", "Dog"}  # no open copies
    engine = make_engine("llguidance", llama_backend)
    completed = 0
    for seed in range(3):
        finish, text = generate(llama_backend, engine, node, seed, max_tokens=40)
        if finish == "stop":
            completed += 1
            assert validate_instance(json.loads(text), schema) is None, text
            Pet.model_validate_json(text)
    assert completed


def test_closing_still_closes_where_it_narrows():
    schema = closed(hoist(ORDER).root)
    value = {"ship_to": {"city": "Oslo"}, "bill_to": {"city": "Rome", "extra": 1}}
    assert validate_instance(value, ORDER) is None
    assert "extra" in validate_instance(value, schema)


def test_an_engine_failure_mid_generation_carries_the_state(engine, llama_backend):
    """A token the mask forbids, fed anyway: the engine's own error, as GrammarEngineError."""
    node = json_node({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]})
    hook = engine.constraint(node)
    opening = llama_backend.tokenize("{", special=False)
    for token in opening:
        hook.accept(token)
    forbidden = llama_backend.tokenize("7", special=False)[0]
    hook.mask(np.zeros(llama_backend.n_vocab, dtype=np.float32))
    with pytest.raises(GrammarEngineError) as info:
        hook.accept(forbidden)
    error = info.value
    assert error.engine == engine.name and error.message and error.grammar
    assert list(error.tokens[:len(opening)]) == opening
    assert str(error).startswith(f"grammar engine error ({engine.name}): ")
    assert error.message in error.summary() and "grammar:" in error.summary()
    assert isinstance(error, RuntimeError)


def test_properties_named_like_keywords_are_data(engine, llama_backend):
    """A property called "$ref" is no reference, and one called "properties" no schema."""
    schema = {"type": "object", "properties": {"$ref": {"type": "boolean"}, "properties": {"type": "boolean"}},
              "required": ["$ref", "properties"]}
    check_schema(schema, where="t")
    node = json_node(schema)
    assert set(node.schema["properties"]) == {"$ref", "properties"}
    finish, text = generate(llama_backend, engine, node, seed=0, max_tokens=30)
    assert finish == "stop" and validate_instance(json.loads(text), schema) is None, text
