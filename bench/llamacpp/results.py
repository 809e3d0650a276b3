#!/usr/bin/env python3
"""Helpers of bench/compare_llamacpp.sh (standard library only).

  results.py field FILE KEY [KEY...]  prints one number from a JSON file: a matspec
      `generate --json` object (keys looked up in "stats" first, then at the top), or
      llama-bench `-o json` output (a list: its one entry). Fails unless every value
      is a finite number > 0 (or >= 0 with --allow-zero); several keys print one line.
  results.py tokens FILE              prints the "tokens" list of a matspec JSON object.
  results.py prompt-ids N             prints N comma-separated token ids: 1 (BOS), then
      a fixed pseudo-random sequence in [3, 4000), valid for any vocabulary >= 4096.
  results.py summary TSV              prints the Markdown table of the pairs in TSV
      (columns: case, threads, pair, unit, base tool, base value, new tool, new value).
      The ratio of a pair is new/base speed: for unit "tok/s" new/base, for unit "s"
      (wall time) base/new, so a ratio > 1 always means the new tool is faster.
"""

import json
import math
import statistics
import sys


def fail(msg):
    sys.exit(f"results.py: {msg}")


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{path}: not a JSON document ({e})")


def field(path, keys, allow_zero):
    doc = load(path)
    if isinstance(doc, list):
        if len(doc) != 1:
            fail(f"{path}: expected one llama-bench result, found {len(doc)}")
        doc = doc[0]
    out = []
    for key in keys:
        value = None
        for scope in (doc.get("stats", {}), doc):
            if isinstance(scope, dict) and key in scope:
                value = scope[key]
                break
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            fail(f"{path}: {key} is {value!r}, not a number")
        if value < 0 or (value == 0 and not allow_zero):
            fail(f"{path}: {key} is {value}, expected > 0")
        out.append(repr(value) if isinstance(value, float) else str(value))
    print(" ".join(out))


def tokens(path):
    doc = load(path)
    if not isinstance(doc.get("tokens"), list):
        fail(f"{path}: no tokens list")
    print(",".join(str(t) for t in doc["tokens"]))


def prompt_ids(n):
    ids, x = [1], 12345
    while len(ids) < n:
        x = (x * 1103515245 + 12345) % (1 << 31)
        ids.append(3 + x % 3997)
    print(",".join(str(i) for i in ids[:n]))


def fmt(x):
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def summary(path):
    groups = {}
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 8:
                fail(f"{path}:{line_no}: expected 8 columns, found {len(cols)}")
            case, threads, _, unit, base_tool, base, new_tool, new = cols
            base, new = float(base), float(new)
            if not (base > 0 and new > 0 and math.isfinite(base) and math.isfinite(new)):
                fail(f"{path}:{line_no}: values must be finite and > 0")
            ratio = new / base if unit == "tok/s" else base / new
            groups.setdefault((case, threads, unit, base_tool, new_tool), []).append((base, new, ratio))
    print("| case | threads | pairs | baseline | baseline median | matspec run | matspec median | "
          "ratio (median) | ratio min–max |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (case, threads, unit, base_tool, new_tool), rows in groups.items():
        ratios = [r for _, _, r in rows]
        print(f"| {case} | {threads} | {len(rows)} | {base_tool} | "
              f"{fmt(statistics.median(b for b, _, _ in rows))} {unit} | {new_tool} | "
              f"{fmt(statistics.median(n for _, n, _ in rows))} {unit} | "
              f"**{statistics.median(ratios):.2f}×** | {min(ratios):.2f}–{max(ratios):.2f} |")


def main():
    args = sys.argv[1:]
    if len(args) >= 3 and args[0] == "field":
        allow_zero = "--allow-zero" in args
        keys = [a for a in args[2:] if a != "--allow-zero"]
        field(args[1], keys, allow_zero)
    elif len(args) == 2 and args[0] == "tokens":
        tokens(args[1])
    elif len(args) == 2 and args[0] == "prompt-ids":
        prompt_ids(int(args[1]))
    elif len(args) == 2 and args[0] == "summary":
        summary(args[1])
    else:
        fail("usage: results.py field FILE KEY... | tokens FILE | prompt-ids N | summary TSV")


if __name__ == "__main__":
    main()
