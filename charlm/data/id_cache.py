"""Token ids of whole corpora, cached on disk and memory-mapped.

The cache lives in `~/.cache/charlm` (`CHARLM_CACHE_DIR`), one file per (corpus sha256,
tokenizer fingerprint): `<key>.<dtype>.bin`, the ids in the smallest unsigned dtype that holds the
vocabulary. A 90M-character corpus is read once, chunk by chunk, and every later run maps it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from charlm.data.corpus import Corpus
from charlm.data.tokenizers import ids_dtype


def cache_dir() -> Path:
    return Path(os.environ.get("CHARLM_CACHE_DIR", Path.home() / ".cache" / "charlm"))


def encode_corpus(tokenizer, corpus: Corpus, corpus_hash: str | None = None) -> np.ndarray:
    """All token ids of a corpus, memory-mapped from a cache file keyed by corpus and tokenizer.

    The first call streams the corpus chunk by chunk into `<key>.<dtype>.bin` (written under a
    temporary name, then renamed, so an interrupted encode leaves no half cache behind).
    """
    dtype = np.dtype(ids_dtype(tokenizer.vocab_size))
    key = f"{(corpus_hash or corpus.sha256())[:20]}-{tokenizer.fingerprint()[:20]}"
    path = cache_dir() / f"{key}.{dtype.name}.bin"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as out:
            carry = ""
            for chunk in corpus.iter_chunks():
                if tokenizer.kind != "char":  # cut subword chunks at line ends: same ids as whole
                    chunk, cut = carry + chunk, None
                    cut = chunk.rfind("\n") + 1
                    chunk, carry = chunk[:cut], chunk[cut:]
                out.write(tokenizer.encode(chunk, unknown="replace").astype(dtype).tobytes())
            if carry:
                out.write(tokenizer.encode(carry, unknown="replace").astype(dtype).tobytes())
        os.replace(tmp, path)
    if path.stat().st_size == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r")
