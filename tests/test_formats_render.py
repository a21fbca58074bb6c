"""Rendering prompts: golden texts per builtin template, the family's fallbacks, and errors."""

from __future__ import annotations

import copy
from datetime import datetime

import pytest
from fixtures.chat_cases import CONVERSATION, TOOLS, clock, golden

from localcall.formats import FORMATS, TemplateError, get_format, load_builtin_template
from localcall.formats.generic import GenericFormat
from localcall.formats.mistral import mistral_call_id
from localcall.runtime.backend import SpecialTokens

LLAMA3 = SpecialTokens(128000, 128009, "<|begin_of_text|>", "<|eot_id|>",
                       by_text={"<|eot_id|>": 128009, "<|python_tag|>": 128010})
MISTRAL = SpecialTokens(1, 2, "<s>", "</s>", by_text={"[TOOL_CALLS]": 5})
MISTRAL_ARGS = SpecialTokens(1, 2, "<s>", "</s>", by_text={"[TOOL_CALLS]": 9, "[ARGS]": 32})
CHATML = SpecialTokens(None, 2, "", "<|im_end|>", by_text={"<|im_start|>": 1, "<|im_end|>": 2})
GEMMA = SpecialTokens(2, 1, "<bos>", "<eos>", by_text={"<start_of_turn>": 105, "<end_of_turn>": 106})

# builtin template → (family, special tokens, what add_generation_prompt appends)
BUILTINS = {
    "llama3": ("llama3", LLAMA3, "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    "mistral": ("mistral", MISTRAL, ""),
    "mistral-args": ("mistral", MISTRAL_ARGS, ""),
    "hermes": ("hermes", CHATML, "<|im_start|>assistant\n"),
    "chatml": ("generic", CHATML, "<|im_start|>assistant\n"),
    "gemma": ("generic", GEMMA, "<start_of_turn>model\n"),
}


def render(family: str, special: SpecialTokens, template: str | None, messages=CONVERSATION, tools=TOOLS,
           add_generation_prompt: bool = False) -> str:
    return FORMATS[family](now=clock).render(messages, tools, template=template, special=special,
                                             add_generation_prompt=add_generation_prompt)


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_template_renders_the_golden_conversation(name):
    family, special, _ = BUILTINS[name]
    assert render(family, special, f"builtin:{name}") == golden(name)


@pytest.mark.parametrize("name", BUILTINS)
def test_generation_prompt_opens_the_assistant_turn(name):
    family, special, opening = BUILTINS[name]
    with_prompt = render(family, special, f"builtin:{name}", add_generation_prompt=True)
    assert with_prompt == golden(name) + opening


@pytest.mark.parametrize("name", ["llama3", "mistral", "mistral-args", "hermes", "chatml"])
def test_no_template_means_the_familys_builtin(name):
    family, special, _ = BUILTINS[name]
    assert render(family, special, None) == golden(name)


def test_rendering_leaves_the_callers_messages_alone():
    messages = copy.deepcopy(CONVERSATION)
    for name in BUILTINS:
        family, special, _ = BUILTINS[name]
        render(family, special, f"builtin:{name}", messages=messages)
    assert messages == CONVERSATION


# --- templates that know nothing of tools ------------------------------------------------------

CHATML_WITHOUT_TOOLS = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
                        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
LLAMA30 = ("{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n'"
           " + m['content'] | trim + '<|eot_id|>' }}{% endfor %}"
           "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")


def test_generic_rewrites_the_conversation_for_a_plain_chatml_template():
    # The same turns as the builtin ChatML template: calls and results became text turns.
    assert render("generic", CHATML, CHATML_WITHOUT_TOOLS) == golden("chatml")


def test_generic_without_tools_keeps_answers_as_text():
    text = render("generic", CHATML, CHATML_WITHOUT_TOOLS, messages=CONVERSATION[:2] + CONVERSATION[-1:], tools=None)
    assert text == ("<|im_start|>system\nYou are a concise assistant.<|im_end|>\n"
                    "<|im_start|>user\nWeather and time in Paris?<|im_end|>\n"
                    "<|im_start|>assistant\nIt is 18 °C and sunny in Paris; the time is 14:05.<|im_end|>\n")


def test_generic_adds_a_system_message_when_there_is_none():
    text = render("generic", CHATML, CHATML_WITHOUT_TOOLS, messages=[{"role": "user", "content": "Hi"}])
    assert text.startswith("<|im_start|>system\nYou can use tools.")
    assert '{"name": "get_weather", "description": "Current weather in a city", "parameters": ' in text
    assert text.endswith("<|im_start|>user\nHi<|im_end|>\n")


def test_native_family_uses_its_builtin_when_the_template_cannot_show_tools():
    assert render("hermes", CHATML, CHATML_WITHOUT_TOOLS) == golden("hermes")
    assert render("llama3", LLAMA3, LLAMA30) == golden("llama3")


def test_native_family_keeps_a_tool_less_template_for_a_conversation_without_tools():
    messages = [{"role": "user", "content": "Hi"}]
    assert render("llama3", LLAMA3, LLAMA30, messages=messages, tools=None) == \
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"


# --- message shapes ----------------------------------------------------------------------------

ECHO = ("{% for m in messages %}{{ m.role }}|{{ m.content }}|{{ m.name }}|{{ m.tool_call_id }}|"
        "{% for c in m.tool_calls or [] %}{{ c.id }}:{{ c.function.name }}:{{ c.function.arguments | tojson }};"
        "{% endfor %}\n{% endfor %}{{ tools | length }}")


def test_templates_get_messages_the_way_transformers_gives_them():
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "a "}, {"type": "text", "text": "<b>é</b>"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_time", "arguments": '{"city": "Zürich"}'}},
            {"id": "c2", "type": "function", "function": {"name": "get_time", "arguments": "not json"}}]},
        {"role": "tool", "tool_call_id": "c2", "content": "12:00"},
    ]
    text = get_format("llama3").render(messages, TOOLS, template=ECHO, special=LLAMA3)
    # trim_blocks, as in transformers: the newline after a block tag is dropped.
    assert text == ("user|a <b>é</b>|||"
                    'assistant||||c1:get_time:{"city": "Zürich"};c2:get_time:"not json";'
                    "tool|12:00|get_time|c2|2")


