#!/usr/bin/env python3
"""matspec from Python through its C ABI (matspec/matspec_c.h) with ctypes.

Loads a model once, streams one request through a callback, pulls the events
of a second one and cancels it, and shows that bad options come back as an
error naming the key. Run from the repository root:

    python3 examples/python/matspec_example.py --library build/lib/libmatspec.so --model models/matlm-tiny

Exits non-zero if anything differs from what the C ABI promises (./test.sh runs it).
"""
import argparse
import ctypes
import json
import sys

STREAM_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                                   ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.c_void_p)


class MatspecError(RuntimeError):
    def __init__(self, status, message):
        super().__init__(f"matspec status {status}: {message}")
        self.status = status
        self.message = message


class Matspec:
    """The few C functions this example needs, with their signatures."""

    def __init__(self, path):
        lib = ctypes.CDLL(path)
        p = ctypes.POINTER
        out_str = p(ctypes.c_void_p)  # char** kept as void* so that we can free it ourselves
        sigs = {
            "matspec_version": ([], ctypes.c_char_p),
            "matspec_string_free": ([ctypes.c_void_p], None),
            "matspec_engine_load": ([ctypes.c_char_p, p(ctypes.c_void_p), out_str], ctypes.c_int),
            "matspec_engine_destroy": ([ctypes.c_void_p], None),
            "matspec_submit": ([ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, STREAM_CALLBACK, ctypes.c_void_p,
                                p(ctypes.c_void_p), out_str], ctypes.c_int),
            "matspec_request_next": ([ctypes.c_void_p, out_str, out_str], ctypes.c_int),
            "matspec_request_cancel": ([ctypes.c_void_p, out_str], ctypes.c_int),
            "matspec_request_wait": ([ctypes.c_void_p, out_str, out_str], ctypes.c_int),
            "matspec_request_destroy": ([ctypes.c_void_p], None),
        }
        for name, (args, res) in sigs.items():
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = args, res
        self.lib = lib

    def take_string(self, ptr):
        """Copies a char* returned by the ABI into a str and frees it."""
        if not ptr:
            return None
        text = ctypes.string_at(ptr).decode("utf-8", errors="replace")
        self.lib.matspec_string_free(ptr)
        return text

    def check(self, status, error):
        message = self.take_string(error.value)
        if status != 0:
            raise MatspecError(status, message)

    def load(self, **options):
        engine, error = ctypes.c_void_p(), ctypes.c_void_p()
        self.check(self.lib.matspec_engine_load(json.dumps(options).encode(), ctypes.byref(engine),
                                                ctypes.byref(error)), error)
        return engine

    def submit(self, engine, prompt, callback=None, **options):
        request, error = ctypes.c_void_p(), ctypes.c_void_p()
        cb = STREAM_CALLBACK(callback) if callback else STREAM_CALLBACK()
        self.check(self.lib.matspec_submit(engine, prompt.encode(), json.dumps(options).encode(), cb, None,
                                           ctypes.byref(request), ctypes.byref(error)), error)
        return request, cb  # keep cb alive as long as the request runs

    def next_event(self, request):
        event, error = ctypes.c_void_p(), ctypes.c_void_p()
        self.check(self.lib.matspec_request_next(request, ctypes.byref(event), ctypes.byref(error)), error)
        text = self.take_string(event.value)
        return json.loads(text) if text is not None else None

    def cancel(self, request):
        error = ctypes.c_void_p()
        self.check(self.lib.matspec_request_cancel(request, ctypes.byref(error)), error)

    def wait(self, request):
        result, error = ctypes.c_void_p(), ctypes.c_void_p()
        self.check(self.lib.matspec_request_wait(request, ctypes.byref(result), ctypes.byref(error)), error)
        return json.loads(self.take_string(result.value))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", default="build/lib/libmatspec.so")
    parser.add_argument("--model", default="models/matlm-tiny")
    args = parser.parse_args()
    m = Matspec(args.library)
    print(f"libmatspec {m.lib.matspec_version().decode()}", file=sys.stderr)
    engine = m.load(model=args.model, threads=1)

    # 1. Streaming through a callback (it runs on the request's thread).
    pieces = []

    def on_stream(text, text_len, tokens, num_tokens, user_data):
        pieces.append(ctypes.string_at(text, text_len).decode("utf-8", errors="replace"))
        return 0  # non-zero would stop the request

    request, keep_alive = m.submit(engine, "Once upon a time", on_stream, **{
        "n-predict": 32, "ignore-eos": True, "matformer-config-path": "matformer_configs/matlm-tiny.csv",
        "matformer-slice-name": "quarter", "draft-max": 3})
    result = m.wait(request)
    m.lib.matspec_request_destroy(request)
    del keep_alive
    print("".join(pieces))
    stats = result["stats"]
    print(f"{stats['generated_tokens']} tokens, acceptance {stats['acceptance_rate']:.2f}, "
          f"mean acceptance length {stats['mean_acceptance_length']:.2f}, stop: {stats['stop_reason']}",
          file=sys.stderr)
    assert "".join(pieces) == result["text"], "streamed text differs from the result"
    assert stats["generated_tokens"] == 32 and stats["stop_reason"] == "length", stats

    # 2. Pulling events, then cancelling: the result keeps the partial tokens.
    request, _ = m.submit(engine, "In the beginning", **{"n-predict": 900, "ignore-eos": True})
    pulled = [m.next_event(request) for _ in range(3)]
    m.cancel(request)
    while (event := m.next_event(request)) is not None:
        pulled.append(event)
    result = m.wait(request)
    streamed = [t for e in pulled for t in e["tokens"]]
    print(f"cancelled after {len(result['tokens'])} tokens, stop: {result['stats']['stop_reason']}", file=sys.stderr)
    assert result["stats"]["stop_reason"] == "cancelled", result["stats"]
    assert result["tokens"] == streamed and 0 < len(streamed) < 900
    try:  # the result was taken: the handle refuses further use
        m.wait(request)
        raise AssertionError("a second wait succeeded")
    except MatspecError as e:
        assert "result was taken" in e.message, e.message
    m.lib.matspec_request_destroy(request)

    # 3. A bad option comes back as an error naming the key.
    try:
        m.submit(engine, "x", **{"top-p": "most"})
        raise AssertionError("a bad option was accepted")
    except MatspecError as e:
        assert "top-p" in e.message, e.message
        print(f"bad option refused: {e.message}", file=sys.stderr)

    m.lib.matspec_engine_destroy(engine)
    print("matspec_example: OK", file=sys.stderr)


if __name__ == "__main__":
    main()
