"""The families added for issue 11's second part, on real vocabularies through the live server
and the official openai client: one template of each description kind (JSON lists, marked
names, pythonic lists, <invoke> XML), FunctionGemma on Gemma's 262k vocabulary (its own
control tokens; no template in the file, so its builtin one renders), and Llama 3.2 with
chat_format = "pythonic". Forced calls are valid, the stream joins to the whole reply, and a
conversation with OpenAI call ids and a result calls again. Then what the readers and the
template sandbox must get right that the round trips do not show."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from fixtures.coverage import ASK, CONVERSATION, TOOLS, backend_for, chat_model, round_trip
from fixtures.parsing import split
from fixtures.real_gguf import FUNCTIONGEMMA, real_gguf_path
from localcall.formats import detect_format, get_format, load_builtin_template
from localcall.formats.jinja import render_template
from localcall.messages import ContentDelta, MalformedToolCall, ToolCallDelta, ToolCallEnd, ToolCallStart, ToolSpec
from localcall.server import ServerSettings
from test_formats_real_server import CHOICES, check_calls_again, check_forced_call

TEMPLATES = ["LFM2.5-8B-A1B", "Apriel-1.6-15b-Thinker-fixed", "CohereForAI-c4ai-command-r7b-12-2024-tool_use",
             "Kimi-K2-Instruct", "llama-cpp-deepseek-r1", "deepseek-ai-DeepSeek-V3.2", "MiniMax-M2",
             "upstage-Solar-Open-100B", "ByteDance-Seed-OSS", "GigaChat3.1-10B-A1.8B",
             "CohereForAI-c4ai-command-r-plus-tool_use"]
SPECS = [ToolSpec.from_openai(t) for t in TOOLS]


def functiongemma_model():
    """Gemma's 262k vocabulary with FunctionGemma's control tokens, and no template in the file."""
    from localcall.model import ChatModel
    from localcall.runtime.registry import spec_for_path

    path = real_gguf_path(FUNCTIONGEMMA)
    return ChatModel(replace(spec_for_path(path), name="functiongemma"), backend_for(path))


def llama32_pythonic():
    """Llama 3.2's own template and vocabulary, with chat_format = "pythonic" as in models.toml."""
    from localcall.model import ChatModel

    base = chat_model("meta-llama-Llama-3.2-3B-Instruct")
    return ChatModel(replace(base.spec, name="llama32-pythonic", chat_format="pythonic"), base.backend)


@pytest.fixture(scope="module")
def models():
    return {**{name: chat_model(name) for name in TEMPLATES}, "functiongemma": functiongemma_model(),
            "llama32-pythonic": llama32_pythonic()}


@pytest.fixture(scope="module")
def server(start_server, models):
    return start_server(models, ServerSettings(request_timeout=120, default_max_tokens=128))


MODELS = [*TEMPLATES, "functiongemma", "llama32-pythonic"]


def read(fmt, pieces: list[str]):
    """(finished calls as (name, arguments), content, malformed reasons) of an output fed in pieces."""
    parser = fmt.parser(SPECS)
    events = [e for piece in pieces for e in parser.feed(piece)] + parser.finish()
    names, args, ended = {}, {}, set()
    for event in events:
        if isinstance(event, ToolCallStart):
            names[event.index], args[event.index] = event.name, ""
        elif isinstance(event, ToolCallDelta):
            args[event.index] += event.arguments
        elif isinstance(event, ToolCallEnd):
            ended.add(event.index)
    calls = [(names[i], json.loads(args[i])) for i in sorted(ended)]
    content = "".join(e.text for e in events if isinstance(e, ContentDelta))
    return calls, content, [e.reason for e in events if isinstance(e, MalformedToolCall)]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("choice", CHOICES)
def test_forced_calls_are_valid_and_streamed_equals_whole(server, model, choice):
    check_forced_call(server.client(), model, choice, max_tokens=128)


@pytest.mark.parametrize("model", MODELS)
def test_a_conversation_with_openai_call_ids_and_a_result_calls_again(server, model):
    check_calls_again(server.client(), model, max_tokens=128)


