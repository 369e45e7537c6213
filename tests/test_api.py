"""The Python API for notebooks: `charlm.train(...)` → folder, `charlm.load(DIR)` → generate, eval,
score; the same numbers as the CLI."""

import json

import numpy as np
import pytest

import charlm
from charlm.cli import main
from charlm.errors import UserError
from tests.helpers import TINY_TEXT, read_jsonl


@pytest.fixture(scope="module")
def api_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    corpus = folder / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    out = charlm.train(corpus=corpus, out=str(folder / "run"), max_steps=8, eval_every=4,
                       units=16, embedding_dim=8, seq_len=20, batch_size=8, sample_chars=10,
                       eval_max_tokens=500, warmup_steps=2)
    return out, corpus


@pytest.mark.slow
def test_train_returns_the_checkpoint_folder(api_run):
    out, corpus = api_run
    config = json.loads((out / "config.json").read_text())
    assert (out / "best" / "model.weights.h5").is_file()
    assert config["train"]["max_steps"] == 8 and config["train"]["units"] == 16
    assert config["corpus"]["paths"] == [str(corpus)]


@pytest.mark.slow
def test_load_generates_evaluates_and_scores_like_the_cli(api_run, capsys):
    out, corpus = api_run
    lm = charlm.load(out)
    assert lm.model.count_params() > 0 and lm.tokenizer.vocab_size == lm.config["model"]["vocab_size"]
    text = lm.generate("The ", length=30, seed=4)
    assert len(text) == 30 and text == lm.generate("The ", length=30, seed=4)
    assert main(["generate", "--checkpoint", str(out), "--prompt", "The ", "--length", "30",
                 "--seed", "4"]) == 0
    assert capsys.readouterr().out == "The " + text + "\n"

    result = lm.eval(TINY_TEXT[:500])
    (corpus.parent / "part.txt").write_text(TINY_TEXT[:500], encoding="utf-8")
    assert main(["eval", "--checkpoint", str(out), "--text-file",
                 str(corpus.parent / "part.txt"), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert result["chars"] == 500 and np.isclose(result["bpc"], cli["bpc"], rtol=1e-6)

    lines = ["The cat near the dogs sleeps.", "The cat near the dogs sleep."]
    scores = lm.score(lines)
    (corpus.parent / "lines.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["score", "--checkpoint", str(out), "--text-file",
                 str(corpus.parent / "lines.txt"), "--json"]) == 0
    cli_scores = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["line"] for s in scores] == [1, 2]
    assert np.allclose([s["logprob"] for s in scores], [s["logprob"] for s in cli_scores])
    assert lm.score(lines[0])[0]["logprob"] == pytest.approx(scores[0]["logprob"])


@pytest.mark.slow
def test_train_resumes_with_a_larger_budget(api_run, tmp_path):
    out, corpus = api_run
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    again = charlm.train(resume=str(copy), max_steps=10)
    trainer = json.loads((again / "last" / "trainer.json").read_text())
    assert again == copy and trainer["step"] == 10


@pytest.mark.parametrize("settings, pattern", [
    ({"max_stepz": 5}, "unknown config keys ['max_stepz']"),
    ({"units": 0}, "--units must be a positive integer"),
    ({"cell": "transformer"}, "--cell must be one of"),
])
def test_bad_settings_are_user_errors(tmp_path, settings, pattern):
    with pytest.raises(UserError, match=pattern.replace("[", r"\[").replace("]", r"\]")):
        charlm.train(corpus="agreement", out=str(tmp_path / "x"), **settings)
    assert not (tmp_path / "x").exists()


def test_load_of_a_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        charlm.load(tmp_path / "nope")


def test_load_reads_the_best_or_the_last_weights_of_a_run(early_stopped_run):
    """charlm.load(run) is the step with the best val bpc, which="last" the step it stopped at:
    each scores the validation text as the trainer logged it then."""
    run = early_stopped_run
    val = [r for r in read_jsonl(run.folder / "metrics.jsonl") if r["kind"] == "val"]
    best, last = min(val, key=lambda r: r["bpc"]), val[-1]
    assert best["step"] < last["step"]  # the run went on after its best validation
    text = run.val_text[:run.config.eval_max_tokens]
    assert charlm.load(run.folder).eval(text)["bpc"] == pytest.approx(best["bpc"], rel=1e-5)
    lm = charlm.load(run.folder, which="last")
    assert lm.eval(text)["bpc"] == pytest.approx(last["bpc"], rel=1e-5)
    assert lm.path == run.folder and lm.config["train"]["patience"] == 2


def test_subpackages_do_not_shadow_the_api_functions():
    import charlm.generate.generator  # noqa: F401
    import charlm.training.trainer  # noqa: F401

    assert charlm.train.__module__ == "charlm" and charlm.load.__module__ == "charlm"
