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


def test_cli_score_reads_gzip_and_names_the_flag_in_errors(tmp_path, tok, capsys):
    import gzip

    folder = hand_checkpoint(tmp_path / "ckpt", tok)
    plain, packed = tmp_path / "lines.txt", tmp_path / "lines.txt.gz"
    plain.write_text("a dream.\nmare\n")
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    outputs = []
    for path in (plain, packed):
        assert main(["score", "--checkpoint", str(folder), "--text-file", str(path)]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and len(outputs[0].splitlines()) == 2
    (tmp_path / "empty.txt").write_text("")
    for name, pattern in (("none.txt", "does not exist"), ("empty.txt", "is empty")):
        assert main(["score", "--checkpoint", str(folder), "--text-file",
                     str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("charlm: error: --text-file ") and pattern in err, err


def test_cli_score_unknown_character_is_one_line(tmp_path, tok, capsys):
    folder = hand_checkpoint(tmp_path / "ckpt", tok)
    text = tmp_path / "lines.txt"
    text.write_text("a dream!\n")
    assert main(["score", "--checkpoint", str(folder), "--text-file", str(text)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'!'" in err and "--unknown replace" in err
