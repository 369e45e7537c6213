"""`charlm inspect`: look inside a trained network.

    charlm inspect [view] --checkpoint DIR --text "The keys to the cabinet are on the table."
        writes DIR/inspect/view.html (or --out FILE.html): the text coloured by any unit's gates
        or states, a picker, the top five next characters on hover, the units that track line
        position, quotes, brackets and the subject's number (with --corpus FILE: brush a span to
        select its units and list their matches in FILE); and beside it one PNG heatmap
        (units × characters) per layer and quantity. --text-file FILE reads a file instead
        (in chunks, the state carried). --json prints every quantity of every layer for every
        character (the values after reading it, from a zero state) as one JSON object, and
        writes no page unless --out is given; --h5 FILE.h5 writes them for LSTMVis.
    charlm inspect saturation --checkpoint DIR --text-file FILE [--out DIR]
        gate saturation per unit (Karpathy et al. 2015): saturation.json and saturation.png.
    charlm inspect number-units --checkpoint DIR [--data PAIRS.jsonl ...] [--draws N] [--seed S]
        the units whose ablation hurts agreement (Lakretz et al. 2019): number_units.json/.md/.png.
    charlm inspect match --checkpoint DIR --corpus FILE --text TEXT --span A:B [--threshold 0.3]
                         [--layer L] [--quantity cell|hidden|<gate>] [--json]
        select the units on over TEXT[A:B] and off just before it (LSTMVis' select), and list
        the corpus spans where they are on together, best first, in context (its match view).
        `charlm inspect view --corpus FILE` puts the same on the page: brush a span, see its
        units and their matches.

Keras is imported when the command runs, not when the parser is built.
"""

from __future__ import annotations

import sys
from pathlib import Path

from charlm.cli.common import add_checkpoint_flags, add_text_file_flag, add_unknown_flag
from charlm.cli.inspect_match import add_match_arguments, match_flags_used
from charlm.errors import UserError

ACTIONS = ("view", "saturation", "number-units", "match")
DRAWS, SEED = 20, 0


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="look inside the network: each unit's gates and states "
                                       "per character (view), gate saturation, number units, "
                                       "matches of a unit pattern across a corpus (match)")
    p.add_argument("action", nargs="?", choices=ACTIONS, default="view",
                   help="view (default): the page, heatmaps, --json, --h5 | saturation | "
                        "number-units | match")
    add_checkpoint_flags(p)
    p.add_argument("--text", help="the text to read, as a string (view, saturation, match)")
    add_text_file_flag(p, "view, saturation, match: the text read from a file instead")
    p.add_argument("--out", metavar="PATH",
                   help="view: the page, FILE.html (default DIR/inspect/view.html; the PNG "
                        "heatmaps go beside it); saturation, number-units: a folder (default "
                        "DIR/inspect-saturation, DIR/inspect-number-units)")
    p.add_argument("--json", action="store_true",
                   help="view: print every quantity of every layer per character as JSON on "
                        "stdout (no page unless --out is given); match: the report as JSON")
    p.add_argument("--h5", metavar="FILE.h5",
                   help="view: also write the values as LSTMVis reads them (FILE.h5, FILE.dict, "
                        "FILE.lstm.yml)")
    add_unknown_flag(p, "view, match: characters")
    p.add_argument("--data", nargs="+", metavar="PAIRS.jsonl",
                   help="number-units: pair files (default: the shipped suite "
                        "corpora/agreement/)")
    p.add_argument("--draws", type=int, default=None,
                   help=f"number-units: random unit groups drawn as a control ({DRAWS})")
    p.add_argument("--seed", type=int, default=None, help=f"number-units: random seed ({SEED})")
    add_match_arguments(p)


def run(args) -> int:
    _check_flags(args)
    if args.action == "saturation":
        return _saturation(args)
    if args.action == "number-units":
        return _number_units(args)
    if args.action == "match":
        from charlm.cli.inspect_match import run_match

        return run_match(args)
    return _view(args)


def _check_flags(args) -> None:
    """Flags that belong to another action are an error, not silently ignored."""
    match_only = match_flags_used(args)
    wrong = {"view": [("--data", args.data), ("--draws", args.draws), ("--seed", args.seed)]
             + match_only,
             "saturation": [("--json", args.json), ("--h5", args.h5), ("--data", args.data),
                            ("--draws", args.draws), ("--seed", args.seed),
                            ("--unknown", args.unknown != "error")] + match_only,
             "number-units": [("--text", args.text is not None),
                              ("--text-file", args.text_file is not None),
                              ("--json", args.json), ("--h5", args.h5),
                              ("--unknown", args.unknown != "error")] + match_only,
             "match": [("--out", args.out is not None), ("--h5", args.h5),
                       ("--data", args.data), ("--draws", args.draws),
                       ("--seed", args.seed)]}[args.action]
    used = [flag for flag, value in wrong if value]
    if used:
        raise UserError(f"{', '.join(used)} cannot be used with charlm inspect {args.action} "
                        "(see charlm inspect --help)")


