#!/usr/bin/env python3
"""Inflates a llama-family MatFormer checkpoint m-fold without changing its function.

Why: the bundled MatLM-tiny (4 M parameters, 8 MB) sits in the CPU's L3 cache, so
it cannot show what speculative decoding buys on a memory-bandwidth-bound model,
and random checkpoints are bandwidth-bound but accept almost no draft tokens. The
inflated model is both: m = 8 gives 220 M parameters (440 MB of bf16) that compute
exactly the bundled model's function, so it keeps the bundled model's acceptance.

Construction (x' denotes the inflated model's vector, repeat(x, m) puts m copies
of each entry next to each other: x0 x0 .. x1 x1 ..):
  hidden       every hidden unit m times, adjacent: the residual stream of the
               inflated model is x' = repeat(x, m).
  embeddings   columns repeated (values unchanged), so x'_0 = repeat(x_0, m).
  RMSNorm      mean(x'^2) over m*d entries equals mean(x^2) over d: the norm is
               unchanged; its weight is repeated.
  q/k/v        input columns repeated and divided by m (W' x' = W x); output rows:
               the heads are duplicated too, as m blocked copies (head h' = c*H + h
               is copy c of head h, i.e. the rows are tiled). KV head h' // group =
               c*KV + h // group is copy c of the original KV head, so the GQA group
               size and the mapping are preserved; head_dim, RoPE pairing within a
               head and the softmax scale are untouched.
  o            input columns tiled like the heads and divided by m (the m copies of
               each head's output average back to it); output rows repeated.
  FFN          gate/up: rows repeated adjacently (unit j -> rows j*m .. j*m+m-1),
               columns repeated and divided by m; down: rows repeated, columns
               repeated and divided by m. Adjacent copies keep MatFormer nesting: the
               first m*f units of the inflated FFN are exactly the copies of the first
               f original units, so slice width f becomes m*f with the same function.
  LM head      logits must not be multiplied by m, so the head is repeat(E, m)/m while
               the embedding is repeat(E, m): a tied input is written untied
               (tie_word_embeddings false, lm_head.weight added).
For m a power of two the division is exact in bf16/f16/f32 (only the exponent
changes; values this model holds are far from the subnormal range), so every
inflated weight is exact. Other m are allowed with a warning (one rounding).

Output directory: model.safetensors (the input's dtype), config.json with the new
sizes (hidden, intermediate_size, heads, KV heads, MatFormer granularities x m),
slices.csv (the slice table with every FFN width x m and effective parameters
recomputed), and the tokenizer and generation config copied. Never commit it.

Needs only numpy (safetensors is read and written directly).

Usage:
  python3 tools/inflate_matformer.py --model models/matlm-tiny \
      --table matformer_configs/matlm-tiny.csv --out /tmp/matlm-tiny-x8 [--m 8]
"""

import argparse
import csv
import io
import json
import math
import os
import re
import shutil
import struct
import sys

import numpy as np

