"""Trains MatLM with MatFormer nested-FFN training on the CPU (single-threaded by default).

Recipes (--recipe; --decay-recipe switches recipe for the learning-rate decay phase):
  sample: each step draws one granularity in {F, F/2, F/4, F/8} uniformly and trains that sub-network;
  sum:    each step sums the cross-entropy losses of all four granularities (the paper's joint loss).
Granularity F/k uses the first F/k units of every layer's FFN hidden dimension.

The run is a pure function of its flags and --seed (single-threaded CPU math is deterministic).
Checkpoints (<out>/ckpt.pt) are written every --ckpt-every seconds and at the end; --resume continues
from one with the same flags. <out>/train_log.json holds the loss curve, evaluations and the cost.
"""

import argparse
import json
import math
import os
import platform
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
from model import DEFAULT_CONFIG, MatLM, count_params  # noqa: E402

GRANULARITIES = (1, 2, 4, 8)  # F/1, F/2, F/4, F/8


def parse_args(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(here, "work", "run"))
    ap.add_argument("--tokenizer", default=os.path.join(here, "work", "tokenizer.model"))
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--recipe", choices=("sample", "sum"), default="sample")
    ap.add_argument("--decay-recipe", choices=("same", "sample", "sum"), default="same",
                    help="recipe during the learning-rate decay phase (wsd schedule); same = --recipe")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--schedule", choices=("wsd", "cosine"), default="wsd",
                    help="wsd: warmup, constant, then linear decay over the last --decay-frac of the steps")
    ap.add_argument("--decay-frac", type=float, default=0.2)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--hidden", type=int, default=DEFAULT_CONFIG["hidden_size"])
    ap.add_argument("--ffn", type=int, default=DEFAULT_CONFIG["intermediate_size"])
    ap.add_argument("--layers", type=int, default=DEFAULT_CONFIG["num_hidden_layers"])
    ap.add_argument("--heads", type=int, default=DEFAULT_CONFIG["num_attention_heads"])
    ap.add_argument("--kv-heads", type=int, default=DEFAULT_CONFIG["num_key_value_heads"])
    ap.add_argument("--head-dim", type=int, default=DEFAULT_CONFIG["head_dim"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ckpt-every", type=float, default=180.0, help="seconds between checkpoints")
    ap.add_argument("--eval-every", type=int, default=250, help="steps between held-out evaluations")
    ap.add_argument("--eval-windows", type=int, default=24)
    ap.add_argument("--time-limit", type=float, default=0.0,
                    help="stop (after a checkpoint) once this many seconds of training have run; 0 = none")
    ap.add_argument("--resume", action="store_true")
    return ap.parse_args(argv)


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    if args.schedule == "wsd":
        decay_start = args.steps * (1 - args.decay_frac)
        if step < decay_start:
            return args.lr
        p = min(1.0, (step - decay_start) / max(1.0, args.steps - decay_start))
        return args.lr * (1 - (1 - args.min_lr_frac) * p)
    p = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
    return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))


def widths_for(config, den):
    return None if den == 1 else [config["intermediate_size"] // den] * config["num_hidden_layers"]


@torch.no_grad()
def evaluate(model, windows):
    """Held-out loss per granularity and consistency (argmax agreement with the full model)."""
    model.eval()
    x, y = windows[:, :-1], windows[:, 1:]
    res = {}
    full_arg = None
    for den in GRANULARITIES:
        logits = model(x, widths_for(model.config, den))
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten()).item()
        arg = logits.argmax(-1)
        if den == 1:
            full_arg = arg
        res[f"F/{den}"] = {"loss": round(loss, 4),
                          "consistency": round((arg == full_arg).float().mean().item(), 4)}
    model.train()
    return res


