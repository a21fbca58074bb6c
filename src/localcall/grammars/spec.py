"""An engine-neutral description of what a turn may look like, built from a family's CallSyntax.

Families describe their call syntax (formats.base.CallSyntax); this module turns it, with the
offered tools and the tool_choice mode, into a small grammar tree that each engine compiles:

    Seq / Alt / Repeat       structure
    Lit                      fixed text; a control token's text becomes Special
    Special                  one control token by id ([TOOL_CALLS], <|python_tag|>…)
    Json                     a JSON value matching a schema
    Text                     free text; `lazy_until` makes it end at the first trigger,
                             `not_starting_with` forbids a first character (Llama 3's "{"),
                             `excluding` lists texts it never contains (reasoning openings)
    RawText                  a raw string value of bounded length, ending with (and
                             including) the first occurrence of `stop` (XML parameter values),
                             or, with no stop, where the grammar goes on with a control token
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Callable, Union

from ..formats.base import CallSyntax, is_raw_string, python_literal
from ..messages import ToolChoice, ToolSpec
from ..vocab import SpecialTokens
from .keywords import map_subschemas
from .refs import DEFS_PREFIX, hoist, hoisted_name
from .schema import SchemaError, check_schema, check_tool


@dataclass(frozen=True)
class Lit:
    text: str


@dataclass(frozen=True)
class Special:
    token_id: int
    text: str


@dataclass(frozen=True)
class Json:
    schema_json: str  # canonical JSON text, so nodes hash and compare by value

    @property
    def schema(self) -> dict:
        return json.loads(self.schema_json)


@dataclass(frozen=True)
class Text:
    lazy_until: str | None = None  # ends with (and includes) this trigger text
    not_starting_with: str | None = None
    excluding: tuple[str, ...] = ()


@dataclass(frozen=True)
class RawText:
    stop: str
    min_length: int = 0
    max_length: int | None = None


@dataclass(frozen=True)
class Pattern:
    """Text matching a regular expression, as one lexeme (a call id)."""

    regex: str


@dataclass(frozen=True)
class Seq:
    items: tuple["Node", ...]


@dataclass(frozen=True)
class Alt:
    options: tuple["Node", ...]


@dataclass(frozen=True)
class Repeat:
    item: "Node"
    separator: "Node"
    min: int = 1
    max: int | None = None  # None: unbounded


@dataclass(frozen=True)
class Optional_:
    item: "Node"


Node = Union[Lit, Special, Json, Text, RawText, Pattern, Seq, Alt, Repeat, Optional_]


def json_node(schema: dict) -> Json:
    """A JSON value matching `schema`: its references hoisted (grammars.refs), objects closed."""
    return _json(hoist(schema).root)


def answer_node(schema: dict) -> Node:
    """The answer form of a family whose answers are JSON (answer_schema), for the alternative
    beside a call section. A closed object of one required property is spelled with its key as
    literal text: llguidance (1.9.1) loses a %json object alternative next to a literal section
    opening once `{"` is written, which left `{"tool_calls"` the only way on and made the model
    call on every question. The text allowed is the same as json_node's."""
    properties = schema.get("properties", {})
    if (schema.get("type") == "object" and schema.get("additionalProperties") is False and len(properties) == 1
            and schema.get("required") == list(properties)):
        ((key, value),) = properties.items()
        return Seq((Lit("{" + json.dumps(key) + ": "), json_node(value), Lit("}")))
    return json_node(schema)


def _json(schema) -> Json:
    return Json(json.dumps(closed(schema), sort_keys=False, separators=(",", ":")))


# Subschemas whose matching must not be narrowed: under "not" and "if" a narrower schema
# lets *more* values through, and under "oneOf" a value that only one closed option allows
# may match two of the originals (unless the options exclude each other: _tagged).
_NOT_NARROWED = ("not", "if", "oneOf")
_OPEN = "-open"  # suffix of a definition's unclosed copy (hoisted names never hold a "-")


