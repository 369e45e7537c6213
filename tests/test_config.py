"""charlm.config.TrainConfig: checks, budgets, and reading settings back from JSON (a settings
file or a checkpoint's config.json). The CLI side of --config: tests/cli/test_train.py."""

import json

import pytest

from charlm.config import DEFAULT_STEPS, TrainConfig
from charlm.errors import UserError


def test_dict_round_trip_and_old_names():
    config = TrainConfig(corpus="x.txt", units=12, max_steps=5, extra={"note": "hi"})
    assert TrainConfig.from_dict(config.to_dict()) == config
    old = {**config.to_dict(), "eval_max_chars": 321}  # a checkpoint from before the rename
    del old["eval_max_tokens"]
    assert TrainConfig.from_dict(old).eval_max_tokens == 321


def test_from_file_reads_a_settings_file_or_a_checkpoint_config(tmp_path):
    (tmp_path / "settings.json").write_text(json.dumps({"units": 12, "lr": 0.003}))
    config = TrainConfig.from_file(tmp_path / "settings.json")
    assert (config.units, config.lr) == (12, 0.003)
    assert config.layers == TrainConfig().layers  # everything else: the defaults
    saved = {"format": "charlm-checkpoint/1", "train": config.to_dict(), "model": {"units": 12}}
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert TrainConfig.from_file(tmp_path / "config.json") == config


def test_budgets():
    assert TrainConfig().budgets() == (DEFAULT_STEPS, None, None)  # none given: reproducible
    assert TrainConfig(max_steps=7).budgets() == (7, None, None)
    assert TrainConfig(max_minutes=0.5, epochs=2.0).budgets() == (None, 30.0, 2.0)


@pytest.mark.parametrize("settings,pattern", [
    ({"val_fraction": 1.0}, "--val-fraction must be in"),
    ({"lr": 0.0}, "--lr must be positive"),
    ({"tokenizer": "bpe", "vocab_size": 8}, "--vocab-size must be at least 16"),
    ({"max_minutes": -1.0}, "--max-minutes must be positive"),
    ({"batching": "shuffled"}, "--batching must be one of"),
    ({"seq_len": 2.5}, "--seq-len must be a positive integer"),
])
def test_check_names_the_flag(settings, pattern):
    with pytest.raises(UserError, match=pattern):
        TrainConfig(**settings).check()


def test_a_val_corpus_makes_the_val_fraction_irrelevant():
    assert TrainConfig(val_corpus="val.txt", val_fraction=0.0).check().val_corpus == "val.txt"
