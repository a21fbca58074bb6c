"""What constrained decoding costs and saves, measured in one run and printed as ratios.

    python benchmarks/grammar.py [--tokens 128] [--engines llguidance,outlines] [--skip-server]

1. Decode tokens/s constrained vs unconstrained, same model, same prompt, same number of
   tokens, on the 49k (SmolLM2) and 262k (Gemma 3) vocabularies. Two grammars: free text
   (every token allowed, so the same tokens are generated: pure mask overhead) and a JSON
   string value (what a tool call's arguments cost). Target: ratio >= 0.95.
2. Grammar compile time per schema over every function schema BFCL ships: p50 / p99 / max.
3. Jump-forward: for a named tool call, how many tokens the grammar forced (evaluated in one
   batch at prefill speed) instead of sampling one decode step each.
4. Time to a complete named tool call (get_weather, "What's the weather in Tokyo?", warm) via
   `localcall serve` vs llama-cpp-python's own server (chatml-function-calling), both over
   HTTP with the openai client. Target: <= 0.5x its time.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

from localcall.bench.speed import WEATHER, decode_rate
from localcall.bench.speed import WEATHER_QUESTION as QUESTION


def overhead(name, backend, engine_name, n, repeat):
    from localcall.grammars import make_engine
    from localcall.grammars.spec import Seq, Lit, Text, json_node

    engine = make_engine(engine_name, backend)
    prompt = backend.tokenize("<|im_start|>user\nTell me a long story about a lighthouse.<|im_end|>\n"
                              "<|im_start|>assistant\n" if "smol" in name else
                              "<start_of_turn>user\nTell me a long story about a lighthouse.<end_of_turn>\n"
                              "<start_of_turn>model\n")
    rows = []
    grammars = {"free text": Text(), "JSON string": Seq((Lit('{"story": "'), Text()))}
    if engine_name == "outlines":
        grammars = {"JSON string": json_node({"type": "object", "properties": {"story": {"type": "string"}}})}
    for label, node in grammars.items():
        base = [decode_rate(backend, prompt, n) for _ in range(repeat)]
        cons = [decode_rate(backend, prompt, n, engine.constraint(node)) for _ in range(repeat)]
        rows.append({"vocab": name, "engine": engine_name, "grammar": label,
                     "unconstrained_tok_s": statistics.median(r.decode_tok_s for r in base),
                     "constrained_tok_s": statistics.median(r.decode_tok_s for r in cons),
                     "grammar_ms_per_token": statistics.median(r.grammar_ms_per_token for r in cons),
                     "same_tokens": base[0].tokens == cons[0].tokens})
    return rows


def compile_times(backend, engine_name, limit=None):
    """Compile time of every unique BFCL function schema (each compiled once: a cache miss)."""
    from localcall.bench.bfcl import iter_function_schemas, normalize_function
    from localcall.grammars import make_engine
    from localcall.grammars.schema import SchemaError
    from localcall.grammars.spec import json_node

    engine = make_engine(engine_name, backend)
    unique = {json.dumps(i.function, sort_keys=True): i.function for i in iter_function_schemas()}
    functions = list(unique.values())[:limit] if limit else list(unique.values())
    times, rejected, reasons = [], 0, {}
    for function in functions:
        try:
            tool, _ = normalize_function(function)
            node = json_node(tool["function"]["parameters"])
            start = time.perf_counter()
            engine.compile(node)
            times.append(time.perf_counter() - start)
        except (SchemaError, ValueError) as exc:
            rejected += 1
            key = str(exc).split(":")[-1].strip()[:60]
            reasons[key] = reasons.get(key, 0) + 1
    times.sort()
    pick = lambda q: 1000 * times[min(len(times) - 1, int(q * len(times)))]  # noqa: E731
    return {"engine": engine_name, "schemas": len(times) + rejected, "compiled": len(times), "rejected": rejected,
            "p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": 1000 * times[-1],
            "top_rejections": sorted(reasons.items(), key=lambda kv: -kv[1])[:5]}


def jump_forward(model):
    result = model.chat([{"role": "user", "content": QUESTION}], tools=[WEATHER],
                        tool_choice={"type": "function", "function": {"name": "get_weather"}}, temperature=0)
    u = result.usage
    return {"completion_tokens": u.completion_tokens, "forced_tokens": u.forced_tokens,
            "decode_steps": u.completion_tokens - u.forced_tokens,
            "call": result.tool_calls[0].arguments if result.tool_calls else None}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port, proc, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("server did not start")


def time_to_tool_call(model_path, repeat):
    """Median seconds to a complete named call, our server vs llama-cpp-python's, alternating."""
    from openai import OpenAI

    ours_port, theirs_port = _free_port(), _free_port()
    env = {**os.environ, "LOCALCALL_LOG_LEVEL": "warning"}
    ours = subprocess.Popen([sys.executable, "-m", "localcall.cli", "serve", "--port", str(ours_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    theirs = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", model_path,
                               "--chat_format", "chatml-function-calling", "--port", str(theirs_port),
                               "--n_threads", str(os.cpu_count()), "--verbose", "False"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(ours_port, ours)
        _wait(theirs_port, theirs)
        clients = {"localcall": (OpenAI(base_url=f"http://127.0.0.1:{ours_port}/v1", api_key="x"), "smollm2-135m"),
                   "llama_cpp.server": (OpenAI(base_url=f"http://127.0.0.1:{theirs_port}/v1", api_key="x"), "default")}
        times = {k: [] for k in clients}
        calls = {}
        for i in range(repeat + 1):
            for name, (client, model) in clients.items():
                start = time.perf_counter()
                r = client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": QUESTION}], tools=[WEATHER],
                    tool_choice={"type": "function", "function": {"name": "get_weather"}}, temperature=0, max_tokens=64)
                elapsed = time.perf_counter() - start
                if i:  # the first round warms caches
                    times[name].append(elapsed)
                call = r.choices[0].message.tool_calls
                calls[name] = call[0].function.arguments if call else r.choices[0].message.content
        return {name: statistics.median(v) for name, v in times.items()}, calls
    finally:
        for proc in (ours, theirs):
            proc.terminate()
            proc.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--engines", default="llguidance,outlines")
    ap.add_argument("--compile-limit", type=int, default=None, help="only the first N BFCL schemas")
    ap.add_argument("--skip-server", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()

    from localcall.model import ChatModel
    from localcall.runtime.registry import load_registry

    reg = load_registry()
    smol = ChatModel.load(None, registry=reg, progress=False)
    gemma = ChatModel.load("gemma3-270m", registry=reg, progress=False)
    figures = {"overhead": [], "compile": [], "jump_forward": None, "time_to_call": None}
    for engine in args.engines.split(","):
        for name, model in (("smollm2 49k", smol), ("gemma3 262k", gemma)):
            figures["overhead"] += overhead(name, model.backend, engine, args.tokens, args.repeat)
        # outlines builds a token index per schema over the whole vocabulary: a sample of it.
        limit = args.compile_limit or (150 if engine == "outlines" else None)
        figures["compile"].append(compile_times(smol.backend, engine, limit))
    figures["jump_forward"] = jump_forward(smol)
    if not args.skip_server:
        figures["time_to_call"] = time_to_tool_call(smol.backend.model_path, args.repeat)

    print("decode tok/s, constrained vs unconstrained (same prompt, same token count):")
    for r in figures["overhead"]:
        print(f"  {r['vocab']:<12} {r['engine']:<10} {r['grammar']:<12} {r['constrained_tok_s']:7.1f} vs "
              f"{r['unconstrained_tok_s']:7.1f}  ratio {r['constrained_tok_s'] / r['unconstrained_tok_s']:.3f}  "
              f"grammar {r['grammar_ms_per_token']:.3f} ms/token  same tokens: {r['same_tokens']}")
    print("grammar compile per BFCL function schema:")
    for c in figures["compile"]:
        print(f"  {c['engine']:<10} {c['compiled']}/{c['schemas']} compiled, p50 {c['p50_ms']:.2f} ms, "
              f"p99 {c['p99_ms']:.2f} ms, max {c['max_ms']:.1f} ms; rejected {c['rejected']} {c['top_rejections']}")
    jf = figures["jump_forward"]
    print(f"jump-forward on a named get_weather call: {jf['forced_tokens']} of {jf['completion_tokens']} tokens forced "
          f"-> {jf['decode_steps']} decode steps instead of {jf['completion_tokens']}  ({jf['call']})")
    if figures["time_to_call"]:
        times, calls = figures["time_to_call"]
        ratio = times["localcall"] / times["llama_cpp.server"]
        print(f"time to a complete named tool call over HTTP: localcall {times['localcall']:.3f} s vs "
              f"llama_cpp.server {times['llama_cpp.server']:.3f} s  ratio {ratio:.2f}")
        for name, call in calls.items():
            print(f"  {name}: {call}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2, default=str)


if __name__ == "__main__":
    main()
