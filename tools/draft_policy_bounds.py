#!/usr/bin/env python3
"""How much could any draft-length policy gain? Bounds from a `matspec bench --round-log`.

    matspec bench -m models/matlm-tiny --matformer-config-path matformer_configs/matlm-tiny.csv \\
        --slices quarter --draft-max 1,2,3,4,6,8 --prompts bench/prompts/mixed-88.jsonl -n 64 \\
        --repeat 1 --round-log rounds.jsonl
    python3 tools/draft_policy_bounds.py rounds.jsonl

Greedy rounds only (temp 0). For greedy decoding whether the draft's token at a
position matches the verifier's does not depend on the policy: the draft sees
the same committed prefix whatever k was. So the rounds of the largest fixed k
give, for nearly every generated position, how sure the draft was (its logit
gap, top-1 minus top-2 logit, where the log has it; else its top-1
probability) and whether its token was kept (a position after a fully accepted round is the
bonus token and unobserved; it counts as kept). Replaying those positions with
a round time per k (the mean wall time of that k's rounds, interpolated
between the measured k) gives the speed-up of any policy relative to plain
decoding:

  fixed k       every round drafts k (checks the replay against the measured rows)
  context       k chosen by whether the previous round was fully accepted (best pair)
  confidence    draft while the product of calibrated acceptances stays above a
                threshold (best threshold and cap): what a draft-confidence stop can do
  oracle        each round drafts exactly the tokens that will be kept: an upper bound

The best fixed, context and confidence rows are chosen in hindsight on the same
data, so they overstate what an online policy gets; the oracle bounds every policy.
"""
import argparse
import collections
import sys

from round_log import generations


def load(path):
    rows = collections.defaultdict(list)  # (draft, k, adaptive) -> [generation: [round, ...]]
    greedy_all_vocab = lambda r: r.get("temp", 0) == 0 and r.get("pass", 0) >= 0 and r.get("vocab", 0) == 0
    for row, generation in generations(path, greedy_all_vocab):
        rows[row].append(generation)
    return rows


def round_times(rows, draft):
    """Mean wall seconds of a round that drafted k, per measured k (k = 0 from the plain row)."""
    times = {}
    for (d, k, adaptive), gens in rows.items():
        if adaptive or (d != draft and d != "(plain)"):
            continue
        rounds = [r for g in gens for r in g if r["drafted"] == k]
        if rounds:
            times[k] = sum(r["round_seconds"] for r in rounds) / len(rounds)
    return times


def interpolate(times, k_max):
    known = sorted(times)
    out = {}
    for k in range(k_max + 1):
        if k in times:
            out[k] = times[k]
            continue
        lo = max((x for x in known if x < k), default=None)
        hi = min((x for x in known if x > k), default=None)
        if lo is None or hi is None:
            return None
        out[k] = times[lo] + (times[hi] - times[lo]) * (k - lo) / (hi - lo)
    return out


def positions(gens, k):
    """Per generation: [(confidence or None, kept 1/0)] for each generated position."""
    seqs = []
    for g in gens:
        s = []
        for r in g:
            a, d, ps = r["accepted"], r["drafted"], r.get("draft_logit_gap") or r["draft_top_p"]
            for i in range(min(d, a + 1)):
                s.append((ps[i] if i < len(ps) else None, 1 if i < a else 0))
            if a == d:
                s.append((None, 1))  # the bonus token: not drafted, counted as kept
        seqs.append(s)
    return seqs


# Bucket edges of the confidence: logit gaps (nats; as --draft-adaptive buckets
# them) or top-1 probabilities (logs without gaps).
GAP_EDGES = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, float("inf"))
TOP_P_EDGES = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.01)


def calibrate(seqs, edges):
    counts = collections.Counter()
    for s in seqs:
        for p, kept in s:
            if p is None:
                continue
            b = next(i for i, e in enumerate(edges) if p < e)
            counts[b, "n"] += 1
            counts[b, "kept"] += kept
    rates = [counts[b, "kept"] / counts[b, "n"] if counts[b, "n"] else 1.0 for b in range(len(edges))]
    return lambda p: rates[next(i for i, e in enumerate(edges) if p < e)] if p is not None else 1.0


def replay(seqs, time, choose, n):
    """choose(prev, position_iter) -> number of tokens drafted; returns tokens per second."""
    tokens = seconds = 0.0
    for s in seqs:
        pos, prev = 0, None
        end = min(n, len(s))
        while pos < end:
            k = choose(prev, s, pos)
            a = 0
            while a < k and pos + a < len(s) and s[pos + a][1] == 1:
                a += 1
            seconds += time[k]
            tokens += a + 1
            prev = (k, a)
            pos += a + 1
    return tokens / seconds


