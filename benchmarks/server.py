"""The server's cost over the runtime, measured in one run on the default model, loopback only.

    python benchmarks/server.py [--tokens 200] [--repeat 3] [--requests 32] [--json out.json]

- decode tokens/s through the HTTP stream (SSE, parsed as a client does) vs ChatModel.stream
  in-process, same prompt, seed and budget, runs interleaved so machine noise hits all sides
  (target: ratio >= 0.95); the stream as served (a write every `stream_interval`, 20 ms) and
  with a write per token (stream_interval 0), to show what the batching buys;
- time to first token, both ways;
- requests/s and median latency with 1, 4 and 16 concurrent clients (short completions);
- continuous batching (`--parallel N`, runtime/batch.py) against one generation at a time:
  completion tokens/s, p50/p95 latency and time to first token with 1, 2, 4, 8 clients, the
  servers interleaved level by level, each a server process of its own (the client's threads
  share no interpreter with any side); with `--llama-server BIN`, also llama.cpp's own server
  on the same GGUF with as many slots (`-np N`), the anchor. Each run also reads each server
  process's CPU time (/proc), so the figures give CPU milliseconds per completion token, in
  all and per thread (the decode's threads against the Python around them: event loop,
  emitting threads), and the ratios show the spread of the rounds, not only their median.

    python benchmarks/server.py --only-batching --clients 1,2,4 --batch-requests 8   # bounded
    python benchmarks/server.py --only-batching --clients 1,2,4,8 --batch-requests 16 \
        --llama-server vendor/llama.cpp/build/bin/llama-server                    # side by side

(`LLAMA_SERVER_LOG=FILE` keeps llama-server's log; a failed request is counted and named.)

Three kinds of request: plain text; a JSON-schema answer (`response_format`), which both
servers constrain with a grammar; a forced tool call (tool_choice "required", one tool), ours
only: llama-server leaves the tools out of this model's prompt (its template knows none) and
answers in free text, so that side would not measure a constrained call.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import httpx2

from localcall.messages import ContentDelta, Finished
from localcall.model import ChatModel
from localcall.runtime.backend import thread_count
from localcall.runtime.registry import load_registry
from localcall.runtime.sources import resolve
from localcall.server import ServerSettings, create_app
from localcall.server.serve import BackgroundServer

MODEL = "smollm2-135m"
MESSAGES = [{"role": "user", "content": "Tell me a long story about the lighthouse keepers of the northern coast."}]
# The grammar asks for a long string, so every run decodes the whole budget (no early end of turn).
LONG_ANSWER = {"type": "json_schema", "json_schema": {"name": "story", "schema": {
    "type": "object", "properties": {"story": {"type": "string", "minLength": 100000}}, "required": ["story"]}}}


def direct(model: ChatModel, tokens: int, seed: int) -> tuple[float, float, int]:
    """(time to first token, decode tok/s, completion tokens) in-process.

    In a fresh thread, as the server generates: llama.cpp computes with OpenMP (libgomp), which
    keeps a thread pool per calling thread; once two threads of a process have computed, libgomp
    counts more threads than cores and stops spin-waiting at its barriers, and decoding slows by
    ~30% (measured here). Decoding on the main thread would handicap the server side only.
    """
    out = []
    worker = threading.Thread(target=lambda: out.append(_direct(model, tokens, seed)))
    worker.start()
    worker.join()
    return out[0]


def _direct(model: ChatModel, tokens: int, seed: int) -> tuple[float, float, int]:
    start = time.perf_counter()
    first = last = None
    result = None
    for event in model.stream(MESSAGES, max_tokens=tokens, seed=seed, response_format=LONG_ANSWER):
        if isinstance(event, ContentDelta) and event.text:
            last = time.perf_counter()
            first = first or last
        elif isinstance(event, Finished):
            result = event.result
    n = result.usage.completion_tokens
    return first - start, (n - 1) / (last - first), n


def http(client: httpx2.Client, url: str, tokens: int, seed: int) -> tuple[float, float, int]:
    """The same through the server's SSE stream (a client kept open, as an SDK keeps one)."""
    body = {"model": MODEL, "messages": MESSAGES, "max_tokens": tokens, "seed": seed, "stream": True,
            "response_format": LONG_ANSWER, "stream_options": {"include_usage": True}}
    start = time.perf_counter()
    first = last = None
    n = 0
    with client.stream("POST", url + "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[6:])
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                last = time.perf_counter()
                first = first or last
            if chunk.get("usage"):
                n = chunk["usage"]["completion_tokens"]
    return first - start, (n - 1) / (last - first), n


def throughput(url: str, clients: int, requests: int, tokens: int) -> tuple[float, float]:
    """(requests/s, median latency s) for `requests` non-streamed requests from `clients` threads."""
    local = threading.local()

    def one(i: int) -> float:
        if not hasattr(local, "client"):
            local.client = httpx2.Client(timeout=600)
        start = time.perf_counter()
        response = local.client.post(url + "/v1/chat/completions", json={
            "model": MODEL, "max_tokens": tokens, "seed": i,
            "messages": [{"role": "user", "content": f"Write a haiku about the number {i}."}]})
        response.raise_for_status()
        return time.perf_counter() - start

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(one, range(requests)))
    return requests / (time.perf_counter() - start), statistics.median(latencies)


WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "maxLength": 40}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 14}}, "required": ["city", "unit", "days"]}}}
CITIES = ("Oslo", "Lima", "Tokyo", "Cairo", "Quito", "Perth", "Dakar", "Minsk")


KINDS = ("text", "json_schema", "tool_calls")
WEATHER_FORMAT = {"type": "json_schema", "json_schema": {"name": "weather", "schema": WEATHER_TOOL["function"]["parameters"]}}


def load_run(url: str, clients: int, requests: int, tokens: int, kind: str) -> dict:
    """Completion tokens/s over the wall time of `requests` streamed requests from `clients`
    threads, with p50/p95 latency and p50 time to first token (content or call delta)."""
    local = threading.local()

    def one(i: int) -> tuple[float, float, int]:
        try:
            return _one(i)
        except httpx2.RemoteProtocolError:
            # A kept-alive connection the server had closed (llama-server closes them after
            # a few requests): sent again on a new one, as HTTP clients do.
            local.client.close()
            del local.client
        try:
            return _one(i)
        except httpx2.HTTPError as exc:  # counted, named, and left out of the figures
            errors.append(f"{type(exc).__name__}: {exc}")
            return 0.0, time.perf_counter() - start, 0

    def _one(i: int) -> tuple[float, float, int]:
        if not hasattr(local, "client"):
            local.client = httpx2.Client(timeout=900)
        city = CITIES[i % len(CITIES)]
        body = {"model": MODEL, "max_tokens": tokens, "seed": i, "stream": True,
                "stream_options": {"include_usage": True}}
        if kind == "text":
            body.update(messages=[{"role": "user", "content": f"Tell me a long story about a keeper in {city}."}])
        elif kind == "json_schema":
            body.update(messages=[{"role": "user", "content": f"What's the weather in {city} this week?"}],
                        response_format=WEATHER_FORMAT)
        else:
            body.update(messages=[{"role": "user", "content": f"What's the weather in {city} this week?"}],
                        tools=[WEATHER_TOOL], tool_choice="required")
        start = time.perf_counter()
        first, n = None, 0
        with local.client.stream("POST", url + "/v1/chat/completions", json=body) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: {"):
                    continue
                chunk = json.loads(line[6:])
                if first is None and chunk["choices"] and any(
                        chunk["choices"][0]["delta"].get(k) for k in ("content", "tool_calls")):
                    first = time.perf_counter() - start
                if chunk.get("usage"):
                    n = chunk["usage"]["completion_tokens"]
        return first or 0.0, time.perf_counter() - start, n

    errors: list[str] = []
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        runs = list(pool.map(one, range(requests)))
    wall = time.perf_counter() - start
    latencies = sorted(r[1] for r in runs)
    return {"tok_s": sum(r[2] for r in runs) / wall, "requests_s": requests / wall, "p50_s": statistics.median(latencies),
            "p95_s": latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))],
            "ttft_p50_s": statistics.median(r[0] for r in runs), "tokens": sum(r[2] for r in runs), "errors": errors}


@dataclass
class ServerProcess:
    url: str
    llama_server: bool  # llama.cpp's own, which leaves this model's tools out (see the docstring)
    pid: int  # the server process, whose CPU time each run reads (cpu_seconds)


