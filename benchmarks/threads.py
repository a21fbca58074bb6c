"""llama.cpp thread counts on this machine: decode and prefill tokens/s of the default model
with 1..N threads, on the cores as they are and with one core kept busy by a spinning process
of ours, with libgomp's default wait policy and with the passive one localcall sets. Each variant runs in a fresh subprocess (the
thread count and OpenMP's settings are fixed when a process loads llama.cpp); the variants are
interleaved, so drift hits each alike. Ratios, one run.

    python benchmarks/threads.py [--threads 1,2] [--tokens 64] [--repeat 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

PROMPT = ("<|im_start|>user\n" + "The lighthouse keepers of the northern coast kept logs of every storm. " * 12
          + "\nTell me a long story about them.<|im_end|>\n<|im_start|>assistant\n")

MEASURE = """
import json, sys
from localcall.bench.speed import decode_rate
from localcall.runtime.llamacpp import LlamaCppBackend
from localcall.runtime.registry import load_registry
from localcall.runtime.sources import resolve
registry = load_registry()
spec = registry.get("smollm2-135m")
backend = LlamaCppBackend(resolve(spec, registry, progress=False), n_ctx=1024)
tokens = backend.tokenize(sys.argv[1])
decode_rate(backend, tokens, 4)  # warm up
rate = decode_rate(backend, tokens, int(sys.argv[2]))
print(json.dumps({"threads": backend.threads, "prefill": rate.prefill_tok_s, "decode": rate.decode_tok_s}))
"""


def measure(threads: int, busy: bool, passive: bool, tokens: int) -> dict:
    # An empty value is no policy: libgomp's default (spin a while, then sleep). localcall sets
    # PASSIVE only where the variable is absent.
    env = {**os.environ, "LOCALCALL_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE" if passive else ""}
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        out = subprocess.run([sys.executable, "-c", MEASURE, PROMPT, str(tokens)], env=env, check=True,
                             capture_output=True, text=True, timeout=900).stdout
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    variants = [(t, busy, passive) for t in map(int, args.threads.split(","))
                for busy in (False, True) for passive in (False, True)]
    runs: dict[tuple, list[dict]] = {v: [] for v in variants}
    for _ in range(args.repeat):
        for v in variants:
            runs[v].append(measure(*v, args.tokens))
    base = statistics.median(r["decode"] for r in runs[variants[0]])
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at the end; "
          f"decode relative to {variants[0][0]} thread, cores as they are, OpenMP default wait")
    figures = []
    for (threads, busy, passive), rs in runs.items():
        decode = statistics.median(r["decode"] for r in rs)
        prefill = statistics.median(r["prefill"] for r in rs)
        figures.append({"threads": threads, "busy_core": busy, "omp_passive": passive,
                        "decode_tok_s": decode, "prefill_tok_s": prefill, "decode_ratio": decode / base})
        print(f"threads {threads}  {'+ a busy core' if busy else 'as they are  '}  "
              f"{'passive' if passive else 'default'}  decode {decode:7.1f} tok/s (x{decode / base:.2f})  "
              f"prefill {prefill:6.0f} tok/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
