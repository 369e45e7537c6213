"""`charlm probe`, `charlm score` and `charlm experiment`: parsers and runners for charlm.cli.

Each `add_*` takes the subparsers object and registers one command; each `run_*` takes the parsed
arguments and returns the exit code. Keras is imported only when a command runs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from charlm.errors import UserError


def _model_flags(p, baseline_help: str) -> None:
    p.add_argument("--checkpoint", metavar="DIR", help="a charlm checkpoint folder")
    p.add_argument("--which", choices=("best", "last"), default="best")
    p.add_argument("--baseline", choices=("ngram",), help=baseline_help)
    p.add_argument("--order", type=int, default=6, help="n-gram order (6)")
    p.add_argument("--corpus", help="text the n-gram baseline is counted on (file or corpus name)")
    p.add_argument("--batch-size", type=int, default=256, help="rows scored side by side (256)")


def load_scorer(args, unknown: str = "error"):
    """(scorer, model description) from --checkpoint, or --baseline ngram --corpus."""
    if bool(args.checkpoint) == bool(args.baseline):
        raise UserError("pass either --checkpoint DIR or --baseline ngram --corpus FILE")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, not {args.batch_size}")
    if args.baseline:
        from charlm.corpus import resolve_corpus
        from charlm.ngram import NgramModel

        if not args.corpus:
            raise UserError("--baseline ngram needs --corpus FILE (the text to count n-grams on; "
                            "use the checkpoint's training corpus for a fair floor)")
        corpus = resolve_corpus(args.corpus, download=False)
        scorer = NgramModel.fit(corpus.read_text(), args.order)
        return scorer, {**scorer.describe(), "corpus": corpus.name}
    if args.corpus:
        raise UserError("--corpus is for --baseline ngram; a checkpoint knows its own corpus")
    from charlm.inference import load
    from charlm.scoring import LstmScorer

    lm = load(args.checkpoint, which=args.which)
    scorer = LstmScorer(lm.model, lm.tokenizer, args.batch_size, unknown=unknown)
    spec = lm.config.get("model", {})
    return scorer, {"kind": "lstm", "checkpoint": str(args.checkpoint), "cell": spec.get("cell"),
                    "layers": spec.get("layers_count"), "units": spec.get("units"),
                    "params": int(lm.model.count_params()),
                    "corpus": lm.config.get("corpus", {}).get("name")}


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="req", desc=desc, disable=None, leave=False, file=sys.stderr)


# --- probe -----------------------------------------------------------------------------------
def add_probe(sub) -> None:
    p = sub.add_parser("probe", help="agreement accuracy on minimal pairs (BLiMP or charlm pairs)")
    _model_flags(p, "score with a baseline instead of a checkpoint")
    p.add_argument("--data", nargs="+", metavar="FILE",
                   help="pair files (.jsonl); default: the shipped suite corpora/agreement/")
    p.add_argument("--format", default="auto", help="auto (default) | blimp | pairs")
    p.add_argument("--method", default="auto",
                   help="auto: each pair's own method, BLiMP whole sentences (default) | full: "
                        "whole sentences for all | prefix: BLiMP's one/two-prefix fields")
    p.add_argument("--lowercase", default="auto",
                   help="auto (lower-case when the vocabulary has no capitals) | yes | no")
    p.add_argument("--unknown", default="error",
                   help="characters outside the vocabulary: error (default) | replace | skip")
    p.add_argument("--out", metavar="DIR",
                   help="where probe.json/.md/.png go (default: DIR/probe-<data> in the "
                        "checkpoint, checkpoints/ngram<N>-<corpus>/probe-<data> for a baseline)")
    p.add_argument("--pairs-out", metavar="FILE.jsonl", help="every pair with its scores")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def _data_tag(files: list[Path]) -> str:
    parents = {f.resolve().parent.name for f in files}
    return parents.pop() if len(parents) == 1 else "custom"


def run_probe(args) -> int:
    from charlm import probes

    files = [Path(f) for f in args.data] if args.data else probes.default_suite()
    pairs, formats = probes.load_pairs(files, args.format, args.method)
    scorer, model = load_scorer(args, unknown="replace" if args.unknown == "replace" else "error")
    lower, note = probes.should_lowercase(args.lowercase, scorer.has_char)
    notes = [note] if note else []
    if lower:
        for pair in pairs:
            probes.lowercase_pair(pair)
    start = time.perf_counter()
    with _progress(2 * len(pairs), "probe") as bar:
        results = probes.score_pairs(scorer, pairs, args.unknown, progress=bar)
    seconds = time.perf_counter() - start
    for line in notes:  # after scoring, so that an error stays the only line on stderr
        print(f"charlm: note: {line}", file=sys.stderr)
    summary = probes.summarize(pairs, [r["correct"] for r in results])
    summary = {"model": model, "data": [str(f) for f in files], "formats": formats,
               "method": args.method, "lowercased": lower, "unknown": args.unknown,
               "notes": notes, "seconds": round(seconds, 2), **summary}
    out = Path(args.out) if args.out else _default_out(args, files)
    _write_reports(summary, out)
    if args.pairs_out:
        from charlm.fileio import atomic_write

        atomic_write(Path(args.pairs_out), probes.pairs_jsonl(pairs, results))
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        from charlm.plots import markdown

        print(markdown(summary, "Agreement probes"))
        written = [out / "probe.json", out / "probe.md", out / "probe.png"]
        if args.pairs_out:
            written.append(Path(args.pairs_out))
        print(f"{len(pairs):,} pairs in {seconds:.1f} s; wrote " + ", ".join(map(str, written))
              + " (probe.md adds accuracy per condition)")
    return 0


def _default_out(args, files) -> Path:
    tag = f"probe-{_data_tag(files) if args.data else 'agreement'}"
    if args.checkpoint:
        return Path(args.checkpoint) / tag
    from charlm.corpus import resolve_corpus

    return Path("checkpoints") / f"ngram{args.order}-{resolve_corpus(args.corpus).name}" / tag


def _write_reports(summary: dict, out: Path) -> None:
    from charlm.fileio import atomic_write, atomic_write_json
    from charlm.plots import markdown, probe_chart

    atomic_write_json(out / "probe.json", summary)
    atomic_write(out / "probe.md", markdown(summary, "Agreement probes", conditions=True))
    probe_chart(summary, out / "probe.png", "Agreement probes")


# --- score -----------------------------------------------------------------------------------
def add_score(sub) -> None:
    p = sub.add_parser("score", help="log-probability of each line of a text file")
    _model_flags(p, "score with a baseline instead of a checkpoint")
    p.add_argument("--text-file", required=True, help="UTF-8 text, one sentence per line")
    p.add_argument("--unknown", default="error", help="error (default) | replace")
    p.add_argument("--json", action="store_true", help="one JSON object per line of the file")


def run_score(args) -> int:
    from charlm.scoring import score_lines

    if args.unknown not in ("error", "replace"):
        raise UserError(f"--unknown must be error or replace, not {args.unknown!r}")
    path = Path(args.text_file)
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise UserError(f"text file {path} does not exist; pass an existing file to --text-file")
    except UnicodeDecodeError as e:
        raise UserError(f"{path} is not UTF-8 text (bad byte at offset {e.start})")
    if lines and lines[-1] == "":
        lines.pop()  # the file's final line break ends the last line, it starts no new one
    scorer, _ = load_scorer(args, unknown=args.unknown)
    if args.unknown == "error":
        missing = sorted({c for line in lines for c in line if not scorer.has_char(c)})
        if missing:
            raise UserError(f"{len(missing)} character(s) not in the model's vocabulary: "
                            + " ".join(map(repr, missing[:20])) + "; pass --unknown replace")
    with _progress(len(lines), "score") as bar:
        rows = score_lines(scorer, lines, progress=bar)
    for row in rows:
        print(json.dumps(row) if args.json
              else f"{row['line']}\t{row['logprob']:.4f}\t{row['chars']}")
    return 0


# --- experiment ------------------------------------------------------------------------------
def add_experiment(sub) -> None:
    from charlm import experiment

    p = sub.add_parser("experiment", help="experiments (cells: RNN vs GRU vs LSTM on agreement)")
    experiment.add_arguments(p)


def run_experiment(args) -> int:
    from charlm import experiment

    return experiment.run(args)