DTYPES = {"BF16": (np.uint16, 2), "F16": (np.float16, 2), "F32": (np.float32, 4)}
COPIED_FILES = ("tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                "generation_config.json", "draft_vocab.txt")
LAYER_RE = re.compile(r"^model\.layers\.(\d+)\.(.+)$")


def fail(msg):
    sys.exit(f"inflate_matformer: {msg}")


# ---------------------------------------------------------------- safetensors I/O

def read_safetensors(path):
    """{name: (dtype string, shape, raw numpy array)} in file order, memory-mapped."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            fail(f"{path}: truncated header")
        (n,) = struct.unpack("<Q", head)
        try:
            header = json.loads(f.read(n))
        except ValueError as e:
            fail(f"{path}: malformed header JSON ({e})")
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = info["dtype"]
        if dt not in DTYPES:
            fail(f"{path}: tensor {name} has dtype {dt}; only BF16, F16 and F32 are supported")
        np_dt, size = DTYPES[dt]
        begin, end = info["data_offsets"]
        count = math.prod(info["shape"])
        if end - begin != count * size or end > data.size:
            fail(f"{path}: tensor {name}: byte range {begin}..{end} disagrees with shape {info['shape']} {dt}")
        arr = data[begin:end].view(np_dt).reshape(info["shape"])
        out[name] = (dt, list(info["shape"]), arr)
    return out


def read_checkpoint(model_dir):
    single = os.path.join(model_dir, "model.safetensors")
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.isfile(single):
        return read_safetensors(single)
    if os.path.isfile(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        out = {}
        for shard in dict.fromkeys(weight_map.values()):
            out.update(read_safetensors(os.path.join(model_dir, shard)))
        return out
    fail(f"{model_dir}: neither model.safetensors nor model.safetensors.index.json")


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype string, numpy array of the storage type)."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, dt, arr in tensors:
        nbytes = arr.size * DTYPES[dt][1]
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)  # data starts 8-byte aligned
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for _, _, arr in tensors:
            f.write(np.ascontiguousarray(arr).tobytes())
    os.replace(tmp, path)
    return offset


# ---------------------------------------------------------------- dtype helpers

def to_f32(dt, arr):
    if dt == "BF16":
        return (arr.astype(np.uint32) << np.uint32(16)).view(np.float32)
    return arr.astype(np.float32)


def from_f32(dt, x):
    if dt == "BF16":
        u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
        rounded = u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))  # nearest even
        return (rounded >> np.uint32(16)).astype(np.uint16)
    return x.astype(DTYPES[dt][0])


def divided(dt, arr, m):
    """arr / m in the storage dtype (exact for m a power of two)."""
    return from_f32(dt, to_f32(dt, arr) / np.float32(m))


# ---------------------------------------------------------------- the inflation

def inflate_tensor(name, dt, arr, m):
    """The inflated storage array of one tensor (see the module docstring)."""
    rep_in = lambda a: divided(dt, np.repeat(a, m, axis=1), m)  # input side: repeat columns, / m
    if name == "model.embed_tokens.weight":
        return np.repeat(arr, m, axis=1)
    if name == "lm_head.weight":
        return rep_in(arr)
    if name == "model.norm.weight":
        return np.repeat(arr, m)
    match = LAYER_RE.match(name)
    if not match:
        fail(f"tensor {name}: not a llama tensor this tool knows")
    part = match.group(2)
    if part in ("input_layernorm.weight", "post_attention_layernorm.weight"):
        return np.repeat(arr, m)
    if part in ("self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight"):
        return rep_in(np.tile(arr, (m, 1)))  # heads: m blocked copies
    if part == "self_attn.o_proj.weight":
        return divided(dt, np.repeat(np.tile(arr, (1, m)), m, axis=0), m)
    if part in ("mlp.gate_proj.weight", "mlp.up_proj.weight"):
        return rep_in(np.repeat(arr, m, axis=0))  # FFN unit j -> rows j*m .. j*m+m-1
    if part == "mlp.down_proj.weight":
        return rep_in(np.repeat(arr, m, axis=0))  # rows: hidden copies; columns: FFN copies / m
    fail(f"tensor {name}: not a llama tensor this tool knows (biases and other tensors are not supported)")


def inflate_config(cfg, m, source):
    out = dict(cfg)
    h, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    out["hidden_size"] = h * m
    out["head_dim"] = cfg.get("head_dim") or h // heads
    out["num_attention_heads"] = heads * m
    out["num_key_value_heads"] = cfg.get("num_key_value_heads", heads) * m
    ffn = cfg["intermediate_size"]
    out["intermediate_size"] = [w * m for w in ffn] if isinstance(ffn, list) else ffn * m
    if "matformer_ffn_granularities" in cfg:
        out["matformer_ffn_granularities"] = [w * m for w in cfg["matformer_ffn_granularities"]]
    out["tie_word_embeddings"] = False
    out["matspec_note"] = (f"{source} inflated {m}x by tools/inflate_matformer.py (same function, "
                           "benchmark use only)")
    return out


def layer_params(cfg, width):
    h, hd = cfg["hidden_size"], cfg["head_dim"]
    attn = 2 * h * cfg["num_attention_heads"] * hd + 2 * h * cfg["num_key_value_heads"] * hd
    return attn + 3 * h * width + 2 * h


def slice_params_b(cfg, widths):
    n = cfg["vocab_size"] * cfg["hidden_size"] * (1 if cfg.get("tie_word_embeddings", True) else 2)
    n += cfg["hidden_size"] + sum(layer_params(cfg, w) for w in widths)
    return n / 1e9


def scale_width_expr(text, m):
    """'96 * 8' -> '768 * 8'; a plain width w -> w*m. Returns (new text, new width)."""
    text = text.strip()
    factors = [t.strip() for t in text.split("*")]
    if not all(re.fullmatch(r"\d[\d_]*", t) for t in factors):
        fail(f"slice table: width '{text}' is not a product of integers")
    values = [int(t.replace("_", "")) for t in factors]
    values[0] *= m
    return " * ".join(str(v) for v in values), math.prod(values)


def inflate_table(table_path, m, cfg_out):
    with open(table_path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        fail(f"{table_path}: empty slice table")
    head = rows[0]
    try:
        c_dims, c_params = head.index("FFN Hidden Dims"), head.index("# Effective Params (B)")
    except ValueError:
        fail(f"{table_path}: needs the columns 'FFN Hidden Dims' and '# Effective Params (B)'")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(head)
    for row in rows[1:]:
        if not row:
            continue
        dims = row[c_dims].strip()
        if not (dims.startswith("[") and dims.endswith("]")):
            fail(f"{table_path}: row {row[0]}: FFN Hidden Dims '{dims}' is not a list")
        scaled = [scale_width_expr(t, m) for t in dims[1:-1].split(",") if t.strip()]
        row = list(row)
        row[c_dims] = "[" + ", ".join(t for t, _ in scaled) + "]"
        row[c_params] = f"{slice_params_b(cfg_out, [w for _, w in scaled]):.6f}"
        writer.writerow(row)
    return buf.getvalue()


# ---------------------------------------------------------------- the check

def rms_norm(x, g, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


def reference_logits(cfg, tensors, ids, ffn_width=None):
    """float32 numpy llama forward (HF conventions: rotate_half RoPE, GQA), FFN cut to ffn_width units."""
    w = lambda name: to_f32(tensors[name][0], np.asarray(tensors[name][2]))
    h, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    kv, hd = cfg.get("num_key_value_heads", heads), cfg.get("head_dim") or h // heads
    eps, t = cfg["rms_norm_eps"], len(ids)
    inv = 1.0 / cfg.get("rope_theta", 10000.0) ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = np.outer(np.arange(t), inv)
    cos, sin = np.cos(np.concatenate([ang, ang], -1)), np.sin(np.concatenate([ang, ang], -1))
    rope = lambda x: x * cos[:, None] + np.concatenate([-x[..., hd // 2:], x[..., :hd // 2]], -1) * sin[:, None]
    mask = np.triu(np.full((t, t), -np.inf), 1)
    x = w("model.embed_tokens.weight")[ids]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        a = rms_norm(x, w(p + "input_layernorm.weight"), eps)
        q = rope((a @ w(p + "self_attn.q_proj.weight").T).reshape(t, heads, hd))
        k = rope((a @ w(p + "self_attn.k_proj.weight").T).reshape(t, kv, hd))
        v = (a @ w(p + "self_attn.v_proj.weight").T).reshape(t, kv, hd)
        k, v = np.repeat(k, heads // kv, axis=1), np.repeat(v, heads // kv, axis=1)
        s = np.einsum("qhd,khd->hqk", q, k) / math.sqrt(hd) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        o = np.einsum("hqk,khd->qhd", s / s.sum(-1, keepdims=True), v).reshape(t, heads * hd)
        x = x + o @ w(p + "self_attn.o_proj.weight").T
        f = rms_norm(x, w(p + "post_attention_layernorm.weight"), eps)
        gate, up = w(p + "mlp.gate_proj.weight")[:ffn_width], w(p + "mlp.up_proj.weight")[:ffn_width]
        g = f @ gate.T
        x = x + (g / (1.0 + np.exp(-g)) * (f @ up.T)) @ w(p + "mlp.down_proj.weight")[:, :ffn_width].T
    head = "lm_head.weight" if "lm_head.weight" in tensors else "model.embed_tokens.weight"
    return rms_norm(x, w("model.norm.weight"), eps) @ w(head).T


def verify(cfg, tensors, cfg_out, out_dir, m, n_tokens):
    """Compares the two models' logits on n_tokens fixed ids, full width and a quarter-width FFN slice."""
    if cfg.get("rope_scaling"):
        fail("--verify: rope_scaling is not supported by the reference forward")
    inflated = read_checkpoint(out_dir)
    rng = np.random.default_rng(0)
    ids = np.concatenate([[cfg.get("bos_token_id", 1) or 1], rng.integers(3, cfg["vocab_size"], n_tokens - 1)])
    ffn = cfg["intermediate_size"]
    quarter = (min(ffn) if isinstance(ffn, list) else ffn) // 4
    for name, width in (("full", None), (f"FFN {quarter} -> {quarter * m}", quarter)):
        want = reference_logits(cfg, tensors, ids, width)
        got = reference_logits(cfg_out, inflated, ids, None if width is None else width * m)
        diff = float(np.max(np.abs(got - want)))
        scale = float(np.max(np.abs(want)))
        same = bool(np.all(got.argmax(-1) == want.argmax(-1)))
        print(f"inflate_matformer: verify {name}: {n_tokens} positions, max |logit difference| {diff:.2e} "
              f"(max |logit| {scale:.2f}), argmax equal: {'yes' if same else 'no'}")
        if diff > 1e-4 * max(scale, 1.0) or not same:
            fail(f"--verify {name}: the inflated model computes a different function")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="input checkpoint directory (llama family)")
    ap.add_argument("--table", help="the input's MatFormer slice table (CSV); written x m as slices.csv")
    ap.add_argument("--out", required=True, help="output directory (created; not inside the repository)")
    ap.add_argument("--m", type=int, default=8, help="inflation factor (default 8; a power of two is exact)")
    ap.add_argument("--force", action="store_true", help="allow an output directory inside the repository")
    ap.add_argument("--verify", type=int, default=0, metavar="N",
                    help="then compare both models' logits on N positions with a numpy float32 forward "
                         "(full width and a quarter-width FFN slice); fails on any difference beyond rounding")
    args = ap.parse_args()

    m = args.m
    if m < 1:
        fail(f"--m {m}: must be a positive integer")
    if m & (m - 1):
        print(f"inflate_matformer: warning: --m {m} is not a power of two, so dividing by it rounds",
              file=sys.stderr)
    repo = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    out = os.path.realpath(args.out)
    if (out == repo or out.startswith(repo + os.sep)) and not args.force:
        fail(f"refusing to write {out} inside the repository {repo} (never commit it); use --force")
    if out == os.path.realpath(args.model):
        fail("--out must differ from --model")

    cfg_path = os.path.join(args.model, "config.json")
    try:
        with open(cfg_path) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{cfg_path}: {e}")
    if cfg.get("model_type") != "llama":
        fail(f"{cfg_path}: model_type {cfg.get('model_type')!r}; only llama checkpoints are supported")
    if cfg.get("attention_bias") or cfg.get("mlp_bias"):
        fail(f"{cfg_path}: biases are not supported")
    tied = cfg.get("tie_word_embeddings", True)

    tensors = read_checkpoint(args.model)
    if "model.embed_tokens.weight" not in tensors:
        fail(f"{args.model}: missing tensor model.embed_tokens.weight")
    cfg_out = inflate_config(cfg, m, os.path.basename(os.path.normpath(args.model)))

    os.makedirs(out, exist_ok=True)
    written = []
    for name, (dt, shape, arr) in tensors.items():
        written.append((name, dt, inflate_tensor(name, dt, arr, m)))
    if tied:
        if "lm_head.weight" in tensors:
            fail(f"{args.model}: tie_word_embeddings is true but lm_head.weight is present")
        dt, _, emb = tensors["model.embed_tokens.weight"]
        written.append(("lm_head.weight", dt, inflate_tensor("lm_head.weight", dt, emb, m)))
    nbytes = write_safetensors(os.path.join(out, "model.safetensors"), written)

    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg_out, f, indent=2)
        f.write("\n")
    for name in COPIED_FILES:
        src = os.path.join(args.model, name)
        if os.path.isfile(src):
            shutil.copyfile(src, os.path.join(out, name))
    if args.table:
        with open(os.path.join(out, "slices.csv"), "w") as f:
            f.write(inflate_table(args.table, m, cfg_out))
    n_params = sum(a.size for _, _, a in written)
    print(f"inflate_matformer: {args.model} x{m} -> {out}: {n_params / 1e6:.1f} M parameters, "
          f"{nbytes / 1e6:.1f} MB; hidden {cfg_out['hidden_size']}, FFN {cfg_out['intermediate_size']}, "
          f"heads {cfg_out['num_attention_heads']}/{cfg_out['num_key_value_heads']} x {cfg_out['head_dim']}"
          + (", slices.csv" if args.table else ""))
    if args.verify > 0:
        verify(cfg, tensors, cfg_out, out, m, args.verify)


if __name__ == "__main__":
    main()