def _tagged(options, defs: dict) -> bool:
    """Options that exclude each other by a tag: one required property that each fixes to a
    different constant (pydantic's discriminated unions: "kind": {"const": "cat"})."""
    tags = []
    for option in options if isinstance(options, list) else []:
        name = hoisted_name(option.get("$ref")) if isinstance(option, dict) else None
        option = defs.get(name, option) if name else option
        if not isinstance(option, dict) or not isinstance(option.get("properties"), dict):
            return False
        fixed = {}
        for key in option.get("required", []) if isinstance(option.get("required"), list) else []:
            value = option["properties"].get(key)
            if isinstance(value, dict) and ("const" in value or (isinstance(value.get("enum"), list)
                                                                 and len(value["enum"]) == 1)):
                fixed[key] = json.dumps(value["const"] if "const" in value else value["enum"][0], sort_keys=True)
        tags.append(fixed)
    common = set.intersection(*(set(t) for t in tags)) if len(tags) > 1 else set()
    return any(len({t[key] for t in tags}) == len(tags) for key in common)


def closed(schema):
    """The (hoisted) schema with every object that lists its properties, and says nothing of
    others, closed to unlisted ones. JSON Schema allows extra keys by default, and a model
    given that freedom invents arguments no tool takes. Closing narrows what matches, so what
    we generate still validates against the user's original schema; where narrowing would
    not (_NOT_NARROWED), the subschema is left open, and a definition it refers to is used
    through an open copy."""
    if not isinstance(schema, dict):
        return schema
    defs = schema.get("$defs", {})
    wanted: dict[str, bool] = {}  # definition (or its open copy) → closed?
    pending: list[str] = []

    def use(name: str, narrow: bool) -> str:
        key = name if narrow else name + _OPEN
        if key not in wanted and name in defs:
            wanted[key] = narrow
            pending.append(key)
        return key

    def close(node, narrow: bool):
        if not isinstance(node, dict):
            return node
        keep = set(_NOT_NARROWED) - ({"oneOf"} if _tagged(node.get("oneOf"), defs) else set())
        out = map_subschemas(node, lambda path, sub: close(sub, narrow and path[0] not in keep))
        name = hoisted_name(node.get("$ref"))
        if name is not None:
            out["$ref"] = DEFS_PREFIX + use(name, narrow)
        if narrow and "properties" in out and "additionalProperties" not in out and "patternProperties" not in out:
            out["additionalProperties"] = False
        return out

    body = close({k: v for k, v in schema.items() if k != "$defs"}, True)
    done: dict[str, object] = {}
    while pending:
        key = pending.pop(0)
        done[key] = close(defs[key.removesuffix(_OPEN)], wanted[key])
    return {**body, "$defs": done} if done else body


def literal(text: str, special: SpecialTokens, control_ids: frozenset[int]) -> Node:
    """Fixed text, with every control token inside it as its own Special node: the model
    writes a control token as one token, never spelled out in characters."""
    parts: list[Node] = []
    rest = text
    controls = sorted(((t, i) for t, i in special.by_text.items() if i in control_ids and t),
                      key=lambda ti: -len(ti[0]))
    while rest:
        hit = min(((rest.find(t), t, i) for t, i in controls if t in rest), default=None)
        if hit is None:
            parts.append(Lit(rest))
            break
        at, tok_text, tok_id = hit
        if at:
            parts.append(Lit(rest[:at]))
        parts.append(Special(tok_id, tok_text))
        rest = rest[at + len(tok_text):]
    return parts[0] if len(parts) == 1 else Seq(tuple(parts))


