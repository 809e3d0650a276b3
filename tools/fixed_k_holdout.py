#!/usr/bin/env python3
"""The adaptive row of a `matspec bench` against the fixed k a user would have picked.

    matspec bench -m models/matlm-tiny --matformer-config-path matformer_configs/matlm-tiny.csv \\
        --slices half,quarter,eighth --draft-max 1,2,3,4,6 --adaptive \\
        --prompts bench/prompts/mixed-88.jsonl -n 64 --repeat 8 --out DIR
    python3 tools/fixed_k_holdout.py DIR/bench.json [more bench.json ...]

The bench's own comparison takes the best fixed k in hindsight: the fastest of
several fixed-k rows of the same run. When those rows are equally fast (a flat
speed-up curve) their measured maximum sits above every one of their true
speeds by about a standard deviation of the run-to-run noise, so the adaptive
row is compared with a figure no fixed k reaches. A user picks k before the
text is known, as `matspec tune` does. This script scores that choice on text
it was not chosen on: for each prompt category, k is the fixed k with the best
speed-up (geometric mean of the per-category medians) over the OTHER
categories, and the adaptive row's speed-up in the held-out category is divided
by that k's. Printed per draft: the hindsight ratio (adaptive over the best
fixed k of the whole set) and the held-out one (geometric mean over the
categories), with the k each category's choice fell on.

Needs a bench.json with at least two categories, fixed-k rows and an adaptive
row per draft (greedy or sampled alike; one temperature and vocabulary per
draft is assumed, the first seen is used).
"""
import argparse
import collections
import json
import math
import sys


def rows_by_draft(report):
    """draft -> {k or 'adaptive': row} for the speculative rows (first temperature / vocabulary seen)."""
    drafts = collections.OrderedDict()
    for row in report["rows"]:
        config = row["config"]
        if not config.get("speculative"):
            continue
        key = "adaptive" if config["adaptive"] else config["k"]
        drafts.setdefault(config["draft"], {}).setdefault(key, row)
    return drafts


def speedup(row, category=None):
    stats = row["overall"] if category is None else row["by_category"][category]
    return stats["speedup_median"]


def holdout(rows, categories):
    """(hindsight ratio, held-out geometric-mean ratio, chosen k per category) for one draft."""
    fixed = [k for k in rows if k != "adaptive"]
    best = max(fixed, key=lambda k: speedup(rows[k]))
    hindsight = speedup(rows["adaptive"]) / speedup(rows[best])
    logs, chosen = [], []
    for held in range(len(categories)):
        others = [c for c in range(len(categories)) if c != held]
        k = max(fixed, key=lambda k: sum(math.log(speedup(rows[k], c)) for c in others))
        chosen.append(k)
        logs.append(math.log(speedup(rows["adaptive"], held) / speedup(rows[k], held)))
    return hindsight, math.exp(sum(logs) / len(logs)), chosen


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+", help="bench.json files (matspec bench --format json or --out DIR)")
    args = parser.parse_args()
    status = 0
    for path in args.reports:
        try:
            with open(path) as f:
                report = json.load(f)
            categories = report["header"]["categories"]
            drafts = rows_by_draft(report)
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"{path}: not a matspec bench JSON report ({e})", file=sys.stderr)
            status = 1
            continue
        if len(categories) < 2:
            print(f"{path}: needs at least two prompt categories, has {len(categories)}", file=sys.stderr)
            status = 1
            continue
        header = report["header"]
        print(f"{path} (threads {header.get('threads')}, commit {header.get('commit')}, "
              f"{len(categories)} categories)")
        for draft, rows in drafts.items():
            if "adaptive" not in rows or len(rows) < 2:
                print(f"  {draft}: no adaptive row or no fixed-k row; skipped")
                continue
            hindsight, held_out, chosen = holdout(rows, categories)
            picks = ",".join(str(k) for k in chosen)
            print(f"  {draft}: adaptive / best fixed k in hindsight {hindsight:.3f}; "
                  f"/ fixed k chosen on the other categories {held_out:.3f} (k per category: {picks})")
    return status


if __name__ == "__main__":
    sys.exit(main())
