"""`localcall serve --ray` on a real local Ray instance, loopback only: two replicas of the
default model behind Ray Serve's proxy, in a process of their own as a user starts them. The
official openai client gets answers, forced tool calls and streams from both replicas; keys
and errors are as on one machine; a replica killed under load is replaced while the other
finishes its requests; SIGTERM stops the deployment and the Ray instance, and nothing is left.

One Ray instance serves the whole module (starting one costs ~30 s here): the tests run in
file order, the replica kill and the shutdown last.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx2
import openai
import psutil
import pytest

from localcall.server.ray_serve.cluster import free_proxy_port
from localcall.tools import AuditLog

MODEL = "smollm2-135m"
KEYS = {"tester": "sk-test", "alice": "sk-alice"}  # alice alone may use the server tool
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
                   "required": ["city"], "additionalProperties": False}}}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
# A grammar asking for a long string: the generation runs for its whole budget.
LONG = {"type": "json_schema", "json_schema": {"name": "s", "schema": {
    "type": "object", "properties": {"s": {"type": "string", "minLength": 100000}}, "required": ["s"]}}}
HEADER = "x-localcall-replica"
START_TIMEOUT = 300


class RayServer:
    def __init__(self, process: subprocess.Popen, url: str, log_path, state_dir):
        self.process, self.url, self.log_path, self.state_dir = process, url, log_path, state_dir

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def client(self, who: str = "tester", **options) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=KEYS.get(who, who), max_retries=0,
                             timeout=options.pop("timeout", 120), **options)

    def health(self) -> dict:
        response = httpx2.get(self.url + "/health", timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def running(self) -> dict[str, int]:
        """replica id → pid of the replicas Ray reports running."""
        return {r["id"]: r["pid"] for r in self.health()["replicas"] if r["state"] == "RUNNING"}

    def wait_running(self, replicas: int, *others: subprocess.Popen) -> None:
        """Until `replicas` replicas run, this process and `others` still alive."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.process.poll() is None and all(p.poll() is None for p in others), self.log()
            assert time.monotonic() < deadline, "the deployment did not start:\n" + self.log()
            try:
                if len(self.running()) == replicas:
                    return
            except (httpx2.TransportError, AssertionError):
                pass
            time.sleep(1)


@pytest.fixture(scope="module")
def ray_server(tmp_path_factory):
    """`serve.ray_serve.run` in a subprocess: a local Ray instance, 2 replicas of half a CPU each,
    two keys, the clock tool on the server for alice; audit logs under a temporary state dir."""
    tmp = tmp_path_factory.mktemp("ray")
    port = free_proxy_port()
    code = ("from localcall.server.ray_serve import RayOptions, run; from localcall.tools import Policy; "
            f"run(RayOptions(replicas=2, replica_cpus=0.5), port={port}, "
            f"api_keys={[f'{n}={k}' for n, k in KEYS.items()]!r}, tools='localcall.tools.builtin.clock', "
            "tool_policy=Policy.of({'alice': ['*']}), default_max_tokens=64, request_timeout=120)")
    env = {**os.environ, "LOCALCALL_THREADS": "1", "XDG_STATE_HOME": str(tmp / "state")}
    env.pop("LOCALCALL_AUDIT_DB", None)
    env.pop("RAY_ADDRESS", None)
    log_path = tmp / "server.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT, env=env)
    server = RayServer(process, f"http://127.0.0.1:{port}", log_path, tmp / "state")
    server.wait_running(2)
    yield server
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(90)
        except subprocess.TimeoutExpired:
            process.kill()


def raw(call):
    """(the parsed response, the replica that served it) of an openai `with_raw_response` call."""
    response = call()
    return response.parse(), response.headers[HEADER]


def from_both_replicas(ray_server, call, check) -> list:
    """Repeat `call` until both replicas have answered (Ray's router picks one at random
    between idle replicas), checking every response; the responses."""
    running = set(ray_server.running())
    seen, results = set(), []
    for _ in range(16):
        result, replica = raw(call)
        assert replica in running
        check(result)
        seen.add(replica)
        results.append(result)
        if seen == running:
            return results
    pytest.fail(f"only {seen} of {running} answered in 16 requests")


def test_answers_from_both_replicas(ray_server):
    client = ray_server.client()

    def check(r):
        assert r.choices[0].message.content and r.choices[0].finish_reason in ("stop", "length")
        assert r.usage.completion_tokens <= 8

    from_both_replicas(ray_server, lambda: client.chat.completions.with_raw_response.create(
        model=MODEL, messages=ASK, max_tokens=8), check)