def call_node(syntax: CallSyntax, tool: ToolSpec, lit) -> Node:
    if syntax.body == "xml_params":
        if syntax.optional_newlines:  # the model may lay the markers out on lines or not (GLM)
            lit = _optional_newlines(lit)
        body = Seq((lit(tool.name), lit(syntax.args_marker), xml_params_node(syntax, tool, lit)))
    elif syntax.body in ("gemma", "pythonic"):
        where = f"tool {tool.name!r} parameters"
        args = hoist(tool.parameters).root
        defs = args.pop("$defs", {}) if isinstance(args, dict) else {}
        if syntax.body == "gemma":
            value = typed_value(args, gemma_values(lit(syntax.string_quote), lit, where), where, "", defs)
        else:  # NAME(key=value, ...): the arguments as Python keywords, in the schema's order
            value = pythonic_arguments(args, where, defs)
        body = Seq((lit(tool.name), lit(syntax.args_marker), value))
    elif syntax.body == "name_args":
        head = [lit(tool.name)]
        if syntax.call_id_length:  # the model's own id, as its template writes past calls
            head += [lit(syntax.call_id_marker), call_id_node(syntax.call_id_length)]
        if syntax.call_number:  # the call's number in the turn (Kimi's functions.NAME:0)
            head += [lit(syntax.call_number), json_node({"type": "integer", "minimum": 0})]
        if syntax.call_id_end:  # an id the model makes up, before the name (Solar's)
            head = [Pattern(MADE_UP_ID), lit(syntax.call_id_end), *head]
        body = Seq((*head, lit(syntax.args_marker), json_node(tool.parameters)))
    else:
        # {"name": "NAME", "arguments": ARGS} with the key order and spacing write() gives: the
        # name is fixed text, so a text trigger may end inside it (Llama 3's '{"name"'). With
        # id_key, the call's number (a string of digits) comes first (Command's "tool_call_id").
        named = json.dumps(syntax.name_key) + ": " + json.dumps(tool.name) + ", " + json.dumps(syntax.args_key) + ": "
        if syntax.id_key:
            number = json_node({"type": "string", "pattern": "^[0-9]{1,3}$"})
            body = Seq((lit("{" + json.dumps(syntax.id_key) + ": "), number, lit(", " + named),
                        json_node(tool.parameters), lit("}")))
        else:
            body = Seq((lit("{" + named), json_node(tool.parameters), lit("}")))
    return Seq(tuple(n for n in (lit(syntax.call_start), body, lit(syntax.call_end)) if n != Lit("")))


MADE_UP_ID = "[A-Za-z0-9_\\-]{1,40}"  # the id a model makes up before a name (call_id_end)


def call_id_node(length: int) -> Node:
    """`length` letters and digits (one lexeme: llguidance refuses a grammar of that many
    one-character alternatives)."""
    return Pattern(f"[A-Za-z0-9]{{{length}}}")


def _optional_newlines(lit):
    """lit, with every newline of the text made optional."""
    def layout(text: str) -> Node:
        if "\n" not in text:
            return lit(text)
        parts = []
        for i, line in enumerate(text.split("\n")):
            if i:
                parts.append(Optional_(Lit("\n")))
            if line:
                parts.append(lit(line))
        return Seq(tuple(parts))
    return layout


def _check_listed(schema: dict, where: str) -> None:
    if schema.get("type", "object") != "object" or (not schema.get("properties") and schema.get("additionalProperties")):
        raise SchemaError("this model's call syntax writes arguments one by one: the parameters must be an "
                          "object that lists its properties", where=where)


def xml_params_node(syntax: CallSyntax, tool: ToolSpec, lit) -> Node:
    """One block per listed argument, in the schema's order; optional ones may be left out.
    A string value is raw text up to param_end, with the schema's enum and length bounds;
    any other value is JSON matching its schema."""
    schema = hoist(tool.parameters).root
    defs = schema.pop("$defs", None) if isinstance(schema, dict) else None
    where = f"tool {tool.name!r} parameters"
    _check_listed(schema, where)
    required = set(schema.get("required", ()))
    blocks = []
    for key, prop in schema.get("properties", {}).items():
        raw = is_raw_string(prop) if isinstance(prop, dict) else False
        block = Seq((lit(syntax.param_start + key + syntax.param_key_end(raw)),
                     _xml_value(prop if isinstance(prop, dict) else {}, syntax, lit, where, key, defs)))
        blocks.append(block if key in required else Optional_(block))
    return Seq(tuple(blocks)) if blocks else Lit("")


