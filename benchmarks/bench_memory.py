"""Peak memory of training as the corpus grows: prefixes of the Gutenberg train split.

    python benchmarks/bench_memory.py [--sizes 1M,10M,all] [--json]

For each size (characters from the start of the train split; `all` is the whole 90.5M-character
`.gz` itself, read as charlm reads it), in fresh processes, each in its own temporary id cache:

1. encode: hash, fit the char vocabulary and write the memory-mapped id cache, as a first
   training run does (timed on its own, with its peak RSS);
2. train: `python -m charlm train --corpus FILE --val-corpus VALID ...` for a few steps, past
   validations and checkpoint writes; it maps the ids that step 1 cached. Its peak RSS is the
   figure of the table. VALID is --val-corpus less the characters the smallest prefix lacks
   (charlm refuses validation characters its training text never had), the same for every size;
3. sweep: one whole epoch of stream batches over the mapped ids, without a model (a few seconds),
   since a short training run reads only the first pages of each row.

Peak RSS is the child's ru_maxrss (os.wait4 on that child alone). TensorFlow's own runtime is most
of a training run's memory, whatever the corpus, so the table gives the absolute peak and its
growth over the smallest size; "flat" means the growth stays near zero. Temporary files (the
prefixes, caches and checkpoints) go under /tmp and are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "corpora"
MB = 1 << 20

# Step 1 in a child process: what a first run does before its model is built.
ENCODE = """
import json, sys, time
from charlm.data.corpus import resolve_corpus
from charlm.data.id_cache import encode_corpus
from charlm.data.tokenizers import fit_tokenizer
t0 = time.perf_counter()
corpus = resolve_corpus(sys.argv[1], download=False)
digest = corpus.sha256()
t1 = time.perf_counter()
tokenizer = fit_tokenizer("char", corpus, 0)
t2 = time.perf_counter()
ids = encode_corpus(tokenizer, corpus, digest)
t3 = time.perf_counter()
print(json.dumps({"hash_s": t1 - t0, "fit_s": t2 - t1, "encode_s": t3 - t2,
                  "vocab_size": tokenizer.vocab_size, "dtype": str(ids.dtype)}))
"""

# Step 3: a whole epoch of the default stream batches over the ids step 1 cached; the peak RSS
# added by the epoch alone (Linux VmHWM, reset through /proc/self/clear_refs before it starts).
SWEEP = """
import json, sys, time
from pathlib import Path
from charlm.data.corpus import resolve_corpus
from charlm.data.batching import make_batcher
from charlm.data.id_cache import encode_corpus
from charlm.data.tokenizers import fit_tokenizer
def status(field):
    line = next(l for l in Path("/proc/self/status").read_text().splitlines()
                if l.startswith(field + ":"))
    return int(line.split()[1]) * 1024
corpus = resolve_corpus(sys.argv[1], download=False)
ids = encode_corpus(fit_tokenizer("char", corpus, 0), corpus)
batcher = make_batcher("stream", ids, 32, 128, 0, 16)
base = status("VmRSS")
Path("/proc/self/clear_refs").write_text("5")
t = time.perf_counter()
for _ in range(batcher.steps_per_epoch):
    batcher.next_batch()
print(json.dumps({"sweep_s": time.perf_counter() - t, "batches": batcher.steps_per_epoch,
                  "sweep_added": status("VmHWM") - base}))