def test_forced_tool_calls_from_both_replicas(ray_server):
    client = ray_server.client()

    def check(r):
        calls = r.choices[0].message.tool_calls
        assert r.choices[0].finish_reason == "tool_calls" and len(calls) == 1
        assert calls[0].function.name == "get_weather" and calls[0].id
        arguments = json.loads(calls[0].function.arguments)
        assert set(arguments) == {"city"} and len(arguments["city"]) <= 20

    results = from_both_replicas(ray_server, lambda: client.chat.completions.with_raw_response.create(
        model=MODEL, messages=ASK, tools=[WEATHER], tool_choice="required", parallel_tool_calls=False,
        max_tokens=48, seed=1), check)
    # the same seed: the same call from every replica
    assert len({r.choices[0].message.tool_calls[0].function.arguments for r in results}) == 1


def test_streaming_through_ray(ray_server):
    client = ray_server.client()
    stream, replica = raw(lambda: client.chat.completions.with_raw_response.create(
        model=MODEL, messages=ASK, max_tokens=12, stream=True, stream_options={"include_usage": True}))
    chunks = list(stream)
    assert replica in ray_server.running()
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[0].choices[0].delta.role == "assistant" and text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage.completion_tokens == 12
    # a forced call streamed: its name once, then argument fragments that join into JSON
    chunks = list(client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER], tool_choice="required",
                                                 parallel_tool_calls=False, max_tokens=48, seed=1, stream=True))
    deltas = [t for c in chunks for ch in c.choices for t in ch.delta.tool_calls or ()]
    assert deltas[0].function.name == "get_weather"
    assert "city" in json.loads("".join(t.function.arguments or "" for t in deltas if t.index == 0))
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_keys_and_errors_as_on_one_machine(ray_server):
    with pytest.raises(openai.AuthenticationError):
        ray_server.client("sk-wrong").chat.completions.create(model=MODEL, messages=ASK, max_tokens=4)
    response = httpx2.post(ray_server.url + "/v1/chat/completions", json={"model": MODEL, "messages": ASK})
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert response.headers[HEADER] and response.json()["error"]["type"] == "invalid_request_error"
    client = ray_server.client()
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=ASK, max_tokens=4)
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=4, temperature=5)
    assert info.value.param == "temperature"
    with pytest.raises(openai.BadRequestError):  # a named tool that was not offered
        client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER], max_tokens=4,
                                       tool_choice={"type": "function", "function": {"name": "get_time"}})
    response = httpx2.post(ray_server.url + "/v1/chat/completions", content=b"{not json",
                           headers={"Authorization": "Bearer sk-test", "Content-Type": "application/json"})
    assert response.status_code == 400 and "error" in response.json()


def test_health_names_the_replicas_and_ray_listens_on_loopback_only(ray_server):
    health = ray_server.health()
    assert health["status"] == "ok" and health["replica"] in ray_server.running()
    assert len(health["replicas"]) == 2
    assert all(r["node_ip"] == "127.0.0.1" and r["pid"] for r in health["replicas"])
    processes = [psutil.Process(ray_server.process.pid), *psutil.Process(ray_server.process.pid).children(True)]
    pids = {p.pid for p in processes}
    listening = [c for c in psutil.net_connections("inet") if c.pid in pids and c.status == psutil.CONN_LISTEN]
    assert listening
    assert {c.laddr.ip for c in listening} <= {"127.0.0.1", "::ffff:127.0.0.1"}, listening


def test_each_replica_writes_its_own_audit_log(ray_server):
    """A server tool call is audited in the serving replica's file, named for its host and PID."""
    r, replica = raw(lambda: ray_server.client("alice").chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "What time is it in Paris?"}], max_tokens=40,
        tool_choice={"type": "function", "function": {"name": "current_time"}}))
    executed = r.model_extra["localcall"]["executed_tool_calls"]
    assert executed[0]["name"] == "current_time"
    path = ray_server.state_dir / "localcall" / f"audit-{socket.gethostname()}-{ray_server.running()[replica]}.sqlite3"
    with AuditLog(path) as audit:
        rows = audit.entries(executed[0]["id"])
    assert rows and rows[0].principal == "alice" and rows[0].tool == "current_time"
    assert rows[0].outcome == executed[0]["status"]


