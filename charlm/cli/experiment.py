"""`charlm experiment cells`: RNN vs GRU vs LSTM at equal parameters, trained on the same corpus
for the same budget, then probed for agreement (charlm.experiments.cells does the work)."""

from __future__ import annotations

from charlm.errors import UserError
from charlm.experiments.seeds import CROSSING_ACCURACY

DEFAULT_SEED = 1234


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "experiment", help="experiments (cells: RNN vs GRU vs LSTM on agreement)")
    sub = parser.add_subparsers(dest="experiment", required=True, parser_class=type(parser))
    p = sub.add_parser("cells", help="RNN vs GRU vs LSTM: agreement accuracy vs distance")
    p.add_argument("--cells", default="rnn,gru,lstm",
                   help="comma-separated, from rnn, gru, lstm, peephole (LSTM with peepholes), "
                        "cifg (LSTM with coupled input and forget gates)")
    p.add_argument("--corpus", default="agreement", help="training text (agreement)")
    p.add_argument("--minutes", type=float, default=8.0,
                   help="training time per cell (8: the default LSTM needs about that to learn "
                        "agreement across attractors reliably)")
    p.add_argument("--steps", type=int,
                   help="train each cell this many steps instead (the same number of updates "
                        "whatever each cell's speed; overrides --minutes)")
    p.add_argument("--lstm-units", type=int, default=384,
                   help="the budget: every cell gets the parameter count of a 1-layer LSTM with "
                        "this many units (384, train's default model)")
    p.add_argument("--embedding-dim", type=int, default=64)
    p.add_argument("--batch-size", type=int, help="windows per batch (train's default)")
    p.add_argument("--seq-len", type=int, help="BPTT window (train's default)")
    p.add_argument("--seed", type=int, help=f"the seed of every cell's run ({DEFAULT_SEED})")
    p.add_argument("--seeds", metavar="LIST",
                   help="train each cell once per seed (1,2,3 or 1-5), each in "
                        "OUT/<cell>/seed-<S>/, and report the mean, sd and min–max over seeds "
                        "and how many crossed --crossing-accuracy")
    p.add_argument("--crossing-accuracy", type=float, metavar="FRACTION",
                   help="with --seeds: a seed has crossed the transition when its agreement "
                        f"accuracy is at least this ({CROSSING_ACCURACY})")
    p.add_argument("--lr", help="peak learning rate for every cell (e.g. 0.01), or per cell "
                                "(gru=0.01,lstm=0.02); cells not named keep theirs: rnn 3e-3, "
                                "gru 6e-3, lstm, peephole and cifg train's default")
    p.add_argument("--data", nargs="+", metavar="FILE",
                   help="pair files (default: the shipped suite's known-words half)")
    p.add_argument("--out", default="checkpoints/experiment-cells",
                   help="one checkpoint per cell plus cells.json/.md/.png "
                        "(checkpoints/experiment-cells); a cell already trained there is reused")


def run(args) -> int:
    from charlm.experiments.cells import run_cells

    if args.seed is not None and args.seeds is not None:
        raise UserError("pass --seed or --seeds, not both")
    return run_cells(cells=args.cells, corpus=args.corpus, minutes=args.minutes,
                     steps=args.steps, lstm_units=args.lstm_units,
                     embedding_dim=args.embedding_dim, batch_size=args.batch_size,
                     seq_len=args.seq_len,
                     seed=DEFAULT_SEED if args.seed is None else args.seed, lr=args.lr,
                     data=args.data, out=args.out, seeds=args.seeds,
                     crossing_accuracy=args.crossing_accuracy)
