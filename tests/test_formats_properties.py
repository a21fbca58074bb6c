"""Every registered family, from its one description, on generated tools: for generated simple
schemas and calls matching them, parse(write(calls)) == calls for every split of the text, the
family's grammar admits that text, and the grammar, sampled at random through the real
llguidance engine over a real vocabulary (tests/fixtures/real_gguf.py), only ever writes calls
that parse and validate. Then reasoning: no trigger inside a reasoning block opens a call, and
a prompt that opens the block itself (Qwen 3.5) starts the parser inside it."""

from __future__ import annotations

import re
from types import SimpleNamespace

import jsonschema
import llguidance
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from fixtures import coverage
from fixtures.parsing import read_calls, split
from fixtures.real_gguf import FUNCTIONGEMMA, real_gguf_path, template_text
from localcall.formats import FORMATS, get_format
from localcall.formats.base import CallSyntax, open_reasoning
from localcall.formats.described import DescribedParser
from localcall.grammars import make_engine
from localcall.grammars.llguidance_engine import to_lark
from localcall.grammars.spec import build_tool_grammar
from localcall.messages import ContentDelta, ReasoningDelta, ToolCallStart, ToolChoice, ToolSpec
from localcall.runtime.llamacpp import LlamaCppBackend
from localcall.vocab import SpecialTokens, SpellingTokenizer

NO_SPECIAL = SpecialTokens(bos_id=None, eos_id=None)
BYTES = llguidance.LLTokenizer("byte")

# --- generated tools and calls ----------------------------------------------------------------

# Text without markup characters or framing whitespace: how each family escapes markup is
# covered by its own parser tests.
TEXT = st.text(st.characters(whitelist_categories=("L", "N", "Zs"), max_codepoint=0x2FFF), min_size=1,
               max_size=8).map(str.strip).filter(bool)
KEYS = st.from_regex(r"[a-z][a-z_]{0,7}", fullmatch=True)
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)


# A nested model as pydantic writes it: the argument is a reference into $defs.
ADDRESS = {"type": "object", "properties": {"street": {"type": "string", "maxLength": 8},
                                            "zip": {"type": "integer", "minimum": 0, "maximum": 99999}},
           "required": ["street", "zip"]}
ADDRESS_REF = {"$ref": "#/$defs/Address"}


@st.composite
def value_schemas(draw):
    """A simple argument schema: bounded, so that sampling the grammar ends."""
    kind = draw(st.sampled_from(["string", "integer", "boolean", "enum", "array", "ref"]))
    if kind == "ref":
        return ADDRESS_REF
    if kind == "string":
        return {"type": "string", "maxLength": 8}
    if kind == "integer":
        low = draw(st.integers(-50, 50))
        return {"type": "integer", "minimum": low, "maximum": low + draw(st.integers(0, 500))}
    if kind == "enum":
        return {"type": "string", "enum": draw(st.lists(TEXT, min_size=1, max_size=3, unique=True))}
    if kind == "array":
        return {"type": "array", "items": {"type": "string", "maxLength": 6}, "maxItems": 2}
    return {"type": "boolean"}


@st.composite
def tools(draw):
    names = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
    out = []
    for name in names:
        properties = draw(st.dictionaries(KEYS, value_schemas(), max_size=3))
        required = [k for k in properties if draw(st.booleans())]
        defs = {"$defs": {"Address": ADDRESS}} if ADDRESS_REF in properties.values() else {}
        out.append(ToolSpec.from_openai({"type": "function", "function": {"name": name, "parameters": {
            "type": "object", "properties": properties, "required": required, **defs}}}))
    return out


def value_for(schema: dict):
    if schema == ADDRESS_REF:  # street before zip: the schema's order and the sorted one
        return st.fixed_dictionaries({k: value_for(v) for k, v in ADDRESS["properties"].items()}).map(
            lambda address: {k: address[k] for k in ADDRESS["properties"]})
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema["type"]
    if kind == "string":
        return TEXT.filter(lambda t: len(t) <= schema["maxLength"])
    if kind == "integer":
        return st.integers(schema["minimum"], schema["maximum"])
    if kind == "array":
        return st.lists(TEXT.filter(lambda t: len(t) <= 6), max_size=schema["maxItems"])
    return st.booleans()


