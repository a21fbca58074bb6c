"""Runtime speed on the default model, measured in one run and printed as ratios.

    python benchmarks/speed.py [--tokens 128] [--repeat 3] [--json out.json]

- our generation loop (llama.cpp backend) vs llama-cpp-python's own Llama.__call__ on the same
  prompt and token budget: prefill and decode tokens/s (target: ratio >= 0.95);
- the transformers backend vs model.generate on the same weights;
- what loading with use_extra_bufts=False (the crash fix) costs against the default load,
  each measured in a subprocess, since the default may crash on AMX/AVX-512 machines;
- load time and resident memory of the default model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import psutil

from localcall.bench.speed import decode_rate

PROMPT_WORDS = ("The history of the lighthouse keepers on the northern coast is long and full of storms. " * 24)
PROMPT = f"<|im_start|>user\n{PROMPT_WORDS}\nTell me a long story about them.<|im_end|>\n<|im_start|>assistant\n"


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def median(values):
    return statistics.median(values)


def ours(backend, tokens: list[int], n: int) -> tuple[float, float, int]:
    """(prefill tok/s, decode tok/s, tokens) for our loop, EOS suppressed so n tokens are made."""
    rate = decode_rate(backend, tokens, n)
    return rate.prefill_tok_s, rate.decode_tok_s, len(rate.tokens)


def llama_cpp_reference(path: str, n_ctx: int, text: str, n: int) -> tuple[float, float, int]:
    llm = _reference_llm(path, n_ctx)
    eos_bias = {t: -1e9 for t in (llm.token_eos(), 2, 0)}
    llm.reset()
    start = time.perf_counter()
    first = None
    count = 0
    for _ in llm(text, max_tokens=n, temperature=0, stream=True, logit_bias=eos_bias):
        count += 1
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    prompt_tokens = len(llm.tokenize(text.encode(), add_bos=False, special=True))
    return prompt_tokens / (first - start), (count - 1) / (end - first), count


_REFERENCE = {}


def _reference_llm(path, n_ctx):
    from llama_cpp import Llama

    if path not in _REFERENCE:
        # Llama() loads with the library's defaults; on this machine they do not crash.
        _REFERENCE[path] = Llama(model_path=path, n_ctx=n_ctx, n_threads=os.cpu_count(), verbose=False)
    return _REFERENCE[path]


def hf_reference(backend, tokens: list[int], n: int) -> float:
    """Decode tok/s of transformers' own model.generate (greedy, EOS suppressed)."""
    import torch

    ids = torch.tensor([tokens])
    suppress = sorted(backend.special.stop_ids)
    with torch.inference_mode():
        backend.model.generate(ids, max_new_tokens=2, do_sample=False, suppress_tokens=suppress)  # warm-up
        start = time.perf_counter()
        backend.model.generate(ids, max_new_tokens=1, do_sample=False, suppress_tokens=suppress)
        prefill = time.perf_counter() - start
        start = time.perf_counter()
        out = backend.model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False, suppress_tokens=suppress)
        total = time.perf_counter() - start
    made = out.shape[1] - len(tokens)
    return (made - 1) / (total - prefill)


def extra_bufts_child(flag: str, n: int) -> None:
    """Run in a subprocess (the default setting may crash): our decode speed with
    llama.cpp's extra buffer types on ("1") or off ("0"), printed as JSON."""
    backend = _default_backend(extra_buffer_types=flag == "1")
    tokens = backend.tokenize(PROMPT)
    rates = [ours(backend, tokens, n) for _ in range(2)]
    print(json.dumps({"prefill": median(r[0] for r in rates), "decode": median(r[1] for r in rates)}))


def _default_backend(extra_buffer_types: bool = False):
    from localcall.runtime.llamacpp import LlamaCppBackend
    from localcall.runtime.registry import load_registry
    from localcall.runtime.sources import resolve

    reg = load_registry()
    return LlamaCppBackend(resolve(reg.get(None), reg), n_ctx=2048, extra_buffer_types=extra_buffer_types)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--child-extra-bufts", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_extra_bufts is not None:
        extra_bufts_child(args.child_extra_bufts, args.tokens)
        return
    print(main_report(args.tokens, args.repeat, args.json))


