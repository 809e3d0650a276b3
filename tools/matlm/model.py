"""MatLM: a llama-family decoder whose FFNs are nested (MatFormer) and can run as any slice.

Architecture (identical to Hugging Face LlamaForCausalLM so the export loads there unchanged):
RMSNorm (f32 statistics), rotary embeddings in HF's rotate_half convention, grouped-query attention,
SwiGLU FFN (down(silu(gate(x)) * up(x))), no biases, optionally tied input/output embeddings.

A slice is (widths, skipped): widths[i] is the FFN width used by the i-th KEPT layer (the first widths[i]
units of the hidden dimension: rows of gate/up, columns of down), skipped is a set of original layer
indices that are bypassed entirely (the residual stream passes through). widths=None is the full model.
Torch 1.13 has no scaled_dot_product_attention, so attention is written out.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


DEFAULT_CONFIG = dict(
    vocab_size=4096,
    hidden_size=256,
    intermediate_size=1024,
    num_hidden_layers=6,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=64,
    rms_norm_eps=1e-5,
    rope_theta=10000.0,
    max_position_embeddings=1024,
    tie_word_embeddings=True,
    bos_token_id=1,
    eos_token_id=2,
)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def rope_cos_sin(positions, head_dim, theta):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = positions.float()[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.nh, self.nkv, self.hd = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        h = c["hidden_size"]
        self.q_proj = nn.Linear(h, self.nh * self.hd, bias=False)
        self.k_proj = nn.Linear(h, self.nkv * self.hd, bias=False)
        self.v_proj = nn.Linear(h, self.nkv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.nh * self.hd, h, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.nkv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.nh // self.nkv
        k = k.repeat_interleave(rep, dim=1)  # HF repeat_kv: query head i uses kv head i // rep
        v = v.repeat_interleave(rep, dim=1)
        att = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.hd)
        att = att + mask
        att = torch.softmax(att.float(), dim=-1).to(q.dtype)
        y = torch.matmul(att, v).transpose(1, 2).reshape(b, t, self.nh * self.hd)
        return self.o_proj(y)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, f = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = nn.Linear(h, f, bias=False)
        self.up_proj = nn.Linear(h, f, bias=False)
        self.down_proj = nn.Linear(f, h, bias=False)

    def forward(self, x, width=None):
        if width is None or width == self.gate_proj.weight.shape[0]:
            return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))
        g = F.linear(x, self.gate_proj.weight[:width])
        u = F.linear(x, self.up_proj.weight[:width])
        return F.linear(F.silu(g) * u, self.down_proj.weight[:, :width])


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.mlp = MLP(c)

    def forward(self, x, cos, sin, mask, width=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x), width)


class MatLM(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = dict(config)
        c = self.config
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([Layer(c) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.lm_head = None if c["tie_word_embeddings"] else nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)

    def init_weights(self, seed):
        g = torch.Generator().manual_seed(seed)
        n = self.config["num_hidden_layers"]
        for name, p in self.named_parameters():
            if name.endswith("layernorm.weight") or name == "norm.weight":
                nn.init.ones_(p)
                continue
            std = 0.02
            if name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
                std = 0.02 / math.sqrt(2 * n)
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) * std)

    def output_weight(self):
        return self.embed_tokens.weight if self.lm_head is None else self.lm_head.weight

    def hidden(self, ids, widths=None, skipped=(), start_pos=0):
        """Final-norm hidden states [B, T, H] of the slice (widths per kept layer, skipped layers)."""
        b, t = ids.shape
        c = self.config
        kept = [i for i in range(c["num_hidden_layers"]) if i not in set(skipped)]
        if widths is not None and len(widths) != len(kept):
            raise ValueError(f"{len(widths)} widths for {len(kept)} kept layers")
        pos = torch.arange(start_pos, start_pos + t)
        cos, sin = rope_cos_sin(pos, c["head_dim"], c["rope_theta"])
        mask = torch.full((t, t), float("-inf")).triu(1)
        x = self.embed_tokens(ids)
        for j, i in enumerate(kept):
            x = self.layers[i](x, cos, sin, mask, None if widths is None else widths[j])
        return self.norm(x)

    def forward(self, ids, widths=None, skipped=()):
        """Logits [B, T, V]."""
        return F.linear(self.hidden(ids, widths, skipped), self.output_weight())


def uniform_widths(config, frac_den, skipped=()):
    """widths for the uniform slice F/frac_den over the kept layers."""
    n_kept = config["num_hidden_layers"] - len(set(skipped))
    return [config["intermediate_size"] // frac_den] * n_kept


def count_params(config, widths=None, skipped=()):
    """Parameters a slice uses (embeddings counted once when tied), as MatFormer tables count them."""
    c = config
    h, v = c["hidden_size"], c["vocab_size"]
    kept = [i for i in range(c["num_hidden_layers"]) if i not in set(skipped)]
    if widths is None:
        widths = [c["intermediate_size"]] * len(kept)
    attn = h * c["num_attention_heads"] * c["head_dim"] * 2 + h * c["num_key_value_heads"] * c["head_dim"] * 2
    total = v * h * (1 if c["tie_word_embeddings"] else 2) + h  # embeddings (+ head) + final norm
    for w in widths:
        total += attn + 3 * h * w + 2 * h
    return total