def cpu_seconds(pid: int) -> float | None:
    """The CPU time a process has used so far, all its threads, user and system (Linux /proc;
    None elsewhere). On a machine whose cores the decode fills, CPU time per token shows the
    per-token cost of each server far more steadily than tokens/s, which the machine's other
    tenants move by ±15 % from run to run."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


class ThreadCPU:
    """Each thread's CPU time over a run, from /proc/PID/task/*/schedstat: nanoseconds on a
    CPU, exact, where /proc's clock ticks miss a thread's short bursts (a thread that emits a
    token in 0.1 ms is rarely on the CPU at a tick). Read every 50 ms from a thread of the
    benchmark, so threads that end during the run (ours: one per request) count up to their
    last reading. Threads are named by the OS name they carry (ours are named for the OS by
    `localcall_server`; the main thread is "main"); two of one name stay apart (name, name#2,
    by start order), more are summed as "name (all)" (one per request)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.start = self._read()
        self.last = dict(self.start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _read(self) -> dict[int, tuple[str, float]]:
        seen = {}
        try:
            tids = os.listdir(f"/proc/{self.pid}/task")
        except OSError:
            return seen
        for tid in tids:
            try:
                with open(f"/proc/{self.pid}/task/{tid}/comm") as f:
                    name = "main" if int(tid) == self.pid else f.read().strip()
                with open(f"/proc/{self.pid}/task/{tid}/schedstat") as f:
                    seen[int(tid)] = (name, int(f.read().split()[0]) / 1e9)
            except OSError:  # the thread ended between listing and reading
                continue
        return seen

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.last.update(self._read())

    def stop(self) -> dict[str, float]:
        """Seconds of CPU per thread (named as above) since the start."""
        self._stop.set()
        self._thread.join()
        self.last.update(self._read())
        by_name: dict[str, list[tuple[int, float]]] = {}
        for tid, (name, seconds) in sorted(self.last.items()):
            spent = seconds - (self.start[tid][1] if tid in self.start else 0.0)
            by_name.setdefault(name, []).append((tid, spent))
        out = {}
        for name, threads in by_name.items():
            if len(threads) <= 2:
                for k, (_, spent) in enumerate(threads):
                    out[name if k == 0 else f"{name}#{k + 1}"] = spent
            else:
                out[f"{name} (all)"] = sum(spent for _, spent in threads)  # no count: it moves between rounds
        return out


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def server_process(command: list[str], port: int, log_path: str = os.devnull, llama: bool = False):
    """A server in a process of its own, as users run one: the benchmark's client threads then
    share no interpreter (no GIL) with any side."""
    log = open(log_path, "w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {process.returncode}: {' '.join(command)}")
            try:
                if httpx2.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(command)} did not become healthy in 300 s")
            time.sleep(0.5)
        yield ServerProcess(url, llama, process.pid)
    finally:
        process.terminate()
        process.wait(30)
        log.close()


# Gives each Python thread of the server its name for the OS (Linux prctl PR_SET_NAME, 15
# bytes), so ThreadCPU can tell the scheduler ("localcall-batch") from the emitting threads
# ("localcall-gener..."); the decode's worker threads, started by the scheduler, inherit its
# name. Nothing else changes in the server.
_NAME_THREADS = ("import ctypes, threading\n"
                 "_prctl, _start = ctypes.CDLL(None).prctl, threading.Thread._bootstrap_inner\n"
                 "def _named(self):\n"
                 "    _prctl(15, self.name.encode()[:15], 0, 0, 0)\n"
                 "    _start(self)\n"
                 "threading.Thread._bootstrap_inner = _named\n")


def localcall_server(parallel: int):
    """`localcall serve --parallel N` on the default model (no playground, a deep queue)."""
    port = _free_port()
    code = (_NAME_THREADS + "from localcall.server.serve import run\n"
            f"run(port={port}, parallel={parallel}, max_waiting=64, request_timeout=900, ui=None)")
    return server_process([sys.executable, "-c", code], port)


def llama_server(binary: str, parallel: int):
    """llama.cpp's server on the default model's GGUF: `parallel` slots sharing one cache of the
    model's context, as ours do, and the same threads. --no-repack avoids the crash that
    use_extra_bufts=False avoids in our loads (docs/architecture.md)."""
    spec = load_registry().get(MODEL)
    port, threads = _free_port(), str(thread_count(spec.threads))
    command = [binary, "-m", str(resolve(spec, progress=False)), "--host", "127.0.0.1", "--port", str(port),
               "--jinja", "--no-repack", "-np", str(parallel), "-c", str(spec.context_length), "-t", threads,
               "-tb", threads, "--no-webui"]
    return server_process(command, port, os.environ.get("LLAMA_SERVER_LOG", os.devnull), llama=True)


