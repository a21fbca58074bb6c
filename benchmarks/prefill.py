"""Prefill on the default model (llama.cpp backend): how its time grows with the prompt's
length, and what the chunk size that bounds a cancelled prefill costs. One run, ratios.

    LOCALCALL_THREADS=1 python benchmarks/prefill.py [--lengths 512,1024,2048,4096,8000]
        [--chunks 64,128,256,512] [--chunk-prompt 2048] [--repeat 2] [--json out.json]

- per length: seconds for a cold prefill, tokens/s, and the seconds per token of the last
  chunk (the marginal cost of one more token at that depth), normalised to the shortest;
- per chunk size: seconds for a cold prefill of the same prompt, normalised to 512 (the
  context's n_batch);
- flash attention on vs off (llama.cpp's "auto" picks on for the CPU) at every length.
Runs of every variant are interleaved, so machine drift hits each alike. Times are CPU
seconds of this process (llama.cpp's threads included): on cores shared with other work, wall
time measures the neighbours as much as the prefill; wall seconds are printed alongside.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from localcall.runtime.llamacpp import LlamaCppBackend
from localcall.runtime.registry import load_registry
from localcall.runtime.sources import resolve

TEXT = ("The history of the lighthouse keepers on the northern coast is long and full of storms; "
        "each winter the supply boats came less often, and the keepers wrote letters they could not send. ")


def prompt_of(backend: LlamaCppBackend, n: int) -> list[int]:
    unit = backend.tokenize(TEXT)
    return (unit * (n // len(unit) + 1))[:n]


def timed_prefill(backend: LlamaCppBackend, tokens: list[int], chunk: int) -> tuple[float, float, float]:
    """(CPU seconds for the whole cold prefill, CPU seconds per token of its last chunk, wall
    seconds); the prompt is longer than one chunk."""
    backend.reset()
    backend.prefill_chunk = chunk
    wall, start = time.perf_counter(), time.process_time()
    backend.prefill(tokens[:-chunk])
    middle = time.process_time()
    backend.append(tokens[-chunk:])
    end = time.process_time()
    return end - start, (end - middle) / chunk, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="512,1024,2048,4096,8000")
    parser.add_argument("--chunks", default="64,128,256,512")
    parser.add_argument("--chunk-prompt", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    lengths = [int(x) for x in args.lengths.split(",")]
    chunks = [int(x) for x in args.chunks.split(",")]

    registry = load_registry()
    spec = registry.get("smollm2-135m")
    path = resolve(spec, registry, progress=False)
    backends = {fa: LlamaCppBackend(path, n_ctx=max(lengths) + 16, n_batch=max(chunks), flash_attn=fa)
                for fa in (True, False)}
    backend = backends[True]
    print(f"threads {backend.threads}, n_ctx {backend.n_ctx}")
    for b in backends.values():
        timed_prefill(b, prompt_of(b, 256), 128)  # warm up

    by_length = {n: [] for n in lengths}
    no_flash = {n: [] for n in lengths}
    by_chunk = {c: [] for c in chunks}
    for _ in range(args.repeat):
        for n in lengths:
            by_length[n].append(timed_prefill(backend, prompt_of(backend, n), 128))
            no_flash[n].append(timed_prefill(backends[False], prompt_of(backend, n), 128)[0])
        for c in chunks:
            by_chunk[c].append(timed_prefill(backend, prompt_of(backend, args.chunk_prompt), c)[0])

    figures = {"threads": backend.threads, "lengths": {}, "chunks": {}, "flash_off_over_on": {}}
    base_n = lengths[0]
    base_total = statistics.median(r[0] for r in by_length[base_n])
    base_marginal = statistics.median(r[1] for r in by_length[base_n])
    print(f"{'tokens':>7} {'CPU s':>8} {'tok/CPU s':>9} {'x@' + str(base_n):>8} {'wall s':>8} "
          f"{'per-token CPU cost of the last chunk, x@' + str(base_n):>42}")
    for n in lengths:
        total = statistics.median(r[0] for r in by_length[n])
        marginal = statistics.median(r[1] for r in by_length[n])
        wall = statistics.median(r[2] for r in by_length[n])
        figures["lengths"][n] = {"cpu_seconds": total, "tok_per_cpu_s": n / total, "wall_seconds": wall,
                                 "last_chunk_cpu_s_per_token": marginal}
        print(f"{n:7d} {total:8.2f} {n / total:9.0f} {total / base_total:8.2f} {wall:8.2f} "
              f"{marginal / base_marginal:42.2f}")
    print("\nflash attention off: time relative to on")
    for n in lengths:
        ratio = statistics.median(no_flash[n]) / figures["lengths"][n]["cpu_seconds"]
        figures["flash_off_over_on"][n] = ratio
        print(f"{n:7d} x{ratio:.3f}")
    base_chunk = statistics.median(by_chunk[max(chunks)])
    print(f"\nchunk size, {args.chunk_prompt}-token prompt: CPU time relative to chunks of {max(chunks)}")
    for c in chunks:
        t = statistics.median(by_chunk[c])
        figures["chunks"][c] = {"cpu_seconds": t, "ratio": t / base_chunk}
        print(f"{c:7d} {t:8.2f} CPU s  x{t / base_chunk:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
