"""Training throughput of charlm's step vs PyTorch nn.LSTM, same run.

    python benchmarks/bench_train.py --json        # the same as: charlm bench train --json

Both sides train the same shape (embedding → L×LSTM(H) → dense logits, Adam, grad clipping) on
the same random batches; timings alternate between the two (3 rounds, median) so a noisy shared
machine affects both alike. PyTorch is an optional, benchmark-only dependency: without it the
ratio is reported as null. PyTorch runs where charlm's backend computes (`--torch-device auto`):
on a GPU, `nn.LSTM` is cuDNN's kernel.
"""

from __future__ import annotations

import argparse
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
    p = argparse.ArgumentParser(prog="charlm bench train", description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--embedding-dim", type=int, default=64)
    p.add_argument("--vocab-size", type=int, default=65)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=100)
    p.add_argument("--cell", default="lstm")
    p.add_argument("--steps", type=int, default=20, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    p.add_argument("--torch-device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where the PyTorch baseline runs; auto: on the GPU when charlm's backend "
                        "computes on one, else on the CPU")
    p.add_argument("--json", action="store_true")
    return p


def main(argv=None) -> int:
    return run(parser().parse_args(argv))


def random_batch(args) -> tuple[np.ndarray, np.ndarray]:
    """The sizes checked, then one seeded batch of token ids x, y [batch_size, seq_len]: every
    timed step reads the same batch (bench_cells uses it too)."""
    for name in ("layers", "units", "embedding_dim", "vocab_size", "batch_size", "seq_len",
                 "steps", "rounds"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be positive")
    rng = np.random.default_rng(0)
    shape = (args.batch_size, args.seq_len)
    return tuple(rng.integers(0, args.vocab_size, shape).astype(np.int32) for _ in range(2))


def run(args) -> int:
    x, y = random_batch(args)
    ours = _charlm_runner(args, x, y)
    theirs = None if args.no_torch else _torch_runner(args, x, y)
    ours_times, torch_times = [], []
    for _ in range(args.rounds):  # alternate so both see the same machine load
        ours_times.append(ours(args.steps))
        if theirs is not None:
            torch_times.append(theirs(args.steps))
    chars = args.steps * args.batch_size * args.seq_len
    result = {"bench": "train", "chars_per_sec": chars / statistics.median(ours_times),
              "torch_chars_per_sec": chars / statistics.median(torch_times) if torch_times else None,
              "layers": args.layers, "units": args.units, "embedding_dim": args.embedding_dim,
              "vocab_size": args.vocab_size, "batch_size": args.batch_size,
              "seq_len": args.seq_len, "cell": args.cell, "steps": args.steps,
              "rounds": args.rounds}
    result["ratio_vs_torch"] = (result["chars_per_sec"] / result["torch_chars_per_sec"]
                                if torch_times else None)
    import keras

    from charlm import backend

    result["backend"] = keras.backend.backend()
    result["device"] = backend.device()
    result["torch_device"] = (torch_device(args.torch_device, backend.device()) if torch_times
                              else None)
    print_result(result, args.json)
    return 0


def build_charlm_step(args, cell: str):
    """charlm's model for the benchmark's shape (args: vocab_size, embedding_dim, layers, units,
    batch_size), seeded, and its train step: (TrainStep, zero states). profile_train.py profiles
    this same step."""
    import keras

    from charlm import backend
    from charlm.model.model import build_model, zero_states
    from charlm.training.step import TrainStep

    backend.set_random_seed(0)  # keras.utils' would import TensorFlow on JAX too
    model = build_model(args.vocab_size, args.embedding_dim, cell, args.layers, args.units)
    step = TrainStep(model, keras.optimizers.Adam(1e-3), clip_norm=1.0)
    return step, zero_states(model, args.batch_size)


def _charlm_runner(args, x, y):
    step, states = build_charlm_step(args, args.cell)
    for _ in range(3):  # compile and warm up
        loss, _, _ = step(x, y, states, 1e-3)
    float(loss)

    def timed(n):
        t = time.perf_counter()
        for _ in range(n):
            loss, _, new_states = step(x, y, states, 1e-3)
        float(loss)  # wait for the device
        return time.perf_counter() - t

    return timed


def torch_device(choice: str, charlm_device: str) -> str:
    """The PyTorch device for --torch-device CHOICE when charlm computes on `charlm_device`
    ("cpu", "gpu" or "tpu"): auto follows charlm, so both sides run on the same kind of chip."""
    if choice == "auto":
        return "cuda" if charlm_device == "gpu" else "cpu"
    return choice


def _torch_runner(args, x, y):
    try:
        import torch
    except ImportError:
        return None
    if args.cell != "lstm":
        return None
    from charlm import backend

    device = torch_device(args.torch_device, backend.device())
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--torch-device cuda, but PyTorch sees no CUDA GPU; use --torch-device cpu")
    torch.manual_seed(0)
    net = _TorchLM(torch, args).to(device)
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    tx = torch.from_numpy(x.astype(np.int64)).to(device)
    ty = torch.from_numpy(y.astype(np.int64)).to(device)
    # CUDA runs asynchronously: wait for the queued steps before reading the clock
    wait = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step():
        optimizer.zero_grad()
        logits = net(tx)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, args.vocab_size), ty.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()

    for _ in range(3):
        step()
    wait()

    def timed(n):
        t = time.perf_counter()
        for _ in range(n):
            step()
        wait()
        return time.perf_counter() - t

    return timed


def _TorchLM(torch, args):
    class TorchLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(args.vocab_size, args.embedding_dim)
            self.lstm = torch.nn.LSTM(args.embedding_dim, args.units, args.layers, batch_first=True)
            self.logits = torch.nn.Linear(args.units, args.vocab_size)

        def forward(self, tokens):
            return self.logits(self.lstm(self.embedding(tokens))[0])

    return TorchLM()


if __name__ == "__main__":
    raise SystemExit(main())
