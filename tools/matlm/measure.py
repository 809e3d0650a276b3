"""Recomputes every figure of models/matlm-tiny/MODEL_CARD.md from the shipped files.

Inputs: models/matlm-tiny/{config.json, model.safetensors, tokenizer.model}, matformer_configs/matlm-tiny.csv,
tools/matlm/train_log.json (training cost), tools/matlm/recipe_comparison.json (recipe choice), and the
held-out split regenerated from the installed Debian text (prepare_data.py) with the shipped tokenizer.

Measures, per slice of the table: held-out loss and perplexity (vs a unigram baseline fitted on the
training split), top-1 accuracy, and consistency (% of held-out positions where the slice's greedy next
token equals the full model's); greedy samples from the full model and the smallest slice; and checks that
transformers' LlamaForCausalLM loads the directory and reproduces this code's logits and greedy output.

  measure.py                  # print the figures and write tools/matlm/measurements.json
  measure.py --card           # also regenerate MODEL_CARD.md from card_template.md
  measure.py --check-card     # exit 1 if the committed MODEL_CARD.md differs from a regenerated one
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import data  # noqa: E402
import hf_format  # noqa: E402
import prepare_data  # noqa: E402
import slices  # noqa: E402
from model import count_params  # noqa: E402

PROMPTS = ["And God said unto Moses,", "A man walks into a bar", "The secret of success is"]
SAMPLE_TOKENS = 40
HF_TOKENS = 32


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        hf = json.load(f)
    config = hf_format.config_from_hf(hf)
    model = hf_format.from_hf_state(hf_format.read_safetensors(os.path.join(model_dir, "model.safetensors")),
                                    config)
    return model, config, hf


@torch.no_grad()
def greedy(model, ids, n_new, eos, widths=None, skipped=()):
    """Greedy continuation (no cache: the whole sequence is re-run each step). Stops after EOS."""
    seq = list(ids)
    out = []
    for _ in range(n_new):
        logits = model(torch.tensor([seq]), widths, skipped)[0, -1]
        nxt = int(logits.argmax())
        seq.append(nxt)
        out.append(nxt)
        if nxt == eos:
            break
    return out


@torch.no_grad()
def eval_slice(model, windows, mask, widths, skipped, batch=16):
    """(sum nll, count, argmax [N, T], correct) over masked target positions."""
    nll, cnt, correct, args = 0.0, 0, 0, []
    for i in range(0, len(windows), batch):
        w = windows[i:i + batch]
        m = mask[i:i + batch]
        logits = model(w[:, :-1], widths, skipped)
        lp = F.log_softmax(logits.float(), -1)
        tgt = w[:, 1:]
        tok_nll = -lp.gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
        nll += tok_nll[m].double().sum().item()
        cnt += int(m.sum())
        a = logits.argmax(-1)
        correct += int(((a == tgt) & m).sum())
        args.append(a)
    return nll, cnt, torch.cat(args), correct


@torch.no_grad()
def hf_greedy(hf, ids, n_new, eos):
    """HF greedy continuation: generate(), or, where generate() cannot run (Debian's torch 1.13 fails to
    import torch.distributed.fsdp under Python 3.11), an argmax loop over HF's forward with its KV cache."""
    try:
        gen = hf.generate(torch.tensor([ids]), max_new_tokens=n_new, do_sample=False,
                          eos_token_id=eos, pad_token_id=eos)
        return gen[0, len(ids):].tolist(), "generate(do_sample=False)"
    except Exception:  # noqa: BLE001 - any failure of generate() falls back to the explicit loop
        pass
    out = hf(torch.tensor([ids]), use_cache=True)
    past, out_ids = out.past_key_values, []
    for _ in range(n_new):
        nxt = int(out.logits[0, -1].argmax())
        out_ids.append(nxt)
        if nxt == eos:
            break
        out = hf(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
        past = out.past_key_values
    return out_ids, "argmax loop over forward() with past_key_values (generate() unavailable)"


def hf_check(model_dir, model, sp, windows, eos):
    try:
        import transformers
        from transformers import LlamaForCausalLM
    except ImportError as e:
        return {"status": f"skipped: transformers not importable ({e})"}
    hf = LlamaForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
    hf.eval()
    res = {"transformers": transformers.__version__, "prompts": []}
    with torch.no_grad():
        x = windows[:2, :-1]
        d = (hf(x).logits - model(x)).abs().max().item()
    res["max_abs_logit_diff"] = d
    all_equal = True
    for p in PROMPTS:
        ids = [sp.bos_id()] + sp.encode(p)
        ours = greedy(model, ids, HF_TOKENS, eos)
        theirs, method = hf_greedy(hf, ids, HF_TOKENS, eos)
        res["method"] = method
        eq = theirs == ours
        all_equal &= eq
        res["prompts"].append({"prompt": p, "equal": eq, "hf_ids": theirs, "ours_ids": ours,
                               "text": sp.decode(ours)})
    res["status"] = "pass" if all_equal and d < 1e-3 else "FAIL"
    return res


def measure(args):
    t_start = time.time()
    torch.set_num_threads(args.threads)
    model, config, hf_cfg = load_model(args.model_dir)
    sp = data.load_tokenizer(os.path.join(args.model_dir, "tokenizer.model"))
    with open(args.log) as f:
        log = json.load(f)
    seq = log["args"]["seq"]
    table = slices.read_csv(args.csv)

    held_ids = data.stream(sp, "heldout")
    train_ids = data.stream(sp, "train")
    windows = data.eval_windows(held_ids, seq, stride_windows=args.stride)
    mask = windows[:, 1:] != sp.bos_id()  # document-boundary positions (target BOS) are not scored

    # unigram baseline fitted on the training split (add-one smoothing), same target positions
    v = config["vocab_size"]
    tr_tgt = train_ids[1:][train_ids[1:] != sp.bos_id()]
    counts = np.bincount(tr_tgt, minlength=v).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    tgt = windows[:, 1:][mask].numpy()
    unigram = float(-logp[tgt].mean())

    res = {"heldout_tokens_total": int(len(held_ids)), "eval_windows": int(len(windows)), "seq": seq,
           "eval_positions": int(mask.sum()), "unigram_loss": unigram, "unigram_ppl": math.exp(unigram),
           "uniform_loss": math.log(v), "slices": []}
    full_args = None
    rows = sorted(table, key=lambda r: r["name"] != "full")  # full first: consistency needs it
    for r in rows:
        t0 = time.time()
        n_kept = config["num_hidden_layers"] - len(r["skipped"])
        params = count_params(config, r["widths"], r["skipped"])
        if r["layers"] != n_kept or len(r["widths"]) != n_kept:
            raise SystemExit(f"{r['name']}: # Layers / widths do not match the kept layers")
        if slices.sig4(params / 1e9) != r["params_text"]:
            raise SystemExit(f"{r['name']}: table says {r['params_text']} B params, count gives {params}")
        nll, cnt, arg, correct = eval_slice(model, windows, mask, r["widths"], r["skipped"])
        if full_args is None:
            if r["name"] != "full":
                raise SystemExit("the table needs a 'full' row")
            full_args = arg
        cons = float(((arg == full_args) & mask).sum()) / float(mask.sum())
        loss = nll / cnt
        res["slices"].append({"name": r["name"], "widths": r["widths"], "skipped": r["skipped"],
                              "params": params, "loss": loss, "ppl": math.exp(loss),
                              "top1": correct / cnt, "consistency": cons,
                              "seconds": round(time.time() - t0, 1)})
        print(f"{r['name']:18s} params={params:8d} loss={loss:.4f} ppl={math.exp(loss):7.2f} "
              f"top1={correct / cnt:.4f} consistency={cons:.4f} ({time.time() - t0:.0f}s)", flush=True)

    eos = config["eos_token_id"]
    smallest = min(res["slices"], key=lambda s: s["params"])
    res["samples"] = []
    for p in PROMPTS:
        ids = [sp.bos_id()] + sp.encode(p)
        entry = {"prompt": p}
        for key, s in (("full", None), ("smallest", smallest)):
            out = greedy(model, ids, SAMPLE_TOKENS, eos, None if s is None else s["widths"],
                         () if s is None else s["skipped"])
            entry[key] = sp.decode([t for t in out if t != eos]) + (" <eos>" if out and out[-1] == eos else "")
        res["samples"].append(entry)
    res["smallest_slice"] = smallest["name"]

    res["hf_check"] = {"status": "skipped (--skip-hf)"} if args.skip_hf else hf_check(
        args.model_dir, model, sp, windows, eos)
    print("HF check:", res["hf_check"]["status"], res["hf_check"].get("max_abs_logit_diff", ""), flush=True)

    fin = log["final"]
    res["training"] = {"recipe": log["args"]["recipe"], "decay_recipe": log["args"].get("decay_recipe", "same"),
                       "steps_by_recipe": fin.get("steps_by_recipe", {}), "steps": fin["steps"], "tokens_seen": fin["tokens_seen"],
                       "sub_network_tokens": fin["sub_network_tokens"], "wall_s": fin["wall_s"],
                       "completed": fin["completed"], "hardware": log["hardware"],
                       "batch": log["args"]["batch"], "seq": log["args"]["seq"], "lr": log["args"]["lr"],
                       "seed": log["args"]["seed"], "epochs": fin["tokens_seen"] / log["train_tokens_in_split"],
                       "train_tokens_in_split": log["train_tokens_in_split"]}
    if os.path.exists(args.comparison):
        with open(args.comparison) as f:
            res["recipe_comparison"] = json.load(f)
    train_docs, held_docs = prepare_data.split_documents()
    res["documents"] = {f"{split}_{src}": sum(1 for name, _ in docs if name.startswith(src + ":"))
                        for split, docs in (("train", train_docs), ("heldout", held_docs))
                        for src in ("kjv", "fortunes")}
    res["training_evals"] = log.get("evals", [])
    res["resumes"] = [{"step": r["step"], "changed_args": r.get("changed_args", {})}
                      for r in log.get("resumes", [])]
    res["decay_start_step"] = int(log["args"]["steps"] * (1 - log["args"]["decay_frac"]))
    res["model"] = {"params": count_params(config), "config": config,
                    "safetensors_bytes": os.path.getsize(os.path.join(args.model_dir, "model.safetensors"))}
    res["measure_seconds"] = round(time.time() - t_start, 1)
    return res


# ----------------------------------------------------------------------------- card rendering
def _pct(x):
    return f"{100 * x:.1f}%"


def render(res):
    """{placeholder: markdown} for card_template.md."""
    tr = res["training"]
    out = {}
    s_by = {s["name"]: s for s in res["slices"]}
    full = s_by["full"]
    lines = ["| slice | kept layers | FFN widths | params | held-out loss | perplexity | top-1 | consistency |",
             "|---|---|---|---|---|---|---|---|"]
    for s in res["slices"]:
        w = slices_short(s["widths"])
        sk = f" (skips {s['skipped']})" if s["skipped"] else ""
        lines.append(f"| {s['name']} | {len(s['widths'])}{sk} | {w} | {s['params'] / 1e6:.2f} M | "
                     f"{s['loss']:.3f} | {s['ppl']:.1f} | {_pct(s['top1'])} | {_pct(s['consistency'])} |")
    lines.append(f"| unigram baseline | – | – | – | {res['unigram_loss']:.3f} | {res['unigram_ppl']:.1f} | – | – |")
    lines.append(f"| uniform over vocabulary | – | – | – | {res['uniform_loss']:.3f} | "
                 f"{math.exp(res['uniform_loss']):.0f} | – | – |")
    out["SLICE_TABLE"] = "\n".join(lines)
    out["EVAL_POSITIONS"] = f"{res['eval_positions']:,}"
    out["HELDOUT_TOKENS"] = f"{res['heldout_tokens_total']:,}"
    out["EVAL_WINDOWS"] = str(res["eval_windows"])
    out["SEQ"] = str(res["seq"])
    out["FULL_LOSS"] = f"{full['loss']:.3f}"
    out["FULL_PPL"] = f"{full['ppl']:.1f}"
    out["UNIGRAM_LOSS"] = f"{res['unigram_loss']:.3f}"
    out["UNIGRAM_PPL"] = f"{res['unigram_ppl']:.1f}"
    for n, target in (("half", 0.75), ("quarter", None), ("eighth", 0.55)):
        out[f"CONS_{n.upper()}"] = _pct(s_by[n]["consistency"])
        if target is not None:
            met = s_by[n]["consistency"] >= target
            out[f"TARGET_{n.upper()}"] = f"target ≥ {target:.0%}: **{'met' if met else 'NOT met'}**"
        out[f"LOSS_{n.upper()}"] = f"{s_by[n]['loss']:.3f}"
    chain = [s_by[n]["loss"] for n in ("full", "half", "quarter", "eighth")]
    mono = all(a < b for a, b in zip(chain, chain[1:]))
    out["MONOTONE"] = (f"{'yes' if mono else 'NO'} (" + " → ".join(f"{x:.3f}" for x in chain) +
                       f"; steps {', '.join(f'+{b - a:.3f}' for a, b in zip(chain, chain[1:]))})")
    c = res["model"]["config"]
    f = c["intermediate_size"]
    out["ARCH_LAYERS"] = f"{c['num_hidden_layers']} / {c['hidden_size']} / {f}"
    out["ARCH_ATTN"] = (f"{c['num_attention_heads']} query heads, {c['num_key_value_heads']} key/value heads, "
                        f"head dim {c['head_dim']}")
    out["ARCH_VOCAB"] = (f"{c['vocab_size']} SentencePiece BPE pieces, byte fallback; UNK = 0, "
                         f"BOS = {c['bos_token_id']}, EOS = {c['eos_token_id']}, no PAD")
    out["ARCH_GRAN"] = f"{{{f // 8}, {f // 4}, {f // 2}, {f}}}"
    out["ARCH_ROPE"] = f"{c['rope_theta']:g}"
    out["ARCH_MAXPOS"] = str(c["max_position_embeddings"])
    d = res["documents"]
    out["DOCS_KJV"] = f"{d['train_kjv']:,} chapters train, {d['heldout_kjv']:,} held out"
    out["DOCS_FORTUNES"] = f"{d['train_fortunes']:,} quotations train, {d['heldout_fortunes']:,} held out"
    el = ["| step | phase | loss F | loss F/2 | loss F/4 | loss F/8 | consistency F/2 | consistency F/8 |",
          "|---|---|---|---|---|---|---|---|"]
    for e in res["training_evals"]:
        phase = "decay" if e["step"] > res["decay_start_step"] else "constant LR"
        el.append(f"| {e['step']} | {phase} | " + " | ".join(f"{e[f'F/{k}']['loss']:.3f}" for k in (1, 2, 4, 8)) +
                  f" | {_pct(e['F/2']['consistency'])} | {_pct(e['F/8']['consistency'])} |")
    out["TRAIN_EVALS"] = "\n".join(el)
    out["DECAY_START"] = f"{res['decay_start_step']:,}"
    rs = res["resumes"]
    out["RESUMES"] = ("; ".join(f"stopped and resumed at step {r['step']:,} with changed flags " +
                                ", ".join(f"`--{k.replace('_', '-')}` {'(unset)' if a is None else a} → {b}" for k, (a, b) in
                                          sorted(r["changed_args"].items())) for r in rs)
                      if rs else "not interrupted")
    out["PARAMS"] = f"{res['model']['params']:,}"
    out["PARAMS_M"] = f"{res['model']['params'] / 1e6:.2f}"
    out["ST_MB"] = f"{res['model']['safetensors_bytes'] / 1e6:.1f}"
    smp = [f"Smallest slice in the table: **{res['smallest_slice']}**. Greedy, {SAMPLE_TOKENS} new tokens "
           "at most, prompt in bold:", ""]
    for e in res["samples"]:
        smp.append(f"- full: **{e['prompt']}**{_cont(e['full'])}")
        smp.append(f"- {res['smallest_slice']}: **{e['prompt']}**{_cont(e['smallest'])}")
    out["SAMPLES"] = "\n".join(smp)
    hfc = res["hf_check"]
    if "prompts" in hfc:
        hl = [f"transformers {hfc['transformers']}, `LlamaForCausalLM.from_pretrained(\"models/matlm-tiny\")` "
              f"in float32: max |logit difference| from the training code's forward on two held-out windows "
              f"= {hfc['max_abs_logit_diff']:.1e}; greedy continuation ({HF_TOKENS} new tokens at most; HF side: "
              f"{hfc['method']}) of each prompt compared token by token with the training code's:", ""]
        for p in hfc["prompts"]:
            hl.append(f"- **{p['prompt']}** → equal: **{'yes' if p['equal'] else 'NO'}** — "
                      f"`{p['text'].strip()[:120]}`")
        hl.append("")
        hl.append(f"Result: **{hfc['status']}**.")
        out["HF_CHECK"] = "\n".join(hl)
    else:
        out["HF_CHECK"] = f"HF check: {hfc['status']}"
    hw = tr["hardware"]
    out["TRAIN_COST"] = "\n".join([
        "| | |", "|---|---|",
        f"| recipe | `--recipe {tr['recipe']} --decay-recipe {tr['decay_recipe']}`: " +
        ", ".join(f"{v:,} `{k}` steps" for k, v in sorted(tr["steps_by_recipe"].items(), reverse=True)) + " |",
        f"| optimizer steps | {tr['steps']:,}{'' if tr['completed'] else ' (stopped by the time limit)'} |",
        f"| batch × sequence | {tr['batch']} × {tr['seq']} tokens |",
        f"| tokens seen | {tr['tokens_seen']:,} ({tr['epochs']:.2f} epochs of the {tr['train_tokens_in_split']:,}-token "
        f"training split) |",
        f"| sub-network token passes | {tr['sub_network_tokens']:,} |",
        f"| wall time | {tr['wall_s'] / 60:.1f} min of training (excluding the seconds between a stop and its "
        f"resume) |",
        f"| hardware | {hw['device']}: {hw['cpu']}, {hw['torch_threads']} torch thread(s) on a "
        f"{hw['logical_cpus']}-CPU machine shared with other jobs; torch {hw['torch']} |",
        f"| peak learning rate / seed | {tr['lr']} / {tr['seed']} |"])
    rc = res.get("recipe_comparison")
    if rc:
        rl = ["| recipe | steps | batch | wall time | " + " | ".join(f"loss F/{d}" for d in (1, 2, 4, 8)) +
              " | consistency F/2 | consistency F/8 |", "|---|---|---|---|---|---|---|---|---|---|"]
        for name in sorted(rc["runs"]):
            r = rc["runs"][name]
            ev = r["final_eval"]
            rl.append(f"| {name} | {r['steps']} | {r['batch']} | {r['wall_s'] / 60:.1f} min | " +
                      " | ".join(f"{ev[f'F/{d}']['loss']:.3f}" for d in (1, 2, 4, 8)) +
                      f" | {_pct(ev['F/2']['consistency'])} | {_pct(ev['F/8']['consistency'])} |")
        out["RECIPE_TABLE"] = "\n".join(rl)
    else:
        out["RECIPE_TABLE"] = "(no recipe comparison log)"
    return out


def _cont(text):
    text = text.replace("\n", " ").replace("|", "\\|")
    return text if text.startswith(" ") else " " + text


def slices_short(widths):
    parts, i = [], 0
    while i < len(widths):
        j = i
        while j < len(widths) and widths[j] == widths[i]:
            j += 1
        parts.append(f"{widths[i]} ×{j - i}" if j - i > 1 else str(widths[i]))
        i = j
    return "[" + ", ".join(parts) + "]"


def fill(template, values):
    for k, v in values.items():
        template = template.replace("{{" + k + "}}", v)
    if "{{" in template:
        raise SystemExit("unfilled placeholder in card template: " + template[template.index("{{"):][:40])
    return template


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", default=os.path.join(REPO, "models", "matlm-tiny"))
    ap.add_argument("--csv", default=os.path.join(REPO, "matformer_configs", "matlm-tiny.csv"))
    ap.add_argument("--log", default=os.path.join(HERE, "train_log.json"))
    ap.add_argument("--comparison", default=os.path.join(HERE, "recipe_comparison.json"))
    ap.add_argument("--out", default=os.path.join(HERE, "measurements.json"))
    ap.add_argument("--stride", type=int, default=3, help="score every stride-th held-out window")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-hf", action="store_true")
    ap.add_argument("--card", action="store_true", help="rewrite MODEL_CARD.md from card_template.md")
    ap.add_argument("--check-card", action="store_true", help="fail if MODEL_CARD.md is not what --card writes")
    args = ap.parse_args()
    res = measure(args)
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out} ({res['measure_seconds']}s)")
    if args.card or args.check_card:
        with open(os.path.join(HERE, "card_template.md")) as f:
            card = fill(f.read(), render(res))
        path = os.path.join(args.model_dir, "MODEL_CARD.md")
        if args.card:
            with open(path, "w") as f:
                f.write(card)
            print(f"wrote {path}")
        else:
            with open(path) as f:
                same = f.read() == card
            print("MODEL_CARD.md matches the measurements" if same else "MODEL_CARD.md DIFFERS from a fresh run")
            if not same:
                sys.exit(1)


if __name__ == "__main__":
    main()
