"""`charlm score` on the command line, on a checkpoint folder built by hand."""

import json

import pytest

from charlm.cli import main
from charlm.data.tokenizers import CharTokenizer
from tests.probes.examples import CHARS, hand_checkpoint, hand_logprob


@pytest.fixture(scope="module")
def tok():
    return CharTokenizer(CHARS)


def test_cli_score_json(tmp_path, tok, capsys):
    folder = hand_checkpoint(tmp_path / "ckpt", tok)
    text = tmp_path / "lines.txt"
    text.write_text("a dream.\nmare\n")
    assert main(["score", "--checkpoint", str(folder), "--text-file", str(text), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["line"] for r in rows] == [1, 2] and [r["chars"] for r in rows] == [9, 5]
    assert rows[0]["logprob"] == pytest.approx(hand_logprob(tok, "a dream.\n"), abs=1e-4)
    assert rows[1]["logprob"] == pytest.approx(hand_logprob(tok, "mare\n"), abs=1e-4)


def test_cli_score_unknown_character_is_one_line(tmp_path, tok, capsys):
    folder = hand_checkpoint(tmp_path / "ckpt", tok)
    text = tmp_path / "lines.txt"
    text.write_text("a dream!\n")
    assert main(["score", "--checkpoint", str(folder), "--text-file", str(text)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'!'" in err and "--unknown replace" in err