def bounds(rows, draft, n):
    ks = sorted(k for (d, k, adaptive) in rows if d == draft and not adaptive)
    if not ks:
        return None
    k_max = ks[-1]
    time = interpolate(round_times(rows, draft), k_max)
    if time is None or 0 not in time:
        return None
    seqs = positions(rows[(draft, k_max, 0)], k_max)
    plain = replay(seqs, time, lambda prev, s, pos: 0, n)
    out = []
    measured = {}
    for k in ks:
        gens = rows[(draft, k, 0)]
        secs = sum(r["round_seconds"] for g in gens for r in g)
        toks = sum(r["accepted"] + 1 for g in gens for r in g)
        measured[k] = toks / secs if secs > 0 else 0.0
    plain_gens = rows.get(("(plain)", 0, 0), [])
    plain_secs = sum(r["round_seconds"] for g in plain_gens for r in g)
    plain_measured = len([r for g in plain_gens for r in g]) / plain_secs if plain_secs > 0 else 0.0

    for k in range(1, k_max + 1):
        rate = replay(seqs, time, lambda prev, s, pos, k=k: k, n)
        m = measured.get(k)
        out.append((f"fixed k={k}", rate / plain, m / plain_measured if m and plain_measured else None))
    best_fixed = max(out, key=lambda r: r[1])

    best_ctx = (None, 0.0)
    for kf in range(0, k_max + 1):
        for kp in range(0, k_max + 1):
            pick = lambda prev, s, pos, kf=kf, kp=kp: kf if prev is None or prev[1] == prev[0] else kp
            rate = replay(seqs, time, pick, n) / plain
            if rate > best_ctx[1]:
                best_ctx = ((kf, kp), rate)

    has_gaps = any(r.get("draft_logit_gap") for g in rows[(draft, k_max, 0)] for r in g)
    acceptance = calibrate(seqs, GAP_EDGES if has_gaps else TOP_P_EDGES)
    best_conf = (None, 0.0)
    for threshold in (0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
        for cap in range(1, k_max + 1):
            def pick(prev, s, pos, threshold=threshold, cap=cap):
                k, alive = 0, 1.0
                while k < cap and pos + k < len(s):
                    alive *= acceptance(s[pos + k][0])
                    k += 1
                    if alive < threshold:
                        break
                return k
            rate = replay(seqs, time, pick, n) / plain
            if rate > best_conf[1]:
                best_conf = ((threshold, cap), rate)

    def oracle(prev, s, pos):
        run = 0
        while run < k_max and pos + run < len(s) and s[pos + run][1] == 1:
            run += 1
        return max(range(run + 1), key=lambda k: (k + 1) / time[k])
    oracle_rate = replay(seqs, time, oracle, n) / plain

    out.append((f"best fixed: {best_fixed[0]}", best_fixed[1], None))
    out.append((f"context (k after a full round, after a partial one) = {best_ctx[0]}", best_ctx[1], None))
    out.append((f"confidence (threshold, cap) = {best_conf[0]}", best_conf[1], None))
    out.append(("oracle", oracle_rate, None))
    return out, len(seqs), time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("round_log")
    ap.add_argument("-n", type=int, default=10**9, help="tokens per generation to replay (default: all)")
    args = ap.parse_args()
    rows = load(args.round_log)
    drafts = sorted({d for (d, k, a) in rows if d != "(plain)"})
    if not drafts or ("(plain)", 0, 0) not in rows:
        sys.exit(f"{args.round_log}: needs greedy rounds of plain decoding and of at least one fixed-k draft "
                 "(matspec bench --round-log)")
    for draft in drafts:
        result = bounds(rows, draft, args.n)
        if result is None:
            print(f"## {draft}: no fixed-k rows with plain timing to replay\n")
            continue
        table, generations, time = result
        print(f"## {draft} ({generations} generations; round seconds per k: "
              + ", ".join(f"{k}: {t * 1e6:.0f} us" for k, t in sorted(time.items())) + ")\n")
        print("| policy | replayed speed-up vs plain | measured |")
        print("|---|---|---|")
        for name, rate, measured in table:
            print(f"| {name} | {rate:.3f}x | " + (f"{measured:.3f}x" if measured else "") + " |")
        print()


if __name__ == "__main__":
    main()
