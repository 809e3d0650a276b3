"""Hugging Face llama checkpoint format for MatLM: safetensors (written/read by hand), config files.

The safetensors layout: 8-byte little-endian header length, a JSON header mapping each tensor name to
{dtype, shape, data_offsets} (plus "__metadata__"), padded with spaces to a multiple of 8, then the raw
little-endian tensor bytes. Tensor names are those of transformers' LlamaForCausalLM.
"""

import json
import struct

import numpy as np
import torch

from model import MatLM

_DTYPES = {torch.bfloat16: "BF16", torch.float32: "F32", torch.float16: "F16"}


def to_hf_state(model):
    """{hf_name: tensor}: our module names prefixed with 'model.', lm_head only when untied."""
    out = {}
    for name, t in model.state_dict().items():
        if name.startswith("lm_head."):
            out[name] = t
        else:
            out["model." + name] = t
    return out


def from_hf_state(tensors, config):
    model = MatLM(config)
    state = {}
    for name, t in tensors.items():
        if name == "lm_head.weight" and config["tie_word_embeddings"]:
            continue
        state[name[len("model."):] if name.startswith("model.") else name] = t.float()
    model.load_state_dict(state, strict=True)
    model.eval()
    return model


def write_safetensors(path, tensors, dtype=torch.bfloat16):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(dtype).contiguous()
        if dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            raw = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _DTYPES[dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """{name: float32 tensor} (BF16/F16/F32 supported)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        buf = data[base + b: base + e]
        if info["dtype"] == "BF16":
            i16 = np.frombuffer(buf, dtype="<i2").copy()
            t = torch.from_numpy(i16).view(torch.bfloat16).float()
        elif info["dtype"] == "F16":
            t = torch.from_numpy(np.frombuffer(buf, dtype="<f2").astype(np.float32))
        elif info["dtype"] == "F32":
            t = torch.from_numpy(np.frombuffer(buf, dtype="<f4").copy())
        else:
            raise ValueError(f"{name}: unsupported dtype {info['dtype']}")
        out[name] = t.reshape(info["shape"])
    return out


def hf_config(config, granularities):
    c = config
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": c["vocab_size"],
        "hidden_size": c["hidden_size"],
        "intermediate_size": c["intermediate_size"],
        "num_hidden_layers": c["num_hidden_layers"],
        "num_attention_heads": c["num_attention_heads"],
        "num_key_value_heads": c["num_key_value_heads"],
        "head_dim": c["head_dim"],
        "hidden_act": "silu",
        "max_position_embeddings": c["max_position_embeddings"],
        "rms_norm_eps": c["rms_norm_eps"],
        "rope_theta": c["rope_theta"],
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "pretraining_tp": 1,
        "initializer_range": 0.02,
        "tie_word_embeddings": c["tie_word_embeddings"],
        "bos_token_id": c["bos_token_id"],
        "eos_token_id": c["eos_token_id"],
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "matformer_ffn_granularities": list(granularities),
    }


def config_from_hf(hf):
    keys = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads", "rms_norm_eps", "rope_theta", "max_position_embeddings",
            "tie_word_embeddings", "bos_token_id", "eos_token_id")
    c = {k: hf[k] for k in keys}
    c["head_dim"] = hf.get("head_dim", hf["hidden_size"] // hf["num_attention_heads"])
    return c


def generation_config(config):
    return {"bos_token_id": config["bos_token_id"], "eos_token_id": config["eos_token_id"],
            "do_sample": False, "max_new_tokens": 64, "_from_model_config": False}
