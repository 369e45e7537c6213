"""charlm.training.trainer: determinism, exact resume, budgets, the learning-rate schedule,
validation on --val-corpus, early stopping (--patience)."""

import json
import math

import numpy as np
import pytest

from charlm.api import load
from charlm.config import TrainConfig
from charlm.errors import UserError
from charlm.training.trainer import learning_rate, prepare_resume, train
from tests.helpers import TINY_TEXT, read_jsonl, tiny_config


def _weights(folder, which="last"):
    return load(folder, which=which).model.get_weights()


RESUME_SETTINGS = dict(layers=1, max_steps=14, eval_every=5)


@pytest.fixture(scope="module")
def uninterrupted_stream_run(tmp_path_factory):
    """A 14-step run with stream batching, seed 1: the reference of the resume test, and
    one of the two same-seed runs of the seed test (it is trained once for both)."""
    folder = tmp_path_factory.mktemp("whole")
    corpus = folder / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    config = tiny_config(corpus, folder / "run", batching="stream", dropout=0.0, seed=1,
                         **RESUME_SETTINGS)
    return train(config, quiet=True)


@pytest.mark.slow
def test_same_seed_same_weights_different_seed_different(uninterrupted_stream_run, tiny_corpus,
                                                         tmp_path):
    settings = dict(batching="stream", dropout=0.0, **RESUME_SETTINGS)
    a = uninterrupted_stream_run
    b = train(tiny_config(tiny_corpus, tmp_path / "b", seed=1, **settings), quiet=True)
    c = train(tiny_config(tiny_corpus, tmp_path / "c", seed=2, **settings), quiet=True)
    for wa, wb in zip(_weights(a), _weights(b)):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(_weights(a), _weights(c)))


@pytest.mark.slow
@pytest.mark.parametrize("batching,dropout", [("stream", 0.0), ("random", 0.2)])
def test_interrupted_and_resumed_equals_uninterrupted(uninterrupted_stream_run, tiny_corpus,
                                                      tmp_path, batching, dropout):
    settings = dict(batching=batching, dropout=dropout, seed=1, **RESUME_SETTINGS)
    if batching == "stream" and dropout == 0.0:
        whole = uninterrupted_stream_run
    else:
        whole = train(tiny_config(tiny_corpus, tmp_path / "whole", **settings), quiet=True)
    part = train(tiny_config(tiny_corpus, tmp_path / "part", **settings), quiet=True,
                 stop_after_steps=8)
    assert json.loads((part / "last" / "trainer.json").read_text())["step"] == 8
    train(prepare_resume(str(part), {}), resume=True, quiet=True)
    for w1, w2 in zip(_weights(whole), _weights(part)):
        np.testing.assert_array_equal(w1, w2)
    whole_log = [json.loads(l) for l in (whole / "metrics.jsonl").read_text().splitlines()]
    part_log = [json.loads(l) for l in (part / "metrics.jsonl").read_text().splitlines()]
    val = lambda log: [(r["step"], r["bpc"]) for r in log if r["kind"] == "val"]
    assert val(whole_log) == val(part_log) and len(val(whole_log)) == 3


def test_resume_refuses_changed_model_flags(trained_checkpoint):
    with pytest.raises(UserError, match="--units cannot change"):
        prepare_resume(str(trained_checkpoint), {"units": 999})


def test_refuses_to_overwrite_existing_run(tiny_corpus, trained_checkpoint):
    before = (trained_checkpoint / "last" / "trainer.json").read_bytes()
    with pytest.raises(UserError, match="already exists"):
        train(tiny_config(tiny_corpus, trained_checkpoint), quiet=True)
    assert (trained_checkpoint / "last" / "trainer.json").read_bytes() == before


@pytest.mark.slow
def test_epoch_budget_stops_after_one_pass(tiny_corpus, tmp_path):
    out = train(tiny_config(tiny_corpus, tmp_path / "e", max_steps=None, epochs=1.0), quiet=True)
    state = json.loads((out / "last" / "trainer.json").read_text())
    assert state["data"]["epoch"] == 1 and state["data"]["position"] == 0


# --- the learning-rate schedule ---------------------------------------------------------------
def _schedule(**overrides) -> TrainConfig:
    return TrainConfig(**{"lr": 0.02, "warmup_steps": 10, "min_lr_ratio": 0.05, **overrides})


def test_warm_up_rises_linearly_from_lr_over_warmup_steps_to_the_peak():
    config = _schedule()
    lrs = [learning_rate(config, step, step / 100) for step in range(10)]
    assert lrs[0] == pytest.approx(0.02 / 10)
    assert lrs[-1] == pytest.approx(0.02)  # the last warm-up step (warmup_steps - 1) is the peak
    np.testing.assert_allclose(np.diff(lrs), 0.02 / 10)  # equal increments
    assert learning_rate(config, 3, 0.9) == learning_rate(config, 3, 0.0)  # steps, not progress