@st.composite
def arguments_for(draw, tool: ToolSpec, sort_keys: bool):
    """Arguments matching the tool's schema, in the order the family's grammar writes them:
    the schema's, or sorted (Gemma)."""
    properties, required = tool.parameters["properties"], tool.parameters["required"]
    chosen = {k: draw(value_for(s)) for k, s in properties.items() if k in required or draw(st.booleans())}
    return dict(sorted(chosen.items())) if sort_keys else chosen


@st.composite
def tools_and_calls(draw, family: str):
    offered = draw(tools())
    sort_keys = get_format(family).call_syntax(NO_SPECIAL).body == "gemma"
    calls = draw(st.lists(st.sampled_from(offered).flatmap(
        lambda t: st.tuples(st.just(t.name), arguments_for(t, sort_keys))), min_size=1, max_size=3))
    return offered, calls


def grammar(fmt, special: SpecialTokens, offered, choice="required", parallel=True):
    return build_tool_grammar(fmt.call_syntax(special), offered, ToolChoice.parse(choice), parallel=parallel,
                              special=special, control_ids=special.control_ids)


# Vocabulary variants where a family's syntax depends on them (Mistral's [ARGS] name form,
# harmony's <|constrain|>). Control tokens are matched as text here: the byte vocabulary has none.
VARIANTS = {"": {}, "mistral+args": {"[ARGS]": 1}, "harmony+constrain": {"<|constrain|>": 1}}
CASES = [(name, variant) for name in sorted(FORMATS) for variant in VARIANTS
         if not variant or variant.split("+")[0] == name]


@pytest.mark.parametrize("family, variant", CASES)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), cuts=st.lists(st.integers(0, 400), max_size=5))
def test_write_parses_back_and_is_what_the_grammar_admits(family, variant, data, cuts):
    fmt, special = get_format(family), SpecialTokens(bos_id=None, eos_id=None, by_text=dict(VARIANTS[variant]))
    offered, calls = data.draw(tools_and_calls(family))
    text = fmt.write(calls, special)
    assert read_calls(fmt, split(text, cuts), offered)[0] == calls
    matcher = llguidance.LLMatcher(BYTES, llguidance.grammar_from("lark", to_lark(grammar(fmt, special, offered))),
                                   log_level=0)
    assert matcher.consume_tokens(list(text.encode())) and matcher.is_accepting(), (text, matcher.get_error())


# --- sampling the grammar over a real vocabulary -----------------------------------------------

# A release template of each family, for its vocabulary (and its markers as tokens); a family
# not listed here runs on the first archive template detected as it.
TEMPLATES = {"llama3": "meta-llama-Llama-3.1-8B-Instruct", "mistral": "mistralai-Ministral-3-14B-Reasoning-2512",
             "hermes": "Qwen-Qwen3-0.6B", "qwen3_coder": "Qwen3.5-4B", "glm": "GLM-4.6",
             "harmony": "openai-gpt-oss-120b", "gemma4": "google-gemma-4-31B-it",
             "generic": "Qwen-Qwen2.5-7B-Instruct", "pythonic": "meta-llama-Llama-3.2-3B-Instruct"}
MAX_TOKENS = 120


def template_of(family: str) -> str:
    if family in TEMPLATES:
        return TEMPLATES[family]
    for name in coverage.tool_templates():
        if coverage.chat_model(name).format_name == family:
            return name
    raise AssertionError(f"no archive template is detected as {family}")


_BACKENDS: dict[str, LlamaCppBackend] = {}


def vocabulary(template: str) -> LlamaCppBackend:
    return vocabulary_file(coverage.model_file(template))


def family_vocabulary(family: str) -> LlamaCppBackend:
    if family == "functiongemma":  # no archive template: its own tokens on Gemma's vocabulary
        return vocabulary_file(real_gguf_path(FUNCTIONGEMMA))
    return vocabulary(template_of(family))


def vocabulary_file(path) -> LlamaCppBackend:
    if path not in _BACKENDS:
        _BACKENDS[path] = LlamaCppBackend(path, vocab_only=True)
    return _BACKENDS[path]


