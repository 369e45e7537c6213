"""`charlm train` (and `python train.py`): --config files under the flags, bad corpora and
resumes as one-line errors that leave everything on disk alone."""

import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT, TINY_TEXT, assert_one_line_error as _fails


@pytest.fixture
def files(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "binary.bin").write_bytes(b"\x7fELF\x00\x01\x02" * 100)
    (tmp_path / "latin1.txt").write_bytes("café olé\n".encode("latin-1") * 100)
    (tmp_path / "short.txt").write_text("hello\n")
    (tmp_path / "ok.txt").write_text(TINY_TEXT)
    return tmp_path


@pytest.mark.parametrize("name,pattern", [
    ("empty.txt", "is empty"), ("binary.bin", "binary file"), ("latin1.txt", "not UTF-8"),
    ("short.txt", "too short"), ("missing.txt", "neither a file"),
])
def test_bad_corpus(files, capsys, name, pattern):
    out = files / f"run-{name}"
    _fails(capsys, ["train", "--corpus", str(files / name), "--out", str(out), "--max-steps", "2"],
           pattern)
    assert not (out / "last").exists()


def test_resume_with_changed_flag_leaves_checkpoint_alone(capsys, trained_checkpoint):
    before = {p: p.read_bytes() for p in trained_checkpoint.rglob("*") if p.is_file()}
    _fails(capsys, ["train", "--resume", str(trained_checkpoint), "--units", "7"],
           "cannot change when resuming")
    after = {p: p.read_bytes() for p in trained_checkpoint.rglob("*") if p.is_file()}
    assert before == after


@pytest.mark.slow  # a fresh interpreter imports TensorFlow
def test_script_exit_code_and_no_traceback(files):
    run = subprocess.run([sys.executable, str(ROOT / "train.py"), "--corpus",
                          str(files / "binary.bin")], capture_output=True, text=True, cwd=files)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr and "binary file" in run.stderr
    assert run.stderr.strip().count("\n") == 0


# --- --config FILE --------------------------------------------------------------------------
@pytest.fixture
def trainer_gets(monkeypatch, tmp_path):
    """Replaces the trainer: `charlm train` then hands over its TrainConfig without training.
    → the list of (config, resume) it was called with."""
    from charlm.training import trainer

    calls = []

    def train(config, resume=False, quiet=False):
        calls.append((config, resume))
        return tmp_path / "never-written"

    monkeypatch.setattr(trainer, "train", train)
    return calls


def test_settings_come_from_the_config_file_and_flags_override_them(files, trainer_gets):
    from charlm.config import TrainConfig

    settings = {"corpus": str(files / "ok.txt"), "layers": 1, "units": 24, "embedding_dim": 8,
                "seq_len": 20, "batch_size": 4, "max_steps": 3, "eval_every": 3,
                "eval_max_tokens": 200, "sample_chars": 10, "warmup_steps": 1, "lr": 0.005,
                "dropout": 0.0, "patience": 5, "seed": 7}
    (files / "settings.json").write_text(json.dumps(settings))
    out = files / "run"
    assert _main(["train", "--config", str(files / "settings.json"), "--out", str(out),
                  "--units", "12", "--patience", "2", "--val-corpus", str(files / "val.txt"),
                  "--quiet"]) == 0
    [(config, resume)] = trainer_gets
    expected = {**settings, "units": 12, "patience": 2, "val_corpus": str(files / "val.txt"),
                "out": str(out)}
    assert not resume and config.to_dict() == TrainConfig(**expected).to_dict()


def test_a_checkpoint_config_json_works_as_config(trained_checkpoint, tmp_path, trainer_gets):
    out = tmp_path / "again"
    assert _main(["train", "--config", str(trained_checkpoint / "config.json"), "--out", str(out),
                  "--max-steps", "2", "--eval-every", "2", "--quiet"]) == 0
    [(config, resume)] = trainer_gets
    before, after = _train_settings(trained_checkpoint), config.to_dict()
    assert not resume and set(after) == set(before)
    assert {k for k in before if before[k] != after[k]} == {"out", "max_steps", "eval_every"}
    assert (after["out"], after["max_steps"], after["eval_every"]) == (str(out), 2, 2)


def test_flags_alone_override_the_defaults(tiny_corpus, trainer_gets):
    from charlm.config import TrainConfig

    assert _main(["train", "--corpus", str(tiny_corpus), "--eval-max-chars", "77", "--lr",
                  "0.5", "--quiet"]) == 0
    [(config, _)] = trainer_gets
    assert config.to_dict() == TrainConfig(corpus=str(tiny_corpus), eval_max_tokens=77,
                                           lr=0.5).to_dict()


@pytest.mark.parametrize("content,pattern", [
    ("{ truncated", "is not valid JSON"),
    ('{"unitz": 12}', "unknown config keys ['unitz']"),
    ('{"train": {"max_stepz": 3}}', "unknown config keys ['max_stepz']"),
    ("[1, 2]", "must hold a JSON object"),
    ('{"units": "many"}', "--units must be a positive integer, not 'many'"),
    (None, "does not exist"),
])
def test_bad_config_files_are_one_line_errors(files, capsys, content, pattern):
    path = files / "settings.json"
    if content is not None:
        path.write_text(content)
    _fails(capsys, ["train", "--config", str(path), "--corpus", str(files / "ok.txt"), "--out",
                    str(files / "run"), "--max-steps", "2"], pattern)
    assert not (files / "run").exists()


def test_config_and_resume_do_not_mix(capsys, trained_checkpoint):
    _fails(capsys, ["train", "--resume", str(trained_checkpoint), "--config",
                    str(trained_checkpoint / "config.json")],
           "--config cannot be used with --resume")


def _main(argv) -> int:
    from charlm.cli import main

    return main(argv)


def _train_settings(folder) -> dict:
    return json.loads((folder / "config.json").read_text())["train"]
