"""Training throughput of the LSTM-like cells (lstm, peephole, cifg), fused CPU kernel vs generic loop.

    python benchmarks/bench_cells.py            # aligned lines; --json for one JSON object

Each cell trains bench_train's model shape (embedding → L×cell(H) → dense logits, Adam, grad
clipping) on the same random batches, twice: in charlm's fused CPU kernel and, as the baseline,
in Keras' generic per-step loop (what CHARLM_FUSED_LSTM=0 runs). Timings alternate between all
runners (median of --rounds) so a noisy shared machine affects them alike. Reported per cell:
chars/s of both, the fused kernel's speed as % of the generic loop's, and its time per step as %
of the fused LSTM's (the variants' target: at most 130%).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # bench_report.py beside this file; the checkout's charlm

from bench_report import print_result  # noqa: E402
from bench_train import build_charlm_step, random_batch  # noqa: E402

from charlm.backend import import_quietly  # noqa: E402
from charlm.errors import UserError  # noqa: E402

import_quietly()  # Keras and TensorFlow without their C++ start-up log lines


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench_cells", description=__doc__.splitlines()[0])
    p.add_argument("--cells", default="lstm,peephole,cifg", help="comma-separated; lstm first "
                   "gives the other cells' time relative to it")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--embedding-dim", type=int, default=64)
    p.add_argument("--vocab-size", type=int, default=65)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=100)
    p.add_argument("--steps", type=int, default=15, help="timed steps per round (5 was too few to "
                   "time on a 2-core Zen 4: one such run put cifg's kernel below the generic loop)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-generic", action="store_true", help="skip the generic-loop baseline")
    p.add_argument("--json", action="store_true")
    return p


def _runner(args, cell: str, fused: bool, x, y):
    """A timed runner of bench_train's step for `cell`. The fused switch is read when the step
    is traced (during the warm-up), so the environment is set only around that; a retrace while
    timing would read the other setting, so it is an error."""
    import time

    saved = os.environ.get("CHARLM_FUSED_LSTM")
    os.environ["CHARLM_FUSED_LSTM"] = "1" if fused else "0"
    try:
        step, states = build_charlm_step(args, cell)
        for _ in range(3):  # compile and warm up
            loss, _, _ = step(x, y, states, 1e-3)
        float(loss)
    finally:
        if saved is None:
            del os.environ["CHARLM_FUSED_LSTM"]
        else:
            os.environ["CHARLM_FUSED_LSTM"] = saved
    traces = step._fn.experimental_get_tracing_count()

    def timed(n):
        t = time.perf_counter()
        for _ in range(n):
            loss, _, _ = step(x, y, states, 1e-3)
        float(loss)  # wait for the device
        if step._fn.experimental_get_tracing_count() != traces:
            raise RuntimeError(f"the {cell} step was traced again while timed")
        return time.perf_counter() - t

    return timed


def run(args) -> int:
    from charlm.cell_types import LSTM_LIKE

    cells = [c for c in args.cells.split(",") if c]
    if not cells or any(c not in LSTM_LIKE for c in cells):
        raise UserError(f"--cells takes a comma-separated list of {', '.join(LSTM_LIKE)}")
    x, y = random_batch(args)
    kinds = [True] if args.no_generic else [True, False]
    runners = {(cell, fused): _runner(args, cell, fused, x, y) for cell in cells for fused in kinds}
    times = {key: [] for key in runners}
    for _ in range(args.rounds):  # alternate so all see the same machine load
        for key, timed in runners.items():
            times[key].append(timed(args.steps))
    chars = args.steps * args.batch_size * args.seq_len
    speed = {key: chars / statistics.median(t) for key, t in times.items()}
    result = {"bench": "cells"}
    for cell in cells:
        result[f"{cell}_chars_per_sec"] = speed[cell, True]
        if not args.no_generic:
            result[f"{cell}_generic_chars_per_sec"] = speed[cell, False]
            result[f"{cell}_speed_vs_generic_pct"] = 100 * speed[cell, True] / speed[cell, False]
        if "lstm" in cells:  # time per step, % of the fused LSTM's
            result[f"{cell}_time_vs_lstm_pct"] = 100 * speed["lstm", True] / speed[cell, True]
    result.update(layers=args.layers, units=args.units, embedding_dim=args.embedding_dim,
                  batch_size=args.batch_size, seq_len=args.seq_len, steps=args.steps,
                  rounds=args.rounds)
    print_result(result, args.json)
    return 0


def main(argv=None) -> int:
    return run(parser().parse_args(argv))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as e:
        sys.exit(f"error: {e}")