def _xml_value(schema: dict, syntax: CallSyntax, lit, where: str, key: str, defs: dict | None) -> Node:
    end = syntax.param_end
    if is_raw_string(schema):
        if "enum" in schema or "const" in schema:
            options = schema["enum"] if "enum" in schema else [schema["const"]]
            return Seq((Alt(tuple(lit(o) for o in options)), lit(end)))
        for keyword in ("pattern", "format"):
            if keyword in schema:
                raise SchemaError(f"{keyword!r} cannot be enforced on a raw string argument of this model's call "
                                  "syntax", where=where, path=f"properties/{key}")
        bounds = int(schema.get("minLength", 0)), schema.get("maxLength")
        if syntax.optional_newlines:  # the value ends at its closing marker; a newline after it is layout
            marker = end.strip()
            return Seq((RawText(marker, *bounds), lit(end[end.index(marker) + len(marker):])))
        return RawText(end, *bounds)
    # A JSON value: the parameters' (hoisted) definitions go with it, so its references resolve.
    return Seq((json_node({**schema, "$defs": defs} if defs else schema), lit(end)))


@dataclass(frozen=True)
class ValueSyntax:
    """How a body kind that is not JSON writes argument values: Gemma 4's (strings between
    quote tokens, keys bare and sorted) or Python literals (the "pythonic" kind)."""

    string: Callable[[dict, str], Node]   # a string value matching the schema (schema, path)
    key: Callable[[str], str]             # an object key with what follows it: 'city:', '"city": '
    comma: str                            # between items
    sorted_keys: bool
    scalar: Callable[[dict], Node]        # numbers, booleans, null, and enums of them
    untyped: Callable[[dict], Node] | None = None  # a value whose schema names no type, if the syntax has one


def gemma_values(quote: Node, lit, where: str) -> ValueSyntax:
    def string(schema: dict, path: str) -> Node:
        if "enum" in schema or "const" in schema:
            options = schema["enum"] if "enum" in schema else [schema["const"]]
            return Seq((quote, Alt(tuple(lit(o) for o in options)), quote))
        for keyword in ("pattern", "format"):
            if keyword in schema:
                raise SchemaError(f"{keyword!r} cannot be enforced on a string of this model's call syntax",
                                  where=where, path=path)
        bounds = int(schema.get("minLength", 0)), schema.get("maxLength")
        if isinstance(quote, Lit):  # the quote spelled as text: the string ends at its first occurrence
            return Seq((quote, RawText(quote.text, *bounds)))
        return Seq((quote, RawText("", *bounds), quote))  # a control token: text cannot contain it
    return ValueSyntax(string=string, key=lambda k: k + ":", comma=",", sorted_keys=True, scalar=json_node)


def python_values() -> ValueSyntax:
    """Python literals: strings as JSON strings (valid Python, with every string keyword of the
    schema enforced), True / False / None, dicts with quoted keys."""
    def scalar(schema: dict) -> Node:
        options = schema["enum"] if "enum" in schema else [schema["const"]] if "const" in schema else None
        if options is not None:
            return Alt(tuple(Lit(python_literal(o)) for o in options))
        kind = schema.get("type")
        if kind == "boolean":
            return Alt((Lit("True"), Lit("False")))
        if kind == "null":
            return Lit("None")
        return json_node(schema)
    # A value of no type is any JSON value: the pythonic parsers read true / false / null too.
    return ValueSyntax(string=lambda schema, path: json_node(schema), key=lambda k: json.dumps(k) + ": ", comma=", ",
                       sorted_keys=False, scalar=scalar, untyped=json_node)


def typed_value(schema, values: ValueSyntax, where: str, path: str, defs: dict, seen: tuple = ()) -> Node:
    """A value in a non-JSON syntax matching `schema`: objects as {key value, ...} (ValueSyntax
    says how keys and strings look), arrays as [a, b], the rest as ValueSyntax.scalar."""
    if not isinstance(schema, dict):
        schema = {}
    name = hoisted_name(schema.get("$ref"))
    if name is not None:
        if name in seen or name not in defs:
            raise SchemaError("this model's call syntax cannot express a recursive (or unresolved) reference",
                              where=where, path=path or "(root)")
        return typed_value(defs[name], values, where, path, defs, (*seen, name))

    def value(sub, at: str) -> Node:
        return typed_value(sub, values, where, at, defs, seen)

    for key in ("anyOf", "oneOf"):
        if key in schema:
            return Alt(tuple(value(s, f"{path}/{key}/{i}") for i, s in enumerate(schema[key])))
    if is_raw_string(schema):
        return values.string(schema, path)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return Seq((Lit("{"), keyed_items(schema, value, values, path), Lit("}")))
    if kind == "array":
        item = value(schema.get("items", {}), f"{path}/items")
        low, high = int(schema.get("minItems", 0)), schema.get("maxItems")
        items = Repeat(item, Lit(values.comma), min=max(low, 1), max=high)
        return Seq((Lit("["), items if low else Optional_(items), Lit("]")))
    if kind in ("integer", "number", "boolean", "null") or "enum" in schema or "const" in schema:
        return values.scalar(schema)
    if values.untyped is not None:
        return values.untyped(schema)
    raise SchemaError("this model's call syntax needs a type for every value (string, number, integer, "
                      "boolean, null, object or array)", where=where, path=path or "(root)")


