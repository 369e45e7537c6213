"""What the test files share besides fixtures: paths, the tiny corpus and config, a tiny random
model, and running the CLI in-process. Import it from any folder: `from tests.helpers import ...`
(tests/ is a package; pytest puts the repository root on sys.path).
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository checkout
SHARED = ROOT.parent / "shared"  # corpora kept beside the checkout (optional)

TINY_TEXT = "".join(
    f"The {a} near the {b} {v}.\nThe {a}s near the {b} {w}.\n"
    for a, b, v, w in [("cat", "dogs", "sleeps", "sleep"), ("bus", "trees", "stops", "stop"),
                       ("girl", "boys", "sings", "sing"), ("key", "doors", "fits", "fit")]
) * 60  # ~9k characters, 4 sentence shapes


def tiny_config(corpus, out, **overrides):
    """A TrainConfig that trains in seconds: 1×32 LSTM, 12 steps of 8×10 characters, validation
    every 6, no samples (compiling the sampling loop would cost each run a second or two;
    trained_checkpoint has them). Short windows because the CPU kernel unrolls the window in the
    traced graph: tracing, not training, is most of a tiny run's time."""
    from charlm.config import TrainConfig

    settings = dict(corpus=str(corpus), out=str(out), layers=1, units=32, embedding_dim=8,
                    seq_len=10, batch_size=8, max_steps=12, eval_every=6, sample_chars=0,
                    eval_max_tokens=1000, warmup_steps=2, lr=1e-2, dropout=0.0)
    settings.update(overrides)
    return TrainConfig(**settings)


def tiny_model(vocab_size: int = 11, embedding_dim: int = 6, cell: str = "lstm", layers: int = 1,
               units: int = 16, dropout: float = 0.0, seed: int | None = 0):
    """A small randomly initialised charlm model, the same weights for the same seed (seed=None:
    whatever the global Keras RNG gives)."""
    import keras

    from charlm.model.model import build_model

    if seed is not None:
        keras.utils.set_random_seed(seed)
    return build_model(vocab_size, embedding_dim, cell, layers, units, dropout=dropout)


def run_cli(capsys, argv) -> tuple[int, str, str]:
    """`charlm ARGV` in-process → (exit code, stdout, stderr)."""
    from charlm.cli import main

    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(capsys, argv, pattern: str) -> str:
    """`charlm ARGV` fails the way every user error must: exit 2, one line on stderr containing
    `pattern`, no traceback. → that line."""
    from charlm.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert pattern in err, err
    return err


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()
            if line]


def h5_arrays(path) -> list:
    """Every array in a Keras .weights.h5 file, read with h5py (not Keras), in the file's order."""
    import h5py

    arrays = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: arrays.append(item[()])
                     if isinstance(item, h5py.Dataset) else None)
    return arrays


def assert_same_arrays(actual, expected) -> None:
    """The same arrays, bit for bit (shape, dtype and bytes), in any order: a model's weights
    against a weights file, which stores them by layer name."""
    def key(a):
        return (a.shape, a.dtype.str, a.tobytes())

    assert len(actual) == len(expected)
    assert sorted(map(key, actual)) == sorted(map(key, expected))


def logits_of(model, text: str, tokenizer):
    """The model's logits [T, V] for `text`, from a zero state."""
    import numpy as np
    from keras import ops

    from charlm.model.model import zero_states

    ids = np.asarray(tokenizer.encode(text), np.int32)[None, :]  # [1, T]
    logits, *_ = model([ops.convert_to_tensor(ids), *zero_states(model, 1)])
    return np.asarray(logits[0])
