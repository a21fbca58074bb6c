"""The server's cost over the runtime, measured in one run on the default model, loopback only.

    python benchmarks/server.py [--tokens 200] [--repeat 3] [--requests 32] [--json out.json]

- decode tokens/s through the HTTP stream (SSE, parsed as a client does) vs ChatModel.stream
  in-process, same prompt, seed and budget, runs interleaved so machine noise hits all sides
  (target: ratio >= 0.95); the stream as served (a write every `stream_interval`, 20 ms) and
  with a write per token (stream_interval 0), to show what the batching buys;
- time to first token, both ways;
- requests/s and median latency with 1, 4 and 16 concurrent clients (short completions).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import threading
import time

import httpx2

from localcall.messages import ContentDelta, Finished
from localcall.runtime.chat import ChatModel
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200, help="decode budget of the tokens/s runs")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs of each side")
    parser.add_argument("--requests", type=int, default=32, help="requests per concurrency level")
    parser.add_argument("--short", type=int, default=16, help="max_tokens of the concurrency requests")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

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
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
