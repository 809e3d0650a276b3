#!/usr/bin/env python3
"""Ranks token ids by frequency in a corpus and writes the list that
`matspec generate --draft-vocab-file` reads: a reduced-vocabulary draft head
scores only the first N ids of it (--draft-vocab N).

  /usr/bin/python3 tools/token_frequencies.py --tokenizer models/matlm-tiny/tokenizer.model \
      --corpus tools/matlm/work/train.txt --out models/matlm-tiny/draft_vocab.txt

Corpus files are read as UTF-8 text, one document per line, and encoded with the
SentencePiece model (python3-sentencepiece). Ids are written most frequent first
(ties: lower id first), ten per line, after a '#' header that names the corpus
and the share of corpus tokens the first 256, 512, ... ids cover. Ids that never
occur are left out. Pass --ids FILE.npy (numpy) instead of --corpus to count an
already tokenized stream.
"""
import argparse
import collections
import os
import sys


def count_text(tokenizer, paths):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=tokenizer)
    counts = collections.Counter()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if line:
                    counts.update(sp.encode(line))
    return counts, sp.get_piece_size()


def count_ids(paths):
    import numpy as np

    counts = collections.Counter()
    for path in paths:
        counts.update(int(i) for i in np.load(path).ravel())
    return counts, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokenizer", help="SentencePiece model (with --corpus)")
    ap.add_argument("--corpus", nargs="*", default=[], help="UTF-8 text files")
    ap.add_argument("--ids", nargs="*", default=[], help=".npy files of token ids")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if bool(a.corpus) == bool(a.ids):
        sys.exit("give either --corpus (with --tokenizer) or --ids")
    if a.corpus and not a.tokenizer:
        sys.exit("--corpus needs --tokenizer")
    counts, vocab = count_text(a.tokenizer, a.corpus) if a.corpus else count_ids(a.ids)
    if not counts:
        sys.exit("the corpus has no tokens")
    ranked = sorted(counts, key=lambda i: (-counts[i], i))
    total = sum(counts.values())
    sources = ", ".join(os.path.basename(p) for p in (a.corpus or a.ids))
    lines = [f"# token ids by frequency in {sources}: {total} tokens, {len(ranked)} distinct ids"
             + (f" of {vocab}" if vocab else "")]
    n = 256
    while n < len(ranked):
        covered = sum(counts[i] for i in ranked[:n])
        lines.append(f"# first {n} ids cover {100.0 * covered / total:.2f}% of the tokens")
        n *= 2
    for i in range(0, len(ranked), 10):
        lines.append(" ".join(str(t) for t in ranked[i:i + 10]))
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(ranked)} ids to {a.out}")


if __name__ == "__main__":
    main()
