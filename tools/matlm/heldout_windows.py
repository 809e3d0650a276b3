"""Writes the held-out windows the model card scores, as token ids, for tools that are not Python.

One line per window: seq + 1 ids separated by spaces (inputs = all but the last, targets = all but the
first); the same windows as measure.py (every --stride-th window of the held-out stream). Positions
whose target is BOS are not scored by measure.py; readers skip them the same way (BOS id on line 1 of
the output, prefixed by '# bos ').

  heldout_windows.py --out /tmp/windows.txt
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import data  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", default=os.path.join(REPO, "models", "matlm-tiny"))
    ap.add_argument("--log", default=os.path.join(HERE, "train_log.json"))
    ap.add_argument("--stride", type=int, default=3)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(args.log) as f:
        seq = json.load(f)["args"]["seq"]
    sp = data.load_tokenizer(os.path.join(args.model_dir, "tokenizer.model"))
    windows = data.eval_windows(data.stream(sp, "heldout"), seq, stride_windows=args.stride)
    with open(args.out, "w") as f:
        f.write(f"# bos {sp.bos_id()}\n")
        for w in windows.tolist():
            f.write(" ".join(map(str, w)) + "\n")
    print(f"{len(windows)} windows of {seq + 1} ids -> {args.out}")


if __name__ == "__main__":
    main()