def sample(engine, backend, node, rng: np.random.Generator) -> str | None:
    """Tokens drawn uniformly among those the grammar allows, until it is done or a stop token
    is drawn; None if that takes more than MAX_TOKENS."""
    hook, tokens = engine.constraint(node), []
    while not hook.done():
        if len(tokens) >= MAX_TOKENS:
            return None
        logits = rng.standard_normal(backend.n_vocab).astype(np.float32)
        hook.mask(logits)
        token = int(np.argmax(logits))
        if token in backend.special.stop_ids:
            break
        tokens += [token, *hook.accept(token)]
    return b"".join(backend.token_bytes(t) for t in tokens).decode("utf-8")


@pytest.mark.parametrize("family", sorted(FORMATS))
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(offered=tools(), seed=st.integers(0, 2**32 - 1), mode=st.sampled_from(["required", "named"]))
def test_sampled_grammar_output_parses_to_valid_calls(family, offered, seed, mode):
    fmt, backend = get_format(family), family_vocabulary(family)
    choice = "required" if mode == "required" else {"type": "function", "function": {"name": offered[-1].name}}
    node = grammar(fmt, backend.special, offered, choice, parallel=False)
    text = sample(make_engine("llguidance", backend), backend, node, np.random.default_rng(seed))
    if text is None:
        return  # the draw went on and on: nothing to read
    calls, _ = read_calls(fmt, [text], offered)
    assert len(calls) == 1, text
    name, arguments = calls[0]
    assert mode == "required" or name == offered[-1].name
    jsonschema.validate(arguments, next(t for t in offered if t.name == name).parameters)
    assert read_calls(fmt, list(text), offered)[0] == calls  # streamed token by token: the same


# --- reasoning -----------------------------------------------------------------------------------

