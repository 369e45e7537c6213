"""`charlm score`: the log-probability of each line of a text file, as a line of its own."""

from __future__ import annotations

import json
from pathlib import Path

from charlm.cli.common import add_scorer_flags, load_scorer, progress_bar
from charlm.errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser("score", help="log-probability of each line of a text file")
    add_scorer_flags(p, "score with a baseline instead of a checkpoint")
    p.add_argument("--text-file", required=True, help="UTF-8 text, one sentence per line")
    p.add_argument("--unknown", default="error", help="error (default) | replace")
    p.add_argument("--json", action="store_true", help="one JSON object per line of the file")


def run(args) -> int:
    from charlm.data.tokenizers import unknown_characters_error
    from charlm.probes.scoring import score_lines

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
            raise unknown_characters_error(missing, "pass --unknown replace")
    with progress_bar(len(lines), "score") as bar:
        rows = score_lines(scorer, lines, progress=bar)
    for row in rows:
        print(json.dumps(row) if args.json
              else f"{row['line']}\t{row['logprob']:.4f}\t{row['chars']}")
    return 0
