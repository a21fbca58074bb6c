"""Throughput of `localcall serve --ray` at 1 and 2 replicas against one `localcall serve`, on
the same requests, in one run, loopback only.

    LOCALCALL_THREADS=1 python benchmarks/ray_replicas.py [--rounds 2] [--requests 24] [--clients 4]
                                                          [--tokens 32] [--json out.json]

- `single`: `localcall serve` in a process of its own (serve.run), the default model;
- `ray-1`, `ray-2`: one local Ray instance, the deployment at 1 then 2 replicas (each change
  is a redeploy: Serve starts fresh replicas, which load the model again).

Every replica and the single server decode with $LOCALCALL_THREADS threads (1 by default here:
2 replicas x 1 thread fill the 2 cores). Each side answers the same requests: `--requests`
non-streamed completions from `--clients` concurrent clients, each decoding exactly `--tokens`
tokens (a grammar asks for a long string), then the same one client at a time (latency, where
Ray's proxy and router show). The sides are measured in turn, `--rounds` times, so drift of
the machine falls on all of them; medians are reported, and ratios to `single`.

Two replicas can do at most what two processes get from the machine: the run first measures
that ceiling (a busy loop in two processes at once against one), since a shared or
CPU-limited machine may give two processes no more than one.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

import httpx2

from localcall.server.ray_serve.cluster import free_proxy_port

MODEL = "smollm2-135m"
LONG = {"type": "json_schema", "json_schema": {"name": "s", "schema": {
    "type": "object", "properties": {"s": {"type": "string", "minLength": 100000}}, "required": ["s"]}}}
SERVER = dict(max_waiting=64, request_timeout=900)
METRICS = ("requests_s", "tokens_s", "median_latency_s")


def wait_healthy(url: str, replicas: int | None = None, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            health = httpx2.get(url + "/health", timeout=10).json()
            if replicas is None or sum(r["state"] == "RUNNING" for r in health["replicas"]) == replicas:
                return
        except (httpx2.TransportError, ValueError, KeyError):
            pass
        time.sleep(1)
    raise RuntimeError(f"{url} did not become ready")


def _spin(seconds: float) -> int:
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        n += 1
    return n


def cpu_ceiling(seconds: float = 3.0) -> float:
    """Work done by two busy processes at once over one alone: 2.0 on two free cores."""
    with multiprocessing.Pool(2) as pool:
        one = pool.apply(_spin, (seconds,))
        two = sum(pool.map(_spin, [seconds, seconds]))
    return two / one


def load(url: str, clients: int, requests: int, tokens: int) -> dict:
    """`requests` completions from `clients` threads: requests/s, tokens/s, median latency,
    and how many requests each replica served."""
    local = threading.local()
    served: dict[str, int] = {}

    def one(i: int) -> float:
        if not hasattr(local, "client"):
            local.client = httpx2.Client(timeout=900)
        start = time.perf_counter()
        response = local.client.post(url + "/v1/chat/completions", json={
            "model": MODEL, "max_tokens": tokens, "seed": i, "response_format": LONG,
            "messages": [{"role": "user", "content": f"Write a story about the number {i}."}]})
        response.raise_for_status()
        assert response.json()["usage"]["completion_tokens"] == tokens
        replica = response.headers.get("x-localcall-replica", "-")
        served[replica] = served.get(replica, 0) + 1
        return time.perf_counter() - start

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(one, range(requests)))
    elapsed = time.perf_counter() - start
    return {"requests_s": requests / elapsed, "tokens_s": requests * tokens / elapsed,
            "median_latency_s": statistics.median(latencies), "per_replica": sorted(served.values())}


class Single:
    """`localcall serve` (serve.run) in a subprocess."""

    def __init__(self):
        port = free_proxy_port()
        code = f"from localcall.server.serve import run; run(port={port}, **{SERVER!r})"
        self.process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"
        wait_healthy(self.url)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


class OnRay:
    """The deployment on a local Ray instance this process starts; scale(n) sets its replicas."""

    def __init__(self):
        from localcall.server.ray_serve import RayOptions, cluster

        self.port = free_proxy_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.options = RayOptions
        self.instance = cluster.start()

    def scale(self, replicas: int) -> None:
        from localcall.server.ray_serve.replica import deploy

        options = self.options(replicas=replicas).deployment_options(1, SERVER["max_waiting"], 5.0)
        deploy(SERVER, options, "127.0.0.1", self.port)
        wait_healthy(self.url, replicas)

    def stop(self) -> None:
        from localcall.server.ray_serve import cluster

        cluster.stop(self.instance)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests", type=int, default=24, help="requests per concurrent measurement")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=32, help="completion tokens of every request")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    os.environ.setdefault("LOCALCALL_THREADS", "1")

    ceiling = cpu_ceiling()
    single, ray = Single(), OnRay()
    runs: dict[str, list[tuple[dict, dict]]] = {"single": [], "ray-1": [], "ray-2": []}
    try:
        for _ in range(args.rounds):
            for side in runs:
                if side != "single":
                    ray.scale(int(side[-1]))
                url = single.url if side == "single" else ray.url
                load(url, 1, 2, 4)  # warm up: the grammar, the prompt cache of a new replica, connections
                concurrent_run = load(url, args.clients, args.requests, args.tokens)
                one_client = load(url, 1, max(4, args.requests // 4), args.tokens)
                runs[side].append((concurrent_run, one_client))
    finally:
        ray.stop()
        single.stop()

    figures = {side: {key: {metric: statistics.median(r[i][metric] for r in rs) for metric in METRICS}
                      | {"per_replica": [r[i]["per_replica"] for r in rs]}
                      for i, key in enumerate(("concurrent", "one_client"))} for side, rs in runs.items()}
    base = figures["single"]
    print(f"threads per server/replica: {os.environ['LOCALCALL_THREADS']}; {args.rounds} rounds, medians; "
          f"{args.requests} requests x {args.tokens} tokens from {args.clients} clients, then one client")
    print(f"CPU ceiling: two busy processes do x{ceiling:.2f} of one on this machine now")
    for side, f in figures.items():
        c, o = f["concurrent"], f["one_client"]
        print(f"{side:7} {args.clients} clients {c['tokens_s']:6.1f} tok/s {c['requests_s']:5.2f} req/s "
              f"(x{c['tokens_s'] / base['concurrent']['tokens_s']:.2f} of single)   "
              f"1 client {o['median_latency_s'] * 1000:6.0f} ms/request "
              f"(x{o['median_latency_s'] / base['one_client']['median_latency_s']:.2f} of single)   "
              f"requests per replica {c['per_replica']}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"args": vars(args), "cpu_ceiling": ceiling, "figures": figures}, out, indent=2)


if __name__ == "__main__":
    main()
