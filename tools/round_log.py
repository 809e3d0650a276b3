"""Reading a `matspec bench --round-log` file: one JSON object per round.

    from round_log import generations
    for row, rounds in generations("rounds.jsonl"):  # row: (draft, k, adaptive)
        ...

Shared by tools/draft_policy_bounds.py and tools/round_switch_costs.py.
"""
import json
import sys


def rounds(path):
    """Every round of the log in order; a line that is not JSON ends the program with its number."""
    with open(path) as f:
        for number, line in enumerate(f, 1):
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{number}: not JSON: {e}")


def generations(path, keep=lambda r: True):
    """[(row, [round, ...]), ...] per generation, in the order they began: a row is (draft, k, adaptive),
    a generation one (prompt, turn, pass, temp, vocab) of that row, starting again at round 0. Rounds
    `keep` rejects are left out."""
    out = []
    current = {}  # row -> (its generation now, that generation's rounds)
    for r in rounds(path):
        if not keep(r):
            continue
        row = (r["draft"], r["k"], r["adaptive"])
        gen = (r["prompt"], r["turn"], r["pass"], r.get("temp", 0), r.get("vocab", 0))
        if r["round"] == 0 or row not in current or current[row][0] != gen:
            current[row] = (gen, [])
            out.append((row, current[row][1]))
        current[row][1].append(r)
    return out