def test_mistral_ids_are_nine_alphanumerics_and_stable():
    assert mistral_call_id("abcDEF123") == "abcDEF123"
    mapped = mistral_call_id("call_w1")
    assert len(mapped) == 9 and mapped.isalnum() and mapped.isascii()
    assert mistral_call_id("call_w1") == mapped != mistral_call_id("call_t1")
    assert f'"id": "{mapped}"' in golden("mistral") and f'"call_id": "{mapped}"' in golden("mistral")


# --- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("template, reason, line", [
    ("line one\n{% for m in messages %}{{ m.content }", "syntax error", 2),
    ("{{ raise_exception('System role not supported') }}", "refused the conversation: System role not supported", 1),
    ("ok\n{{ messages[0].content.no_such_method() }}", "UndefinedError", 2),
    ("{{ ''.__class__.__mro__ }}", "SecurityError", 1),
    # Dicts stay immutable (lists a template may change: they are its own copies, see test_formats_more_families).
    ("{{ messages[0].update({'role': 'system'}) }}", "SecurityError", 1),
])
def test_a_failing_template_is_a_clear_error(template, reason, line):
    with pytest.raises(TemplateError) as caught:
        get_format("hermes").render([{"role": "user", "content": "hi"}], None, template=template, special=CHATML)
    assert reason in caught.value.reason
    assert caught.value.line == line
    assert caught.value.template == "from the model"
    assert str(caught.value).startswith(f"chat template from the model at line {line}: ")


def test_builtin_template_errors_name_the_builtin():
    with pytest.raises(TemplateError, match=r"^chat template builtin:llama3 at line \d+: refused the conversation"):
        render("llama3", LLAMA3, "builtin:llama3", messages=[{"role": "system", "content": "no user turn"}])


def test_load_builtin_template():
    assert load_builtin_template("builtin:gemma") == load_builtin_template("gemma")
    assert "<start_of_turn>" in load_builtin_template("gemma")
    for bad in ("builtin:nope", "../jinja", "builtin:../../x"):
        with pytest.raises(KeyError, match="known: builtin:chatml, builtin:functiongemma, builtin:gemma"):
            load_builtin_template(bad)


def test_strftime_now_reads_the_formats_clock():
    text = GenericFormat(now=lambda: datetime(2001, 2, 3)).render(
        [], None, template="{{ strftime_now('%Y-%m-%d') }}", special=CHATML)
    assert text == "2001-02-03"

