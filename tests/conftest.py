"""Shared fixtures: an isolated token-id cache, the tiny corpus, a tiny random model factory, and
the trained runs several folders use (built once per session, when first needed).

Plain helpers (TINY_TEXT, tiny_config, ROOT, SHARED, run_cli, ...) live in tests/helpers.py.
"""

import contextlib
import gc
import io
import json
import os
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's charlm
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tests.helpers import TINY_TEXT, tiny_config, tiny_model  # noqa: E402

if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    # Several workers share the cores: one TensorFlow thread each, instead of every worker
    # starting a pool per core and the pools fighting over the same cores.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


# Tests that need one of these session fixtures train (or export) when they are the first to ask
# for it: they are `slow` too (see pyproject.toml), without a decorator on each.
TRAINED_RUNS = {"trained_checkpoint", "trained_lm", "exported", "early_stopped_run",
                "bpe_checkpoint"}


# The longest files (pytest --durations), run first: `--dist loadfile` hands files out in
# collection order, and a long file picked up last keeps one worker busy while the other idles.
LONGEST_FIRST = ("training/test_distribute.py", "test_packaging.py", "test_jax_backend.py",
                 "training/test_kills.py", "training/test_faults.py", "model/test_cells.py",
                 "training/test_trainer.py", "generate/test_export.py")


def _start_rank(item) -> int:
    path = item.nodeid.split("::")[0].removeprefix("tests/")
    return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_configure(config):
    # pytest-xdist would reorder files by their number of tests (--no-loadscope-reorder stops it)
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items):
    for item in items:
        if TRAINED_RUNS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    items.sort(key=_start_rank)  # stable: the order within each file stays as written


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    # pytest's unraisable-exception plugin runs five full garbage collections at unconfigure. With
    # the session's TensorFlow and JAX objects alive, those took over 5 s, and execnet sends an
    # xdist worker still busy 5 s after its last report a SIGINT: a KeyboardInterrupt "ignored in
    # _xla_gc_callback" at the end of every run. Collect once here, while the plugin still
    # reports what finalizers raise, then freeze the survivors so later collections skip them.
    gc.collect()
    gc.freeze()


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


def _built_once(tmp_path_factory, name: str, build) -> Path:
    """A folder built once per test run and copied into this session's temp folder.

    Under pytest-xdist every worker is a process with its own session fixtures; without this each
    worker would train the same runs again. The first worker to ask builds the folder beside the
    workers' temp folders, under an OS file lock; the others wait for it and copy it. Each worker
    gets its own copy, because some tests write into a run (the inspector page, a resume).
    `build(folder)` fills the empty `folder`.
    """
    import fcntl

    mine = tmp_path_factory.mktemp(name)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        build(mine)
        return mine
    shared_root = tmp_path_factory.getbasetemp().parent  # the same for every worker of this run
    shared, done = shared_root / f"built-{name}", shared_root / f"built-{name}.done"
    with open(shared_root / f"built-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes (or the process dies)
        if not done.exists():
            shutil.rmtree(shared, ignore_errors=True)
            shared.mkdir()
            build(shared)
            done.write_text(worker)
    shutil.rmtree(mine)
    shutil.copytree(shared, mine, symlinks=True)
    return mine


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory) -> Path:
    """A 1×64 LSTM trained for 150 steps on TINY_TEXT (memorises it well)."""

    def build(folder):
        from charlm.training.trainer import train

        corpus = folder / "tiny.txt"
        corpus.write_text(TINY_TEXT, encoding="utf-8")
        train(tiny_config(corpus, folder / "run", units=64, max_steps=150, eval_every=75,
                          lr=2e-2, seq_len=40, sample_chars=20), quiet=True)

    return _built_once(tmp_path_factory, "ckpt", build) / "run"


@pytest.fixture(scope="session")
def trained_lm(trained_checkpoint):
    """`charlm.load(trained_checkpoint)`, shared: its compiled generation loops are reused."""
    import charlm

    return charlm.load(trained_checkpoint)


@pytest.fixture(scope="session")
def bpe_checkpoint(tmp_path_factory) -> Path:
    """A 4-step run with a sentencepiece BPE tokenizer (300 pieces) on TINY_TEXT."""

    def build(folder):
        from charlm.training.trainer import train

        corpus = folder / "tiny.txt"
        corpus.write_text(TINY_TEXT, encoding="utf-8")
        train(tiny_config(corpus, folder / "run", tokenizer="bpe", vocab_size=300, max_steps=4,
                          eval_every=4), quiet=True)

    return _built_once(tmp_path_factory, "bpe", build) / "run"


@pytest.fixture(scope="session")
def exported(trained_checkpoint, tmp_path_factory) -> Path:
    """trained_checkpoint written by `charlm export` (model.keras + SavedModel)."""

    def build(folder):
        from charlm.cli import main

        assert main(["export", "--checkpoint", str(trained_checkpoint), "--out",
                     str(folder / "exported")]) == 0

    return _built_once(tmp_path_factory, "export", build) / "exported"


@pytest.fixture(scope="session")
def early_stopped_run(tmp_path_factory):
    """A run on TINY_TEXT validated on a separate text (--val-corpus) that only gets worse as the
    model learns TINY_TEXT ("TTT…": 'T' is rare and never follows itself), with --patience 2:
    it stops early, and its best/ and last/ weights differ.

    → namespace: folder, config (the TrainConfig), val_text, val_path, log (what it printed).
    """
    from charlm.config import TrainConfig

    def build(folder):
        from charlm.training.trainer import train

        corpus, val_path = folder / "tiny.txt", folder / "val.txt"
        corpus.write_text(TINY_TEXT, encoding="utf-8")
        # validation reads the first eval_max_tokens=300 characters only; the tail is never read
        val_path.write_text("T" * 300 + "The cat near the dogs sleeps.\n" * 10, encoding="utf-8")
        config = tiny_config(corpus, folder / "run", val_corpus=str(val_path), eval_every=2,
                             patience=2, max_steps=40, eval_max_tokens=300)
        log = io.StringIO()
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(io.StringIO()):
            train(config, quiet=False)
        (folder / "log.txt").write_text(log.getvalue(), encoding="utf-8")
        (folder / "config.json").write_text(json.dumps(config.to_dict()), encoding="utf-8")

    folder = _built_once(tmp_path_factory, "early", build)
    # The settings it was trained with (the corpus paths name the files it read).
    config = TrainConfig.from_dict(json.loads((folder / "config.json").read_text()))
    return SimpleNamespace(folder=folder / "run", config=config,
                           val_text=(folder / "val.txt").read_text(encoding="utf-8"),
                           val_path=Path(config.val_corpus),
                           log=(folder / "log.txt").read_text(encoding="utf-8"))