def test_functiongemma_is_detected_from_its_tokens_and_its_template_reads_back(models):
    model = models["functiongemma"]
    assert model.template is None and model.format_name == "functiongemma"
    assert detect_format(load_builtin_template("functiongemma"), model.backend.special) == "functiongemma"
    assert round_trip(model) == []
    prompt = model.format.render(CONVERSATION, SPECS, template=None, special=model.backend.special)
    # Google's documented shapes: a declaration per tool, the result inside the model's turn.
    assert "<start_function_declaration>declaration:get_weather{description:<escape>" in prompt
    assert prompt.endswith("<start_function_response>response:get_weather{result:<escape>18 C and sunny<escape>}"
                           "<end_function_response>")


def test_functiongemma_output_ends_where_the_model_starts_a_result_itself():
    text = ("<start_function_call>call:get_weather{city:<escape>Oslo<escape>,days:3}<end_function_call>"
            "<start_function_response>response:get_weather{result:<escape>invented<escape>}")
    calls, content, malformed = read(get_format("functiongemma"), split(text, [40, 90]))
    assert calls == [("get_weather", {"city": "Oslo", "days": 3})] and not content and not malformed


def test_pythonic_family_renders_metas_format_for_llama32(models):
    model = models["llama32-pythonic"]
    prompt = model.format.render(CONVERSATION, SPECS, template=model.template, special=model.backend.special)
    assert "[func_name1(params_name1=params_value1" in prompt and 'get_weather(city="Paris", days=2)' in prompt
    assert "<|start_header_id|>ipython<|end_header_id|>\n\n18 C and sunny" in prompt
    # The call turn as the model writes it (after the generation prompt) reads back as the call.
    asked = model.format.render(ASK, SPECS, template=model.template, special=model.backend.special)
    called = model.format.render(CONVERSATION[:2], SPECS, template=model.template, special=model.backend.special,
                                 add_generation_prompt=False)
    assert called.startswith(asked)
    calls, content, _ = read(model.format, [called[len(asked):]])
    assert calls == [("get_weather", {"city": "Paris", "days": 2})] and content == "<|eot_id|>"


@pytest.mark.parametrize("text, expected", [
    # LFM2's template: strings in single quotes, dicts as JSON (true / null), lists as Python prints them.
    ("[note(text='a, b', opts={\"a\": true, \"b\": null}, tags=['x', 'y'], n=-2.5)]",
     [("note", {"text": "a, b", "opts": {"a": True, "b": None}, "tags": ["x", "y"], "n": -2.5})]),
    ('[get_time(timezone="UTC"), get_weather(city="Paris", days=2)]',
     [("get_time", {"timezone": "UTC"}), ("get_weather", {"city": "Paris", "days": 2})]),
    ('[note(text="a ) ] , in a string", ok=False)]', [("note", {"text": "a ) ] , in a string", "ok": False})]),
])
def test_pythonic_lists_read_back_for_every_split(text, expected):
    fmt = get_format("pythonic")
    for cuts in ([], [1], [7, 20], list(range(0, len(text), 3))):
        calls, content, malformed = read(fmt, split(text, cuts))
        assert (calls, content, malformed) == (expected, "", []), cuts


@pytest.mark.parametrize("text, reason", [
    ('[get_time("UTC")]', "positional"),
    ("[get_time(timezone=now())]", "not a literal"),
    ('[get_time(timezone="UTC"', "ended"),
])
def test_pythonic_calls_that_are_not_keyword_literals_are_malformed(text, reason):
    calls, content, malformed = read(get_format("pythonic"), [text])
    assert not calls and not content and len(malformed) == 1 and reason in malformed[0], malformed


def test_a_bare_pythonic_answer_that_does_not_open_a_list_is_content():
    calls, content, malformed = read(get_format("pythonic"), ["The list [1, 2] ", "has two items."])
    assert (calls, content, malformed) == ([], "The list [1, 2] has two items.", [])


