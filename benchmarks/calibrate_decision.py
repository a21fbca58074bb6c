"""What each answer_bias would have scored, read from results run with --decision at bias 0.

    python benchmarks/calibrate_decision.py benchmarks/out/tune/results/smollm2-135m_v1_.jsonl

Prints accuracy per category at each bias of the grid and the best one (the highest mean
over categories; the smallest such bias). For greedy runs (temperature=0): a turn answers
when its decision margin + bias > 0, to within ~0.1 logit (localcall.bench.decision).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from localcall.bench.decision import calibrate
from localcall.bench.runner import read_results
from localcall.bench.suites import load_suite, sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, nargs="+")
    parser.add_argument("--max-bias", type=float, default=6.0)
    parser.add_argument("--step", type=float, default=0.25)
    parser.add_argument("--suite", help="Keep only this suite's cases, sampled as the accuracy command does")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exclude-seed", type=int, action="append", default=[])
    args = parser.parse_args()
    records = [r for path in args.results for r in read_results(path)]
    if args.suite:
        wanted = {c.id for c in sample(load_suite(args.suite), args.limit, args.seed, tuple(args.exclude_seed))}
        records = [r for r in records if r.id in wanted]
    biases = [round(k * args.step, 4) for k in range(int(args.max_bias / args.step) + 1)]
    table = calibrate(records, biases)
    categories = [c for c in next(iter(table.values())) if c != "all"]
    print("margins (answer - call logit), median per category:")
    for c in categories:
        margins = [r.decision_margin for r in records if r.category == c and r.decision_margin is not None]
        print(f"  {c}: {statistics.median(margins):+.2f} over {len(margins)}" if margins else f"  {c}: none")
    print("| bias | " + " | ".join(categories) + " | mean |")
    print("|---" * (len(categories) + 2) + "|")
    for bias, row in table.items():
        print(f"| {bias:g} | " + " | ".join(f"{row[c]:.2f}" for c in categories) + f" | {row['all']:.3f} |")
    best = max(table, key=lambda b: (table[b]["all"], -b))
    print(f"best: answer_bias={best:g} (mean {table[best]['all']:.3f}; at 0: {table[0.0]['all']:.3f})")


if __name__ == "__main__":
    main()