def batching(parallel: int, levels: list[int], requests: int, tokens: int, anchor: str | None = None,
             rounds: int = 1, kinds: tuple[str, ...] = KINDS) -> dict:
    """The default model served one generation at a time and with `parallel` slots, side by
    side (each a `localcall serve` process), at each client level and kind of request. With
    `anchor` (a llama-server binary), llama-server with as many slots is a third side. Each level runs
    `rounds` times, the sides in a rotating order; the figures are medians of the rounds, and
    each round's tokens/s is kept (`rounds_tok_s`), so ratios can be taken round by round."""
    figures: dict = {}
    with contextlib.ExitStack() as stack:
        servers = {"serial": stack.enter_context(localcall_server(1)),
                   f"parallel_{parallel}": stack.enter_context(localcall_server(parallel))}
        if anchor:
            servers[f"llama-server_np{parallel}"] = stack.enter_context(llama_server(anchor, parallel))
        for server in servers.values():
            load_run(server.url, 1, 1, 4, "json_schema")  # warm up: grammar compile, connections
        for kind in kinds:
            sides = [name for name, server in servers.items()
                     if not (kind == "tool_calls" and server.llama_server)]
            for clients in levels:
                runs: dict[str, list[dict]] = {name: [] for name in sides}
                for r in range(rounds):  # interleaved, in a rotating order: drift hits every side alike
                    for name in sides[r % len(sides):] + sides[:r % len(sides)]:
                        runs[name].append(measured(servers[name], clients, max(requests, clients), tokens, kind))
                for name, done in runs.items():
                    figures.setdefault(kind, {}).setdefault(name, {})[clients] = _median_run(done)
    return figures


def measured(server: ServerProcess, clients: int, requests: int, tokens: int, kind: str) -> dict:
    """load_run, and the server's CPU milliseconds per completion token over it: in all, and
    per thread (`threads_ms_per_token`, ThreadCPU)."""
    before = cpu_seconds(server.pid)
    threads = ThreadCPU(server.pid)
    run = load_run(server.url, clients, requests, tokens, kind)
    per_thread = threads.stop()
    after = cpu_seconds(server.pid)
    if before is not None and after is not None and run["tokens"]:
        run["cpu_ms_per_token"] = 1000 * (after - before) / run["tokens"]
        run["threads_ms_per_token"] = {name: 1000 * spent / run["tokens"] for name, spent in per_thread.items()}
    return run


def _median_run(runs: list[dict]) -> dict:
    merged = {key: statistics.median(run[key] for run in runs) for key in runs[0]
              if key not in ("errors", "threads_ms_per_token") and all(key in run for run in runs)}
    if all("threads_ms_per_token" in run for run in runs):
        merged["threads_ms_per_token"] = {
            name: statistics.median(run["threads_ms_per_token"].get(name, 0.0) for run in runs)
            for name in runs[0]["threads_ms_per_token"]}
    return {**merged, "rounds_tok_s": [run["tok_s"] for run in runs],
            "errors": [error for run in runs for error in run["errors"]]}


def _ratios(ours: dict, other: dict) -> list[float]:
    """The round-by-round ratios of tokens/s (each round ran both back to back), sorted."""
    return sorted(a / b for a, b in zip(ours["rounds_tok_s"], other["rounds_tok_s"]))


