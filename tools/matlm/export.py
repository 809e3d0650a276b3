"""Exports a MatLM training checkpoint as the bundled Hugging Face llama model.

Writes <model_dir>/{config.json, generation_config.json, model.safetensors (bf16), tokenizer.model},
matformer_configs/<name>.csv (the slice table) and a compact copy of the training log
(tools/matlm/train_log.json). Checks that the written bf16 file reloads into the training model.
"""

import argparse
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_format  # noqa: E402
import slices  # noqa: E402
from model import MatLM  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def compact_log(log):
    """The training log as committed: the loss history (one entry per 25 steps), evaluations, cost."""
    out = dict(log)
    out.pop("counters", None)  # internal; the totals are in "final"
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ckpt", default=os.path.join(HERE, "work", "run", "ckpt.pt"))
    ap.add_argument("--tokenizer", default=os.path.join(HERE, "work", "tokenizer.model"))
    ap.add_argument("--model-dir", default=os.path.join(REPO, "models", "matlm-tiny"))
    ap.add_argument("--csv", default=os.path.join(REPO, "matformer_configs", "matlm-tiny.csv"))
    ap.add_argument("--log-out", default=os.path.join(HERE, "train_log.json"))
    args = ap.parse_args()

    ck = torch.load(args.ckpt)
    config = ck["config"]
    model = MatLM(config)
    model.load_state_dict(ck["model"])
    model.eval()
    os.makedirs(args.model_dir, exist_ok=True)
    f = config["intermediate_size"]
    with open(os.path.join(args.model_dir, "config.json"), "w") as fh:
        json.dump(hf_format.hf_config(config, [f // 8, f // 4, f // 2, f]), fh, indent=2)
        fh.write("\n")
    with open(os.path.join(args.model_dir, "generation_config.json"), "w") as fh:
        json.dump(hf_format.generation_config(config), fh, indent=2)
        fh.write("\n")
    st_path = os.path.join(args.model_dir, "model.safetensors")
    hf_format.write_safetensors(st_path, hf_format.to_hf_state(model), torch.bfloat16)
    shutil.copyfile(args.tokenizer, os.path.join(args.model_dir, "tokenizer.model"))
    slices.write_csv(args.csv, config)
    log = compact_log(ck["log"])
    with open(args.log_out, "w") as fh:
        json.dump(log, fh, indent=1)
        fh.write("\n")

    # reload check: the bf16 file against the f32 checkpoint rounded to bf16
    reloaded = hf_format.from_hf_state(hf_format.read_safetensors(st_path), config)
    ref = MatLM(config)
    ref.load_state_dict({k: v.to(torch.bfloat16).float() for k, v in ck["model"].items()})
    ref.eval()
    ids = torch.randint(0, config["vocab_size"], (1, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        diff = (reloaded(ids) - ref(ids)).abs().max().item()
    size = os.path.getsize(st_path)
    print(f"exported step {ck['step']} to {args.model_dir}: model.safetensors {size / 1e6:.2f} MB, "
          f"reload max |dlogit| = {diff:.2e}")
    if diff != 0.0:
        raise SystemExit("reloaded weights differ from the checkpoint")


if __name__ == "__main__":
    main()
