"""`charlm` command line: subcommands that parse flags and hand over to one module each.

Errors a user can fix (`UserError`, bad flags) print one line to stderr and exit 2, with no
traceback; nothing already on disk is overwritten.
"""

from __future__ import annotations

import argparse
import json
import sys

from charlm.errors import UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + error
        raise UserError(f"{message} (see {self.prog} --help)")


TRAIN_FLAGS = [  # (flag, type, help) — each maps to the TrainConfig field of the same name;
    # the help shows that field's default (see _add_train), so it cannot go stale
    ("--corpus", str, "text file, .gz, directory of .txt, or a name: agreement (embedded), "
                      "tinyshakespeare, warpeace"),
    ("--val-corpus", str, "separate validation text (default: the tail of --corpus)"),
    ("--val-fraction", float, "share of the corpus tail held out for validation"),
    ("--tokenizer", str, "char | bpe | unigram"),
    ("--vocab-size", int, "sentencepiece vocabulary size"),
    ("--cell", str, "lstm | gru | rnn"),
    ("--layers", int, "recurrent layers"),
    ("--units", int, "units per recurrent layer"),
    ("--embedding-dim", int, "embedding size"),
    ("--dropout", float, "dropout between layers and before the output"),
    ("--batching", str, "stream (truncated BPTT, state carried) | random windows"),
    ("--state-reset-every", int, "stream batching: each row restarts from a zero state every N "
                                 "windows, staggered (0 = only at epoch starts)"),
    ("--seq-len", int, "tokens per training window (the BPTT length)"),
    ("--batch-size", int, "windows per batch"),
    ("--lr", float, "peak learning rate"),
    ("--min-lr-ratio", float, "final lr as a share of --lr"),
    ("--warmup-steps", int, "linear warm-up steps"),
    ("--weight-decay", float, "AdamW weight decay"),
    ("--clip-norm", float, "global gradient-norm clip"),
    ("--max-steps", int, "stop after this many steps"),
    ("--max-minutes", float, "stop after this many minutes (if no budget is given: "
                             "{DEFAULT_MINUTES:g})"),
    ("--epochs", float, "stop after this many passes over the training text"),
    ("--eval-every", int, "steps between validations and checkpoints"),
    ("--eval-max-chars", int, "validation reads at most this many tokens"),
    ("--patience", int, "stop after this many validations without improvement (0 = off)"),
    ("--sample-chars", int, "length of the sample printed at each validation"),
    ("--seed", int, "random seed"),
    ("--out", str, "checkpoint folder (default checkpoints/<corpus>-<time>)"),
]


def _add_train(sub):
    p = sub.add_parser("train", help="train a model (also: python train.py)")
    from charlm.config import DEFAULT_MINUTES, TrainConfig

    defaults = TrainConfig()
    for flag, kind, text in TRAIN_FLAGS:
        default = getattr(defaults, flag[2:].replace("-", "_"))
        if default is not None:
            shown = f"{default:g}" if isinstance(default, float) else default
            text += f"; default {shown}"
        p.add_argument(flag, type=kind, default=None,
                       help=text.format(DEFAULT_MINUTES=DEFAULT_MINUTES))
    p.add_argument("--config", help="JSON file of settings (flags override it)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in this checkpoint folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar or logs")


def _run_train(args) -> int:
    from charlm.config import TrainConfig
    from charlm.trainer import prepare_resume, train

    overrides = {flag[2:].replace("-", "_"): getattr(args, flag[2:].replace("-", "_"))
                 for flag, _, _ in TRAIN_FLAGS}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.resume:
        if args.config:
            raise UserError("--config cannot be used with --resume (the run keeps its config)")
        if "out" in overrides and overrides.pop("out") != args.resume:
            raise UserError("--out cannot differ from --resume; the run continues in its folder")
        config = prepare_resume(args.resume, overrides)
    else:
        config = TrainConfig.from_file(args.config) if args.config else TrainConfig()
        for key, value in overrides.items():
            setattr(config, key, value)
    out = train(config, resume=bool(args.resume), quiet=args.quiet)
    if not args.quiet:
        from charlm.inference import load

        lm = load(out)
        print(f"\ncheckpoint: {out}\nsample:\n{lm.generate(chr(10), length=300, temperature=0.8)}")
    return 0


def _add_eval(sub):
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


def _run_eval(args) -> int:
    from charlm.corpus import resolve_corpus
    from charlm.evaluate import evaluate_text
    from charlm.inference import load

    if args.streams < 1:
        raise UserError(f"--streams must be at least 1, not {args.streams}")
    lm = load(args.checkpoint, which=args.which)
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


def _add_bench(sub):
    from charlm import bench

    p = sub.add_parser("bench", help="benchmarks (train throughput, …)")
    bench.add_arguments(p)


def _run_bench(args) -> int:
    from charlm import bench

    return bench.run(args)


COMMANDS = {"train": (_add_train, _run_train), "eval": (_add_eval, _run_eval),
            "bench": (_add_bench, _run_bench)}


def _lazy(module: str, name: str):
    """A parser/run function of another CLI module, imported only when that command is used."""
    def call(arg):
        import importlib

        return getattr(importlib.import_module(module), name)(arg)
    return call


for _module, _commands in (("charlm.cli_probe", ("probe", "score", "experiment")),
                           ("charlm.generate_cli", ("generate", "export"))):
    COMMANDS.update({cmd: (_lazy(_module, f"add_{cmd}"), _lazy(_module, f"run_{cmd}"))
                     for cmd in _commands})


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="charlm", description="Character-level language models: train, "
                     "evaluate, generate, and probe what they learned.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command][1](args)
    except UserError as e:
        print(f"charlm: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("charlm: interrupted", file=sys.stderr)
        return 130
