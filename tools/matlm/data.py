"""Token streams for MatLM training and evaluation.

A split's stream is, for each document in order, [BOS] + sentencepiece ids + [EOS], concatenated.
Training samples random windows of seq+1 tokens from the training stream; evaluation cuts the held-out
stream into consecutive non-overlapping windows.
"""

import os

import numpy as np
import sentencepiece as spm
import torch

import prepare_data


def load_tokenizer(path):
    return spm.SentencePieceProcessor(model_file=path)


def encode_docs(sp, texts):
    out = []
    for ids in sp.encode(list(texts)):
        out.append(sp.bos_id())
        out.extend(ids)
        out.append(sp.eos_id())
    return np.asarray(out, dtype=np.int64)


def stream(sp, split, cache_dir=None):
    """The token stream of 'train' or 'heldout' (regenerated from the Debian text; cached if asked)."""
    cache = os.path.join(cache_dir, f"{split}_ids.npy") if cache_dir else None
    if cache and os.path.exists(cache):
        return np.load(cache)
    train, held = prepare_data.split_documents()
    docs = train if split == "train" else held
    ids = encode_docs(sp, (t for _, t in docs))
    if cache:
        np.save(cache, ids)
    return ids


def eval_windows(ids, seq, max_windows=None, stride_windows=1):
    """[N, seq+1] consecutive windows (inputs = [:, :-1], targets = [:, 1:]); every stride-th window."""
    n = (len(ids) - 1) // seq
    rows = [ids[i * seq: i * seq + seq + 1] for i in range(0, n, stride_windows)]
    if max_windows is not None:
        rows = rows[:max_windows]
    return torch.from_numpy(np.stack(rows))