def print_batching(figures: dict, levels: list[int]) -> None:
    for kind, sides in figures.items():
        print(f"\n{kind}: completion tok/s (x of 1 client) | p50 / p95 latency s | p50 first token s | server CPU "
              f"ms per token; ratios: median of the rounds [lowest-highest]")
        names = list(sides)
        for clients in levels:
            cells = []
            for name in names:
                f, one = sides[name][clients], sides[name][levels[0]]
                cpu = f" {f['cpu_ms_per_token']:5.1f} ms cpu/tok" if "cpu_ms_per_token" in f else ""
                cells.append(f"{name} {f['tok_s']:6.1f} (x{f['tok_s'] / one['tok_s']:.2f}) "
                             f"{f['p50_s']:5.2f}/{f['p95_s']:5.2f} {f['ttft_p50_s']:5.2f}{cpu}")
            ours, ratios = sides[names[1]][clients], []
            for other in names:
                if other == names[1]:
                    continue
                spread = _ratios(ours, sides[other][clients])
                ratios.append(f"{names[1]}/{other} x{statistics.median(spread):.2f} "
                              f"[x{spread[0]:.2f}-x{spread[-1]:.2f}]")
                if "cpu_ms_per_token" in ours and "cpu_ms_per_token" in sides[other][clients]:
                    ratios.append(f"cpu/tok x{ours['cpu_ms_per_token'] / sides[other][clients]['cpu_ms_per_token']:.2f}")
            errors = {name: len(sides[name][clients]["errors"]) for name in names if sides[name][clients]["errors"]}
            print(f"{clients:>2} clients  " + "  |  ".join(cells) + "  |  " + "  ".join(ratios)
                  + (f"  FAILED REQUESTS {errors}" if errors else ""))
            for name in names:
                threads = sides[name][clients].get("threads_ms_per_token", {})
                busy = sorted(((ms, thread) for thread, ms in threads.items() if ms >= 0.01), reverse=True)
                if busy:
                    print(f"{'':12}{name} CPU ms per token by thread: "
                          + ", ".join(f"{thread} {ms:.2f}" for ms, thread in busy))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200, help="decode budget of the tokens/s runs")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs of each side")
    parser.add_argument("--requests", type=int, default=32, help="requests per concurrency level")
    parser.add_argument("--short", type=int, default=16, help="max_tokens of the concurrency requests")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--parallel", type=int, default=4, help="slots of the batched server")
    parser.add_argument("--clients", default="1,2,4", help="client levels of the batching comparison")
    parser.add_argument("--batch-requests", type=int, default=8, help="requests per level and kind")
    parser.add_argument("--batch-tokens", type=int, default=48, help="max_tokens of the batching requests")
    parser.add_argument("--only-batching", action="store_true", help="skip the stream-overhead figures")
    parser.add_argument("--llama-server", metavar="BIN", help="also run llama-server -np PARALLEL (the anchor)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds of each batching level")
    parser.add_argument("--kinds", default=",".join(KINDS), help="request kinds of the batching comparison")
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    if args.only_batching:
        figures = {"batching": batching(args.parallel, levels, args.batch_requests, args.batch_tokens, args.llama_server,
                                          args.rounds, tuple(args.kinds.split(",")))}
        print_batching(figures["batching"], levels)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(figures, f, indent=2)
        return

    model = ChatModel.load(progress=False)
    servers = {side: BackgroundServer(create_app({MODEL: model}, ServerSettings(
        max_waiting=32, request_timeout=900, stream_interval=interval)))
        for side, interval in (("http", ServerSettings.stream_interval), ("http_per_token", 0.0))}
    client = httpx2.Client(timeout=600)
    try:
        direct(model, 8, 0)  # warm up: grammar compile, caches, first connections
        for server in servers.values():
            http(client, server.url, 8, 0)
        runs = {"direct": [], **{side: [] for side in servers}}
        for i in range(args.repeat):
            runs["direct"].append(direct(model, args.tokens, seed=i))
            for side, server in servers.items():
                runs[side].append(http(client, server.url, args.tokens, seed=i))
        figures = {side: {"ttft_s": statistics.median(r[0] for r in rs),
                          "decode_tok_s": statistics.median(r[1] for r in rs),
                          "tokens": statistics.median(r[2] for r in rs)} for side, rs in runs.items()}
        for side in servers:
            figures[f"ratio_{side}"] = figures[side]["decode_tok_s"] / figures["direct"]["decode_tok_s"]
        figures["concurrency"] = {}
        for clients in (1, 4, 16):
            rps, latency = throughput(servers["http"].url, clients, args.requests, args.short)
            figures["concurrency"][clients] = {"requests_s": rps, "median_latency_s": latency}
        figures["batching"] = batching(args.parallel, levels, args.batch_requests, args.batch_tokens, args.llama_server,
                                          args.rounds, tuple(args.kinds.split(",")))
    finally:
        client.close()
        for server in servers.values():
            server.stop()

    d = figures["direct"]
    print(f"decode tok/s   direct {d['decode_tok_s']:7.1f}   [{d['tokens']:.0f} tokens, median of {args.repeat}]")
    for side, label in (("http", "http"), ("http_per_token", "http, a write per token")):
        rate, ratio = figures[side]["decode_tok_s"], figures["ratio_" + side]
        print(f"               {label} {rate:7.1f}   ratio {ratio:.3f} (target >= 0.95)")
    h = figures["http"]
    print(f"first token    direct {d['ttft_s'] * 1000:7.1f} ms  http {h['ttft_s'] * 1000:7.1f} ms  "
          f"({(h['ttft_s'] - d['ttft_s']) * 1000:+.1f} ms)")
    one = figures["concurrency"][1]["requests_s"]
    for clients, c in figures["concurrency"].items():
        print(f"{clients:>2} clients     {c['requests_s']:6.2f} req/s  (x{c['requests_s'] / one:.2f} of 1 client)   "
              f"median latency {c['median_latency_s']:.2f} s   [{args.requests} requests, max_tokens {args.short}]")
    print_batching(figures["batching"], levels)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
