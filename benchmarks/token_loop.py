"""Where a token's time goes: the backend's decode against the Python around it.

    python benchmarks/token_loop.py [--tokens 128] [--repeat 3]

One sequence on the default model, the way the server runs it (ChatModel.stream in a worker
thread), for plain text and for a forced tool call. Each phase is timed with perf_counter
around the real objects, so the figures include what the timing itself costs (~1 µs each):

- decode: the backend's append (llama_decode of the sampled and forced tokens, and reading
  the logits); the prompt's prefill is timed apart and left out of "total";
- mask / accept: the grammar hook (llguidance computes the mask; accept advances it and
  returns forced tokens);
- everything else is Python: the sampler, the UTF-8 decoder and stop strings, the family's
  parser, the result assembler, the events.

The figure that matters is "python share": the part of a token's wall time that is not the
backend's or the grammar engine's. At 1 client it is the gap between us and llama-server's
own loop (written in C++), so it is also the headroom there is to win.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from localcall.model import ChatModel

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 400},
                                                             "days": {"type": "integer"}}, "required": ["city", "days"]}}}
KINDS = {
    "text": dict(messages=[{"role": "user", "content": "Tell me a long story about a lighthouse keeper."}]),
    "tool_call": dict(messages=[{"role": "user", "content": "What's the weather in Oslo for the next days?"}],
                      tools=[WEATHER], tool_choice="required"),
}


class Timed:
    """Wraps an object and adds the time spent in some of its methods to `totals`."""

    def __init__(self, inner, totals: dict[str, float], methods: dict[str, str]):
        self._inner, self._totals = inner, totals
        for method, phase in methods.items():
            setattr(self, method, self._timed(getattr(inner, method), phase))

    def _timed(self, fn, phase):
        def call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._totals[phase] = self._totals.get(phase, 0.0) + time.perf_counter() - start
        return call

    def __getattr__(self, name):
        return getattr(self._inner, name)


def profile(model: ChatModel, kind: str, tokens: int, seed: int) -> dict[str, float]:
    """Milliseconds per generated token in each phase, for one generation."""
    totals: dict[str, float] = {}
    backend = model.backend
    model.backend = Timed(backend, totals, {"append": "decode", "prefill": "prefill"})
    constraint = model.engine.constraint

    def timed_constraint(node):
        return Timed(constraint(node), totals, {"mask": "mask", "accept": "accept"})

    model.engine.constraint = timed_constraint
    out: dict = {}

    def run():
        start = time.perf_counter()
        result = model.chat(**KINDS[kind], max_tokens=tokens, seed=seed, temperature=0.7)
        out.update(wall=time.perf_counter() - start, result=result)

    try:
        worker = threading.Thread(target=run)
        worker.start()
        worker.join()
    finally:
        model.backend = backend
        del model.engine.constraint
    n = out["result"].usage.completion_tokens
    figures = {phase: seconds * 1000 / n for phase, seconds in totals.items()}
    figures["total"] = (out["wall"] - totals["prefill"]) * 1000 / n
    figures["python"] = figures["total"] - sum(figures.get(p, 0.0) for p in ("decode", "mask", "accept"))
    figures["tokens"] = n
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    model = ChatModel.load(progress=False)
    for kind in KINDS:
        model.chat(**KINDS[kind], max_tokens=8, seed=0)  # warm up: grammar compile, caches
    print("ms per generated token (median of runs), prefill left out")
    for kind in KINDS:
        runs = []
        for i in range(args.repeat):
            model.backend.reset()  # the same prefill work in every run
            runs.append(profile(model, kind, args.tokens, seed=i))
        med = {k: statistics.median(r.get(k, 0.0) for r in runs) for k in runs[0]}
        print(f"{kind:>9}: total {med['total']:.2f}  decode {med['decode']:.2f}  mask {med.get('mask', 0):.3f}  "
              f"accept {med.get('accept', 0):.3f}  python {med['python']:.3f} "
              f"({med['python'] / med['total']:.0%} of the token)   [{med['tokens']:.0f} tokens]")


if __name__ == "__main__":
    main()
