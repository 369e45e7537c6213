"""charlm.checkpoint: the run folder's layout, and `load` (the one loader): which weights it reads,
and every way a folder can be wrong as a one-line UserError. (Missing folder, missing or corrupt
config.json and corrupt weights through `charlm eval`: tests/cli/test_evaluate.py.)"""

import json
import shutil
import warnings

import numpy as np
import pytest

from charlm import checkpoint
from charlm.errors import UserError
from tests.helpers import TINY_TEXT, assert_same_arrays, h5_arrays, logits_of


def test_checkpoint_is_self_describing(trained_checkpoint):
    config = json.loads((trained_checkpoint / "config.json").read_text())
    assert config["model"]["units"] == 64 and config["tokenizer"]["kind"] == "char"
    assert len(config["corpus"]["sha256"]) == 64 and "keras" in config["versions"]
    for name in ("best/model.weights.h5", "last/optimizer.npz", "last/states.npz",
                 "last/trainer.json", "tokenizer/vocab.json", "metrics.jsonl", "samples.txt"):
        assert (trained_checkpoint / name).is_file(), name
    assert list((trained_checkpoint / "tb").iterdir())  # TensorBoard events
    # no staging folder or temp file left; .lock is the (released) lock of the run's writer
    assert [p.name for p in trained_checkpoint.iterdir() if p.name.startswith(".")] == [".lock"]
    for unit in (".", "best", "last"):  # each unit lists its files with their sha256
        assert (trained_checkpoint / unit / "manifest.json").is_file(), unit


def _copy(run, dest, parts=("config.json", "tokenizer", "best", "last")):
    dest.mkdir()
    for name in parts:
        (shutil.copytree if (run / name).is_dir() else shutil.copy)(run / name, dest / name)
    return dest


def _edit_config(folder, edit):
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))


def test_load_reads_best_then_last(early_stopped_run, tmp_path):
    """best/ by default, last/ with which="last", and last/ when best/ is missing (which weights
    these are: their val bpc, tests/test_api.py)."""
    run = early_stopped_run.folder
    best = checkpoint.load(run).model.get_weights()
    last = checkpoint.load(run, which="last").model.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(best, last))  # stopped after its best
    no_best = _copy(run, tmp_path / "no-best", parts=("config.json", "tokenizer", "last"))
    for got, want in zip(checkpoint.load(no_best).model.get_weights(), last):
        np.testing.assert_array_equal(got, want)


def _one_line_error(folder, pattern, which="best"):
    with warnings.catch_warnings(record=True) as caught, \
            pytest.raises(UserError, match=pattern) as error:
        warnings.simplefilter("always")
        checkpoint.load(folder, which=which)
    assert "\n" not in str(error.value) and str(folder) in str(error.value)
    # the error is all a user sees: no library warning printed above it
    assert [str(w.message) for w in caught] == []


def test_tokenizer_and_model_disagreeing_on_the_vocabulary(trained_checkpoint, tmp_path):
    folder = _copy(trained_checkpoint, tmp_path / "ckpt")
    vocab = json.loads((folder / "config.json").read_text())["model"]["vocab_size"]
    _edit_config(folder, lambda c: c["model"].update(vocab_size=vocab + 1))
    _one_line_error(folder, f"tokenizer has {vocab} tokens but the model expects {vocab + 1}")


def test_config_without_a_model_section(trained_checkpoint, tmp_path):
    folder = _copy(trained_checkpoint, tmp_path / "ckpt")
    _edit_config(folder, lambda c: c.pop("model"))
    _one_line_error(folder, "has no model section")


def test_config_describing_an_impossible_model(trained_checkpoint, tmp_path):
    folder = _copy(trained_checkpoint, tmp_path / "ckpt")
    _edit_config(folder, lambda c: c["model"].update(cell="transformer"))
    _one_line_error(folder, "describes an invalid model")


def test_weights_of_another_model(trained_checkpoint, tmp_path):
    folder = _copy(trained_checkpoint, tmp_path / "ckpt")
    _edit_config(folder, lambda c: c["model"].update(units=32))  # the weights are 64 wide
    _one_line_error(folder, "could not load weights .* corrupt or from another model")
    _one_line_error(folder, "could not load weights", which="last")


def test_missing_tokenizer(trained_checkpoint, tmp_path):
    folder = _copy(trained_checkpoint, tmp_path / "ckpt", parts=("config.json", "best"))
    _one_line_error(folder, "tokenizer files in .* are missing or corrupt")


def test_corrupt_export(exported, tmp_path):
    folder = tmp_path / "export"
    shutil.copytree(exported, folder)
    (folder / "model.keras").write_bytes(b"PK not really a zip")
    _one_line_error(folder, "corrupt: .*model.keras .*sha256 differs")  # the manifest sees it
    (folder / "manifest.json").unlink()  # an export from before manifests: Keras sees it
    _one_line_error(folder, "could not load .*model.keras.*export the checkpoint again")


def test_a_reader_during_a_swap_reads_the_previous_checkpoint_and_renames_nothing(
        trained_checkpoint, tmp_path):
    """Between the trainer's two renames best/ is missing and best.old/ is complete: a reader
    (generate, eval, probe on a folder being trained) uses best.old/ and leaves the folder as it
    is, for the trainer to finish its swap."""
    folder = tmp_path / "run"
    shutil.copytree(trained_checkpoint, folder)
    (folder / "best").rename(folder / "best.old")
    assert checkpoint.weights_path(folder) == folder / "best.old" / "model.weights.h5"
    loaded = checkpoint.load(folder)
    saved = h5_arrays(folder / "best.old" / checkpoint.WEIGHTS)
    assert_same_arrays(loaded.model.get_weights(), saved)
    before_swap = checkpoint.load(trained_checkpoint)  # the same folder with best/ in place
    text = TINY_TEXT[:60]
    np.testing.assert_array_equal(logits_of(loaded.model, text, loaded.tokenizer),
                                  logits_of(before_swap.model, text, before_swap.tokenizer))
    assert (folder / "best.old").is_dir() and not (folder / "best").exists()
