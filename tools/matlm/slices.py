"""The MatLM slice table: rows, CSV writing (Gemma 3n table format) and parsing.

Format (same header/columns as the official Gemma 3n MatFormer table):
  name,# Layers,# Effective Params (B),FFN Hidden Dims,Layers Skipped
`# Layers` counts KEPT layers; `FFN Hidden Dims` has one width expression per kept layer (e.g. "128 * 4");
`Layers Skipped` is empty or a bracketed list of original layer indices. Layer 0 and the last layer are
never skipped. Effective params count every weight the slice touches (tied embeddings once), in billions.
"""

import csv
import io
import math
import re

from model import count_params

HEADER = ["name", "# Layers", "# Effective Params (B)", "FFN Hidden Dims", "Layers Skipped"]


def table_rows(config):
    """[(name, widths per kept layer, skipped)] for a model with F = intermediate_size, L layers."""
    f, n = config["intermediate_size"], config["num_hidden_layers"]
    if n != 6:
        raise ValueError("the Mix'n'Match rows below are written for 6 layers")
    u = f // 8  # the F/8 unit: widths are written as multiples of it
    rows = [
        ("full", [8 * u] * 6, []),
        ("half", [4 * u] * 6, []),
        ("quarter", [2 * u] * 6, []),
        ("eighth", [1 * u] * 6, []),
        # Mix'n'Match: widths per layer (the MatFormer paper favours growing with depth)
        ("mix-rising-2-8", [2 * u, 2 * u, 4 * u, 4 * u, 8 * u, 8 * u], []),
        ("mix-rising-1-4", [1 * u, 1 * u, 2 * u, 2 * u, 4 * u, 4 * u], []),
        ("mix-rising-1-8", [1 * u, 2 * u, 2 * u, 4 * u, 4 * u, 8 * u], []),
        ("mix-ends-8-4", [8 * u, 4 * u, 4 * u, 4 * u, 4 * u, 8 * u], []),
        ("mix-ends-4-2", [4 * u, 2 * u, 2 * u, 2 * u, 2 * u, 4 * u], []),
        # layer skipping on top of narrower FFNs (layer 0 and the last layer are kept)
        ("half-skip-4", [4 * u] * 5, [4]),
        ("quarter-skip-3-4", [2 * u] * 4, [3, 4]),
        ("eighth-skip-2-4", [1 * u] * 4, [2, 4]),
    ]
    return rows


def sig4(x):
    """x with 4 significant digits, fixed notation (0.006950)."""
    if x == 0:
        return "0"
    decimals = max(0, 3 - int(math.floor(math.log10(abs(x)))))
    return f"{x:.{decimals}f}"


def width_expr(w, unit):
    return f"{unit} * {w // unit}" if w % unit == 0 else str(w)


def write_csv(path, config):
    unit = config["intermediate_size"] // 8
    buf = io.StringIO()
    wr = csv.writer(buf, lineterminator="\n")
    wr.writerow(HEADER)
    for name, widths, skipped in table_rows(config):
        params = count_params(config, widths, skipped)
        wr.writerow([name, len(widths), sig4(params / 1e9),
                     "[" + ", ".join(width_expr(w, unit) for w in widths) + "]",
                     "[" + ", ".join(str(s) for s in skipped) + "]" if skipped else ""])
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(buf.getvalue())


def _eval_expr(expr):
    expr = expr.replace("_", "").strip()
    if not re.fullmatch(r"[0-9+\-*() ]+", expr):
        raise ValueError(f"bad width expression {expr!r}")
    return int(eval(expr, {"__builtins__": {}}, {}))  # digits and + - * ( ) only


def _list(cell):
    cell = cell.strip()
    if not cell:
        return []
    if not (cell.startswith("[") and cell.endswith("]")):
        raise ValueError(f"expected a bracketed list, got {cell!r}")
    inner = cell[1:-1].strip()
    return [_eval_expr(x) for x in inner.split(",")] if inner else []


def read_csv(path):
    """[{name, layers, params_b, widths, skipped}] from a slice table."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        out.append({"name": r["name"], "layers": int(r["# Layers"]),
                    "params_b": float(r["# Effective Params (B)"]),
                    "params_text": r["# Effective Params (B)"],
                    "widths": _list(r["FFN Hidden Dims"]), "skipped": _list(r["Layers Skipped"])})
    return out
