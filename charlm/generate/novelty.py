"""Memorisation check: what share of generated n-character substrings occur in the training corpus.

Every n-gram (n = 20 by default) of a generated text is hashed (64-bit polynomial hash of its code
points); the corpus is streamed chunk by chunk (n - 1 characters carried across chunk edges), its
n-gram hashes computed with NumPy and looked up among the generated ones with a binary search, so
memory stays bounded by one chunk however large the corpus is. A hash hit is then confirmed
verbatim against the corpus chunk, so a collision never counts as a copy.

    copied_share = generated n-grams found in the corpus / generated n-grams
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from charlm.errors import UserError

BASE = np.uint64(1_000_003)


def _gram_hashes(points: np.ndarray, n: int) -> np.ndarray:
    """points [L] code points → hashes [L - n + 1] uint64 of every n-gram (arithmetic wraps)."""
    count = len(points) - n + 1
    if count <= 0:
        return np.zeros(0, np.uint64)
    points = points.astype(np.uint64)
    h = np.zeros(count, np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):  # h = Σ points[i+j] · BASE^(n-1-j), Horner over the n offsets
            h = h * BASE + points[j:j + count]
    return h


def _points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def corpus_from_config(config: dict, checkpoint: Path):
    """The training corpus named in a checkpoint's config.json, or a UserError saying why not."""
    from charlm.data.corpus import Corpus

    try:
        paths = [Path(p) for p in config["corpus"]["paths"]]
    except (KeyError, TypeError):
        raise UserError(f"{checkpoint}/config.json does not name its training corpus "
                        "(corpus.paths); --novelty needs it")
    missing = [str(p) for p in paths if not p.exists()]
    if missing or not paths:
        raise UserError(f"the training corpus {', '.join(missing) or '(none)'} is not on this "
                        "machine; --novelty needs the text the checkpoint was trained on")
    return Corpus(config["corpus"].get("name", "corpus"), paths)


def novelty(texts: list[str], chunks, n: int = 20) -> list[dict]:
    """For each text: {"ngrams": count, "copied": found in the corpus, "copied_share": ratio}.

    `chunks` iterates over the corpus text (e.g. Corpus.iter_chunks()); it is read once.
    """
    grams = [[t[i:i + n] for i in range(len(t) - n + 1)] for t in texts]
    wanted = {}  # hash → set of distinct generated n-grams with that hash
    for text_grams, text in zip(grams, texts):
        for gram, h in zip(text_grams, _gram_hashes(_points(text), n).tolist()):
            wanted.setdefault(h, set()).add(gram)
    keys = np.array(sorted(wanted), dtype=np.uint64)
    found: set[str] = set()
    carry = ""
    for chunk in chunks:
        if len(keys) == 0:
            break
        text = carry + chunk
        hashes = _gram_hashes(_points(text), n)
        pos = np.minimum(np.searchsorted(keys, hashes), max(len(keys) - 1, 0))
        for i in np.nonzero(keys[pos] == hashes)[0].tolist():
            gram = text[i:i + n]
            if gram in wanted.get(int(hashes[i]), ()):  # verbatim, not just the same hash
                found.add(gram)
        carry = text[-(n - 1):] if n > 1 else ""
    results = []
    for text_grams in grams:
        copied = sum(gram in found for gram in text_grams)
        results.append({"ngrams": len(text_grams), "copied": copied,
                        "copied_share": copied / len(text_grams) if text_grams else None})
    return results
