"""`charlm experiment cells`: RNN vs GRU vs LSTM at equal parameters, trained on the same corpus
for the same budget, then probed for agreement (charlm.experiments.cells does the work)."""

from __future__ import annotations


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
    p.add_argument("--seed", type=int, default=1234)
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

    return run_cells(cells=args.cells, corpus=args.corpus, minutes=args.minutes,
                     steps=args.steps, lstm_units=args.lstm_units,
                     embedding_dim=args.embedding_dim, batch_size=args.batch_size,
                     seq_len=args.seq_len, seed=args.seed, lr=args.lr, data=args.data,
                     out=args.out)