def test_after_warm_up_the_lr_follows_a_cosine_down_to_the_floor():
    config = _schedule()
    floor = 0.02 * 0.05
    assert learning_rate(config, 10, 0.0) == pytest.approx(0.02)
    assert learning_rate(config, 55, 0.5) == pytest.approx((0.02 + floor) / 2)  # half way
    for progress in (0.1, 0.25, 0.8):
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        assert learning_rate(config, 40, progress) == pytest.approx(floor + (0.02 - floor) * cosine)
    assert learning_rate(config, 100, 1.0) == pytest.approx(floor)
    # clamped: past the end of the budget it stays at the floor
    assert [learning_rate(config, 100 + i, 1.0 + i / 10) for i in range(1, 30)] == \
        [learning_rate(config, 100, 1.0)] * 29
    # what the trainer asks for (progress = step / max_steps): never rising after the peak
    lrs = [learning_rate(config, step, step / 100) for step in range(9, 131)]
    assert lrs[0] == pytest.approx(0.02) and all(np.diff(lrs) <= 0)
    assert np.diff(lrs)[:91].max() < 0  # strictly falling until the budget ends


def test_without_warm_up_training_starts_at_the_peak():
    assert learning_rate(_schedule(warmup_steps=0), 0, 0.0) == pytest.approx(0.02)


def test_the_trainer_uses_the_schedule(trained_checkpoint):
    """metrics.jsonl logs, every 10 steps, the lr of the step just taken (step - 1, progress
    (step - 1) / max_steps)."""
    config = TrainConfig.from_dict(
        json.loads((trained_checkpoint / "config.json").read_text())["train"])
    rows = [r for r in read_jsonl(trained_checkpoint / "metrics.jsonl") if r["kind"] == "train"]
    assert [r["step"] for r in rows] == list(range(10, config.max_steps + 1, 10))
    for row in rows:
        step = row["step"] - 1
        assert row["lr"] == pytest.approx(learning_rate(config, step, step / config.max_steps),
                                          rel=1e-9), row


# --- validation text and early stopping ---------------------------------------------------------
def _val_rows(folder) -> list[tuple[int, float]]:
    return [(r["step"], r["bpc"]) for r in read_jsonl(folder / "metrics.jsonl")
            if r["kind"] == "val"]


def test_validation_reads_the_corpus_tail_by_default(trained_checkpoint):
    """Without --val-corpus, validation reads the first eval_max_tokens tokens of the last
    val_fraction of the corpus: the last logged val bpc is that text's bpc under last/."""
    config = TrainConfig.from_dict(
        json.loads((trained_checkpoint / "config.json").read_text())["train"])
    with open(config.corpus, encoding="utf-8") as f:
        text = f.read()
    tail = text[int(len(text) * (1 - config.val_fraction)):][:config.eval_max_tokens]
    last_step, last_bpc = _val_rows(trained_checkpoint)[-1]
    assert last_step == config.max_steps and len(tail) == config.eval_max_tokens
    assert load(trained_checkpoint, which="last").eval(tail)["bpc"] == pytest.approx(last_bpc,
                                                                                     rel=1e-5)


@pytest.mark.slow
def test_validation_reads_the_val_corpus(early_stopped_run, tmp_path, capsys):
    """With --val-corpus FILE, the val bpc logged at the best step is `charlm eval` of best/ on
    the file's first eval_max_tokens characters."""
    from charlm.cli import main

    run = early_stopped_run
    saved = json.loads((run.folder / "config.json").read_text())
    assert saved["train"]["val_corpus"] == str(run.val_path)
    info = json.loads((run.folder / "best" / "info.json").read_text())
    assert (info["step"], info["val_bpc"]) in _val_rows(run.folder)
    first = tmp_path / "first.txt"
    first.write_text(run.val_text[:run.config.eval_max_tokens], encoding="utf-8")
    assert main(["eval", "--checkpoint", str(run.folder), "--text-file", str(first), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bpc"] == pytest.approx(info["val_bpc"], rel=1e-5)
    # and the text it validates on is that file, not the training corpus' tail
    tail = TINY_TEXT[int(len(TINY_TEXT) * 0.9):][:run.config.eval_max_tokens]
    assert abs(load(run.folder).eval(tail)["bpc"] - info["val_bpc"]) > 0.01


@pytest.mark.slow
def test_patience_stops_after_that_many_validations_without_improvement(early_stopped_run):
    run = early_stopped_run
    vals = _val_rows(run.folder)
    assert [step for step, _ in vals] == list(range(2, vals[-1][0] + 1, run.config.eval_every))
    best, bad, stop = None, 0, None
    for step, bpc in vals:  # replay the rule on the logged figures
        if best is None or bpc < best:
            best, bad, best_step = bpc, 0, step
        else:
            bad += 1
        if bad == run.config.patience:
            stop = step
            break
    assert stop is not None and stop == vals[-1][0] < run.config.max_steps
    state = json.loads((run.folder / "last" / "trainer.json").read_text())
    assert state["step"] == stop and state["bad_evals"] == run.config.patience
    assert state["best_bpc"] == best
    assert json.loads((run.folder / "best" / "info.json").read_text())["step"] == best_step
    assert (f"stopped: early stopping: no improvement in {run.config.patience} validations "
            f"after {stop} steps") in run.log
