#!/usr/bin/env python3
"""Summarises a matmul_bench JSON run of BM_Verify and BM_ReadBandwidth.

    build/bench/matmul_bench --benchmark_filter='ReadBandwidth|BM_Verify' \\
        --benchmark_repetitions=3 --benchmark_format=json > /tmp/v.json
    python3 bench/verify_ratios.py /tmp/v.json

Prints, per shape and thread count, the time at each t, time(t) / time(1),
and the weight bytes/s at t = 1 as a fraction of BM_ReadBandwidth at the same
thread count (median, or with --stat min the least disturbed, over repetitions;
of the read's prefetch variants the fastest, 2 MiB pages only).
"""
import argparse
import collections
import json
import statistics


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json")
    ap.add_argument("--cpu-time", action="store_true",
                    help="use the main thread's CPU time (1-thread runs on a busy machine)")
    ap.add_argument("--stat", choices=["median", "min"], default="median",
                    help="over repetitions: median, or min (least disturbed) time")
    args = ap.parse_args()
    pick = statistics.median if args.stat == "median" else min
    best = statistics.median if args.stat == "median" else max
    clock = "cpu_time" if args.cpu_time else "real_time"
    runs = json.load(open(args.json))["benchmarks"]
    times = collections.defaultdict(list)
    rates = collections.defaultdict(list)
    read = collections.defaultdict(list)
    for r in runs:
        if r.get("run_type") == "aggregate" or "error_occurred" in r:
            continue
        fields = dict(f.split(":") for f in r["run_name"].split("/")[1:] if ":" in f)
        if r["run_name"].startswith("BM_ReadBandwidth"):
            if fields.get("huge", "1") != "1":  # weights sit in 2 MiB pages (engine/huge_pages.h)
                continue
            # One list per prefetch distance; the best of them is the target.
            read[(int(fields["threads"]), fields.get("prefetch", "0"))].append(
                r["bytes_per_second"] * r["real_time"] / r[clock])
        elif r["run_name"].startswith("BM_Verify"):
            key = (int(fields["n"]), int(fields["k"]), int(fields["threads"]))
            times[key + (int(fields["t"]),)].append(r[clock])
            rates[key + (int(fields["t"]),)].append(r["bytes_per_second"] * r["real_time"] / r[clock])
    by_threads = collections.defaultdict(dict)
    for (th, prefetch), v in sorted(read.items()):
        by_threads[th][prefetch] = best(v)
    read = {}
    for th, variants in sorted(by_threads.items()):
        read[th] = max(variants.values())
        parts = ", ".join(f"prefetch {p} KiB {v / 1e9:.1f}" for p, v in sorted(variants.items(), key=lambda i: int(i[0])))
        print(f"read bandwidth, {th} thread(s): {read[th] / 1e9:.1f} GB/s (best of: {parts})")
    shapes = sorted({k[:3] for k in times})
    ts = sorted({k[3] for k in times})
    print("| n x k | threads | t=1 us | GB/s (x read bw) | " +
          " | ".join(f"t={t}/t=1" for t in ts if t > 1) + " |")
    print("|---|---|---|---|" + "---|" * (len(ts) - 1))
    for n, k, th in shapes:
        t1 = pick(times[(n, k, th, 1)])
        gbs = best(rates[(n, k, th, 1)]) / 1e9
        bw = read[th] / 1e9 if th in read else float("nan")
        cells = [f"{pick(times[(n, k, th, t)]) / t1:.2f}" for t in ts if t > 1]
        print(f"| {n} x {k} | {th} | {t1:.0f} | {gbs:.1f} ({gbs / bw:.2f}) | " +
              " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
