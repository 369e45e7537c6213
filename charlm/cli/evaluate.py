"""`charlm eval`: bits per character of a text under a checkpoint, read in order."""

from __future__ import annotations

import json

from charlm.errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="bits per character of a text under a checkpoint")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--text", required=True, help="UTF-8 text file (.gz too)")
    p.add_argument("--tail-fraction", type=float, default=None,
                   help="evaluate only the last share of the file (0.1 = the usual val tail)")
    p.add_argument("--streams", type=int, default=1,
                   help="read the text as N segments side by side (faster; each segment starts "
                        "from a zero state); 1 = exact, in order")
    p.add_argument("--which", choices=("best", "last"), default="best")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    from charlm import checkpoint
    from charlm.data.corpus import resolve_corpus
    from charlm.evaluate import evaluate_text

    if args.streams < 1:
        raise UserError(f"--streams must be at least 1, not {args.streams}")
    lm = checkpoint.load(args.checkpoint, which=args.which)
    text = resolve_corpus(args.text, download=False).read_text()
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
    return 0
