"""Coverage against real schemas: every function schema BFCL ships either compiles into a
grammar, or is refused with a message naming the function and what is wrong. A seeded sample
is generated for real with the default model, and every call must validate."""

from __future__ import annotations

import json
import random

import pytest

from localcall.bench.bfcl import SchemaError as BfclSchemaError
from localcall.bench.bfcl import iter_function_schemas, normalize_function
from localcall.grammars.schema import SchemaError, validate_instance
from localcall.grammars.spec import json_node
from localcall.messages import ToolSpec
from localcall.model import RequestError


@pytest.fixture(scope="module")
def corpus():
    unique = {}
    for item in iter_function_schemas():
        unique.setdefault(json.dumps(item.function, sort_keys=True), item)
    return list(unique.values())


def test_every_bfcl_schema_compiles_or_is_refused_clearly(corpus, default_model, capsys):
    compiled, refused = 0, []
    for item in corpus:
        name = item.function.get("name", "?")
        try:
            tool, _ = normalize_function(item.function)
            default_model.engine.compile(json_node(tool["function"]["parameters"]))
            compiled += 1
        except (BfclSchemaError, SchemaError) as exc:
            refused.append((name, str(exc)))
    for name, message in refused:
        # A refusal names what it refuses: the function (normalizer) or the keyword (engine).
        assert name in message or "Unimplemented" in message or "cannot" in message, (name, message)
    assert len(corpus) > 2000
    assert compiled / len(corpus) > 0.98, refused[:10]
    with capsys.disabled():
        print(f"\nBFCL function schemas: {len(corpus)} unique, {compiled} compiled, {len(refused)} refused")


def test_a_sample_of_bfcl_tools_generates_valid_calls(corpus, default_model):
    rng = random.Random(20261121)
    sample = rng.sample(corpus, 12)
    checked = 0
    for item in sample:
        try:
            tool, _ = normalize_function(item.function)
        except BfclSchemaError:
            continue
        spec = ToolSpec.from_openai(tool)
        try:
            result = default_model.chat([{"role": "user", "content": f"Use {spec.name}."}], tools=[spec],
                                        tool_choice={"type": "function", "function": {"name": spec.name}},
                                        temperature=0.8, seed=checked, max_tokens=120)
        except RequestError as exc:
            assert "parameters" in str(exc)  # refused by name, like the test above
            continue
        assert not [e for e in result.errors if "schema" in e.reason], result.errors
        for call in result.tool_calls:
            assert validate_instance(json.loads(call.arguments), spec.parameters) is None
        checked += 1
    assert checked >= 9
