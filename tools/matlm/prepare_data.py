"""Corpus for the bundled MatLM: Debian's KJV Bible and fortune files, cleaned and split.

Sources (both installed from Debian main, see README.md):
  * bible-kjv / bible-kjv-text: the King James Version (1611; public domain), printed by `bible`.
  * fortunes / fortunes-min: the fortune-mod quotation files (BSD licence as distributed by Debian).

Every document becomes one line of plain text (no newlines inside a document):
  * a KJV chapter = its verses joined by single spaces (no book/chapter/verse numbers);
  * a fortune = its lines joined by single spaces (ASCII-art-like entries dropped).

Held-out split (never seen by the tokenizer or the model):
  * whole KJV books in HELDOUT_BOOKS;
  * fortunes whose SHA-1 of the cleaned text is 0 mod 20 (about 5%; duplicates land on the same side).

The split is a pure function of the installed Debian files, so measure.py regenerates it exactly.
Run as a script to write the split texts and the sentencepiece training input under a work folder.
"""

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import unicodedata

FORTUNE_DIR = "/usr/share/games/fortunes"
# ASCII art collections and a file of (mostly) non-English text are left out.
FORTUNE_EXCLUDE = {"art", "ascii-art", "translate-me"}
HELDOUT_BOOKS = ("Ruth", "Ecclesiastes", "Jonah", "Mark", "Philippians", "Jude")
FORTUNE_HELDOUT_MOD = 20


def clean_text(text):
    """NFKC, overstrike and control characters removed, all whitespace runs -> one space."""
    text = re.sub(r".\x08", "", text)  # nroff overstrike: "_\bX" / "X\bX" -> "X"
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch if (ch.isprintable() or ch.isspace()) else " " for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def kjv_chapters():
    """[(book, chapter, text)] for the whole KJV in canonical order."""
    if shutil.which("bible") is None:
        raise SystemExit("the KJV text comes from the `bible` program: apt-get install -y bible-kjv")
    out = subprocess.run(["bible", "Gen1:1-Rev22:21"], check=True, capture_output=True).stdout
    lines = out.decode("ascii").split("\n")
    chapters = []
    verses = None
    for i, line in enumerate(lines):
        prev_blank = i == 0 or lines[i - 1].strip() == ""
        next_blank = i + 1 < len(lines) and lines[i + 1].strip() == ""
        m = re.fullmatch(r"(\S.*) (\d+)", line)
        if m and prev_blank and next_blank:
            verses = []
            chapters.append((m.group(1), int(m.group(2)), verses))
        elif re.match(r"  \d+ ", line):
            verses.append(re.sub(r"^\s*\d+ ", "", line))
        elif line.strip():
            verses[-1] += " " + line.strip()
    result = [(b, c, clean_text(" ".join(v))) for b, c, v in chapters]
    if len(result) != 1189:
        raise RuntimeError(f"expected 1189 KJV chapters, parsed {len(result)}")
    return result


def fortune_files():
    if not os.path.isdir(FORTUNE_DIR):
        raise SystemExit(f"no fortune files in {FORTUNE_DIR}: apt-get install -y fortunes")
    names = []
    for name in sorted(os.listdir(FORTUNE_DIR)):
        path = os.path.join(FORTUNE_DIR, name)
        if "." in name or name in FORTUNE_EXCLUDE or not os.path.isfile(path) or os.path.islink(path):
            continue
        names.append(name)
    return names


def _looks_like_prose(text):
    nonspace = [c for c in text if not c.isspace()]
    if len(text) < 20 or len(text) > 4000 or not nonspace:
        return False
    letters = sum(c.isalpha() for c in nonspace)
    return letters / len(nonspace) >= 0.7


def fortunes():
    """[(file, text)] of cleaned, de-duplicated fortunes (first occurrence kept)."""
    seen = set()
    out = []
    for name in fortune_files():
        raw = open(os.path.join(FORTUNE_DIR, name), "rb").read()
        try:
            data = raw.decode("utf-8")
        except UnicodeDecodeError:
            data = raw.decode("latin-1")
        for entry in re.split(r"\n%\n", data.replace("\r\n", "\n")):
            text = clean_text(entry.strip("%\n"))
            if not _looks_like_prose(text) or text in seen:
                continue
            seen.add(text)
            out.append((name, text))
    return out


def is_heldout_fortune(text):
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest(), 16) % FORTUNE_HELDOUT_MOD == 0


def split_documents():
    """Returns (train_docs, heldout_docs): lists of (source, text), deterministic order."""
    train, held = [], []
    for book, chap, text in kjv_chapters():
        (held if book in HELDOUT_BOOKS else train).append((f"kjv:{book} {chap}", text))
    for name, text in fortunes():
        (held if is_heldout_fortune(text) else train).append((f"fortunes:{name}", text))
    return train, held




def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=os.path.join(os.path.dirname(__file__), "work"))
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    train, held = split_documents()
    for name, docs in (("train.txt", train), ("heldout.txt", held)):
        with open(os.path.join(args.work, name), "w", encoding="utf-8") as f:
            for _, text in docs:
                f.write(text + "\n")
    # sentencepiece reads one sentence per line; split long documents at sentence ends so no line
    # exceeds its length limit (the tokenizer never sees held-out text).
    with open(os.path.join(args.work, "spm_input.txt"), "w", encoding="utf-8") as f:
        for _, text in train:
            for sent in re.split(r"(?<=[.;:?!]) ", text):
                if sent:
                    f.write(sent + "\n")
    stats = {}
    for split, docs in (("train", train), ("heldout", held)):
        for src, text in docs:
            key = (split, src.split(":")[0])
            n, c = stats.get(key, (0, 0))
            stats[key] = (n + 1, c + len(text))
    for (split, src), (n, c) in sorted(stats.items()):
        print(f"{split:8s} {src:9s} docs={n:6d} chars={c:9d}")


if __name__ == "__main__":
    main()
