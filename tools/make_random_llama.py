#!/usr/bin/env python3
"""Writes a large llama-shaped checkpoint with random bf16 weights, for benchmarks.

The GPU benchmarks of the CUDA backend (plain decode vs the memory-bandwidth
roofline, verification cost for k+1 tokens, the cost of a narrow-FFN draft
step, speculative vs plain) need a model big enough that weights dominate
memory traffic. Its outputs mean nothing (random weights), so acceptance rates
measured on it are not meaningful; speeds are.

Output directory (never commit it; the full model is ~6.4 GB):
  config.json                           llama config (model_type "llama", silu,
                                        plain RoPE, tied embeddings by default)
  model-0000i-of-0000n.safetensors      bf16 shards (Hugging Face naming)
  model.safetensors.index.json          {"metadata": {"total_size"}, "weight_map"}
  slices.csv                            MatFormer slice table in the Gemma 3n CSV
                                        format (name, # Layers, # Effective
                                        Params (B), FFN Hidden Dims, Layers
                                        Skipped): full, half, quarter and eighth
                                        FFN width, plus two layer-skip rows.
There is no tokenizer: benchmarks feed token ids.

Default shape (Llama 3.2 3B): hidden 3072, 28 layers, FFN 8192, 24 query / 8
KV heads, head_dim 128, vocab 128256, tied embeddings: 3.21 B parameters.
--small: hidden 768, 12 layers, FFN 2048, 12 / 4 heads, head_dim 64, vocab
32000: 0.10 B parameters (a quick run). Every dimension can be overridden.

Values: a block of random bf16 values (uniform, variance 1) is drawn once and
copied at random offsets, scaled per tensor: 1/sqrt(fan_in) for q/k/v/gate/up,
additionally 1/sqrt(2 * layers) for o/down (so the residual stream stays O(1)
over depth), 0.02 for the embedding (which is also the LM head), 1 for norm
scales. All finite; only numpy is needed, and data is written in chunks (a few
hundred MB of memory whatever the model size).

Usage:
  python3 tools/make_random_llama.py --out /tmp/llama-3b-random
  python3 tools/make_random_llama.py --out /tmp/llama-100m-random --small
"""

import argparse
import csv
import io
import json
import math
import os
import struct
import sys

import numpy as np

FULL = dict(hidden=3072, layers=28, ffn=8192, heads=24, kv_heads=8, head_dim=128, vocab=128256)
SMALL = dict(hidden=768, layers=12, ffn=2048, heads=12, kv_heads=4, head_dim=64, vocab=32000)

BLOCK_ELEMENTS = 1 << 24  # the random block copied at random offsets (32 MB of bf16)
CHUNK_ELEMENTS = 1 << 25  # elements written per write() call (64 MB of bf16)


def to_bf16_bits(x):
    """float32 array -> uint16 bf16 bit patterns, rounded to nearest even (finite input)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))
    return (rounded >> np.uint32(16)).astype(np.uint16)


class RandomSource:
    """Cheap random data: one block of unit-variance values, read at random offsets."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        # Uniform on [-sqrt(3), sqrt(3)): variance 1.
        block = (self.rng.random(BLOCK_ELEMENTS, dtype=np.float32) * 2.0 - 1.0) * np.float32(math.sqrt(3.0))
        self.block = np.concatenate([block, block])  # so a slice never wraps

    def bf16(self, n, scale):
        start = int(self.rng.integers(0, BLOCK_ELEMENTS))
        out = np.empty(n, dtype=np.uint16)
        done = 0
        while done < n:
            take = min(n - done, BLOCK_ELEMENTS)
            out[done:done + take] = to_bf16_bits(self.block[start:start + take] * np.float32(scale))
            done += take
            start = int(self.rng.integers(0, BLOCK_ELEMENTS))
        return out


def tensor_list(d, tied):
    """(name, shape, kind, scale) in checkpoint order; kind is "random" or "ones"."""
    h, f, layers = d["hidden"], d["ffn"], d["layers"]
    q_out, kv_out = d["heads"] * d["head_dim"], d["kv_heads"] * d["head_dim"]
    out_scale = 1.0 / math.sqrt(2.0 * layers)
    tensors = [("model.embed_tokens.weight", (d["vocab"], h), "random", 0.02)]
    for l in range(layers):
        p = f"model.layers.{l}."
        tensors += [
            (p + "input_layernorm.weight", (h,), "ones", 1.0),
            (p + "self_attn.q_proj.weight", (q_out, h), "random", 1.0 / math.sqrt(h)),
            (p + "self_attn.k_proj.weight", (kv_out, h), "random", 1.0 / math.sqrt(h)),
            (p + "self_attn.v_proj.weight", (kv_out, h), "random", 1.0 / math.sqrt(h)),
            (p + "self_attn.o_proj.weight", (h, q_out), "random", out_scale / math.sqrt(q_out)),
            (p + "post_attention_layernorm.weight", (h,), "ones", 1.0),
            (p + "mlp.gate_proj.weight", (f, h), "random", 1.0 / math.sqrt(h)),
            (p + "mlp.up_proj.weight", (f, h), "random", 1.0 / math.sqrt(h)),
            (p + "mlp.down_proj.weight", (h, f), "random", out_scale / math.sqrt(f)),
        ]
    tensors.append(("model.norm.weight", (h,), "ones", 1.0))
    if not tied:
        tensors.append(("lm_head.weight", (d["vocab"], h), "random", 0.02))
    return tensors


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def shard(tensors, shard_bytes):
    """Greedy split in order; a tensor larger than shard_bytes gets a shard of its own."""
    shards, current, size = [], [], 0
    for t in tensors:
        nbytes = 2 * numel(t[1])
        if current and size + nbytes > shard_bytes:
            shards.append(current)
            current, size = [], 0
        current.append(t)
        size += nbytes
    if current:
        shards.append(current)
    return shards


