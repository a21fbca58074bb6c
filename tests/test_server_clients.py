"""The client libraries people point at an OpenAI-compatible server, each against a live
localcall server on the real default model: the OpenAI Agents SDK (its default Responses
model), LangChain's ChatOpenAI (chat completions and the Responses API), and simonw's `llm`
CLI with an extra-openai-models entry. The default model loops when left to choose, so each
forces its call where the library can, bounds turns and tokens, and checks what came back."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import jsonschema
import pydantic
import pytest

MODEL = "smollm2-135m"
QUESTION = "What is the weather in Paris?"


class Weather(pydantic.BaseModel):
    """The weather in a city."""

    city: str = pydantic.Field(max_length=20)
    celsius: int = pydantic.Field(ge=-50, le=60)


# --- the OpenAI Agents SDK -------------------------------------------------------------------

def test_agents_sdk_default_responses_model_runs_a_function_tool(live_server):
    from agents import Agent, ModelSettings, OpenAIResponsesModel, RunConfig, Runner, function_tool
    from openai import AsyncOpenAI

    asked: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The current weather in a city.

        Args:
            city: The city's name.
        """
        asked.append(city)
        return f"21 degrees and sunny in {city}"

    client = AsyncOpenAI(base_url=live_server.url + "/v1", api_key="unused", max_retries=0)
    agent = Agent(name="weather", instructions="Answer with the tools.", tools=[get_weather],
                  model=OpenAIResponsesModel(MODEL, client),  # the SDK's default model class
                  model_settings=ModelSettings(tool_choice="get_weather", max_tokens=60),
                  tool_use_behavior="stop_on_first_tool")
    result = asyncio.run(Runner.run(agent, QUESTION, max_turns=2, run_config=RunConfig(tracing_disabled=True)))
    assert len(asked) == 1 and 0 < len(asked[0]) <= 60
    assert result.final_output == f"21 degrees and sunny in {asked[0]}"
    kinds = [item.type for item in result.new_items]
    assert kinds == ["tool_call_item", "tool_call_output_item"]


# --- LangChain -----------------------------------------------------------------------------

def _chat_openai(live_server, **options):
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=MODEL, base_url=live_server.url + "/v1", api_key="unused", max_retries=0, timeout=120,
                      max_tokens=60, temperature=0, **options)


@pytest.mark.parametrize("use_responses_api", [False, True], ids=["chat-completions", "responses"])
def test_langchain_bind_tools_forced(live_server, use_responses_api):
    llm = _chat_openai(live_server, use_responses_api=use_responses_api)
    message = llm.bind_tools([Weather], tool_choice="Weather").invoke(QUESTION)
    call, = message.tool_calls
    assert call["name"] == "Weather" and call["id"]
    Weather.model_validate(call["args"])


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_langchain_with_structured_output(live_server, method):
    weather = _chat_openai(live_server).with_structured_output(Weather, method=method).invoke(QUESTION)
    assert isinstance(weather, Weather) and weather.city


# --- simonw's llm --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def calling_server(start_server, default_model):
    """The default model served with a models.toml-style `answer_bias = -10`: in tool_choice
    auto it calls a tool whenever one is offered. For clients that cannot force a call (llm)."""
    from dataclasses import replace

    from localcall.model import ChatModel
    from localcall.server import ServerSettings

    spec = replace(default_model.spec, sampling={**default_model.spec.sampling, "answer_bias": -10.0})
    return start_server({MODEL: ChatModel(spec, default_model.backend)}, ServerSettings(default_max_tokens=256))


@pytest.fixture
def llm_cli(calling_server, tmp_path):
    """Runs `llm` in a process of its own, with localcall as an extra OpenAI model."""
    (tmp_path / "extra-openai-models.yaml").write_text(
        f"- model_id: localcall\n  model_name: {MODEL}\n  api_base: {calling_server.url}/v1\n"
        f"  supports_tools: true\n  supports_schema: true\n")
    env = {**os.environ, "LLM_USER_PATH": str(tmp_path), "OPENAI_API_KEY": "unused"}

    def run(*args: str, check: bool = True) -> str:
        """Its output; check=False: whatever the exit code, with stderr (where --td writes) too."""
        done = subprocess.run([sys.executable, "-m", "llm", "-m", "localcall", "--no-log", *args], env=env,
                              capture_output=True, text=True, timeout=300)
        if not check:
            return done.stdout + done.stderr
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run


def test_llm_prompt_with_penalties(llm_cli):
    out = llm_cli("Say hello.", "-o", "max_tokens", "8", "-o", "frequency_penalty", "0.5",
                  "-o", "presence_penalty", "0.5", "-o", "temperature", "0")
    assert out.strip()


def test_llm_schema(llm_cli):
    out = llm_cli("Invent the weather in Paris.", "--schema", "city, celsius int", "-o", "max_tokens", "60")
    value = json.loads(out)
    jsonschema.validate(value, {"type": "object", "properties": {"city": {"type": "string"},
                                                                  "celsius": {"type": "integer"}},
                                "required": ["city", "celsius"]})


def test_llm_functions(llm_cli):
    """llm cannot force a call (it always sends tool_choice auto), and the default model then
    calls again and again: --chain-limit bounds that, so only the call itself is checked:
    llm read our tool call, ran the function with its arguments and sent the result back."""
    tool = 'def get_weather(city: str) -> str:\n    "The weather in a city."\n    return "21 degrees in " + city\n'
    out = llm_cli(QUESTION, "--functions", tool, "--td", "--chain-limit", "2", "-o", "temperature", "0",
                  "-o", "max_tokens", "60", check=False)
    assert "Tool call: get_weather({'city': 'Paris'})" in out and "21 degrees in Paris" in out
