"""Sampling throughput of charlm's compiled loop vs window recompute.

    python benchmarks/bench_generate.py --json     # the same as: charlm bench generate --json

The baseline is the Keras-example sampler (keras.io "character-level text generation with LSTM"):
for every new character, `model.predict` on the last `--window` characters from a zero state,
then draw from the last position's softmax on the host. It re-reads the whole window per character
and pays predict()'s per-call overhead, which is what the compiled, state-carrying loop avoids.

Both run on the same randomly initialised model (`--layers --units --embedding-dim --vocab-size`)
in the same process, alternating round by round (median of `--rounds`) so a noisy shared machine
slows both alike. Our figure is end to end: prime, compiled chunks, copies to the host, decoding.
The baseline always runs at batch 1 (that is how the example samples); its chars/s is per
sequence, so the ratio at batch B also counts the B-fold parallelism.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # bench_report.py beside this file; the checkout's charlm

from bench_report import print_result  # noqa: E402

from charlm.backend import import_quietly  # noqa: E402
from charlm.errors import UserError  # noqa: E402

import_quietly()  # Keras and TensorFlow without their C++ start-up log lines


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="charlm bench generate",
                                description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--embedding-dim", type=int, default=64)
    p.add_argument("--vocab-size", type=int, default=65)
    p.add_argument("--cell", default="lstm", choices=("lstm", "gru", "rnn"))
    p.add_argument("--batch-size", type=int, default=1, help="samples generated in parallel")
    p.add_argument("--length", type=int, default=2000, help="characters per sample and round")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--window", type=int, default=100, help="baseline: characters re-read per step")
    p.add_argument("--baseline-chars", type=int, default=8,
                   help="baseline: characters per round (it is slow)")
    p.add_argument("--no-baseline", action="store_true", help="skip the window-recompute baseline")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def main(argv=None) -> int:
    return run(parser().parse_args(argv))


def run(args) -> int:
    for name in ("layers", "units", "embedding_dim", "vocab_size", "batch_size", "length",
                 "rounds", "window", "baseline_chars"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be positive")
    if args.vocab_size < 2:
        raise UserError("--vocab-size must be at least 2")
    import keras

    from charlm import backend
    from charlm.data.tokenizers import CharTokenizer
    from charlm.generate.decoding import Decoder
    from charlm.generate.generator import Generator
    from charlm.generate.samplers import make_sampler
    from charlm.model.model import build_model

    backend.set_random_seed(0)  # keras.utils' would import TensorFlow on JAX too
    model = build_model(args.vocab_size, args.embedding_dim, args.cell, args.layers, args.units)
    # Any vocab_size-1 distinct characters (id 0 is <unk>): the text itself does not matter.
    tokenizer = CharTokenizer([chr(0x100 + i) for i in range(args.vocab_size - 1)])
    generator = Generator(model, tokenizer, Decoder(model))
    sampler = make_sampler(args.temperature)
    prompt = tokenizer.chars[0] * 8

    cpu_times = []

    def ours() -> float:
        cpu, start = time.process_time(), time.perf_counter()
        samples = generator.run(prompt, args.length, sampler, seed=0, num_samples=args.batch_size)
        elapsed = time.perf_counter() - start
        cpu_times.append(time.process_time() - cpu)  # all threads of this process
        assert all(len(s.text) == args.length for s in samples)
        return elapsed

    start = time.perf_counter()
    generator.run(prompt, args.length, sampler, seed=1, num_samples=args.batch_size)  # compile
    compile_s = time.perf_counter() - start
    baseline = None if args.no_baseline else _window_recompute(model, args)
    ours_times, base_times = [], []
    for _ in range(args.rounds):  # alternate so both see the same machine load
        ours_times.append(ours())
        if baseline is not None:
            base_times.append(baseline())
    chars = args.length * args.batch_size
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result = {"bench": "generate", "chars_per_sec": chars / statistics.median(ours_times),
              "baseline_chars_per_sec": (args.baseline_chars / statistics.median(base_times)
                                         if base_times else None)}
    result["ratio_vs_window_recompute"] = (result["chars_per_sec"]
                                           / result["baseline_chars_per_sec"]
                                           if base_times else None)
    result.update({
        "steps_per_sec": args.length / statistics.median(ours_times),
        # On a shared machine: how many cores the run really got, and its speed per CPU-second.
        "cpu_utilisation": sum(cpu_times) / sum(ours_times),
        "chars_per_cpu_sec": chars * len(cpu_times) / sum(cpu_times), "load_average": load,
        "shards": len(generator.decoder.shard_sizes(args.batch_size)),
        "first_call_s": compile_s, "layers": args.layers, "units": args.units,
        "embedding_dim": args.embedding_dim, "vocab_size": args.vocab_size, "cell": args.cell,
        "batch_size": args.batch_size, "length": args.length, "rounds": args.rounds,
        "chunk_size": generator.decoder.chunk_size, "window": args.window,
        "baseline_chars": args.baseline_chars, "backend": keras.backend.backend(),
        "device": backend.device()})
    print_result(result, args.json)
    return 0


def _window_recompute(model, args):
    """The Keras-example sampler; returns a timer of `baseline_chars` new characters."""
    rng = np.random.default_rng(0)
    text = list(rng.integers(1, args.vocab_size, args.window))
    zeros = [np.zeros((1, inp.shape[-1]), np.float32) for inp in model.inputs[1:]]

    def next_char():
        window = np.array([text[-args.window:]], np.int32)  # [1, window]
        logits = model.predict([window, *zeros], verbose=0)[0][0, -1].astype(np.float64)  # [V]
        p = np.exp((logits - logits.max()) / args.temperature)
        text.append(int(rng.choice(len(p), p=p / p.sum())))

    next_char()  # build predict()'s function once

    def timed() -> float:
        start = time.perf_counter()
        for _ in range(args.baseline_chars):
            next_char()
        return time.perf_counter() - start

    return timed


if __name__ == "__main__":
    raise SystemExit(main())
