"""Bounded load test of `matspec serve` (loopback only; stops by itself).

32 concurrent clients x 10 requests each (by default), mixed: completions and
chat, streaming and not, four drafts (the server's default slice, "eighth"
with k=2, "half" with k=6, and no speculation), greedy. Before the load, every
distinct request is sent once alone; under load every answer must equal its
solo answer (greedy output does not depend on batching or on the draft), and
no request may fail or go missing. Prints throughput (requests/s, generated
tokens/s, and the ratio to the same requests sent one at a time) and latency
percentiles (end to end; time to first token for streams), plus the
speculation counters from /metrics, as a Markdown row for bench/RESULTS.md.

Usage (from the repository root, after building):
  python3 bench/serve_load.py [--binary build/bin/matspec] [--clients 32] [--requests 10]
Exit status 1 if any request failed, went missing or differed from its solo answer.
Only the standard library is needed.
"""

import argparse
import http.client
import json
import re
import statistics
import subprocess
import sys
import threading
import time

PROMPTS = ["In the beginning", "The quick brown fox", "Once upon a time there was", "And God said",
           "To be or not to be", "A wise man once", "The LORD is my shepherd", "It was a dark and stormy night"]
DRAFTS = [None, {"slice": "eighth", "draft_max": 2}, {"slice": "half", "draft_max": 6}, {"enabled": False}]


def start_server(binary, args):
    cmd = [binary, "serve", "-m", "models/matlm-tiny", "--matformer-config-path", "matformer_configs/matlm-tiny.csv",
           "--matformer-slice-name", "quarter", "--port", "0", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        line = proc.stderr.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line or "")
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, int(m.group(1))
        if not line:
            break
    proc.kill()
    sys.exit("the server did not start")


def spec_of(client, i):
    """The request that client `client` sends as its i-th: (kind, stream, prompt, draft, max_tokens)."""
    n = client * 7 + i * 3
    kind = "chat" if n % 2 else "completions"
    stream = (client + i) % 2 == 0
    return kind, stream, PROMPTS[n % len(PROMPTS)], DRAFTS[(client + 2 * i) % len(DRAFTS)], 24 + 8 * (n % 5)


def body_of(kind, stream, prompt, draft, max_tokens):
    body = {"model": "matlm-tiny", "max_tokens": max_tokens, "temperature": 0, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    if draft is not None:
        body["speculative"] = draft
    if kind == "chat":
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    return body


def send(port, kind, body):
    """One request: {text, tokens, latency, ttft} (raises on any failure)."""
    path = "/v1/chat/completions" if kind == "chat" else "/v1/completions"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    t0 = time.perf_counter()
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:200]!r}")
        if not body["stream"]:
            answer = json.loads(resp.read())
            choice = answer["choices"][0]
            text = choice["message"]["content"] if kind == "chat" else choice["text"]
            return {"text": text, "tokens": answer["usage"]["completion_tokens"],
                    "latency": time.perf_counter() - t0, "ttft": None}
        text, usage, ttft, done = "", None, None, False
        for raw in resp:
            line = raw.decode().strip()
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                done = True
                break
            chunk = json.loads(line[6:])
            if "error" in chunk:
                raise RuntimeError(f"stream error: {chunk['error']}")
            usage = chunk.get("usage") or usage
            for c in chunk["choices"]:
                piece = c["delta"].get("content") if kind == "chat" else c["text"]
                if piece and ttft is None:
                    ttft = time.perf_counter() - t0
                text += piece or ""
        if not done or usage is None:
            raise RuntimeError("stream ended without usage and [DONE]")
        return {"text": text, "tokens": usage["completion_tokens"], "latency": time.perf_counter() - t0, "ttft": ttft}
    finally:
        conn.close()


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