def pythonic_arguments(schema: dict, where: str, defs: dict) -> Node:
    _check_listed(schema, where)
    values = replace(python_values(), key=lambda k: k + "=")
    return keyed_items(schema, lambda sub, at: typed_value(sub, python_values(), where, at, defs), values, "")


def keyed_items(schema: dict, value, values: ValueSyntax, path: str) -> Node:
    """The listed properties (sorted or in the schema's order, as the syntax has them), each
    required one present, separators only between the ones present."""
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    keys = sorted(properties) if values.sorted_keys else list(properties)
    items = [Seq((Lit(values.key(k)), value(properties[k], f"{path}/properties/{k}"))) for k in keys]
    comma = Lit(values.comma)

    def rest(start: int) -> list[Node]:  # the items after a present one, each led by its comma
        return [Seq((comma, items[i])) if keys[i] in required else Optional_(Seq((comma, items[i])))
                for i in range(start, len(keys))]

    firsts = []
    for i, key in enumerate(keys):  # the first item present: no required item may come before it
        firsts.append(Seq((items[i], *rest(i + 1))))
        if key in required:
            break
    body = Alt(tuple(firsts)) if firsts else Lit("")
    return Optional_(body) if firsts and not required else body


def build_tool_grammar(syntax: CallSyntax, tools: list[ToolSpec], choice: ToolChoice, *,
                       parallel: bool, special: SpecialTokens, control_ids: frozenset[int],
                       inside_reasoning: str | None = None) -> Node | None:
    """The grammar of a whole assistant turn; None when nothing is constrained.

    tool_choice="none" constrains nothing, except in a family whose answers are JSON anyway
    (answer_schema): there it allows only the answer form, so the model keeps the protocol
    its prompt and history speak.

    inside_reasoning: the closing marker of a reasoning block the prompt left open (Qwen 3.5's
    template opens <think> itself; formats.base.open_reasoning finds it): the turn starts inside
    it, reasoning freely up to that marker in tool_choice auto (no trigger fires there), closing
    it at once when a call is forced."""
    if not tools:
        return None
    if choice.mode == "none":
        return json_node(syntax.answer_schema) if syntax.answer_schema is not None else None
    for tool in tools:
        check_tool(tool)
    offered = tools
    if choice.mode == "named":
        offered = [t for t in tools if t.name == choice.name]
        if not offered:
            raise ValueError(f"tool_choice names {choice.name!r}, which is not among the tools offered")

    def lit(text: str) -> Node:
        return literal(text, special, control_ids) if text else Lit("")

    calls = [call_node(syntax, t, lit) for t in offered]
    one_call = calls[0] if len(calls) == 1 else Alt(tuple(calls))
    # A named tool_choice means one call of that tool, as OpenAI does.
    single = not parallel or choice.mode == "named"
    many = Repeat(one_call, lit(syntax.separator), min=1, max=1 if single else None)
    section = Seq(tuple(n for n in (lit(syntax.section_start), many, lit(syntax.section_end)) if n != Lit("")))
    forced = choice.mode in ("required", "named")

    if not syntax.trigger:  # constrained from the first token (the generic family)
        if forced or syntax.answer_schema is None:
            turn = section
        else:
            turn = Alt((section, answer_node(syntax.answer_schema)))
    elif forced:
        turn = section
    else:
        turn = _lazy(section, syntax, lit, special, control_ids)
        # A reasoning block may open the turn: the triggers are only looked for after it. Not
        # one that opens with a text trigger: llguidance's lexer ends the lazy text at the
        # trigger, so the block could never be written (harmony's <|channel|> spelled as text).
        blocks = [Seq((lit(start), _reasoning(end, lit))) for start, end in syntax.reasoning
                  if not (start.startswith(syntax.trigger) and isinstance(lit(syntax.trigger), Lit))]
        if blocks and inside_reasoning is None:
            turn = Seq((Optional_(Alt(tuple(blocks))), turn))
    if inside_reasoning is not None:
        # A forced call closes the block at once (as llama.cpp does where the prompt opened
        # it); otherwise the turn reasons freely first.
        head = lit(inside_reasoning) if forced else _reasoning(inside_reasoning, lit)
        turn = Seq((head, turn))
    return turn


