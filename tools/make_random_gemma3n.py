#!/usr/bin/env python3
"""Writes a Gemma 3n checkpoint with random bf16 weights and the real shapes.

For load, memory and speed tests of the gemma3n path without the real
weights (never commit the output: E4B is ~13.7 GB). Every text tensor of the
spec's §2 is written, including the K/V weights of KV-consumer layers that the
engine never reads, under "model.language_model." as the official
Gemma3nForConditionalGeneration checkpoints have them (or "model." with
--layout causal_lm). Rows 262144.. of embed_tokens copy row 0 as in the
released checkpoints. A few vision/audio tensors are added (the engine must
ignore them). Output: config.json, model-0000i-of-0000n.safetensors shards and
model.safetensors.index.json.

Values: a standard-normal block drawn once, tiled at random offsets and scaled
per tensor (1/sqrt(fan_in) for linear layers, ~1 for norm scales), so weights
are finite, well scaled and fast to produce. Only numpy is needed; data is
written in chunks (memory stays ~1 GB).

Usage: python3 tools/make_random_gemma3n.py --out /tmp/gemma3n-e4b-random [--variant e2b]
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np

VARIANTS = {
    # Spec §1.2.
    "e4b": {"num_hidden_layers": 35, "intermediate_size": 16384, "num_kv_shared_layers": 15},
    "e2b": {"num_hidden_layers": 30, "intermediate_size": 8192, "num_kv_shared_layers": 10},
}

TEXT_DEFAULTS = {
    "model_type": "gemma3n_text",
    "vocab_size": 262400,
    "vocab_size_per_layer_input": 262144,
    "hidden_size": 2048,
    "hidden_size_per_layer_input": 256,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "head_dim": 256,
    "hidden_activation": "gelu_pytorch_tanh",
    "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-6,
    "sliding_window": 512,
    "rope_theta": 1000000.0,
    "rope_local_base_freq": 10000.0,
    "final_logit_softcapping": 30.0,
    "altup_num_inputs": 4,
    "altup_active_idx": 0,
    "altup_coef_clip": 120.0,
    "altup_correct_scale": True,
    "altup_lr_multiplier": 1.0,
    "laurel_rank": 64,
    "query_pre_attn_scalar": 256,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "bos_token_id": 2,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
}

CHUNK = 1 << 23          # elements converted per step (8 Mi -> 32 MB of f32)
BLOCK = (1 << 24) + 7    # the tiled standard-normal block (> CHUNK)


def text_config(variant):
    c = dict(TEXT_DEFAULTS)
    c.update(VARIANTS[variant])
    L = c["num_hidden_layers"]
    c["layer_types"] = ["full_attention" if (i + 1) % 5 == 0 else "sliding_attention" for i in range(L)]
    c["activation_sparsity_pattern"] = [0.95] * 10 + [0.0] * (L - 10)
    return c


def tensor_list(c, prefix):
    """(name, shape, kind, scale) for every text tensor of spec §2."""
    D, L, P, N = c["hidden_size"], c["num_hidden_layers"], c["hidden_size_per_layer_input"], c["altup_num_inputs"]
    H, G, hd, R, F = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"], c["laurel_rank"], \
        c["intermediate_size"]
    V, Vp = c["vocab_size"], c["vocab_size_per_layer_input"]
    out = []

    def lin(name, rows, cols):
        out.append((prefix + name, (rows, cols), "normal", 1.0 / math.sqrt(cols)))

    def norm(name, n):
        out.append((prefix + name, (n,), "norm", 0.1))

    out.append((prefix + "embed_tokens.weight", (V, D), "embed", 1.0))
    out.append((prefix + "embed_tokens_per_layer.weight", (Vp, L * P), "normal", 1.0))
    lin("per_layer_model_projection.weight", L * P, D)
    norm("per_layer_projection_norm.weight", P)
    for i in range(N - 1):
        lin(f"altup_projections.{i}.weight", D, D)
    for i in range(N - 1):
        lin(f"altup_unembed_projections.{i}.weight", D, D)
    norm("norm.weight", D)
    for l in range(L):
        p = f"layers.{l}."
        for n in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                  "post_feedforward_layernorm"):
            norm(p + n + ".weight", D)
        lin(p + "self_attn.q_proj.weight", H * hd, D)
        lin(p + "self_attn.k_proj.weight", G * hd, D)
        lin(p + "self_attn.v_proj.weight", G * hd, D)
        lin(p + "self_attn.o_proj.weight", D, H * hd)
        norm(p + "self_attn.q_norm.weight", hd)
        norm(p + "self_attn.k_norm.weight", hd)
        lin(p + "mlp.gate_proj.weight", F, D)
        lin(p + "mlp.up_proj.weight", F, D)
        lin(p + "mlp.down_proj.weight", D, F)
        norm(p + "altup.correct_output_scale", D)
        out.append((prefix + p + "altup.correction_coefs.weight", (N, N), "normal", 0.1))
        out.append((prefix + p + "altup.prediction_coefs.weight", (N * N, N), "normal", 0.1))
        out.append((prefix + p + "altup.modality_router.weight", (N, D), "normal", 1.0))
        norm(p + "altup.router_norm.weight", D)
        lin(p + "laurel.linear_left.weight", R, D)
        lin(p + "laurel.linear_right.weight", D, R)
        norm(p + "laurel.post_laurel_norm.weight", D)
        lin(p + "per_layer_input_gate.weight", P, D)
        lin(p + "per_layer_projection.weight", D, P)
        norm(p + "post_per_layer_input_norm.weight", D)
    return out


def extra_tensors():
    """A few non-text tensors the engine must ignore."""
    return [
        ("model.embed_vision.embedding.weight", (128, 2048), "normal", 0.02),
        ("model.embed_vision.embedding_projection.weight", (2048, 2048), "normal", 0.02),
        ("model.embed_audio.embedding.weight", (128, 1536), "normal", 0.02),
        ("model.vision_tower.timm_model.conv_stem.conv.weight", (64, 3, 3, 3), "normal", 0.02),
    ]


def to_bf16(x):
    """f32 array -> uint16 bf16 bits, round to nearest even."""
    bits = x.astype(np.float32).view(np.uint32)
    bits = bits + (np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1)))
    return (bits >> np.uint32(16)).astype(np.uint16)


class Source:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.block = self.rng.standard_normal(BLOCK, dtype=np.float32)

    def values(self, n, kind, scale):
        """n f32 values of this kind (a view of the tiled block, scaled)."""
        assert n <= BLOCK
        start = int(self.rng.integers(0, BLOCK))
        if start + n <= BLOCK:
            raw = self.block[start:start + n]
        else:
            raw = np.concatenate([self.block[start:], self.block[:n - (BLOCK - start)]])
        if kind == "norm":
            return 1.0 + raw * scale
        return raw * scale


def write_tensor(f, src, name, shape, kind, scale, vocab_text):
    n = int(np.prod(shape))
    if kind == "embed":
        rows, cols = shape
        row0 = None
        r = 0
        rows_per_chunk = max(1, CHUNK // cols)
        while r < rows:
            k = min(rows_per_chunk, rows - r)
            vals = src.values(k * cols, "normal", scale).reshape(k, cols)
            if row0 is None:
                row0 = vals[0].copy()
            # Rows >= the text vocabulary copy row 0 (the pad row), as released.
            lo = max(r, vocab_text)
            if lo < r + k:
                vals[lo - r:] = row0
            f.write(to_bf16(vals).tobytes())
            r += k
        return
    done = 0
    while done < n:
        k = min(CHUNK, n - done)
        f.write(to_bf16(src.values(k, kind, scale)).tobytes())
        done += k


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--variant", choices=sorted(VARIANTS), default="e4b")
    ap.add_argument("--layout", choices=["conditional_generation", "causal_lm"], default="conditional_generation")
    ap.add_argument("--shard-gb", type=float, default=4.0, help="approximate bytes per shard, in GB")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    tc = text_config(args.variant)
    if args.layout == "conditional_generation":
        prefix = "model.language_model."
        tensors = tensor_list(tc, prefix) + extra_tensors()
        config = {
            "architectures": ["Gemma3nForConditionalGeneration"],
            "model_type": "gemma3n",
            "text_config": tc,
            "vision_config": {"model_type": "gemma3n_vision"},
            "audio_config": {"model_type": "gemma3n_audio"},
            "eos_token_id": [1, 106],
            "torch_dtype": "bfloat16",
        }
    else:
        prefix = "model."
        tensors = tensor_list(tc, prefix)
        config = dict(tc)
        config["architectures"] = ["Gemma3nForCausalLM"]

    # Plan shards.
    limit = int(args.shard_gb * 1e9)
    shards, cur, cur_bytes = [], [], 0
    for t in tensors:
        nbytes = int(np.prod(t[1])) * 2
        if cur and cur_bytes + nbytes > limit:
            shards.append(cur)
            cur, cur_bytes = [], 0
        cur.append(t)
        cur_bytes += nbytes
    shards.append(cur)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    src = Source(args.seed)
    weight_map, total = {}, 0
    for si, shard in enumerate(shards):
        fname = f"model-{si + 1:05d}-of-{len(shards):05d}.safetensors"
        header, offset = {"__metadata__": {"format": "pt"}}, 0
        for name, shape, _, _ in shard:
            nbytes = int(np.prod(shape)) * 2
            header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
            offset += nbytes
            weight_map[name] = fname
        hb = json.dumps(header, separators=(",", ":")).encode()
        hb += b" " * ((8 - len(hb) % 8) % 8)
        path = os.path.join(args.out, fname)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(hb)))
            f.write(hb)
            for name, shape, kind, scale in shard:
                write_tensor(f, src, name, shape, kind, scale, tc["vocab_size_per_layer_input"])
        total += offset
        print(f"wrote {path} ({offset / 1e9:.2f} GB, {len(shard)} tensors)", flush=True)
    with open(os.path.join(args.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1)
    print(f"total {total / 1e9:.2f} GB in {len(shards)} shards; text params "
          f"{sum(int(np.prod(s)) for n, s, _, _ in tensors if n.startswith(prefix)):,}")


if __name__ == "__main__":
    sys.exit(main())
