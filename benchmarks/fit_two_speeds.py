"""Why does stock Keras `fit` with `keras.layers.LSTM` land in one of two speeds from run to run?

Runs the same stock training (embedding 64 → 2×LSTM(256) → dense 65, Adam, batch 64, sequence
100, `model.fit` on in-memory arrays) in `--runs` fresh processes per variant and prints, per run,
the steady-state chars/s and the CPU time the process used per wall second (how many cores it
kept busy). Variants change one thing each:

    default     as a user would run it
    interop1    TF_NUM_INTEROP_THREADS=1 (one executor thread instead of one per core)
    intra1      TF_NUM_INTRAOP_THREADS=1 (single-threaded kernels)
    jit         model.compile(jit_compile=True)
    charlm      the same model with charlm's CPU LSTM kernel (charlm.model.model.FusedLSTM)

    python benchmarks/fit_two_speeds.py --runs 5 [--variants default,interop1,...] [--json]

Run it on an otherwise idle machine: it measures the spread between fresh processes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

VARIANTS = {
    "default": ({}, []),
    "interop1": ({"TF_NUM_INTEROP_THREADS": "1"}, []),
    "intra1": ({"TF_NUM_INTRAOP_THREADS": "1"}, []),
    "jit": ({}, ["--jit"]),
    "charlm": ({}, ["--charlm-kernel"]),
}


def child(args) -> None:
    """One fresh process: build, fit `--warmup + --steps` batches, print steady-state speed."""
    import time

    import numpy as np

    lstm_class = None
    if args.charlm_kernel:
        sys.path.insert(0, str(ROOT))
        from charlm.model.model import FusedLSTM as lstm_class  # a keras.layers.LSTM, other kernel
    import keras
    import tensorflow as tf

    lstm_class = lstm_class or keras.layers.LSTM
    threads = (tf.config.threading.get_inter_op_parallelism_threads(),
               tf.config.threading.get_intra_op_parallelism_threads())
    keras.utils.set_random_seed(0)
    vocab, batch, seq = 65, 64, 100
    model = keras.Sequential([keras.Input((seq,), dtype="int32"),
                              keras.layers.Embedding(vocab, 64),
                              lstm_class(256, return_sequences=True),
                              lstm_class(256, return_sequences=True),
                              keras.layers.Dense(vocab)])
    model.compile(keras.optimizers.Adam(2e-3, clipnorm=1.0),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=args.jit)
    rng = np.random.default_rng(0)
    n = batch * (args.steps + args.warmup)
    x = rng.integers(0, vocab, (n, seq)).astype(np.int32)
    y = rng.integers(0, vocab, (n, seq)).astype(np.int32)

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.marks = []

        def on_train_batch_end(self, step, logs=None):
            self.marks.append((time.perf_counter(), time.process_time()))

    clock = Clock()
    model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0, callbacks=[clock])
    (w0, c0), (w1, c1) = clock.marks[args.warmup - 1], clock.marks[-1]
    print(json.dumps({"chars_per_sec": args.steps * batch * seq / (w1 - w0),
                      "cores_busy": (c1 - c0) / (w1 - w0), "threads_inter_intra": threads}))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per variant")
    parser.add_argument("--variants", default="default,interop1,intra1")
    parser.add_argument("--steps", type=int, default=30, help="timed batches per process")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--jit", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--charlm-kernel", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        print(f"error: unknown variant(s) {unknown}; choose from {list(VARIANTS)}", file=sys.stderr)
        return 2
    results = {name: [] for name in names}
    for run in range(args.runs):  # interleave variants so machine load hits them alike
        for name in names:
            env, flags = VARIANTS[name]
            out = subprocess.run(
                [sys.executable, __file__, "--child", "--steps", str(args.steps),
                 "--warmup", str(args.warmup), *flags],
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env},
                capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            results[name].append(row)
            if not args.json:
                print(f"run {run} {name:9s} {row['chars_per_sec']:8.0f} chars/s  "
                      f"{row['cores_busy']:.2f} cores busy  threads {row['threads_inter_intra']}",
                      flush=True)
    summary = {name: {"chars_per_sec": [round(r["chars_per_sec"]) for r in rows],
                      "cores_busy": [round(r["cores_busy"], 2) for r in rows],
                      "median": round(statistics.median(r["chars_per_sec"] for r in rows))}
               for name, rows in results.items()}
    summary["load_average"] = os.getloadavg()[0]
    print(json.dumps(summary) if args.json else json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