def metric(port, name):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    m = re.search(r"^" + re.escape(name) + r"\{[^}]*\} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="build/bin/matspec")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=10)
    ap.add_argument("--max-sequences", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0, help="matspec -t (0 = all cores)")
    ap.add_argument("--deadline", type=float, default=900, help="seconds before the load phase gives up")
    a = ap.parse_args()
    proc, port = start_server(a.binary, ["--max-sequences", str(a.max_sequences),
                                         "--max-queue", str(a.clients), "-t", str(a.threads)])
    try:
        plan = {(c, i): spec_of(c, i) for c in range(a.clients) for i in range(a.requests)}
        # Solo answers: each distinct request once, alone (also the sequential baseline).
        solo = {}
        t0 = time.perf_counter()
        solo_tokens = 0
        for spec in {repr(s): s for s in plan.values()}.values():
            r = send(port, spec[0], body_of(*spec))
            solo[repr(spec)] = r["text"]
            solo_tokens += r["tokens"]
        solo_seconds = time.perf_counter() - t0
        distinct = len(solo)

        results, failures, lock = {}, [], threading.Lock()
        load_deadline = time.time() + a.deadline

        def client(c):
            for i in range(a.requests):
                if time.time() > load_deadline:
                    return
                spec = plan[(c, i)]
                try:
                    r = send(port, spec[0], body_of(*spec))
                    with lock:
                        results[(c, i)] = (spec, r)
                except Exception as e:  # noqa: BLE001 - every failure is counted and reported
                    with lock:
                        failures.append((c, i, repr(e)))

        before = {k: metric(port, k) for k in ("matspec:spec_decode_num_draft_tokens_total",
                                               "matspec:spec_decode_num_accepted_tokens_total")}
        threads = [threading.Thread(target=client, args=(c,)) for c in range(a.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        drafted = metric(port, "matspec:spec_decode_num_draft_tokens_total") - before[
            "matspec:spec_decode_num_draft_tokens_total"]
        accepted = metric(port, "matspec:spec_decode_num_accepted_tokens_total") - before[
            "matspec:spec_decode_num_accepted_tokens_total"]
    finally:
        proc.terminate()
        rc = proc.wait(timeout=120)

    expected = a.clients * a.requests
    lost = expected - len(results) - len(failures)
    mismatches = [(k, spec) for k, (spec, r) in results.items() if r["text"] != solo[repr(spec)]]
    latencies = [r["latency"] for _, r in results.values()]
    ttfts = [r["ttft"] for _, r in results.values() if r["ttft"] is not None]
    tokens = sum(r["tokens"] for _, r in results.values())
    solo_rate = solo_tokens / solo_seconds
    print(f"requests: {len(results)} of {expected} answered, {len(failures)} failed, {lost} missing, "
          f"{len(mismatches)} differ from their solo answer; server exit code after SIGTERM: {rc}")
    print(f"load: {a.clients} clients x {a.requests} requests in {wall:.2f} s: {len(results) / wall:.2f} req/s, "
          f"{tokens / wall:.0f} generated tok/s; solo (one at a time, {distinct} distinct requests): "
          f"{solo_rate:.0f} tok/s -> {tokens / wall / solo_rate:.2f}x")
    print(f"latency end to end: p50 {percentile(latencies, 50) * 1000:.0f} ms, p99 {percentile(latencies, 99) * 1000:.0f} ms; "
          f"time to first token (streams): p50 {percentile(ttfts, 50) * 1000:.0f} ms, "
          f"p99 {percentile(ttfts, 99) * 1000:.0f} ms")
    if drafted:
        print(f"speculation under load: drafted {drafted:.0f}, accepted {accepted:.0f} ({100 * accepted / drafted:.1f}%)")
    print("| clients x requests | max-sequences | req/s | gen tok/s | vs one at a time | p50 ms | p99 ms | "
          "TTFT p50 ms | TTFT p99 ms | failed/missing/differing |")
    print(f"| {a.clients} x {a.requests} | {a.max_sequences} | {len(results) / wall:.2f} | {tokens / wall:.0f} | "
          f"{tokens / wall / solo_rate:.2f}x | {percentile(latencies, 50) * 1000:.0f} | "
          f"{percentile(latencies, 99) * 1000:.0f} | {percentile(ttfts, 50) * 1000:.0f} | "
          f"{percentile(ttfts, 99) * 1000:.0f} | {len(failures)}/{lost}/{len(mismatches)} |")
    for f in failures[:5]:
        print("failure:", f)
    for m in mismatches[:5]:
        print("differs:", m)
    return 1 if failures or lost or mismatches or rc != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
