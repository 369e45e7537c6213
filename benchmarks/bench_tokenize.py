"""Corpus → token ids: time and peak memory of the char tokenizer on a large corpus.

    python benchmarks/bench_tokenize.py [--corpus ../shared/corpora/gutenberg_uga_train.txt.gz]

Prints one JSON object: seconds for hashing, fitting the vocabulary and encoding (written to a
fresh cache folder), and the peak resident memory added by the whole path (Linux VmHWM after
resetting it through /proc/self/clear_refs), as a multiple of the text's size in bytes (UTF-8).
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="../shared/corpora/gutenberg_uga_train.txt.gz")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="charlm-bench-") as cache:  # the ids: 173 MiB
        os.environ["CHARLM_CACHE_DIR"] = cache
        measure(args.corpus)


def measure(corpus_spec: str) -> None:
    from charlm.data.corpus import resolve_corpus
    from charlm.data.id_cache import encode_corpus
    from charlm.data.tokenizers import CharTokenizer

    corpus = resolve_corpus(corpus_spec, download=False)
    base = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    t0 = time.perf_counter()
    digest = corpus.sha256()
    t1 = time.perf_counter()
    tokenizer = CharTokenizer.fit(corpus.iter_chunks())
    t2 = time.perf_counter()
    ids = encode_corpus(tokenizer, corpus, digest)
    t3 = time.perf_counter()
    peak = _status("VmHWM") - base
    text_bytes = sum(len(chunk.encode("utf-8")) for chunk in corpus.iter_chunks())
    print(json.dumps({
        "bench": "tokenize", "corpus": str(corpus_spec), "chars": int(len(ids)),
        "text_bytes": text_bytes, "vocab_size": tokenizer.vocab_size, "dtype": str(ids.dtype),
        "hash_s": round(t1 - t0, 2), "fit_s": round(t2 - t1, 2), "encode_s": round(t3 - t2, 2),
        "total_s": round(t3 - t0, 2), "peak_added_bytes": peak,
        "peak_over_text_bytes": round(peak / text_bytes, 3)}))


if __name__ == "__main__":
    main()
