"""Shared fixtures: tiny corpora and a tiny trained checkpoint, an isolated token-id cache."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TINY_TEXT = "".join(
    f"The {a} near the {b} {v}.\nThe {a}s near the {b} {w}.\n"
    for a, b, v, w in [("cat", "dogs", "sleeps", "sleep"), ("bus", "trees", "stops", "stop"),
                       ("girl", "boys", "sings", "sing"), ("key", "doors", "fits", "fit")]
) * 60  # ~9k characters, 4 sentence shapes


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CHARLM_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "id-cache"))


@pytest.fixture
def tiny_corpus(tmp_path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(TINY_TEXT, encoding="utf-8")
    return path


def tiny_config(corpus, out, **overrides):
    from charlm.config import TrainConfig

    settings = dict(corpus=str(corpus), out=str(out), layers=1, units=32, embedding_dim=8,
                    seq_len=20, batch_size=8, max_steps=12, eval_every=6, sample_chars=20,
                    eval_max_tokens=1000, warmup_steps=2, lr=1e-2, dropout=0.0)
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory) -> Path:
    """A 1×32 LSTM trained for 150 steps on TINY_TEXT (memorises it well)."""
    from charlm.training.trainer import train

    folder = tmp_path_factory.mktemp("ckpt")
    corpus = folder / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    config = tiny_config(corpus, folder / "run", units=64, max_steps=150, eval_every=75,
                         lr=2e-2, seq_len=40)
    return train(config, quiet=True)
