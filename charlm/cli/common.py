"""What several commands share: the parser class that turns argparse errors into one-line
UserErrors, the progress bar, and the --checkpoint / --baseline flags of probe and score."""

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


def add_scorer_flags(p, baseline_help: str) -> None:
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