def main_report(n: int, repeat: int, json_path: str | None) -> str:
    from localcall.runtime.hf import TransformersBackend
    from localcall.runtime.registry import load_registry
    from localcall.runtime.sources import resolve

    reg = load_registry()
    base_rss = rss_mb()
    start = time.perf_counter()
    backend = _default_backend()
    load_s = time.perf_counter() - start
    load_rss = rss_mb() - base_rss
    tokens = backend.tokenize(PROMPT)
    ours_runs = [ours(backend, tokens, n) for _ in range(repeat)]
    ref_runs = [llama_cpp_reference(backend.model_path, 2048, PROMPT, n) for _ in range(repeat)]
    figures = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "python": platform.python_version()},
        "tokens": n, "prompt_tokens": len(tokens),
        "llama.cpp": {
            "load_s": load_s, "load_rss_mb": load_rss,
            "prefill_tok_s": median(r[0] for r in ours_runs), "decode_tok_s": median(r[1] for r in ours_runs),
            "reference_prefill_tok_s": median(r[0] for r in ref_runs),
            "reference_decode_tok_s": median(r[1] for r in ref_runs),
        },
    }
    lc = figures["llama.cpp"]
    lc["prefill_ratio"] = lc["prefill_tok_s"] / lc["reference_prefill_tok_s"]
    lc["decode_ratio"] = lc["decode_tok_s"] / lc["reference_decode_tok_s"]

    extra = {}
    for flag in ("0", "1"):
        proc = subprocess.run([sys.executable, __file__, "--tokens", str(n), "--child-extra-bufts", flag],
                              capture_output=True, text=True, timeout=600)
        extra[flag] = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else {"crashed": proc.returncode}
    figures["extra_bufts"] = extra

    hf_spec = reg.get("smollm2-135m-hf")
    start = time.perf_counter()
    hf = TransformersBackend(resolve(hf_spec, reg, progress=False), n_ctx=2048)
    hf_load = time.perf_counter() - start
    hf_tokens = hf.tokenize(PROMPT)
    hf_ours = [ours(hf, hf_tokens, n) for _ in range(repeat)]
    hf_ref = [hf_reference(hf, hf_tokens, n) for _ in range(repeat)]
    figures["transformers"] = {"load_s": hf_load, "prefill_tok_s": median(r[0] for r in hf_ours),
                               "decode_tok_s": median(r[1] for r in hf_ours),
                               "reference_decode_tok_s": median(hf_ref)}
    figures["transformers"]["decode_ratio"] = figures["transformers"]["decode_tok_s"] / median(hf_ref)
    figures["rss_mb_total"] = rss_mb()
    if json_path:
        with open(json_path, "w") as f:
            json.dump(figures, f, indent=2)
    return render(figures)


def render(f: dict) -> str:
    lc, hf, ex = f["llama.cpp"], f["transformers"], f["extra_bufts"]
    lines = [
        f"default model, {f['prompt_tokens']}-token prompt, {f['tokens']} generated tokens, {f['machine']['cores']} threads",
        f"llama.cpp  load {lc['load_s']:.2f} s, +{lc['load_rss_mb']:.0f} MB resident",
        f"  prefill  ours {lc['prefill_tok_s']:.0f} tok/s  vs Llama.__call__ {lc['reference_prefill_tok_s']:.0f}  ratio {lc['prefill_ratio']:.2f}",
        f"  decode   ours {lc['decode_tok_s']:.0f} tok/s  vs Llama.__call__ {lc['reference_decode_tok_s']:.0f}  ratio {lc['decode_ratio']:.2f}",
    ]
    if "crashed" in ex["1"]:
        lines.append(f"  use_extra_bufts=True crashed here (exit {ex['1']['crashed']}); =False decodes at {ex['0']['decode']:.0f} tok/s")
    else:
        lines.append(f"  crash fix cost: decode {ex['0']['decode']:.0f} vs {ex['1']['decode']:.0f} tok/s with extra buffers "
                     f"(ratio {ex['0']['decode'] / ex['1']['decode']:.2f}); prefill ratio {ex['0']['prefill'] / ex['1']['prefill']:.2f}")
    lines += [
        f"transformers  load {hf['load_s']:.2f} s",
        f"  prefill  ours {hf['prefill_tok_s']:.0f} tok/s",
        f"  decode   ours {hf['decode_tok_s']:.1f} tok/s  vs model.generate {hf['reference_decode_tok_s']:.1f}  ratio {hf['decode_ratio']:.2f}",
        f"resident memory at the end: {f['rss_mb_total']:.0f} MB",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
