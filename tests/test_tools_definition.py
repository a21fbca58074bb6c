"""Defining tools: @tool schemas from type hints, docstring descriptions, raw JSON-schema
tools, the registry and load_tools."""

import asyncio
import textwrap
from enum import Enum
from typing import Annotated, Literal, Optional

import pytest
from pydantic import BaseModel, Field

from localcall.tools import DuplicateToolError, RetryPolicy, Tool, ToolRegistry, load_tools, tool
from localcall.tools.docstrings import parse_docstring


class Unit(Enum):
    celsius = "celsius"
    fahrenheit = "fahrenheit"


class Address(BaseModel):
    street: str
    city: str = "Paris"


class Node(BaseModel):
    name: str
    children: list["Node"] = []


def test_schema_from_type_hints():
    @tool
    def weather(location: str, unit: Unit = Unit.celsius, days: int = 1,
                mode: Literal["now", "forecast"] = "now", address: Optional[Address] = None,
                tags: list[str] = [], threshold: Annotated[float, Field(ge=0, description="From Field")] = 0.5):
        """Get the weather.

        Args:
            location: City name, e.g. 'Tokyo'.
            unit: Temperature unit.
            threshold: Ignored in favour of Field's description.
        """

    p = weather.parameters
    assert weather.name == "weather" and weather.description == "Get the weather."
    assert p["type"] == "object" and p["required"] == ["location"]
    assert p["additionalProperties"] is False  # a constrained decoder cannot invent parameters
    props = p["properties"]
    assert props["location"] == {"type": "string", "description": "City name, e.g. 'Tokyo'."}
    assert props["unit"]["enum"] == ["celsius", "fahrenheit"] and props["unit"]["default"] == "celsius"
    assert props["unit"]["description"] == "Temperature unit."
    assert props["mode"]["enum"] == ["now", "forecast"]
    assert props["days"] == {"type": "integer", "default": 1}
    assert props["tags"]["items"] == {"type": "string"}
    assert props["threshold"]["minimum"] == 0 and props["threshold"]["description"] == "From Field"
    # The nested model is inlined (no $ref) and Optional becomes anyOf with null.
    nested, null = props["address"]["anyOf"]
    assert nested["properties"]["street"] == {"type": "string"} and nested["required"] == ["street"]
    assert null == {"type": "null"}
    assert "$defs" not in p and "title" not in p and "title" not in props["location"]


def test_recursive_models_keep_their_defs():
    @tool
    def tree(root: Node):
        """Walk a tree."""

    p = tree.parameters
    assert p["properties"]["root"]["$ref"] == "#/$defs/Node"
    assert p["$defs"]["Node"]["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}


def test_options_and_sync_async():
    def rule(args):
        pass

    @tool(name="pay", risk="high", timeout=3, retry=RetryPolicy(attempts=2), fallback="other",
          validators=[rule], description="Send money.")
    async def send_money(amount: float):
        return amount

    assert (send_money.name, send_money.description, send_money.risk) == ("pay", "Send money.", "high")
    assert send_money.needs_approval and send_money.is_async and send_money.timeout == 3
    assert send_money.validators == (rule,) and send_money.fallback == "other"
    assert asyncio.run(send_money(2.5)) == 2.5  # the function is still callable as it was
    assert not tool(lambda x=1: x, name="f").is_async


@pytest.mark.parametrize("bad", [dict(name="has space"), dict(name="x" * 65), dict(risk="extreme")])
def test_invalid_definitions_are_refused(bad):
    with pytest.raises(ValueError):
        tool(lambda: None, **{"name": "ok", **bad})


def test_variadic_parameters_need_an_explicit_schema():
    with pytest.raises(TypeError, match="named parameter"):
        tool(lambda **kw: kw, name="free")
    free = tool(lambda **kw: kw, name="free", parameters={"type": "object", "properties": {}})
    assert free.arguments is None


def test_raw_json_schema_tool():
    spec = {"type": "function", "function": {
        "name": "get_customer_subscription", "description": "Subscription status of a customer.",
        "parameters": {"type": "object", "properties": {"customer_id": {"type": "string", "title": "Id"}},
                       "required": ["customer_id"]}}}
    t = Tool.from_json_schema(spec, lambda customer_id: {"plan": "pro"}, risk="medium")
    assert t.spec().to_openai() == spec  # taken exactly as written
    assert t.risk == "medium" and t(customer_id="c") == {"plan": "pro"}
    with pytest.raises(ValueError, match="type object"):
        Tool.from_json_schema({"name": "x", "parameters": {"type": "string"}}, print)


def test_google_docstring():
    description, params = parse_docstring("""Search the catalog.

    Use it for products only.

    Args:
        query (str): Search words,
            several allowed.
        max_price: Upper bound.

    Returns:
        The matches.
    """)
    assert description == "Search the catalog.\n\nUse it for products only."
    assert params == {"query": "Search words, several allowed.", "max_price": "Upper bound."}


def test_numpy_docstring():
    description, params = parse_docstring("""Convert a value.

    Parameters
    ----------
    value : float
        The number
        to convert.
    unit : str
        Target unit.

    Returns
    -------
    float
    """)
    assert description == "Convert a value."
    assert params == {"value": "The number to convert.", "unit": "Target unit."}


def test_sphinx_docstring_and_none():
    assert parse_docstring("Do it.\n\n:param x: The x.\n:returns: y") == ("Do it.", {"x": "The x."})
    assert parse_docstring(None) == ("", {})


def test_retry_delays_are_exponential_and_jittered():
    policy = RetryPolicy()
    for retry, expected in [(1, 1.0), (2, 2.0), (3, 4.0)]:
        delays = {policy.delay(retry) for _ in range(50)}
        assert all(expected * 0.9 <= d <= expected * 1.1 for d in delays)
        assert len(delays) > 1  # jittered
    assert RetryPolicy(base_delay=0.01, jitter=0).delay(3) == pytest.approx(0.04)
    assert RetryPolicy(max_delay=5, jitter=0).delay(10) == 5
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


def test_registry_rejects_duplicates():
    def a():
        """A."""

    registry = ToolRegistry([a])
    assert registry.names == ["a"] and isinstance(registry.get("a"), Tool) and "a" in registry
    with pytest.raises(DuplicateToolError):
        registry.add(tool(lambda: 1, name="a"))
    assert len(registry) == 1


def test_load_tools_from_a_file(tmp_path):
    source = tmp_path / "mytools.py"
    source.write_text(textwrap.dedent('''
        from pydantic import BaseModel
        from localcall.tools import tool

        class Point(BaseModel):
            x: int
            y: int

        @tool
        def second(p: Point) -> int:
            """Second."""
            return p.x

        @tool
        def first() -> int:
            """First."""
            return 1

        def not_a_tool():
            pass
    '''))
    tools = load_tools(str(source))
    assert [t.name for t in tools] == ["second", "first"]  # definition order
    assert tools[0].parameters["properties"]["p"]["required"] == ["x", "y"]


def test_load_tools_from_a_module():
    names = [t.name for t in load_tools("localcall.tools.builtin")]
    assert names == ["calculator", "convert_units", "current_time", "query_database", "read_file"]
    # Plain files and every refusal: tests/test_tools_loading.py.