"""


def parse_size(text: str) -> int | None:
    """'10M' → 10_000_000, '500k' → 500_000, 'all' → None (the whole split)."""
    if text == "all":
        return None
    scale = {"k": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("kM")) * scale)


def write_prefix(corpus, chars: int, dest: Path) -> tuple[int, int]:
    """The first `chars` characters of `corpus` into `dest` (UTF-8) → (chars, bytes)."""
    written = size = 0
    with open(dest, "w", encoding="utf-8", newline="") as out:
        for chunk in corpus.iter_chunks():
            piece = chunk[:chars - written]
            out.write(piece)
            written += len(piece)
            size += len(piece.encode("utf-8"))
            if written >= chars:
                break
    return written, size


def write_validation(val, vocabulary_of: Path, dest: Path) -> int:
    """`val` without the characters that the text at `vocabulary_of` lacks (charlm refuses a
    validation text with characters its training text never had) → how many were dropped."""
    from charlm.data.corpus import resolve_corpus
    from charlm.data.tokenizers import CharTokenizer

    tokenizer = CharTokenizer.fit(resolve_corpus(str(vocabulary_of)).iter_chunks())
    dropped = 0
    with open(dest, "w", encoding="utf-8", newline="") as out:
        for chunk in val.iter_chunks():
            kept = chunk.translate({ord(c): None for c in tokenizer.unknown_characters(chunk)})
            dropped += len(chunk) - len(kept)
            out.write(kept)
    return dropped


def measure_text(corpus) -> tuple[int, int]:
    chars = size = 0
    for chunk in corpus.iter_chunks():
        chars += len(chunk)
        size += len(chunk.encode("utf-8"))
    return chars, size


def run_child(args: list[str], env: dict, log: Path) -> dict:
    """Run a command → {"seconds", "peak_rss" (bytes), "stdout"}; raise if it fails."""
    started = time.perf_counter()
    with open(log, "w") as err, tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak, not every child's
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        stdout = out.read()
    if proc.returncode != 0:
        tail = log.read_text()[-2000:]
        raise SystemExit(f"{' '.join(args[:4])} … exited {proc.returncode}:\n{tail}")
    return {"seconds": seconds, "peak_rss": usage.ru_maxrss * 1024, "stdout": stdout}


def measure_size(label: str, corpus_file: Path, text: tuple[int, int], args, tmp: Path) -> dict:
    cache = tmp / f"cache-{label}"
    env = {**os.environ, "CHARLM_CACHE_DIR": str(cache), "TF_CPP_MIN_LOG_LEVEL": "3"}
    python = sys.executable
    encode = run_child([python, "-c", ENCODE, str(corpus_file)], env, tmp / f"encode-{label}.log")
    train = run_child([python, "-m", "charlm", "train", "--corpus", str(corpus_file),
                       "--val-corpus", str(tmp / "valid.txt"), "--max-steps", str(args.max_steps),
                       "--eval-every", str(args.eval_every),
                       "--eval-max-tokens", str(args.eval_max_tokens), "--seed", "1234",
                       "--quiet", "--out", str(tmp / f"run-{label}"), *args.train_flag],
                      env, tmp / f"train-{label}.log")
    row = {"size": label, "chars": text[0], "text_bytes": text[1],
           **{k: round(v, 2) if isinstance(v, float) else v
              for k, v in json.loads(encode["stdout"]).items()},
           "encode_peak_rss": encode["peak_rss"], "encode_wall_s": round(encode["seconds"], 1),
           "train_peak_rss": train["peak_rss"], "train_wall_s": round(train["seconds"], 1)}
    if not args.no_sweep:
        sweep = run_child([python, "-c", SWEEP, str(corpus_file)], env, tmp / f"sweep-{label}.log")
        row.update({k: round(v, 2) for k, v in json.loads(sweep["stdout"]).items()})
    return row


def add_ratios(rows: list[dict]) -> dict:
    """Growth over the smallest size, ratios to the text's bytes, and largest vs 10M."""
    base = rows[0]["train_peak_rss"]
    for row in rows:
        row["growth_over_smallest"] = row["train_peak_rss"] - base
        row["peak_over_text_bytes"] = round(row["train_peak_rss"] / row["text_bytes"], 2)
        row["growth_over_text_bytes"] = round(row["growth_over_smallest"] / row["text_bytes"], 3)
    by_size = {row["size"]: row for row in rows}
    ten, largest = by_size.get("10M"), rows[-1]
    return {"largest_over_10M": round(largest["train_peak_rss"] / ten["train_peak_rss"], 3)
            if ten and largest is not ten else None}


