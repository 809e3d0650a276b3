"""Evaluates recipe-comparison checkpoints on held-out windows and writes recipe_comparison.json.

The comparison: two short runs of the shipped architecture, started together and stopped together (equal
wall clock on the same shared CPU), one per recipe (`--recipe sample` and `--recipe sum`); each run's last
checkpoint is scored here on the same held-out windows (loss per granularity, consistency with F).
"""

import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import data  # noqa: E402
import train  # noqa: E402
from model import MatLM  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("runs", nargs="+", help="name=run_dir")
    ap.add_argument("--tokenizer", default=os.path.join(HERE, "work", "tokenizer.model"))
    ap.add_argument("--windows", type=int, default=48)
    ap.add_argument("--out", default=os.path.join(HERE, "recipe_comparison.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    sp = data.load_tokenizer(args.tokenizer)
    result = {"description": __doc__.strip(), "runs": {}}
    for spec in args.runs:
        name, run_dir = spec.split("=", 1)
        ck = torch.load(os.path.join(run_dir, "ckpt.pt"))
        a = ck["log"]["args"]
        held = data.eval_windows(data.stream(sp, "heldout", os.path.dirname(args.tokenizer)), a["seq"])
        pick = torch.linspace(0, len(held) - 1, args.windows).round().long()
        model = MatLM(ck["config"])
        model.load_state_dict(ck["model"])
        ev = train.evaluate(model, held[pick])
        result["runs"][name] = {"recipe": a["recipe"], "steps": ck["step"], "batch": a["batch"],
                                "seq": a["seq"], "lr": a["lr"], "wall_s": round(ck["elapsed"], 1),
                                "tokens_seen": ck["step"] * a["batch"] * a["seq"],
                                "eval_windows": args.windows, "final_eval": ev}
        print(name, json.dumps(result["runs"][name]), flush=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
