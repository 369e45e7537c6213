"""`charlm train` (also `python train.py`): flags → TrainConfig → charlm.training.trainer."""

from __future__ import annotations

import argparse

from charlm import defaults
from charlm.errors import UserError

TRAIN_FLAGS = [  # (flag, type, help) — each maps to the TrainConfig field of the same name;
    # the help shows that field's default (see _add_train), so it cannot go stale
    ("--corpus", str, "text file, .gz, directory of .txt, or a name: agreement (embedded), "
                      "tinyshakespeare, warpeace"),
    ("--val-corpus", str, "separate validation text (default: the tail of --corpus)"),
    ("--val-fraction", float, "share of the corpus tail held out for validation"),
    ("--tokenizer", str, "char | bpe | unigram"),
    ("--vocab-size", int, "sentencepiece vocabulary size"),
    ("--cell", str, "lstm | gru | rnn | peephole (LSTM with peephole connections) | cifg "
                    "(LSTM with coupled input and forget gates)"),
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
    ("--max-steps", int, "stop after this many steps (if no budget is given: {DEFAULT_STEPS})"),
    ("--max-minutes", float, "stop after this many minutes"),
    ("--epochs", float, "stop after this many passes over the training text"),
    ("--eval-every", int, "steps between validations and checkpoints"),
    ("--eval-max-tokens", int, "periodic validation reads at most this many tokens of the "
                               "validation text"),
    ("--patience", int, "stop after this many validations without improvement (0 = off)"),
    ("--sample-chars", int, "length of the sample printed at each validation"),
    ("--seed", int, "random seed"),
    ("--precision", str, "float32 | mixed (bfloat16 where the device has a fast path; the "
                         "recurrent layers and the loss stay float32)"),
    ("--distribute", str, "none | mirrored (every local GPU, data-parallel) | multiworker "
                          "(hosts named by TF_CONFIG); --batch-size stays the global batch"),
    ("--out", str, "checkpoint folder (default checkpoints/<corpus>-<time>)"),
]


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model (also: python train.py)")
    from charlm.config import DEFAULT_STEPS, TrainConfig

    defaults = TrainConfig()
    for flag, kind, text in TRAIN_FLAGS:
        default = getattr(defaults, flag[2:].replace("-", "_"))
        if default is not None:
            shown = f"{default:g}" if isinstance(default, float) else default
            text += f"; default {shown}"
        p.add_argument(flag, type=kind, default=None,
                       help=text.format(DEFAULT_STEPS=DEFAULT_STEPS))
    # The flag's name before it said what it counts (tokens); kept so old commands still work.
    p.add_argument("--eval-max-chars", dest="eval_max_tokens", type=int, help=argparse.SUPPRESS)
    p.add_argument("--config", help="JSON file of settings (flags override it)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in this checkpoint folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar or logs")


def run(args) -> int:
    from charlm.config import TrainConfig
    from charlm.training.trainer import prepare_resume, train  # no Keras until train() needs it

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
        from charlm import checkpoint
        from charlm.generate.generator import sample_text

        lm = checkpoint.load(out)
        sample = sample_text(lm.model, lm.tokenizer, defaults.TRAIN_SAMPLE_LENGTH)
        print(f"\ncheckpoint: {out}\nsample:\n{sample}")
    return 0