WEATHER = ToolSpec.from_openai({"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
# Each family's reasoning block: its opening and closing. Every family's call is written inside
# it (except a harmony call, whose <|call|> would end the analysis message): none is a call there.
REASONING = {"hermes": ("<think>", "</think>"), "qwen3_coder": ("<think>", "</think>"),
             "glm": ("<think>", "</think>"), "mistral": ("[THINK]", "[/THINK]"),
             "gemma4": ("<|channel>thought\n", "<channel|>"),
             "harmony": ("<|channel|>analysis<|message|>", "<|end|>")}
MESSAGE_ENDS = ("<|end|>", "<|call|>", "<|return|>")  # harmony
VARIANT = {"mistral": SpecialTokens(bos_id=None, eos_id=None, by_text={"[ARGS]": 1})}


def events(fmt, pieces, tools=(WEATHER,)):
    parser = fmt.parser(list(tools))
    return [e for piece in pieces for e in parser.feed(piece)] + parser.finish()


@pytest.mark.parametrize("family", sorted(REASONING))
def test_a_call_inside_reasoning_is_reasoning(family):
    fmt = get_format(family)
    opening, closing = REASONING[family]
    special = VARIANT.get(family, NO_SPECIAL)
    call = fmt.write([("get_weather", {"city": "Paris"})], special)
    written = [f.write([("get_weather", {"city": "Oslo"})], NO_SPECIAL) for f in map(get_format, sorted(FORMATS))]
    inside = "maybe to=functions.get_weather " + " or ".join(
        w for w in written if family != "harmony" or not any(end in w for end in MESSAGE_ENDS))
    text = opening + inside + closing + call
    for pieces in ([text], list(text)):
        out = events(fmt, pieces)
        assert [e.name for e in out if isinstance(e, ToolCallStart)] == ["get_weather"], out
        assert "".join(e.text for e in out if isinstance(e, ReasoningDelta)) == inside
        assert read_calls(fmt, pieces, [WEATHER])[0] == [("get_weather", {"city": "Paris"})]


def parser_after(fmt, prompt: str):
    """The parser for the output that continues `prompt`, as the runtime makes it."""
    parser = fmt.parser([WEATHER])
    close = open_reasoning(prompt, fmt.call_syntax(NO_SPECIAL).reasoning)
    if close is not None:
        parser.begin_in_reasoning(close)
    return parser


def test_qwen35_prompt_opens_reasoning_and_the_parser_starts_inside_it():
    """Qwen 3.5's template ends its generation prompt with <think>: the output starts inside
    reasoning, and a call written there before </think> is reasoning too."""
    fmt = get_format("qwen3_coder")
    template = template_text("Qwen3.5-4B")
    ask = [{"role": "user", "content": "Weather in Paris?"}]
    prompt = fmt.render(ask, [WEATHER], template=template, special=NO_SPECIAL)
    assert prompt.rstrip().endswith("<think>")
    call = fmt.write([("get_weather", {"city": "Paris"})], NO_SPECIAL)
    text = "The user asks. " + call + " is what I will write.\n</think>\n\n" + call
    for pieces in ([text], list(text)):
        parser = parser_after(fmt, prompt)
        out = [e for piece in pieces for e in parser.feed(piece)] + parser.finish()
        assert "".join(e.text for e in out if isinstance(e, ReasoningDelta)) == "The user asks. " + call + \
            " is what I will write.\n"
        assert not [e for e in out if isinstance(e, ContentDelta)]
        assert [e.name for e in out if isinstance(e, ToolCallStart)] == ["get_weather"]
    # With thinking off the template closes the block itself: the output is content from the start.
    closed = prompt + "\n\n</think>\n\n"
    parser = parser_after(fmt, closed)
    assert parser.feed("It is sunny.") + parser.finish() == [ContentDelta("It is sunny.")]


def reasoning_blocks(family: str, special: SpecialTokens):
    """The family's reasoning blocks that the auto grammar opens the turn with: all but one that
    opens with a text trigger (harmony's <|channel|>, on a vocabulary where it is plain text)."""
    syntax = get_format(family).call_syntax(special)
    text_trigger = syntax.trigger not in special.by_text or special.by_text[syntax.trigger] not in special.control_ids
    return [(start, end) for start, end in syntax.reasoning if not (text_trigger and start.startswith(syntax.trigger))]


WITH_REASONING = [name for name in sorted(FORMATS) if get_format(name).call_syntax(NO_SPECIAL).reasoning]


def tokens_of(backend, text: str) -> list[int]:
    """`text` as the model writes it: control tokens as such, the rest spelled as the grammar
    engine spells forced text (no SentencePiece prefix space after a control token)."""
    spell = SpellingTokenizer.for_backend(backend)
    controls = {t: i for t, i in backend.special.by_text.items() if t and i in backend.special.control_ids}
    if not controls:
        return spell(text)
    ids, at = [], 0
    for hit in re.finditer("|".join(map(re.escape, sorted(controls, key=len, reverse=True))), text):
        ids += [*spell(text[at:hit.start()]), controls[hit.group()]]
        at = hit.end()
    return ids + spell(text[at:])


def accepts(backend, node, text: str) -> bool:
    """Whether the grammar admits `text`, tokenized by the vocabulary."""
    matcher = make_engine("llguidance", backend).constraint(node).matcher
    return matcher.consume_tokens(tokens_of(backend, text)) and matcher.is_accepting()


@pytest.mark.parametrize("family", WITH_REASONING)
def test_no_trigger_fires_inside_reasoning_in_the_grammar(family):
    """tool_choice auto: a reasoning block may open the turn, and the family's trigger inside it,
    followed by anything but a call, is still reasoning; after it comes a call or an answer."""
    fmt, backend = get_format(family), family_vocabulary(family)
    special = backend.special
    syntax = fmt.call_syntax(special)
    call = fmt.write([("get_weather", {"city": "Paris"})], special)
    # A control-token trigger cannot be written inside reasoning at all: free text never holds one.
    trigger = "" if special.by_text.get(syntax.trigger) in special.control_ids else syntax.trigger
    auto = grammar(fmt, special, [WEATHER], "auto")
    for start, end in reasoning_blocks(family, special):
        thought = start + "maybe " + trigger + " is not how it starts" + end
        assert accepts(backend, auto, thought + call)
        assert accepts(backend, auto, thought + "It is sunny.")
        if start not in special.by_text:  # the answer never opens a block, which would read as reasoning
            assert not accepts(backend, auto, "It is sunny." + start + "a late thought" + end)
    # The prompt opened the block (Qwen 3.5): the turn starts inside it; a forced call closes it at once.
    end = syntax.reasoning[0][1]

    def inside(choice):
        return build_tool_grammar(syntax, [WEATHER], ToolChoice.parse(choice), parallel=True, special=special,
                                  control_ids=special.control_ids, inside_reasoning=end)
    assert accepts(backend, inside("auto"), "The user asks: " + trigger + " maybe" + end + call)
    assert accepts(backend, inside("required"), end + call)
    assert not accepts(backend, inside("required"), call)  # the parser would read it as reasoning


def test_a_family_is_its_description():
    """A family declared only as a CallSyntax (the example in docs/formats.md, laid out on lines):
    its grammar admits what write() gives, and DescribedParser reads it back for every split,
    with text before the calls as content and a section inside reasoning as reasoning."""
    syntax = CallSyntax(trigger="<calls>", section_start="<calls>[\n", separator=",\n", section_end="\n]\n</calls>",
                        reasoning=(("<think>", "</think>"),))
    family = SimpleNamespace(parser=lambda tools: DescribedParser(syntax))
    calls = [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})]
    written = syntax.write(calls)
    auto = build_tool_grammar(syntax, [WEATHER], ToolChoice.parse("auto"), parallel=True, special=NO_SPECIAL,
                              control_ids=frozenset())
    matcher = llguidance.LLMatcher(BYTES, llguidance.grammar_from("lark", to_lark(auto)), log_level=0)
    text = "<think>not <calls>[ yet</think>Sure. " + written
    assert matcher.consume_tokens(list(text.encode())) and matcher.is_accepting(), matcher.get_error()
    for cut in range(len(text) + 1):
        assert read_calls(family, [text[:cut], text[cut:]], [WEATHER]) == (calls, "not <calls>[ yet")
    out = events(family, [text])
    assert "".join(e.text for e in out if isinstance(e, ContentDelta)) == "Sure. "


