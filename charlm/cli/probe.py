"""`charlm probe`: agreement accuracy on minimal pairs (the shipped suite, BLiMP or charlm pairs),
with per-group Wilson intervals, written as probe.json, probe.md and probe.png; or a SyntaxGym
test suite (docs/syntaxgym.md), written as suite.json, suite-regions.json, suite.tsv, suite.png."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from charlm.cli.common import add_scorer_flags, add_unknown_flag, load_scorer, progress_bar


def add_parser(sub) -> None:
    p = sub.add_parser("probe", help="agreement accuracy on minimal pairs (BLiMP or charlm pairs)")
    add_scorer_flags(p, "score with a baseline instead of a checkpoint")
    p.add_argument("--data", nargs="+", metavar="FILE",
                   help="pair files (.jsonl), or one SyntaxGym test suite (.json: surprisal per "
                        "region, predictions per item); default: the shipped suite "
                        "corpora/agreement/")
    p.add_argument("--format", default="auto", help="auto (default) | blimp | pairs")
    p.add_argument("--method", default="auto",
                   help="auto: each pair's own method, BLiMP whole sentences (default) | full: "
                        "whole sentences for all | prefix: BLiMP's one/two-prefix fields")
    p.add_argument("--lowercase", default="auto",
                   help="auto (lower-case when the vocabulary has no capitals) | yes | no")
    add_unknown_flag(p, "pairs with characters", skip=True)
    p.add_argument("--out", metavar="DIR",
                   help="where probe.json/.md/.png (a suite: suite.json/.tsv/.png, "
                        "suite-regions.json) go (default: DIR/probe-<data> in the "
                        "checkpoint, checkpoints/ngram<N>-<corpus>/probe-<data> for a baseline)")
    p.add_argument("--pairs-out", metavar="FILE.jsonl", help="every pair with its scores")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def _data_tag(files: list[Path]) -> str:
    parents = {f.resolve().parent.name for f in files}
    return parents.pop() if len(parents) == 1 else "custom"


def run(args) -> int:
    from charlm.probes import pairs as probes
    from charlm.probes.stats import summarize
    from charlm.probes.syntaxgym import is_suite

    if args.data and any(is_suite(Path(f)) for f in args.data):
        return _run_suite(args)
    files = [Path(f) for f in args.data] if args.data else probes.default_suite()
    pairs, formats = probes.load_pairs(files, args.format, args.method)
    scorer, model = load_scorer(args, unknown="replace" if args.unknown == "replace" else "error")
    lower, note = probes.should_lowercase(args.lowercase, scorer.has_char)
    notes = [note] if note else []
    if lower:
        for pair in pairs:
            probes.lowercase_pair(pair)
    start = time.perf_counter()
    with progress_bar(2 * len(pairs), "probe") as bar:
        results = probes.score_pairs(scorer, pairs, args.unknown, progress=bar)
    seconds = time.perf_counter() - start
    for line in notes:  # after scoring, so that an error stays the only line on stderr
        print(f"charlm: note: {line}", file=sys.stderr)
    summary = summarize(pairs, [r["correct"] for r in results])
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
        from charlm.probes.reports import markdown

        print(markdown(summary, "Agreement probes"))
        written = [out / "probe.json", out / "probe.md", out / "probe.png"]
        if args.pairs_out:
            written.append(Path(args.pairs_out))
        print(f"{len(pairs):,} pairs in {seconds:.1f} s; wrote " + ", ".join(map(str, written))
              + " (probe.md adds accuracy per condition)")
    return 0


def _run_suite(args) -> int:
    """A SyntaxGym suite: per-item verdicts (TSV or --json on stdout), accuracy per prediction
    on stderr, and suite.json / suite-regions.json / suite.tsv / suite.png in --out."""
    from charlm.data.tokenizers import unknown_characters_error
    from charlm.errors import UserError
    from charlm.probes import syntaxgym
    from charlm.probes.charscores import CharScorer
    from charlm.probes.pairs import should_lowercase

    if len(args.data) != 1:
        raise UserError("pass one SyntaxGym suite (.json) to --data; probe pair files (.jsonl) "
                        "in a run of their own")
    if args.unknown not in ("error", "replace") or args.pairs_out:
        raise UserError("a SyntaxGym suite takes --unknown error or replace, and no --pairs-out "
                        "(its items are in suite.tsv)")
    path = Path(args.data[0])
    suite = syntaxgym.load_suite(path)
    scorer, model = load_scorer(args, unknown=args.unknown)
    lower, note = should_lowercase(args.lowercase, scorer.has_char)
    if lower:
        syntaxgym.lowercase_suite(suite)
    missing = sorted(c for c in syntaxgym.suite_characters(suite) if not scorer.has_char(c))
    if missing and args.unknown == "error":
        raise unknown_characters_error(missing, "pass --unknown replace")
    start = time.perf_counter()
    n_sentences = sum(len(conditions) for _, conditions in suite.items)
    with progress_bar(n_sentences, "suite", unit="sentence") as bar:
        surprisals = syntaxgym.region_surprisals(CharScorer(scorer), suite, progress=bar)
    seconds = time.perf_counter() - start
    results = syntaxgym.evaluate(suite, surprisals)
    summary = {"model": model, "data": str(path), "lowercased": lower, "unknown": args.unknown,
               "notes": [note] if note else [], "seconds": round(seconds, 2),
               **syntaxgym.summarize_suite(suite, results, surprisals)}
    out = Path(args.out) if args.out else _default_out(args, [path]).parent / f"probe-{path.stem}"
    written = syntaxgym.write_reports(summary, out)
    if note:
        print(f"charlm: note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
        return 0
    print(syntaxgym.items_tsv(summary), end="")
    for line in syntaxgym.accuracy_lines(summary):
        print(line, file=sys.stderr)
    print(f"{len(suite.items)} items in {seconds:.1f} s; wrote " + ", ".join(map(str, written)),
          file=sys.stderr)
    return 0


def _default_out(args, files) -> Path:
    tag = f"probe-{_data_tag(files) if args.data else 'agreement'}"
    if args.checkpoint:
        return Path(args.checkpoint) / tag
    from charlm.data.corpus import resolve_corpus

    return Path("checkpoints") / f"ngram{args.order}-{resolve_corpus(args.corpus).name}" / tag


def _write_reports(summary: dict, out: Path) -> None:
    from charlm.fileio import atomic_write, atomic_write_json
    from charlm.probes.reports import markdown, probe_chart

    atomic_write_json(out / "probe.json", summary)
    atomic_write(out / "probe.md", markdown(summary, "Agreement probes", conditions=True))
    probe_chart(summary, out / "probe.png", "Agreement probes")
