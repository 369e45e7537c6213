"""`charlm inspect match`: the flags it adds to `charlm inspect` and the command itself.

    charlm inspect match --checkpoint DIR --corpus FILE --text TEXT --span A:B [--threshold 0.3]
                         [--layer L] [--quantity cell|hidden|<gate>] [--phrase-length N]
                         [--constrain-right] [--streams N] [--json]

--corpus, --threshold, --quantity and --streams also serve the page (`charlm inspect view
--corpus FILE`), which embeds the corpus' on/off pattern so a brushed span lists its matches.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from charlm.errors import UserError

THRESHOLD = 0.3  # charlm.inspect.match.THRESHOLD (not imported here: that would load NumPy)


def add_match_arguments(p) -> None:
    p.add_argument("--corpus", metavar="FILE",
                   help="match: the UTF-8 text to search (read with the state carried); view: "
                        "embed it in the page, whose brushed spans then list their matches")
    p.add_argument("--span", metavar="A:B",
                   help="match: the selection, token positions A (first) to B (excluded) of "
                        "--text/--text-file, from 0; view with --corpus: brushed when the page "
                        "opens")
    p.add_argument("--threshold", type=float, default=None,
                   help=f"match, view with --corpus: a unit is on at values ≥ this (the cell "
                        f"state through tanh first); default {THRESHOLD}")
    p.add_argument("--layer", default=None,
                   help="match: the recurrent layer, an index from 0 or a name (default 0)")
    p.add_argument("--quantity", default=None,
                   help="match, view with --corpus: cell (default where the cell has one), "
                        "hidden, or a gate such as forget_gate")
    p.add_argument("--phrase-length", type=int, default=None, metavar="N",
                   help="match: only spans exactly N tokens long (default: any of 2 or more)")
    p.add_argument("--constrain-right", action="store_true",
                   help="match: the units must also be off just after the span (and after "
                        "each match)")
    p.add_argument("--streams", type=int, default=None, metavar="N",
                   help="match, view with --corpus: read the corpus as N parallel parts, each "
                        "after a warm-up of 256 tokens (default: one per 4,096 tokens, at most "
                        "256; 1 reads it in one exact pass)")


def match_flags_used(args) -> list:
    """(flag, used) pairs for the flags another action than `match` may not take: view takes
    --corpus, and with it --span (brushed when the page opens), --threshold, --quantity and
    --streams."""
    used = [("--layer", args.layer is not None),
            ("--phrase-length", args.phrase_length is not None),
            ("--constrain-right", args.constrain_right)]
    with_corpus = [("--span", args.span is not None),
                   ("--threshold", args.threshold is not None),
                   ("--quantity", args.quantity is not None),
                   ("--streams", args.streams is not None)]
    if args.action != "view":
        return used + [("--corpus", args.corpus is not None)] + with_corpus
    if args.corpus is None:
        return used + [(f"{flag} (without --corpus)", value) for flag, value in with_corpus]
    return used


def parse_span(span: str | None) -> tuple[int, int]:
    if span is None:
        raise UserError("charlm inspect match needs --span A:B, the token positions of the "
                        "selection in the text (e.g. --span 4:9)")
    try:
        a, b = (int(x) for x in span.split(":"))
    except ValueError:
        raise UserError(f"--span {span} is not A:B with two whole numbers (e.g. --span 4:9)")
    if not 0 <= a < b:
        raise UserError(f"--span {span} is empty or negative: give A:B with 0 ≤ A < B")
    return a, b


def read_corpus(path: str | None) -> str:
    if path is None:
        raise UserError("charlm inspect match needs --corpus FILE, the text to search")
    from charlm.data.corpus import read_text_file

    return read_text_file(path, "--corpus")


def check_options(args) -> None:
    if args.threshold is not None and not -1 < args.threshold < 1:
        raise UserError(f"--threshold {args.threshold:g} leaves no unit on or off: give a value "
                        "between -1 and 1 (default 0.3)")
    if args.phrase_length is not None and args.phrase_length < 1:
        raise UserError(f"--phrase-length must be at least 1, not {args.phrase_length}")
    if args.streams is not None and args.streams < 1:
        raise UserError(f"--streams must be at least 1, not {args.streams}")


def attach_to_page(ins, lm, args, progress_bar) -> None:
    """`charlm inspect view --corpus FILE`: the page's select-and-match panel."""
    check_options(args)
    span = parse_span(args.span) if args.span is not None else None
    corpus = read_corpus(args.corpus)
    from charlm.inspect.view_match import attach_corpus

    try:
        with progress_bar(len(corpus) * len(ins.layers), "read corpus", unit="char") as bar:
            attach_corpus(ins, lm.model, lm.tokenizer, corpus, quantity=args.quantity,
                          threshold=THRESHOLD if args.threshold is None else args.threshold,
                          streams=args.streams, span=span, unknown=args.unknown, progress=bar)
    except ValueError as e:
        raise UserError(f"{e}")


def run_match(args) -> int:
    from charlm.cli.inspect import read_text

    check_options(args)
    span = parse_span(args.span)
    text = read_text(args)
    corpus = read_corpus(args.corpus)
    from charlm import checkpoint
    from charlm.cli.common import progress_bar
    from charlm.inspect.match_report import find_matches

    lm = checkpoint.load(args.checkpoint, which=args.which)
    try:
        with progress_bar(len(corpus), "read corpus", unit="char") as bar:
            report = find_matches(lm.model, lm.tokenizer, text, span, corpus,
                                  threshold=THRESHOLD if args.threshold is None else
                                  args.threshold, layer=0 if args.layer is None else args.layer,
                                  quantity=args.quantity, right=args.constrain_right,
                                  phrase_length=args.phrase_length, streams=args.streams,
                                  unknown=args.unknown, progress=bar)
    except ValueError as e:
        raise UserError(f"{e}")
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), ensure_ascii=False) + "\n")
        return 0
    if not report.selected:
        raise UserError(f"no unit of {report.layer_name} {report.quantity} is on over the span "
                        f"{span[0]}:{span[1]} and off before it; choose another span or lower "
                        "--threshold")
    print("\n".join(report.lines()))
    return 0

