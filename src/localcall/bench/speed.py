"""`localcall bench speed`: how fast each model runs here, written as JSON and printed as ratios.

Per model, in one run: load time and resident memory, prefill and decode tokens/s of our loop,
time to first token and time to a complete (named) tool call through ChatModel, and decode
tokens/s constrained vs unconstrained (same prompt, same token count). benchmarks/*.py use the
same measuring functions for their side-by-side comparisons with other runtimes.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {
        "location": {"type": "string", "description": "City name, e.g. Tokyo"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["location"]}}}
WEATHER_QUESTION = "What's the weather in Tokyo?"
STORY = "Tell me a long story about the lighthouse keepers of the northern coast."


@dataclass
class Rate:
    prefill_tok_s: float
    decode_tok_s: float
    tokens: list[int]
    grammar_ms_per_token: float


class EndlessHook:
    """Keeps the model from ending its turn, so every run makes exactly n tokens, and adds up
    the time spent inside an optional inner (grammar) hook."""

    def __init__(self, stop_ids, inner=None):
        self.stop_ids, self.inner, self.seconds = sorted(stop_ids), inner, 0.0

    def mask(self, logits):
        start = time.perf_counter()
        if self.inner is not None:
            self.inner.mask(logits)
        logits[self.stop_ids] = -float("inf")
        self.seconds += time.perf_counter() - start

    def accept(self, token):
        start = time.perf_counter()
        forced = self.inner.accept(token) if self.inner is not None else []
        self.seconds += time.perf_counter() - start
        return forced

    def done(self):
        return False


def decode_rate(backend, prompt: list[int], n: int, grammar_hook=None) -> Rate:
    """Greedy generation of exactly n tokens after a cold prefill of `prompt`."""
    from ..runtime.generate import Generation
    from ..runtime.sampling import SamplingParams

    hook = EndlessHook(backend.special.stop_ids, grammar_hook)
    backend.reset()
    gen = Generation(backend, prompt, SamplingParams(temperature=0, max_tokens=n), hook=hook)
    start = time.perf_counter()
    first = None
    tokens = []
    for tok in gen:
        tokens.append(tok.token)
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    return Rate(len(prompt) / (first - start), (len(tokens) - 1) / max(end - first, 1e-9), tokens,
                1000 * hook.seconds / max(1, len(tokens)))


def chat_prompt(model, text: str) -> list[int]:
    rendered = model.format.render([{"role": "user", "content": text}], None, template=model.template,
                                   special=model.backend.special)
    return model.backend.tokenize(rendered, add_bos=model.backend.adds_bos)


def time_to_first_token(model) -> float:
    from ..messages import ContentDelta

    model.backend.reset()
    start = time.perf_counter()
    stream = model.stream([{"role": "user", "content": WEATHER_QUESTION}], temperature=0, max_tokens=16)
    try:
        for event in stream:
            if isinstance(event, ContentDelta):
                return time.perf_counter() - start
    finally:
        stream.close()
    return float("nan")


def time_to_tool_call(model, repeat: int) -> tuple[float, dict]:
    """Median seconds to a complete named get_weather call with a warm cache; the last usage."""
    times, usage = [], None
    for i in range(repeat + 1):
        start = time.perf_counter()
        result = model.chat([{"role": "user", "content": WEATHER_QUESTION}], tools=[WEATHER], temperature=0,
                            tool_choice={"type": "function", "function": {"name": "get_weather"}})
        if i:  # the first one warms the prompt cache and the grammar cache
            times.append(time.perf_counter() - start)
        usage = asdict(result.usage)
    return statistics.median(times), usage


def constrained_ratio(model, n: int, repeat: int) -> dict:
    """Decode tok/s with a grammar that admits every text token vs none: the same tokens come
    out, so the difference is the mask's cost."""
    from ..grammars.spec import Text

    prompt = chat_prompt(model, STORY)
    free = [decode_rate(model.backend, prompt, n) for _ in range(repeat)]
    constrained = [decode_rate(model.backend, prompt, n, model.engine.constraint(Text())) for _ in range(repeat)]
    base = statistics.median(r.decode_tok_s for r in free)
    cons = statistics.median(r.decode_tok_s for r in constrained)
    return {"unconstrained_tok_s": base, "constrained_tok_s": cons, "ratio": cons / base,
            "grammar_ms_per_token": statistics.median(r.grammar_ms_per_token for r in constrained),
            "same_tokens": free[0].tokens == constrained[0].tokens}


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def machine() -> dict:
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def measure(name: str, n: int, repeat: int) -> dict:
    from ..model import ChatModel

    before = rss_mb()
    start = time.perf_counter()
    model = ChatModel.load(name, progress=False)
    load_s = time.perf_counter() - start
    rate = [decode_rate(model.backend, chat_prompt(model, STORY), n) for _ in range(repeat)]
    call_s, usage = time_to_tool_call(model, repeat)
    return {
        "model": model.name, "backend": model.backend.name, "format": model.format_name, "engine": model.engine_name,
        "metadata": model.backend.metadata(), "load_s": load_s, "rss_mb": rss_mb() - before,
        "prefill_tok_s": statistics.median(r.prefill_tok_s for r in rate),
        "decode_tok_s": statistics.median(r.decode_tok_s for r in rate),
        "time_to_first_token_s": time_to_first_token(model),
        "time_to_tool_call_s": call_s, "tool_call_usage": usage,
        "constrained": constrained_ratio(model, n, repeat),
    }


def run(models: list[str], *, tokens: int, repeat: int, out: Path | None) -> dict:
    report = {"machine": machine(), "tokens": tokens, "repeat": repeat, "models": [measure(m, tokens, repeat) for m in models]}
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
    return report


def render(report: dict) -> str:
    m = report["machine"]
    lines = [f"{m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; {report['tokens']} tokens, median of {report['repeat']}"]
    for r in report["models"]:
        c = r["constrained"]
        u = r["tool_call_usage"]
        lines += [
            f"{r['model']} ({r['backend']}, {r['format']}, {r['engine']}): load {r['load_s']:.2f} s, +{r['rss_mb']:.0f} MB",
            f"  prefill {r['prefill_tok_s']:.0f} tok/s, decode {r['decode_tok_s']:.1f} tok/s, "
            f"first token {1000 * r['time_to_first_token_s']:.0f} ms",
            f"  complete named tool call {1000 * r['time_to_tool_call_s']:.0f} ms "
            f"({u['completion_tokens']} tokens, {u['forced_tokens']} forced, {u['cached_tokens']} prompt tokens reused)",
            f"  constrained/unconstrained decode {c['ratio']:.3f} ({c['grammar_ms_per_token']:.3f} ms grammar per token, "
            f"same tokens: {c['same_tokens']})",
        ]
    return "\n".join(lines)
