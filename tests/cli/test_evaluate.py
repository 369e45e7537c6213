"""`charlm eval` on the command line: JSON output, and missing or corrupt checkpoints as one-line
errors."""

import json
import shutil

from charlm.cli import main
from tests.helpers import TINY_TEXT, assert_one_line_error as _fails


def test_cli_eval_json(trained_checkpoint, tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text(TINY_TEXT[:2000] + "§", encoding="utf-8")  # one unseen character
    assert main(["eval", "--checkpoint", str(trained_checkpoint), "--text", str(text),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"bpc", "nats_per_char", "chars"}
    assert result["chars"] == 2001 and result["unknown_chars"] == 1
    assert abs(result["bpc"] * 0.6931471805599453 - result["nats_per_char"]) < 1e-9


def test_missing_and_corrupt_checkpoints(tiny_corpus, capsys, trained_checkpoint, tmp_path):
    text = str(tiny_corpus)
    _fails(capsys, ["eval", "--checkpoint", str(tmp_path / "nope"), "--text", text],
           "does not exist")
    _fails(capsys, ["eval", "--checkpoint", str(tiny_corpus.parent), "--text", text],
           "no config.json")
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(trained_checkpoint / "config.json", broken / "config.json")
    shutil.copytree(trained_checkpoint / "tokenizer", broken / "tokenizer")
    _fails(capsys, ["eval", "--checkpoint", str(broken), "--text", text], "no saved weights")
    (broken / "best").mkdir()
    (broken / "best" / "model.weights.h5").write_bytes(b"not hdf5 at all")
    _fails(capsys, ["eval", "--checkpoint", str(broken), "--text", text], "corrupt")
    (broken / "config.json").write_text("{ truncated")
    _fails(capsys, ["eval", "--checkpoint", str(broken), "--text", text], "config.json is corrupt")
    _fails(capsys, ["train", "--resume", str(broken)], "config.json is corrupt")