def print_table(rows: list[dict], summary: dict) -> None:
    print(f"{'size':>5} {'chars':>11} {'text MiB':>8} {'encode s':>8} {'enc. peak':>9} "
          f"{'train s':>7} {'peak RSS':>8} {'− smallest':>10} {'peak/text':>9} "
          f"{'growth/text':>11} {'epoch +':>7}   (memory in MiB)")
    for r in rows:
        sweep = f"{r['sweep_added'] / MB:.1f}" if "sweep_added" in r else "–"
        print(f"{r['size']:>5} {r['chars']:>11,} {r['text_bytes'] / MB:>8.1f} "
              f"{r['hash_s'] + r['fit_s'] + r['encode_s']:>8.1f} "
              f"{r['encode_peak_rss'] / MB:>9.0f} {r['train_wall_s']:>7.1f} "
              f"{r['train_peak_rss'] / MB:>8.0f} {r['growth_over_smallest'] / MB:>10.1f} "
              f"{r['peak_over_text_bytes']:>9.1f} {r['growth_over_text_bytes']:>11.2f} "
              f"{sweep:>7}")
    if summary["largest_over_10M"] is not None:
        print(f"peak RSS, {rows[-1]['size']} over 10M: {summary['largest_over_10M']:.3f}×")
    print(f"validation text: --val-corpus less {summary['val_chars_dropped']} characters the "
          f"{rows[0]['size']} prefix lacks; load average: {summary['load_before']} before, "
          f"{summary['load_after']} after")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=SHARED / "gutenberg_uga_train.txt.gz")
    parser.add_argument("--val-corpus", type=Path, default=SHARED / "gutenberg_uga_valid.txt")
    parser.add_argument("--sizes", default="1M,10M,all",
                        help="characters from the start of --corpus, smallest first; all = whole")
    parser.add_argument("--max-steps", type=int, default=40)
    parser.add_argument("--eval-every", type=int, default=20)
    parser.add_argument("--eval-max-tokens", type=int, default=100_000)
    parser.add_argument("--train-flag", action="append", default=[],
                        help="one more flag for charlm train (repeat it), e.g. "
                             "--train-flag=--batching --train-flag=random")
    parser.add_argument("--no-sweep", action="store_true", help="skip the epoch sweep (step 3)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    args = parser.parse_args(argv)
    from charlm.data.corpus import resolve_corpus

    source = resolve_corpus(str(args.corpus), download=False)
    val = resolve_corpus(str(args.val_corpus), download=False)
    load_before = os.getloadavg()
    rows, dropped = [], None
    with tempfile.TemporaryDirectory(prefix="charlm-bench-memory-") as folder:
        tmp = Path(folder)
        for label in args.sizes.split(","):
            chars = parse_size(label)
            if chars is None:
                corpus_file, text = args.corpus, measure_text(source)
            else:
                corpus_file = tmp / f"gutenberg-{label}.txt"
                text = write_prefix(source, chars, corpus_file)
            if dropped is None:  # the smallest prefix's characters: every larger one has them
                dropped = write_validation(val, corpus_file, tmp / "valid.txt")
            rows.append(measure_size(label, corpus_file, text, args, tmp))
            if corpus_file.parent == tmp:  # a prefix written here: free the disk for the next
                corpus_file.unlink()
    summary = {**add_ratios(rows), "val_chars_dropped": dropped, "load_before": [round(x, 2) for x in load_before],
               "load_after": [round(x, 2) for x in os.getloadavg()]}
    if args.json:
        print(json.dumps({"bench": "memory", "corpus": str(args.corpus),
                          "val_corpus": str(args.val_corpus), "max_steps": args.max_steps,
                          "eval_every": args.eval_every, "eval_max_tokens": args.eval_max_tokens,
                          "rows": rows, **summary}))
    else:
        print_table(rows, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
