"""Shared fixtures: an isolated token-id cache, the tiny corpus, a tiny random model factory, and
the trained runs several folders use (built once per session, when first needed).

Plain helpers (TINY_TEXT, tiny_config, ROOT, SHARED, run_cli, ...) live in tests/helpers.py.
"""

import contextlib
import io
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's charlm
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tests.helpers import TINY_TEXT, tiny_config, tiny_model  # noqa: E402


# Tests that need one of these session fixtures train (or export) when they are the first to ask
# for it: they are `slow` too (see pyproject.toml), without a decorator on each.
TRAINED_RUNS = {"trained_checkpoint", "trained_lm", "exported", "early_stopped_run",
                "bpe_checkpoint"}


def pytest_collection_modifyitems(items):
    for item in items:
        if TRAINED_RUNS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Token-id cache files go to the session's temp folder, never to ~/.cache/charlm. Session
    scoped, so the session-scoped runs below (built before any function fixture) use it too."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHARLM_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "id-cache"))
        yield


@pytest.fixture
def tiny_corpus(tmp_path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(TINY_TEXT, encoding="utf-8")
    return path


@pytest.fixture
def make_model():
    """Factory of small seeded random models: make_model(cell="gru", layers=2, units=8, ...)
    (see tests.helpers.tiny_model for the defaults)."""
    return tiny_model


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory) -> Path:
    """A 1×64 LSTM trained for 150 steps on TINY_TEXT (memorises it well)."""
    from charlm.training.trainer import train

    folder = tmp_path_factory.mktemp("ckpt")
    corpus = folder / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    config = tiny_config(corpus, folder / "run", units=64, max_steps=150, eval_every=75,
                         lr=2e-2, seq_len=40)
    return train(config, quiet=True)


@pytest.fixture(scope="session")
def trained_lm(trained_checkpoint):
    """`charlm.load(trained_checkpoint)`, shared: its compiled generation loops are reused."""
    import charlm

    return charlm.load(trained_checkpoint)


@pytest.fixture(scope="session")
def bpe_checkpoint(tmp_path_factory) -> Path:
    """A 4-step run with a sentencepiece BPE tokenizer (300 pieces) on TINY_TEXT."""
    from charlm.training.trainer import train

    folder = tmp_path_factory.mktemp("bpe")
    corpus = folder / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    return train(tiny_config(corpus, folder / "run", tokenizer="bpe", vocab_size=300,
                             max_steps=4, eval_every=4), quiet=True)


@pytest.fixture(scope="session")
def exported(trained_checkpoint, tmp_path_factory) -> Path:
    """trained_checkpoint written by `charlm export` (model.keras + SavedModel)."""
    from charlm.cli import main

    out = tmp_path_factory.mktemp("export") / "exported"
    assert main(["export", "--checkpoint", str(trained_checkpoint), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def early_stopped_run(tmp_path_factory):
    """A run on TINY_TEXT validated on a separate text (--val-corpus) that only gets worse as the
    model learns TINY_TEXT ("TTT…": 'T' is rare and never follows itself), with --patience 2:
    it stops early, and its best/ and last/ weights differ.

    → namespace: folder, config (the TrainConfig), val_text, val_path, log (what it printed).
    """
    from charlm.training.trainer import train

    folder = tmp_path_factory.mktemp("early")
    corpus, val_path = folder / "tiny.txt", folder / "val.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    # validation reads the first eval_max_tokens=300 characters only; the tail is never read
    val_text = "T" * 300 + "The cat near the dogs sleeps.\n" * 10
    val_path.write_text(val_text, encoding="utf-8")
    config = tiny_config(corpus, folder / "run", val_corpus=str(val_path), eval_every=2,
                         patience=2, max_steps=40, eval_max_tokens=300)
    log = io.StringIO()
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(io.StringIO()):
        out = train(config, quiet=False)
    return SimpleNamespace(folder=out, config=config, val_text=val_text, val_path=val_path,
                           log=log.getvalue())
