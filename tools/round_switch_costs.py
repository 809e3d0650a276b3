#!/usr/bin/env python3
"""What a round costs after a round of the other kind: medians from a `matspec bench --round-log`.

    matspec bench -m models/matlm-tiny --matformer-config-path matformer_configs/matlm-tiny.csv \\
        --slices eighth --draft-max 1 --adaptive --prompts bench/prompts/mixed-88.jsonl -n 64 \\
        --repeat 1 --threads 2 --round-log rounds.jsonl
    python3 tools/round_switch_costs.py rounds.jsonl

For every row (draft, k, adaptive) it groups the rounds by their own kind
(plain: nothing drafted; drafted d) and by what came before them in the same
generation (the first round of a generation; a plain round; a drafting round)
and prints the median draft, verification and wall microseconds of each group.
A plain round after a drafting one, or a drafting round after plain ones, that
takes clearly longer than one after its own kind pays a cold switch: on a
2-vCPU machine at 2 threads, 1.2-1.5x its time in a run of its own kind
(bench/RESULTS.md §10.2.9). `--draft-adaptive` times each k by the mean of
its rounds, cold ones included.
"""
import argparse
import collections
import statistics
import sys

from round_log import generations


def groups(path, min_rounds):
    by = collections.defaultdict(list)  # (row, kind, before) -> [(draft, verify, wall) us]
    for (draft, k, adaptive), generation in generations(path):
        row = (draft, k, "adaptive" if adaptive else "fixed")
        for i, r in enumerate(generation):
            before = "first" if i == 0 else ("after plain" if generation[i - 1]["drafted"] == 0 else "after drafting")
            kind = "plain" if r["drafted"] == 0 else f"drafted {r['drafted']}"
            by[(row, kind, before)].append(
                (1e6 * r["draft_seconds"], 1e6 * r["verify_seconds"], 1e6 * r["round_seconds"]))
    return {k: v for k, v in by.items() if len(v) >= min_rounds}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("round_log")
    p.add_argument("--min-rounds", type=int, default=10, help="leave out groups with fewer rounds")
    args = p.parse_args()
    rows = groups(args.round_log, args.min_rounds)
    if not rows:
        sys.exit(f"{args.round_log}: no group has {args.min_rounds} rounds")
    print("| row | round | before it | rounds | draft µs | verify µs | wall µs |")
    print("|---|---|---|---|---|---|---|")
    for (row, kind, before), v in sorted(rows.items()):
        med = [statistics.median(x[i] for x in v) for i in range(3)]
        print(f"| {row[0]} k={row[1]} {row[2]} | {kind} | {before} | {len(v)} | "
              f"{med[0]:.0f} | {med[1]:.0f} | {med[2]:.0f} |")


if __name__ == "__main__":
    main()
