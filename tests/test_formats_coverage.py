"""Every real template in the llama-cpp-python archive that declares tool support: detected to
a family whose syntax matches the template (its own rendering of a call reads back as that
call), a conversation with OpenAI call ids and a tool result renders, and forced calls are
valid, on a tiny model with a real vocabulary of the template's kind. The ones no family
speaks yet are listed with the reason; docs/formats.md reports the same count."""

from __future__ import annotations

import pytest

from fixtures import coverage

# Templates whose syntax no family speaks yet, and why (docs/formats.md lists them too).
NOT_COVERED = {
    "Apertus-8B-Instruct": "its own <|tools_prefix|> JSON call list",
    "Apriel-1.6-15b-Thinker-fixed": "<tool_calls>[...]</tool_calls> JSON list",
    "unsloth-Apriel-1.5": "<tool_calls>[...]</tool_calls> JSON list",
    "ByteDance-Seed-OSS": "XML parameters inside <seed:tool_call>, built by string concatenation",
    "Cohere2MoE": "Command A's <|START_ACTION|> JSON list",
    "CohereForAI-c4ai-command-r-plus-tool_use": "Command R+'s Action: JSON block (its template also fails on "
                                                "OpenAI-style tools)",
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use": "Command R7B's <|START_ACTION|> JSON list",
    "GigaChat3-10B-A1.8B": "GigaChat's function_call turn (one call per turn)",
    "GigaChat3.1-10B-A1.8B": "GigaChat's <|function_call|> turn (one call per turn)",
    "Kimi-K2-Instruct": "Kimi's <|tool_calls_section_begin|> sections",
    "Kimi-K2-Thinking": "Kimi's <|tool_calls_section_begin|> sections",
    "moonshotai-Kimi-K2": "Kimi's <|tool_calls_section_begin|> sections",
    "Kimi-K3": "Kimi K3's <|open|>/<|close|> blocks",
    "LFM2.5-8B-A1B": "pythonic list inside <|tool_call_start|>",
    "MiniMax-M1": "JSON lines inside <tool_calls>",
    "MiniMax-M2": "MiniMax's <invoke name=...> XML",
    "MiniMax-M3": "MiniMax's <invoke name=...> XML",
    "NVIDIA-Nemotron-Nano-v2": "<TOOLCALL>[...]</TOOLCALL> JSON list",
    "deepseek-ai-DeepSeek-V3.2": "DeepSeek's DSML <invoke> markup",
    "deepseek-ai-DeepSeek-V4": "DeepSeek's DSML <invoke> markup",
    "deepseek-ai-DeepSeek-V4-Flash-0731": "DeepSeek's DSML <invoke> markup",
    "llama-cpp-deepseek-r1": "DeepSeek R1's <｜tool▁calls▁begin｜> sections",
    "meetkai-functionary-medium-v3.1": "Functionary's <function=NAME>{...}</function>",
    "meetkai-functionary-medium-v3.2": "Functionary's >>>NAME channels (its template also fails on "
                                       "OpenAI-style arguments)",
    "muse-glimmer": "harmony-like to=functions.NAME channels",
    "openbmb-MiniCPM5-1B": "MiniCPM's <function name=...><param name=...> XML",
    "tencent-Hy3": "Hunyuan's <tool_calls…>/<tool_call…> markup",
    "upstage-Solar-Open-100B": "Solar's <|tool_call:begin|>ID<|tool_call:name|>NAME<|tool_call:args|>{...}",
}


@pytest.fixture(scope="module")
def outcomes():
    return {o.template: o for o in coverage.outcomes()}


def test_every_tool_template_is_covered_or_named_with_its_reason(outcomes):
    covered = {name for name, o in outcomes.items() if o.covered}
    failing = {name: o.problems for name, o in outcomes.items() if not o.covered and name not in NOT_COVERED}
    assert not failing, failing
    # A template listed as not covered that now works belongs in the covered count.
    assert not covered & set(NOT_COVERED), covered & set(NOT_COVERED)
    assert set(NOT_COVERED) <= set(outcomes), set(NOT_COVERED) - set(outcomes)
    assert len(covered) + len(NOT_COVERED) == len(outcomes)


@pytest.mark.parametrize("template, family", [
    ("meta-llama-Llama-3.1-8B-Instruct", "llama3"), ("meta-llama-Llama-3.2-3B-Instruct", "llama3"),
    ("meta-llama-Llama-3.3-70B-Instruct", "llama3"),
    ("mistralai-Mistral-Nemo-Instruct-2407", "mistral"), ("Mistral-Small-3.2-24B-Instruct-2506", "mistral"),
    ("mistralai-Ministral-3-14B-Reasoning-2512", "mistral"), ("unsloth-mistral-Devstral-Small-2507", "mistral"),
    ("Qwen-Qwen2.5-7B-Instruct", "hermes"), ("Qwen-Qwen3-0.6B", "hermes"), ("Qwen-QwQ-32B", "hermes"),
    ("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use", "hermes"), ("NousResearch-Hermes-3-Llama-3.1-8B-tool_use", "hermes"),
    ("ibm-granite-granite-4.0", "hermes"), ("ibm-granite-granite-4.1", "hermes"),
    ("Qwen3-Coder", "qwen3_coder"), ("Qwen3.5-4B", "qwen3_coder"), ("NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "qwen3_coder"),
    ("GLM-4.6", "glm"), ("GLM-4.7-Flash", "glm"), ("openai-gpt-oss-120b", "harmony"),
    ("google-gemma-4-31B-it", "gemma4"), ("google-gemma-4-31B-it-interleaved", "gemma4"),
])
def test_release_templates_are_detected_as_their_family(outcomes, template, family):
    assert outcomes[template].family == family and outcomes[template].covered, outcomes[template]
