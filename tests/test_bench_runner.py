"""Running cases: records, resumability, an OpenAI-compatible endpoint, and the command.

The model here is a test double: conftest's ScriptedModel, and a tiny HTTP server on the
loopback speaking the Chat Completions API.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from localcall.bench.cli import app, results_path
from localcall.bench.endpoint import OpenAITarget
from localcall.bench.runner import read_results, run_cases
from localcall.bench.suites import LOCALCALL_SUITE, load_suite
from localcall.messages import ChatResult, MalformedToolCall, ToolCall, Usage

IDS = ("weather_tokyo", "compare_three_cities", "capital_of_france", "pick_order_status")


@pytest.fixture(scope="module")
def cases():
    by_id = {c.id: c for c in load_suite("localcall")}
    return [by_id[i] for i in IDS]


def _replies(scripted_model):
    return [
        ChatResult(tool_calls=[ToolCall("c1", "get_weather", '{"location": "Tokyo"}')], finish_reason="tool_calls",
                   usage=Usage(prompt_tokens=50, completion_tokens=12)),
        scripted_model.calls(("get_weather", {"location": "Tokyo"}), ("get_weather", {"location": "London"})),
        scripted_model.answer('Paris. {"name": "get_weather", "arguments": {"location": "Paris"}}'),
        ChatResult(tool_calls=[ToolCall("c2", "get_order_status", '{"order_id": 8812}')],
                   errors=[MalformedToolCall('{"name": "get_order_status", "arguments": {"order', "length")]),
    ]


def test_each_case_is_judged_and_recorded(tmp_path, cases, scripted_model):
    model = scripted_model(*_replies(scripted_model))
    path = tmp_path / "m.jsonl"
    new = run_cases(model, cases, path, model="m", constrained=False, model_info="tiny", progress=False)
    assert [r.id for r in new] == list(IDS) and read_results(path) == new
    assert all(request["options"]["constrained"] is False for request in model.requests)
    assert model.requests[0]["tools"] == ["get_weather"] and model.requests[0]["tool_choice"] == "auto"
    weather, compare, capital, order = new
    assert weather.passed and weather.valid_calls == weather.call_attempts == 1
    assert (weather.prompt_tokens, weather.completion_tokens, weather.model_info) == (50, 12, "tiny")
    assert (compare.passed, compare.error_type) == (False, "selection:wrong_count")
    assert capital.passed and capital.leaked and capital.call_attempts == 0
    # 8812 as a number: the call parses but breaks the schema (a string), and BFCL's types.
    assert (order.error_type, order.valid_calls, order.call_attempts) == ("args:wrong_type", 0, 2)
    assert order.malformed and order.calls == [{"name": "get_order_status", "arguments": '{"order_id": 8812}'}]
    assert weather.messages == cases[0].messages and weather.latency_s >= 0


def test_a_rerun_skips_finished_cases(tmp_path, cases, scripted_model):
    path = tmp_path / "m.jsonl"
    run_cases(scripted_model(*_replies(scripted_model)[:2]), cases[:2], path, model="m", constrained=True,
              progress=False)
    with path.open("a") as f:
        f.write('{"suite": "localcall", "id": "capital_of_')  # a crash cut this line short
    rest = scripted_model(*_replies(scripted_model)[2:])
    new = run_cases(rest, cases, path, model="m", constrained=True, progress=False)
    assert [r.id for r in new] == list(IDS[2:]) and len(rest.requests) == 2
    idle = scripted_model()
    assert run_cases(idle, cases, path, model="m", constrained=True, progress=False) == []
    assert idle.requests == [] and [r.id for r in read_results(path)] == list(IDS)


def test_a_failing_target_is_recorded_not_raised(tmp_path, cases, scripted_model):
    def crash(messages):
        raise RuntimeError("context window exceeded")

    (record,) = run_cases(scripted_model(crash), cases[:1], tmp_path / "m.jsonl", model="m", progress=False)
    assert (record.passed, record.error_type) == (False, "target:exception")
    assert "context window exceeded" in record.message


# --- an OpenAI-compatible endpoint ---------------------------------------------------------------

class _ChatCompletions(BaseHTTPRequestHandler):
    """Calls get_weather for Tokyo when offered and asked about it; answers in prose otherwise."""

    requests: list[dict] = []

    def _reply(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._reply({"object": "list", "data": [{"id": "stub-model", "object": "model", "created": 0,
                                                 "owned_by": "test"}]})

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(request)
        offered = [t["function"]["name"] for t in request.get("tools", [])]
        message = {"role": "assistant", "content": "Paris is the capital of France."}
        if "get_weather" in offered and "Tokyo" in request["messages"][-1]["content"]:
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"location": "Tokyo"}'}}]}
        self._reply({"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": request["model"],
                     "choices": [{"index": 0, "message": message,
                                  "finish_reason": "tool_calls" if "tool_calls" in message else "stop"}],
                     "usage": {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27}})

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    _ChatCompletions.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChatCompletions)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_openai_target_round_trip(endpoint, cases):
    target = OpenAITarget(endpoint, "stub-model")
    result = target.chat(cases[2].messages, tools=[], max_tokens=64)
    assert result.content == "Paris is the capital of France." and not result.tool_calls
    (request,) = _ChatCompletions.requests
    assert "tools" not in request and request["max_tokens"] == 64
    with pytest.raises(ValueError, match="in-process model"):
        target.chat(cases[0].messages, constrained=False)


def test_the_command_scores_an_endpoint_and_resumes(tmp_path, endpoint):
    suite = tmp_path / "mini.json"
    data = json.loads(LOCALCALL_SUITE.read_text())
    data["cases"] = [c for c in data["cases"] if c["id"] in ("weather_tokyo", "capital_of_france", "weather_celsius")]
    suite.write_text(json.dumps(data))
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(app, ["accuracy", "--endpoint", endpoint, "--suite", str(suite), "--out", str(out)])
    assert result.exit_code == 0, result.output
    host = endpoint.split("/")[2]
    records = read_results(results_path(out, f"stub-model@{host}", constrained=True))
    assert {r.id: r.passed for r in records} == {"weather_tokyo": True, "capital_of_france": True,
                                                 "weather_celsius": False}
    assert len(_ChatCompletions.requests) == 3  # one chat request per case
    assert _ChatCompletions.requests[0]["tools"][0]["function"]["name"] == "get_weather"
    csv_text = (out / "summary.csv").read_text()
    assert f"mini,all,stub-model@{host},3,0.666" in csv_text
    assert (out / "accuracy.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    again = runner.invoke(app, ["accuracy", "--endpoint", endpoint, "--models", "stub-model",
                                "--suite", str(suite), "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert len(_ChatCompletions.requests) == 3  # everything was done already

    refused = runner.invoke(app, ["accuracy", "--endpoint", endpoint, "--compare", "--out", str(out)])
    assert refused.exit_code == 2 and "--compare" in refused.output


def test_options_reach_the_request_and_name_the_run(tmp_path, endpoint):
    suite = tmp_path / "mini.json"
    data = json.loads(LOCALCALL_SUITE.read_text())
    data["cases"] = [c for c in data["cases"] if c["id"] == "weather_tokyo"]
    suite.write_text(json.dumps(data))
    out = tmp_path / "out"
    args = ["accuracy", "--endpoint", endpoint, "--suite", str(suite), "--out", str(out),
            "--option", "allow_repeated_tool_calls=true", "--option", "temperature=0", "--option", "user=bench"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (request,) = _ChatCompletions.requests
    assert request["allow_repeated_tool_calls"] is True and request["temperature"] == 0 and request["user"] == "bench"
    host = endpoint.split("/")[2]
    label = f'stub-model@{host} [allow_repeated_tool_calls=true,temperature=0,user="bench"]'
    (record,) = read_results(results_path(out, label, constrained=True))
    assert record.model == label and record.passed
    # --label names the variant instead; a new name is a new run.
    again = CliRunner().invoke(app, [*args, "--label", "variant b"])
    assert again.exit_code == 0, again.output
    assert len(_ChatCompletions.requests) == 2
    assert read_results(results_path(out, f"stub-model@{host} [variant b]", constrained=True))

    for bad, hint in ((["--option", "nokey"], "--option"), (["--decision"], "--decision")):
        refused = CliRunner().invoke(app, [*args, *bad])
        assert refused.exit_code == 2 and hint in refused.output