def test_a_client_that_leaves_stops_its_generation(ray_server):
    """Ray's proxy passes the disconnect on: the replica cancels the generation at once, as one
    server does, and logs the request as closed by the client."""
    body = {"model": MODEL, "messages": ASK, "max_tokens": 4000, "stream": True, "response_format": LONG, "seed": 7}
    with httpx2.stream("POST", ray_server.url + "/v1/chat/completions", json=body, timeout=60,
                       headers={"Authorization": "Bearer sk-test"}) as response:
        lines = response.iter_lines()
        for _ in range(6):
            next(lines)
    # 4000 tokens would take minutes here; the cancelled request is logged within seconds
    deadline = time.monotonic() + 30
    while "finish=client_closed" not in ray_server.log():
        assert time.monotonic() < deadline, ray_server.log()[-3000:]
        time.sleep(0.5)
    closed = [line for line in ray_server.log().splitlines() if "finish=client_closed" in line]
    assert closed and "POST /v1/chat/completions 200" in closed[0]


def test_a_replica_killed_under_load_is_replaced(ray_server):
    """Kill one replica's process while both stream: the other's streams end as they would
    have, new requests are answered, and Ray starts a replica in place of the dead one."""
    before = ray_server.running()
    results: dict[int, dict] = {}
    started = threading.Semaphore(0)

    def stream(i: int) -> None:
        body = {"model": MODEL, "messages": ASK, "max_tokens": 96, "seed": i, "stream": True, "response_format": LONG,
                "stream_options": {"include_usage": True}}
        result = results[i] = {"chunks": []}
        try:
            with httpx2.stream("POST", ray_server.url + "/v1/chat/completions", json=body, timeout=120,
                               headers={"Authorization": "Bearer sk-test"}) as response:
                result["replica"] = response.headers[HEADER]
                started.release()
                for line in response.iter_lines():
                    if line.startswith("data: {"):
                        result["chunks"].append(json.loads(line[6:]))
        except httpx2.TransportError as exc:  # the killed replica's streams may break off
            result["error"] = exc
            started.release()

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(4)]
    for thread in threads:  # one after the other: the router sees each stream before placing the next
        thread.start()
        assert started.acquire(timeout=60)
    assert {r["replica"] for r in results.values()} == set(before), "the router put every stream on one replica"
    victim = results[0]["replica"]
    os.kill(before[victim], signal.SIGKILL)
    for thread in threads:
        thread.join(120)
        assert not thread.is_alive()
    survivors = [r for r in results.values() if r["replica"] != victim]
    assert survivors
    for result in survivors:  # whole streams: every token, then the usage chunk
        assert "error" not in result, result["error"]
        assert result["chunks"][-1]["usage"]["completion_tokens"] == 96
        assert [c["choices"][0]["finish_reason"] for c in result["chunks"] if c["choices"]][-1] == "length"

    client = ray_server.client()
    for _ in range(3):  # while Ray replaces it, the other replica answers
        r, replica = raw(lambda: client.chat.completions.with_raw_response.create(
            model=MODEL, messages=ASK, max_tokens=4))
        assert r.choices[0].message.content and replica != victim

    deadline = time.monotonic() + 120
    while True:
        running = ray_server.running()
        if len(running) == 2 and victim not in running:
            break
        assert time.monotonic() < deadline, f"Ray did not replace the replica: {ray_server.health()}"
        time.sleep(1)
    (new,) = set(running) - set(before)
    from_both_replicas(ray_server, lambda: client.chat.completions.with_raw_response.create(
        model=MODEL, messages=ASK, max_tokens=4), lambda r: r.choices[0].message.content)
    assert running[new] != before[victim]


def test_sigterm_stops_the_deployment_and_the_ray_instance(ray_server):
    driver = psutil.Process(ray_server.process.pid)
    ray_processes = driver.children(recursive=True)
    names = " ".join(p.name() for p in ray_processes)
    assert "raylet" in names and "gcs_server" in names
    ray_server.process.send_signal(signal.SIGTERM)
    assert ray_server.process.wait(90) == 0, ray_server.log()
    gone, alive = psutil.wait_procs(ray_processes, timeout=30)
    assert not alive, alive
    assert "stopped the local Ray instance" in ray_server.log()
    with pytest.raises(httpx2.TransportError):
        httpx2.get(ray_server.url + "/health", timeout=5)


