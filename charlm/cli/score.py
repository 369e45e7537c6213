"""`charlm score`: the log-probability of each line of a text file, as a line of its own."""

from __future__ import annotations

import json
from charlm.cli.common import (add_scorer_flags, add_text_file_flag, add_unknown_flag,
                               load_scorer, progress_bar)


def add_parser(sub) -> None:
    p = sub.add_parser("score", help="log-probability of each line of a text file")
    add_scorer_flags(p, "score with a baseline instead of a checkpoint")
    add_text_file_flag(p, "the text, one sentence per line", required=True)
    add_unknown_flag(p, "characters")
    p.add_argument("--json", action="store_true", help="one JSON object per line of the file")


def run(args) -> int:
    from charlm.data.corpus import read_text_file
    from charlm.data.tokenizers import unknown_characters_error
    from charlm.probes.scoring import score_lines

    lines = read_text_file(args.text_file, "--text-file").split("\n")
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