def write_shard(path, tensors, src):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, _, _ in tensors:
        nbytes = 2 * numel(shape)
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)  # data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for name, shape, kind, scale in tensors:
            n = numel(shape)
            for begin in range(0, n, CHUNK_ELEMENTS):
                m = min(CHUNK_ELEMENTS, n - begin)
                if kind == "ones":
                    f.write(np.full(m, 0x3F80, dtype=np.uint16).tobytes())  # bf16 1.0
                else:
                    f.write(src.bf16(m, scale).tobytes())
    return offset


def layer_params(d, width):
    h = d["hidden"]
    attn = h * d["heads"] * d["head_dim"] * 2 + h * d["kv_heads"] * d["head_dim"] * 2
    return attn + 3 * h * width + 2 * h


def params_b(d, tied, widths_by_layer):
    """Effective parameters (billions) of a slice: kept layers at their widths, plus embeddings."""
    n = d["vocab"] * d["hidden"] * (1 if tied else 2) + d["hidden"]
    n += sum(layer_params(d, w) for w in widths_by_layer.values())
    return n / 1e9


def slice_rows(d, tied):
    f, layers = d["ffn"], d["layers"]
    if f % 8 != 0:
        raise ValueError(f"--ffn {f} must be a multiple of 8 for the F/8 .. F slices")
    unit = f // 8
    three_quarters = (3 * layers) // 4
    skip_two = [three_quarters - 1, three_quarters] if layers >= 4 else []
    skip_four = list(range(three_quarters - 2, three_quarters + 2)) if layers >= 8 else skip_two
    rows = [
        ("full", 8, []),
        ("half", 4, []),
        ("quarter", 2, []),
        ("eighth", 1, []),
        (f"half-skip{len(skip_two)}", 4, skip_two),
        (f"quarter-skip{len(skip_four)}", 2, skip_four),
    ]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["name", "# Layers", "# Effective Params (B)", "FFN Hidden Dims", "Layers Skipped"])
    for name, mult, skipped in rows:
        if name.endswith("skip0"):
            continue  # too few layers to skip any
        kept = [l for l in range(layers) if l not in skipped]
        widths = "[" + ", ".join(f"{unit} * {mult}" for _ in kept) + "]"
        p = params_b(d, tied, {l: unit * mult for l in kept})
        skipped_text = "[" + ", ".join(str(l) for l in skipped) + "]" if skipped else ""
        writer.writerow([name, len(kept), f"{p:.4f}", widths, skipped_text])
    return buf.getvalue()


def config_json(d, tied):
    small_vocab = d["vocab"] < 128256
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": d["hidden"],
        "intermediate_size": d["ffn"],
        "num_hidden_layers": d["layers"],
        "num_attention_heads": d["heads"],
        "num_key_value_heads": d["kv_heads"],
        "head_dim": d["head_dim"],
        "vocab_size": d["vocab"],
        "hidden_act": "silu",
        "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "rope_scaling": None,
        "max_position_embeddings": 8192,
        "tie_word_embeddings": tied,
        "attention_bias": False,
        "mlp_bias": False,
        "bos_token_id": 1 if small_vocab else 128000,
        "eos_token_id": 2 if small_vocab else 128001,
        "torch_dtype": "bfloat16",
        "matspec_note": "random weights from tools/make_random_llama.py; benchmark use only",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True,
                    help="output directory (created; must not be inside the repository)")
    ap.add_argument("--small", action="store_true", help="the ~100M-parameter variant")
    for key in FULL:
        ap.add_argument("--" + key.replace("_", "-"), type=int, default=None, help=f"override {key}")
    ap.add_argument("--untied", action="store_true", help="write a separate lm_head.weight")
    ap.add_argument("--shard-gb", type=float, default=2.0, help="maximum shard size in GB (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="allow an output directory inside the repository")
    args = ap.parse_args()

    d = dict(SMALL if args.small else FULL)
    for key in FULL:
        v = getattr(args, key)
        if v is not None:
            d[key] = v
    if min(d.values()) <= 0 or d["heads"] % d["kv_heads"] != 0 or d["head_dim"] % 2 != 0:
        sys.exit("bad shape: dimensions must be positive, kv_heads must divide heads, head_dim even")
    tied = not args.untied

    repo = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    out = os.path.realpath(args.out)
    if (out == repo or out.startswith(repo + os.sep)) and not args.force:
        sys.exit(f"refusing to write {out} inside the repository {repo} (never commit it); use --force")
    os.makedirs(out, exist_ok=True)

    tensors = tensor_list(d, tied)
    total = sum(2 * numel(t[1]) for t in tensors)
    n_params = total // 2
    shards = shard(tensors, int(args.shard_gb * 1e9))
    names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    print(f"{n_params / 1e9:.3f} B parameters, {total / 1e9:.2f} GB in {len(shards)} shard(s) -> {out}")

    src = RandomSource(args.seed)
    weight_map = {}
    for name, part in zip(names, shards):
        write_shard(os.path.join(out, name), part, src)
        for t in part:
            weight_map[t[0]] = name
        print(f"  wrote {name} ({len(part)} tensors)", flush=True)
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config_json(d, tied), f, indent=2)
    with open(os.path.join(out, "slices.csv"), "w") as f:
        f.write(slice_rows(d, tied))
    print("  wrote config.json, model.safetensors.index.json, slices.csv")


if __name__ == "__main__":
    main()