def test_dsml_values_are_typed_by_their_markup():
    fmt = get_format("deepseek_dsml")  # no template: V3.2's section
    schema_says_integer = ('<｜DSML｜function_calls>\n<｜DSML｜invoke name="get_weather">\n'
                           '<｜DSML｜parameter name="city" string="true">Oslo</｜DSML｜parameter>\n'
                           '<｜DSML｜parameter name="days" string="true">2</｜DSML｜parameter>\n'
                           '</｜DSML｜invoke>\n</｜DSML｜function_calls>')
    calls, _, _ = read(fmt, [schema_says_integer])
    assert calls == [("get_weather", {"city": "Oslo", "days": "2"})]  # the schema check then reports it
    not_json = schema_says_integer.replace('"days" string="true">2', '"days" string="false">two')
    _, _, malformed = read(fmt, [not_json])
    assert malformed and "marked as JSON" in malformed[0]


def test_templates_may_change_their_own_lists_but_never_the_callers_data():
    messages = [{"role": "user", "content": "hi", "tags": ["a"]}]
    source = ("{%- set queue = namespace(ids=[]) -%}{%- set _ = queue.ids.append('x') -%}{{ queue.ids.pop(0) }}"
              "{%- set _ = messages[0].tags.append('b') -%}{{ messages[0].tags | tojson }}"
              "{{ messages | map(attribute='role') | tojson }}")
    out = render_template(source, "test", messages=messages, tools=None, bos_token="", eos_token="",
                          add_generation_prompt=False)
    assert out == 'x["a", "b"]["user"]' and messages[0]["tags"] == ["a"]


@pytest.mark.parametrize("family, text, reasoning, answer", [
    ("command", "<|START_THINKING|>No tool needed.<|END_THINKING|><|START_RESPONSE|>Hello!<|END_RESPONSE|>",
     "No tool needed.", "Hello!"),
    ("solar", "<|think|>Just greet.<|end|><|begin|>assistant<|content|>Hello!", "Just greet.", "Hello!"),
    ("nemotron_v2", "<think>\nNothing to call.\n</think>Hello!", "\nNothing to call.\n", "Hello!"),
])
def test_answers_keep_reasoning_apart_and_lose_their_markers(family, text, reasoning, answer):
    from localcall.messages import ReasoningDelta

    parser = get_format(family).parser(SPECS)
    events = [e for piece in split(text, [5, 17, 30]) for e in parser.feed(piece)] + parser.finish()
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == reasoning
    assert "".join(e.text for e in events if isinstance(e, ContentDelta)) == answer


def test_pythonic_values_of_no_type_are_any_json_value_and_read_back():
    """Gemma's syntax refuses a value whose schema names no type; a pythonic list takes any
    JSON value there (its readers know true / false / null), so such a tool is not refused."""
    import llguidance

    from localcall.grammars.llguidance_engine import to_lark
    from localcall.grammars.spec import build_tool_grammar
    from localcall.messages import ToolChoice
    from localcall.vocab import SpecialTokens

    tool = ToolSpec.from_openai({"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"x": {"description": "anything"}, "y": {"type": "array", "items": {
            "type": "boolean"}}}, "required": ["x", "y"]}}})
    fmt, special = get_format("lfm2"), SpecialTokens(bos_id=None, eos_id=None, by_text={})
    grammar = build_tool_grammar(fmt.call_syntax(special), [tool], ToolChoice.parse("required"), parallel=False,
                                 special=special, control_ids=frozenset())
    text = '<|tool_call_start|>[f(x={"a": [1, true]}, y=[True, False])]<|tool_call_end|>'
    matcher = llguidance.LLMatcher(llguidance.LLTokenizer("byte"), llguidance.grammar_from("lark", to_lark(grammar)),
                                   log_level=0)
    assert matcher.consume_tokens(list(text.encode())) and matcher.is_accepting(), matcher.get_error()
    parser = fmt.parser([tool])
    events = parser.feed(text) + parser.finish()
    assert json.loads("".join(e.arguments for e in events if isinstance(e, ToolCallDelta))) == {
        "x": {"a": [1, True]}, "y": [True, False]}


