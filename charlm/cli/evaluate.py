"""`charlm eval`: bits per character of a text under a checkpoint, read in order."""

from __future__ import annotations

import json
from pathlib import Path

from charlm.cli.common import (add_checkpoint_flags, add_text_file_flag,
                               note_deprecated_text_flag, text_file_arg)
from charlm.errors import UserError

OLD_TEXT_FLAG = "--text"  # eval's first spelling of --text-file; still read, with a note


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="bits per character of a text under a checkpoint")
    add_checkpoint_flags(p)
    add_text_file_flag(p, "the text to evaluate (a folder of .txt files or a corpus name work "
                          "too)", required=True, old=OLD_TEXT_FLAG)
    p.add_argument("--tail-fraction", type=float, default=None,
                   help="evaluate only the last share of the file (0.1 = the usual val tail)")
    p.add_argument("--streams", type=int, default=1,
                   help="read the text as N segments side by side (faster; each segment starts "
                        "from a zero state); 1 = exact, in order")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    from charlm import checkpoint
    from charlm.evaluate import evaluate_text

    source = text_file_arg(args, OLD_TEXT_FLAG)
    if args.streams < 1:
        raise UserError(f"--streams must be at least 1, not {args.streams}")
    text = _read(source)  # a bad file fails before the checkpoint is loaded
    lm = checkpoint.load(args.checkpoint, which=args.which)
    if args.tail_fraction is not None:
        if not 0 < args.tail_fraction <= 1:
            raise UserError(f"--tail-fraction must be in (0, 1], not {args.tail_fraction}")
        text = text[int(len(text) * (1 - args.tail_fraction)):]
    result = evaluate_text(lm.model, lm.tokenizer, text, streams=args.streams)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['bpc']:.4f} bits/char ({result['nats_per_char']:.4f} nats/char) over "
              f"{result['chars']:,} characters"
              + (f", {result['unknown_chars']} unknown" if result["unknown_chars"] else ""))
    note_deprecated_text_flag(args, OLD_TEXT_FLAG)
    return 0


def _read(source: str) -> str:
    """A file through the one reader of user text files; a folder of .txt files or a corpus name
    (what eval always took) as a corpus."""
    from charlm.data.corpus import EMBEDDED, REGISTRY, read_text_file, resolve_corpus

    path = Path(source).expanduser()
    if path.is_dir() or (not path.exists() and source in {*EMBEDDED, *REGISTRY}):
        return resolve_corpus(source, download=False).read_text()
    return read_text_file(source, "--text-file")
