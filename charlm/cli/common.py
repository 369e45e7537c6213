"""What several commands share, each flag declared once: the parser class that turns argparse
errors into one-line UserErrors, the progress bar, --checkpoint/--which, --unknown, --text-file
(and its deprecated spellings), and the --checkpoint / --baseline flags of probe and score."""

from __future__ import annotations

import argparse
import sys

from charlm.errors import UserError


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + error
        raise UserError(f"{message} (see {self.prog} --help)")


def progress_bar(total: int, desc: str, unit: str = "req"):
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, disable=None, leave=False, file=sys.stderr)


def add_checkpoint_flags(p, required: bool = True) -> None:
    """--checkpoint DIR and --which best|last (which of a run's two saved models to read)."""
    p.add_argument("--checkpoint", metavar="DIR", required=required,
                   help="a training run folder or a folder written by charlm export")
    p.add_argument("--which", choices=("best", "last"), default="best",
                   help="a run's best/ (lowest validation bpc, the default) or last/ (latest "
                        "step)")


def add_unknown_flag(p, what: str, skip: bool = False) -> None:
    """--unknown: what to do with `what` (characters, in the help's words) outside the
    vocabulary; the choices are the tokenizer's policies (plus skip, for probe)."""
    from charlm.data.tokenizers import UNKNOWN_POLICIES

    choices = UNKNOWN_POLICIES + (("skip",) if skip else ())
    p.add_argument("--unknown", choices=choices, default="error",
                   help=f"{what} outside the vocabulary: error (default), replace (read them "
                        "as <unk>)" + (", skip (leave the pair out)" if skip else ""))


def add_text_file_flag(p, help: str, required: bool = False, old: str | None = None,
                       flag: str = "--text-file") -> None:
    """--text-file FILE (or `flag`, e.g. --prompt-file): a file read with
    charlm.data.corpus.read_text_file. `old` is a spelling that still works, hidden from --help,
    with a one-line deprecation note when used (text_file_arg, note_deprecated_text_flag)."""
    p.add_argument(flag, metavar="FILE", required=required and old is None,
                   help=help + "; UTF-8, .gz too")
    if old:
        p.add_argument(old, dest="deprecated_text_file", metavar="FILE", help=argparse.SUPPRESS)


def text_file_arg(args, old: str) -> str:
    """The --text-file value, or that of its deprecated spelling `old`."""
    legacy = getattr(args, "deprecated_text_file", None)
    if legacy is not None:
        if args.text_file is not None:
            raise UserError(f"pass --text-file FILE only ({old} FILE is its old spelling)")
        return legacy
    if args.text_file is None:
        raise UserError("--text-file FILE is required (the text to read)")
    return args.text_file


def note_deprecated_text_flag(args, old: str) -> None:
    """One line on stderr when `old` was used; called once the command has succeeded, so that
    an error stays the only line on stderr."""
    if getattr(args, "deprecated_text_file", None) is not None:
        print(f"charlm: warning: {old} FILE is deprecated; use --text-file FILE", file=sys.stderr)


def add_scorer_flags(p, baseline_help: str) -> None:
    add_checkpoint_flags(p, required=False)
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
        from charlm.data.corpus import resolve_corpus
        from charlm.probes.ngram import NgramModel

        if not args.corpus:
            raise UserError("--baseline ngram needs --corpus FILE (the text to count n-grams on; "
                            "use the checkpoint's training corpus for a fair floor)")
        corpus = resolve_corpus(args.corpus, download=False)
        scorer = NgramModel.fit(corpus.read_text(), args.order)
        return scorer, {**scorer.describe(), "corpus": corpus.name}
    if args.corpus:
        raise UserError("--corpus is for --baseline ngram; a checkpoint knows its own corpus")
    from charlm import checkpoint
    from charlm.model.model import spec_from_saved
    from charlm.probes.scoring import ModelScorer

    lm = checkpoint.load(args.checkpoint, which=args.which)
    scorer = ModelScorer(lm.model, lm.tokenizer, args.batch_size, unknown=unknown)
    spec = spec_from_saved(lm.config.get("model", {}))
    return scorer, {"kind": "lstm", "checkpoint": str(args.checkpoint), "cell": spec.get("cell"),
                    "layers": spec.get("layers"), "units": spec.get("units"),
                    "params": int(lm.model.count_params()),
                    "corpus": lm.config.get("corpus", {}).get("name")}
