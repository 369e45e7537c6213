"""`charlm inspect match` and LanguageModel.match on the tiny trained checkpoint: the selection
and the scores agree with the inspector's own values, the report's shape, and bad input."""

import json

import numpy as np
import pytest

from tests.helpers import assert_one_line_error, run_cli

TEXT = "The cat near the dogs sleeps."
SPAN = "4:7"  # "cat"


@pytest.fixture(scope="module")
def corpus(trained_checkpoint):
    return trained_checkpoint.parent / "tiny.txt"  # what it was trained on


def _match(capsys, checkpoint, corpus, *argv):
    return run_cli(capsys, ["inspect", "match", "--checkpoint", str(checkpoint), "--corpus",
                            str(corpus), *map(str, argv)])


def test_json_selection_and_scores_agree_with_the_inspector(trained_checkpoint, trained_lm,
                                                             corpus, capsys):
    code, out, err = _match(capsys, trained_checkpoint, corpus, "--text", TEXT, "--span", SPAN,
                            "--threshold", 0.3, "--streams", 1, "--json")
    assert code == 0, err
    got = json.loads(out)
    # the selection, from the inspector's cell values: tanh(c) ≥ 0.3 over "cat", < 0.3 before
    on = np.tanh(trained_lm.inspect(TEXT)["lstm_0", "cell"]) >= 0.3  # [T, H]
    expected = np.flatnonzero(on[4:7].all(axis=0) & ~on[3]).tolist()
    assert got["selected"] == expected and expected
    assert got["span_text"] == "cat" and got["quantity"] == "cell" and got["layer"] == 0
    text = corpus.read_text(encoding="utf-8")
    corpus_on = np.tanh(trained_lm.inspect(text)["lstm_0", "cell"]) >= 0.3
    selected = np.zeros(on.shape[1], bool)
    selected[expected] = True
    keys = []
    for m in got["matches"]:
        a, b = m["start"], m["end"]
        assert m["text"] == text[a:b] and m["length"] == b - a >= 2
        assert text[:a].endswith(m["before"]) and text[b:].startswith(m["after"])
        active = corpus_on[a:b].all(axis=0) & (~corpus_on[a - 1] if a > 0 else True)
        assert m["intersection"] == (active & selected).sum()
        assert m["union"] == (active | selected).sum()
        assert m["ratio"] == pytest.approx(m["intersection"] / m["union"], abs=1e-4)
        keys.append((-m["intersection"], m["union"], -m["length"], a))
    assert keys == sorted(keys) and 0 < len(keys) <= 50
    hist = got["length_histogram"]
    assert sum(hist["fuzzy"]) == got["candidates"] >= len(keys)
    assert all(s <= f for s, f in zip(hist["strict"], hist["fuzzy"]))


def test_terminal_report_shows_units_and_matches_in_context(trained_checkpoint, corpus, capsys):
    code, out, err = _match(capsys, trained_checkpoint, corpus, "--text", TEXT, "--span", SPAN)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("selected ") and "«cat»" in lines[0]
    rows = [line for line in lines if line[:3].strip().isdigit()]
    assert 0 < len(rows) <= 50
    assert all("[" in row and "]" in row for row in rows)
    assert lines[-1].startswith("lengths of the spans where all")


def test_phrase_length_and_the_api(trained_lm, corpus):
    report = trained_lm.match(TEXT, (4, 7), corpus, phrase_length=3)
    assert report.selected and all(m.length == 3 for m in report.result.matches)
    text = corpus.read_text(encoding="utf-8")
    same = trained_lm.match(TEXT, (4, 7), text, phrase_length=3)  # the text itself
    assert [m.to_dict() for m in same.result.matches] == \
        [m.to_dict() for m in report.result.matches]


@pytest.mark.parametrize("argv, pattern", [
    (["--text", TEXT, "--span", "4-7"], "--span 4-7 is not A:B"),
    (["--text", TEXT, "--span", "7:4"], "empty or negative"),
    (["--text", TEXT, "--span", "4:99"], "not inside the text, which has 29"),
    (["--text", TEXT], "needs --span"),
    (["--text", TEXT, "--span", SPAN, "--threshold", "1.5"], "between -1 and 1"),
    (["--text", TEXT, "--span", SPAN, "--layer", "3"], "layer 3 does not exist"),
    (["--text", TEXT, "--span", SPAN, "--quantity", "update_gate"], "not a quantity of lstm_0"),
    (["--text", TEXT, "--span", SPAN, "--phrase-length", "0"], "at least 1"),
    (["--text", TEXT, "--span", SPAN, "--out", "x.html"], "cannot be used with charlm inspect "
                                                          "match"),
    (["--text", "The ca€", "--span", SPAN], "not in the model's vocabulary"),
])
def test_bad_input_is_one_line(trained_checkpoint, corpus, capsys, argv, pattern):
    assert_one_line_error(capsys, ["inspect", "match", "--checkpoint", str(trained_checkpoint),
                                   "--corpus", str(corpus), *argv], pattern)


def test_missing_corpus_and_match_flags_elsewhere(trained_checkpoint, tmp_path, capsys):
    base = ["inspect", "match", "--checkpoint", str(trained_checkpoint), "--text", TEXT,
            "--span", SPAN]
    assert_one_line_error(capsys, base, "needs --corpus")
    assert_one_line_error(capsys, base + ["--corpus", str(tmp_path / "no.txt")], "does not exist")
    assert_one_line_error(capsys, ["inspect", "--checkpoint", str(trained_checkpoint), "--text",
                                   TEXT, "--span", SPAN], "--span (without --corpus) cannot be "
                                                          "used with charlm inspect view")
    assert_one_line_error(capsys, ["inspect", "saturation", "--checkpoint",
                                   str(trained_checkpoint), "--text", TEXT, "--corpus",
                                   str(tmp_path)], "--corpus cannot be used")
