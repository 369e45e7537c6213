import json

import numpy as np
import pytest

from charlm.errors import UserError
from charlm.api import load
from charlm.training.trainer import prepare_resume, train
from conftest import tiny_config


def _weights(folder, which="last"):
    return load(folder, which=which).model.get_weights()


def test_same_seed_same_weights_different_seed_different(tiny_corpus, tmp_path):
    a = train(tiny_config(tiny_corpus, tmp_path / "a", seed=1), quiet=True)
    b = train(tiny_config(tiny_corpus, tmp_path / "b", seed=1), quiet=True)
    c = train(tiny_config(tiny_corpus, tmp_path / "c", seed=2), quiet=True)
    for wa, wb in zip(_weights(a), _weights(b)):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(_weights(a), _weights(c)))


@pytest.mark.parametrize("batching,dropout", [("stream", 0.0), ("random", 0.2)])
def test_interrupted_and_resumed_equals_uninterrupted(tiny_corpus, tmp_path, batching, dropout):
    settings = dict(batching=batching, dropout=dropout, layers=2, max_steps=14, eval_every=5)
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


def test_checkpoint_is_self_describing(trained_checkpoint):
    config = json.loads((trained_checkpoint / "config.json").read_text())
    assert config["model"]["units"] == 64 and config["tokenizer"]["kind"] == "char"
    assert len(config["corpus"]["sha256"]) == 64 and "keras" in config["versions"]
    for name in ("best/model.weights.h5", "last/optimizer.npz", "last/states.npz",
                 "last/trainer.json", "tokenizer/vocab.json", "metrics.jsonl", "samples.txt"):
        assert (trained_checkpoint / name).is_file(), name
    assert list((trained_checkpoint / "tb").iterdir())  # TensorBoard events
    assert not [p for p in trained_checkpoint.iterdir() if p.name.startswith(".")]  # no temp left


def test_resume_refuses_changed_model_flags(trained_checkpoint):
    with pytest.raises(UserError, match="--units cannot change"):
        prepare_resume(str(trained_checkpoint), {"units": 999})


def test_refuses_to_overwrite_existing_run(tiny_corpus, trained_checkpoint):
    before = (trained_checkpoint / "last" / "trainer.json").read_bytes()
    with pytest.raises(UserError, match="already exists"):
        train(tiny_config(tiny_corpus, trained_checkpoint), quiet=True)
    assert (trained_checkpoint / "last" / "trainer.json").read_bytes() == before


def test_epoch_budget_stops_after_one_pass(tiny_corpus, tmp_path):
    out = train(tiny_config(tiny_corpus, tmp_path / "e", max_steps=None, epochs=1.0), quiet=True)
    state = json.loads((out / "last" / "trainer.json").read_text())
    assert state["data"]["epoch"] == 1 and state["data"]["position"] == 0