# --- a shape the template decides ------------------------------------------------------------

def test_mistral_writes_its_own_call_id_where_the_template_writes_call_ids():
    """Small 3.2's template writes past calls as NAME[CALL_ID]ID[ARGS]{...}: a model trained on
    it writes its own 9-character id there (llama.cpp looks for [CALL_ID] in the template to tell
    that shape apart), so the grammar asks for one; Devstral's template writes none."""
    small = "Mistral-Small-3.2-24B-Instruct-2506"
    backend = vocabulary(small)
    special = backend.special
    fmt = get_format("mistral", template_text(small))
    with_id = grammar(fmt, special, [WEATHER])
    assert accepts(backend, with_id, '[TOOL_CALLS]get_weather[CALL_ID]a1B2c3D4e[ARGS]{"city": "Paris"}')
    assert not accepts(backend, with_id, '[TOOL_CALLS]get_weather[CALL_ID]a1B2c3D4[ARGS]{"city": "Paris"}')
    assert not accepts(backend, with_id, '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}')
    written = fmt.write([("get_weather", {"city": "Paris"})], special)
    assert "[CALL_ID]" in written and accepts(backend, with_id, written)
    assert read_calls(fmt, list(written), [WEATHER])[0] == [("get_weather", {"city": "Paris"})]  # fed char by char
    devstral = get_format("mistral", template_text("unsloth-mistral-Devstral-Small-2507"))
    assert accepts(backend, grammar(devstral, special, [WEATHER]), '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}')


def test_a_bounded_repetition_keeps_its_lower_bound():
    """Gemma and XML array values with minItems, and call ids, repeat an item at least `min` times."""
    from localcall.grammars.spec import Lit, Repeat, Seq

    backend = vocabulary(template_of("hermes"))
    node = Seq((Lit("["), Repeat(Lit("a"), Lit(","), min=3, max=4), Lit("]")))
    assert [accepts(backend, node, "[" + ",".join("a" * n) + "]") for n in range(1, 6)] == [False, False, True, True, False]
    unbounded = Seq((Lit("["), Repeat(Lit("a"), Lit(","), min=2), Lit("]")))
    assert [accepts(backend, unbounded, "[" + ",".join("a" * n) + "]") for n in (1, 2, 7)] == [False, True, True]