def read_text(args) -> str:
    """--text or --text-file (exactly one) → the text."""
    if (args.text is None) == (args.text_file is None):
        raise UserError("pass exactly one of --text TEXT or --text-file FILE")
    if args.text_file is not None:
        from charlm.data.corpus import read_text_file

        return read_text_file(args.text_file, "--text-file")
    text = args.text
    if not text:
        raise UserError("the text is empty; give at least one character")
    return text


def _page_path(args) -> Path:
    if args.out is None:
        return Path(args.checkpoint) / "inspect" / "view.html"
    out = Path(args.out)
    if out.is_dir() or args.out.endswith(("/", "\\")):
        return out / "view.html"
    if out.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"--out {out} should name the page, a .html file (the heatmaps go "
                        "beside it)")
    return out


def _report(paths, to_stderr: bool) -> None:
    stream = sys.stderr if to_stderr else sys.stdout
    for path in paths:
        print(f"wrote {path}", file=stream)


def _write(what: str, write):
    try:
        return write()
    except OSError as e:
        raise UserError(f"cannot write {what} ({e.strerror or e}); check the path and the "
                        "free space")


def _view(args) -> int:
    text = read_text(args)
    h5 = Path(args.h5) if args.h5 else None
    if h5 is not None and h5.suffix.lower() not in (".h5", ".hdf5"):
        raise UserError(f"--h5 {h5} should end with .h5 or .hdf5 (LSTMVis reads only those)")
    page = _page_path(args) if (args.out is not None or not (args.json or h5)) else None

    from charlm import checkpoint
    from charlm.cli.common import progress_bar
    from charlm.inspect import trace as tracing
    from charlm.inspect.view import inspect_text

    lm = checkpoint.load(args.checkpoint, which=args.which)
    with progress_bar(len(text), "inspect", unit="char") as bar:
        ins = inspect_text(lm.model, lm.tokenizer, text, unknown=args.unknown,
                           title=f"{args.checkpoint} ({args.which})", chunk=tracing.CHUNK,
                           progress=bar)
    if args.corpus is not None:
        from charlm.cli.inspect_match import attach_to_page

        attach_to_page(ins, lm, args, progress_bar)
    replaced = lm.tokenizer.count_unknown(text) if args.unknown == "replace" else 0
    if replaced:
        print(f"charlm: note: {replaced} character(s) outside the vocabulary read as <unk>",
              file=sys.stderr)
    written = []
    if h5 is not None:
        from charlm.inspect.lstmvis import write_lstmvis

        written += _write(h5, lambda: write_lstmvis(ins.trace, ins.vocab, h5))
    if page is not None:
        written += _write(page, lambda: ins.save(page))
    if args.json:
        sys.stdout.write(ins.json_text() + "\n")
        sys.stdout.flush()
    _report(written, to_stderr=args.json)
    return 0


def _saturation(args) -> int:
    text = read_text(args)
    from charlm import checkpoint

    try:
        from charlm.inspect.saturation import saturation_report
    except ImportError:
        raise UserError("charlm inspect saturation is not available in this version of charlm")
    out = Path(args.out) if args.out else Path(args.checkpoint) / "inspect-saturation"
    lm = checkpoint.load(args.checkpoint, which=args.which)
    _write(out, lambda: saturation_report(lm.model, lm.tokenizer, text, out))
    _report([out / "saturation.json", out / "saturation.png"], to_stderr=False)
    return 0


def _number_units(args) -> int:
    draws = DRAWS if args.draws is None else args.draws
    seed = SEED if args.seed is None else args.seed
    if draws < 1:
        raise UserError(f"--draws must be at least 1, not {draws}")
    from charlm import checkpoint
    from charlm.cli.common import progress_bar
    from charlm.probes import pairs as probes

    try:
        from charlm.inspect.number_units import number_units_report
    except ImportError:
        raise UserError("charlm inspect number-units is not available in this version of charlm")
    files = [Path(f) for f in args.data] if args.data else probes.default_suite()
    pairs, _ = probes.load_pairs(files)
    out = Path(args.out) if args.out else Path(args.checkpoint) / "inspect-number-units"
    lm = checkpoint.load(args.checkpoint, which=args.which)
    _write(out, lambda: number_units_report(lm.model, lm.tokenizer, pairs, out, draws=draws,
                                            seed=seed, progress=progress_bar))  # a bar a phase
    _report([out / f"number_units.{ext}" for ext in ("json", "md", "png")], to_stderr=False)
    return 0