def _reasoning(end: str, lit) -> Node:
    """Free reasoning text up to and including `end`."""
    closing = lit(end)
    if isinstance(closing, Lit):
        return Text(lazy_until=end)
    return Seq((Optional_(Text()), closing))  # a control token: free text never holds one


def _lazy(section: Node, syntax: CallSyntax, lit, special: SpecialTokens, control_ids: frozenset[int]) -> Node:
    """tool_choice="auto": free text, and a call section once the trigger appears. The free
    text never opens a reasoning block (the parser would read all after it as reasoning)."""
    trigger = syntax.trigger
    trigger_id = special.by_text.get(trigger)
    excluding = tuple(start for start, _ in syntax.reasoning if isinstance(lit(start), Lit))  # control tokens never are text
    if trigger_id is not None and trigger_id in control_ids:
        # A control-token trigger can never occur inside free text: text, then maybe the section.
        return Seq((Optional_(Text(excluding=excluding)), Optional_(section)))
    try:  # a bare pythonic list (leading) is a call only as the whole answer
        rest = None if syntax.leading else _strip_prefix(section, trigger)
    except ValueError:
        rest = None
    if rest is None:
        # The section does not open with the trigger as fixed text (or is a call only where the
        # answer starts): free text may not start with the trigger's first character, and a
        # message that does is a call.
        return Alt((Text(not_starting_with=trigger[0], excluding=excluding), section))
    # A text trigger: free text lazily up to and including the trigger, then the rest of the
    # section, which therefore must not repeat the trigger text.
    return Alt((Text(excluding=excluding), Seq((Text(lazy_until=trigger, excluding=excluding), rest))))


def _strip_prefix(node: Node, prefix: str) -> Node:
    """The node without its first `prefix` characters of fixed text."""
    if not prefix:
        return node
    if isinstance(node, Lit):
        if not node.text.startswith(prefix):
            raise ValueError(f"trigger {prefix!r} is not where the call section starts")
        return Lit(node.text[len(prefix):])
    if isinstance(node, Seq):
        head = node.items[0]
        if isinstance(head, Lit) and len(head.text) <= len(prefix) and prefix.startswith(head.text):
            return _strip_prefix(Seq(node.items[1:]), prefix[len(head.text):])
        return Seq((_strip_prefix(head, prefix), *node.items[1:]))
    if isinstance(node, Repeat):
        # The first item loses the trigger; later items keep it (they repeat the opening).
        first = _strip_prefix(node.item, prefix)
        if node.max == 1:
            return first
        more = Repeat(node.item, node.separator, min=1, max=None if node.max is None else node.max - 1)
        return Seq((first, Optional_(Seq((node.separator, more)))))
    if isinstance(node, Alt):
        return Alt(tuple(_strip_prefix(o, prefix) for o in node.options))
    raise ValueError(f"trigger {prefix!r} is not where the call section starts")


def build_response_format_grammar(response_format: dict | None) -> Node | None:
    """OpenAI response_format: {"type": "json_object"} | {"type": "json_schema", "json_schema": {"schema"}}."""
    if not response_format or response_format.get("type") in (None, "text"):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return json_node({"type": "object"})
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema")
        if not isinstance(schema, dict):
            raise ValueError("response_format.json_schema.schema must be a JSON schema object")
        check_schema(schema, where="response_format.json_schema.schema")
        return json_node(schema)
    raise ValueError(f"response_format.type must be 'text', 'json_object' or 'json_schema', not {kind!r}")