def test_options_become_the_deployment_ray_runs(monkeypatch):
    """Ray validates the options (autoscaling, actor resources) when they are applied; the
    driver's settings that replicas read from the environment go with them."""
    from localcall.server.ray_serve import RayOptions
    from localcall.server.ray_serve.replica import Replica

    monkeypatch.setenv("LOCALCALL_PROMPT_CACHE_MIB", "0")  # as `--prompt-cache-mib 0` sets it

    options = RayOptions(autoscale=(0, 3), replica_cpus=2, replica_gpus=0.5).deployment_options(2, 8, 5.0, 4)
    assert options["autoscaling_config"]["min_replicas"] == 0 and options["autoscaling_config"]["max_replicas"] == 3
    assert options["autoscaling_config"]["target_ongoing_requests"] == 4  # a replica's slots
    deployment = Replica.options(**options)
    assert deployment.max_ongoing_requests == 2 * 12 + 1  # two models, each 4 generating + 8 waiting; /health
    actor = deployment.ray_actor_options
    assert actor["num_cpus"] == 2 and actor["num_gpus"] == 0.5
    assert actor["runtime_env"]["env_vars"]["LOCALCALL_THREADS"] == os.environ.get("LOCALCALL_THREADS", "2")
    assert actor["runtime_env"]["env_vars"]["LOCALCALL_PROMPT_CACHE_MIB"] == "0"
    assert Replica.options(**RayOptions(replicas=3).deployment_options(1, 8, 5.0)).num_replicas == 3


@pytest.mark.parametrize("args, message", [
    (["--ray", "--replicas", "2", "--autoscale", "1:2"], "not both"),
    (["--ray", "--autoscale", "3:1"], "MIN <= MAX"),
    (["--replicas", "2"], "go with --ray"),
    (["--ray", "-m", "no-such-model"], "unknown model 'no-such-model'"),
    (["--ray", "--replicas", "2", "--ask-approval"], "needs a single replica"),
])
def test_command_refuses_bad_ray_options_before_starting_ray(args, message):
    out = subprocess.run([sys.executable, "-m", "localcall.cli", "serve", *args], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 1 and message in out.stderr, out.stderr


@pytest.mark.slow
def test_on_a_joined_cluster_only_the_application_goes(tmp_path):
    """--ray-address joins a running cluster (a head node started here, loopback only); SIGTERM
    removes the application and Serve, which it started, and leaves the cluster running."""
    gcs_port = free_proxy_port()
    # `ray start` turns on Ray's token authentication; a driver joining needs RAY_AUTH_MODE=token
    # (the token is in ~/.ray/auth_token).
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0",
           "LOCALCALL_THREADS": "1", "RAY_AUTH_MODE": "token"}
    env.pop("RAY_ADDRESS", None)
    with open(tmp_path / "head.log", "w") as log:
        head = subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
                                 f"--port={gcs_port}", "--node-ip-address=127.0.0.1", "--include-dashboard=false",
                                 "--num-cpus=1", "--disable-usage-stats"], stdout=log, stderr=subprocess.STDOUT,
                                env=env)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "block forever" not in (tmp_path / "head.log").read_text():  # every head process is up
            assert head.poll() is None and time.monotonic() < deadline, (tmp_path / "head.log").read_text()
            time.sleep(0.5)
        port = free_proxy_port()
        code = ("from localcall.server.ray_serve import RayOptions, run; "
                f"run(RayOptions(address='127.0.0.1:{gcs_port}', replicas=1, replica_cpus=0.5), port={port})")
        with open(tmp_path / "server.log", "w") as log:
            process = subprocess.Popen([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT, env=env)
        server = RayServer(process, f"http://127.0.0.1:{port}", tmp_path / "server.log", tmp_path)
        server.wait_running(1, head)
        assert "joined the Ray cluster" in server.log()
        r = server.client().chat.completions.create(model=MODEL, messages=ASK, max_tokens=4)
        assert r.choices[0].message.content
        second = subprocess.run([sys.executable, "-c", code.replace(f"port={port}", f"port={free_proxy_port()}")],
                                capture_output=True, text=True, timeout=180, env=env)
        assert second.returncode == 1 and "already runs a Serve application named 'localcall'" in second.stderr
        assert len(server.running()) == 1  # the first deployment was left alone
        head_processes = psutil.Process(head.pid).children(recursive=True)
        process.send_signal(signal.SIGTERM)
        assert process.wait(90) == 0, server.log()
        assert "left the Ray cluster" in server.log()
        with pytest.raises(httpx2.TransportError):  # Serve, which this started, is gone with its proxy
            httpx2.get(server.url + "/health", timeout=5)
        assert head.poll() is None  # the cluster runs on
        assert {p.name() for p in head_processes if p.is_running()} >= {"gcs_server", "raylet"}
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops the head's processes
        head.wait(60)