def save_checkpoint(path, model, opt, step, gen, elapsed, log):
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                "gen": gen.get_state(), "elapsed": elapsed, "log": log, "config": model.config}, tmp)
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    sp = data.load_tokenizer(args.tokenizer)
    work = os.path.dirname(args.tokenizer)
    train_ids = torch.from_numpy(data.stream(sp, "train", work))
    held = data.eval_windows(data.stream(sp, "heldout", work), args.seq)
    # a fixed spread-out subset of held-out windows for monitoring (never trained on)
    pick = torch.linspace(0, len(held) - 1, args.eval_windows).round().long()
    held = held[pick]

    config = dict(DEFAULT_CONFIG, vocab_size=sp.vocab_size(), hidden_size=args.hidden,
                  intermediate_size=args.ffn, num_hidden_layers=args.layers,
                  num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
                  head_dim=args.head_dim, bos_token_id=sp.bos_id(), eos_token_id=sp.eos_id())
    torch.manual_seed(args.seed)
    model = MatLM(config)
    model.init_weights(args.seed)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(args.seed + 1)
    ckpt_path = os.path.join(args.out, "ckpt.pt")
    step, elapsed = 0, 0.0
    log = {"args": vars(args), "config": config, "params": count_params(config),
           "train_tokens_in_split": int(len(train_ids)), "hardware": hardware(args), "history": [],
           "evals": []}
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        gen.set_state(ck["gen"])
        step, elapsed, log = ck["step"], ck["elapsed"], ck["log"]
        changed = {k: [log["args"].get(k), v] for k, v in vars(args).items()
                   if log["args"].get(k) != v and k != "resume"}
        log.setdefault("resumes", []).append({"step": step, "hardware": hardware(args),
                                              "changed_args": changed})
        log["args"] = vars(args)
        print(f"resumed at step {step} ({elapsed:.0f}s)", flush=True)

    # cumulative counters (older checkpoints predate them: every earlier step was a --recipe step)
    counters = log.setdefault("counters", {"sub_network_tokens": step * args.batch * args.seq *
                                           (len(GRANULARITIES) if args.recipe == "sum" else 1),
                                           f"{args.recipe}_steps": step})
    t_last_ckpt = time.time()
    t0 = time.time() - elapsed
    tokens_per_step = args.batch * args.seq
    window_loss = {}
    n_max = len(train_ids) - args.seq - 1
    while step < args.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        starts = torch.randint(0, n_max, (args.batch,), generator=gen)
        batch = torch.stack([train_ids[s: s + args.seq + 1] for s in starts.tolist()])
        x, y = batch[:, :-1], batch[:, 1:]
        recipe = args.recipe
        if args.decay_recipe != "same" and args.schedule == "wsd" and step >= args.steps * (1 - args.decay_frac):
            recipe = args.decay_recipe
        if recipe == "sum":
            dens = GRANULARITIES
        else:
            dens = (GRANULARITIES[int(torch.randint(0, len(GRANULARITIES), (1,), generator=gen))],)
        opt.zero_grad(set_to_none=True)
        for den in dens:
            loss = F.cross_entropy(model(x, widths_for(config, den)).flatten(0, 1), y.flatten())
            loss.backward()
            window_loss.setdefault(den, []).append(loss.item())
        counters["sub_network_tokens"] += tokens_per_step * len(dens)
        counters[f"{recipe}_steps"] = counters.get(f"{recipe}_steps", 0) + 1
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        step += 1
        elapsed = time.time() - t0
        if step % 25 == 0 or step == args.steps:
            entry = {"step": step, "tokens": step * tokens_per_step, "elapsed_s": round(elapsed, 1),
                     "lr": round(lr_at(step - 1, args), 6)}
            for den, ls in sorted(window_loss.items()):
                entry[f"train_loss_F/{den}"] = round(float(np.mean(ls)), 4)
            window_loss = {}
            log["history"].append(entry)
            print(json.dumps(entry), flush=True)
        if step % args.eval_every == 0 or step == args.steps:
            ev = {"step": step, "elapsed_s": round(time.time() - t0, 1), **evaluate(model, held)}
            log["evals"].append(ev)
            print("eval", json.dumps(ev), flush=True)
        out_of_time = args.time_limit > 0 and time.time() - t0 >= args.time_limit
        if time.time() - t_last_ckpt >= args.ckpt_every or step == args.steps or out_of_time:
            log["final"] = {"steps": step, "tokens_seen": step * tokens_per_step,
                            "sub_network_tokens": counters["sub_network_tokens"],
                            "steps_by_recipe": {k[:-6]: v for k, v in counters.items() if k.endswith("_steps")},
                            "wall_s": round(time.time() - t0, 1), "completed": step == args.steps}
            save_checkpoint(ckpt_path, model, opt, step, gen, time.time() - t0, log)
            with open(os.path.join(args.out, "train_log.json"), "w") as f:
                json.dump(log, f, indent=1)
            t_last_ckpt = time.time()
            if out_of_time and step < args.steps:
                print(f"time limit reached at step {step}", flush=True)
                return
    print("done", flush=True)


def hardware(args):
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"device": "cpu", "cpu": cpu, "torch_threads": args.threads, "torch": torch.__version__,
            "logical_cpus": os.cpu_count()}


if __name__ == "__main__":
    main()