NEW_FAMILIES = ["apertus", "apriel", "command", "command_r_plus", "deepseek_dsml", "deepseek_r1", "functionary",
                "functiongemma", "gigachat", "hunyuan", "kimi_k2", "lfm2", "minicpm", "minimax_m1", "minimax_m2",
                "nemotron_v2", "pythonic", "seed_oss", "solar"]


@pytest.mark.parametrize("family", NEW_FAMILIES)
def test_in_auto_mode_the_grammar_admits_an_answer_and_text_before_calls(family):
    """tool_choice auto: plain text is an answer; calls may follow text, except a bare pythonic
    list, which is a call only as the whole answer."""
    import llguidance

    from localcall.grammars.llguidance_engine import to_lark
    from localcall.grammars.spec import build_tool_grammar
    from localcall.messages import ToolChoice
    from localcall.vocab import SpecialTokens

    fmt, special = get_format(family), SpecialTokens(bos_id=None, eos_id=None, by_text={})
    grammar = to_lark(build_tool_grammar(fmt.call_syntax(special), SPECS, ToolChoice.parse("auto"), parallel=True,
                                         special=special, control_ids=frozenset()))
    calls = fmt.write([("get_weather", {"city": "Oslo", "days": 3}), ("get_time", {"timezone": "UTC"})], special)
    for text in ("It is sunny.", calls if family == "pythonic" else "Let me check. " + calls):
        matcher = llguidance.LLMatcher(llguidance.LLTokenizer("byte"), llguidance.grammar_from("lark", grammar),
                                       log_level=0)
        assert matcher.consume_tokens(list(text.encode())) and matcher.is_accepting(), (text, matcher.get_error())


def test_apriel_16_starts_inside_the_reasoning_its_prompt_opens(models):
    from localcall.formats import open_reasoning
    from localcall.messages import ReasoningDelta

    model = models["Apriel-1.6-15b-Thinker-fixed"]
    prompt = model.format.render(ASK, SPECS, template=model.template, special=model.backend.special)
    close = open_reasoning(prompt, model.format.call_syntax(model.backend.special).reasoning)
    assert close == "[BEGIN FINAL RESPONSE]"
    parser = model.format.parser(SPECS)
    parser.begin_in_reasoning(close)
    text = ('Paris, 2 days.\n[BEGIN FINAL RESPONSE]\n'
            '<tool_calls>[{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}]</tool_calls>')
    events = [e for piece in split(text, [9, 30, 60]) for e in parser.feed(piece)] + parser.finish()
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "Paris, 2 days.\n"
    assert [e.name for e in events if isinstance(e, ToolCallStart)] == ["get_weather"]
    assert not [e for e in events if isinstance(e, (ContentDelta, MalformedToolCall))]


@pytest.mark.parametrize("template, section", [("deepseek-ai-DeepSeek-V3.2", "function_calls"),
                                               ("deepseek-ai-DeepSeek-V4", "tool_calls")])
def test_the_dsml_section_is_the_one_the_template_writes(template, section):
    from fixtures.real_gguf import template_text
    from localcall.vocab import SpecialTokens

    fmt = get_format("deepseek_dsml", template_text(template))
    text = fmt.write([("get_time", {"timezone": "UTC"})], SpecialTokens(bos_id=None, eos_id=None, by_text={}))
    assert text.startswith(f"<｜DSML｜{section}>\n") and text.endswith(f"</｜DSML｜{section}>")
    assert read(fmt, [text])[0] == [("get_time", {"timezone": "UTC"})]


def test_command_r_plus_gets_empty_argument_descriptions_in_the_prompt_only(models):
    model = models["CohereForAI-c4ai-command-r-plus-tool_use"]
    specs = [ToolSpec.from_openai(t) for t in TOOLS]
    prompt = model.format.render(ASK, specs, template=model.template, special=model.backend.special)
    assert "def get_weather(city: str, days: int) -> List[Dict]:" in prompt
    assert not any("description" in p for spec in specs for p in spec.parameters["properties"].values())
