"""`charlm eval` on the command line: JSON output, and missing or corrupt checkpoints as one-line
errors."""

import json
import shutil

from charlm.cli import main
from tests.helpers import TINY_TEXT, run_cli
from tests.helpers import assert_one_line_error as _fails


def test_cli_eval_json(trained_checkpoint, tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text(TINY_TEXT[:2000] + "§", encoding="utf-8")  # one unseen character
    assert main(["eval", "--checkpoint", str(trained_checkpoint), "--text-file", str(text),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"bpc", "nats_per_char", "chars"}
    assert result["chars"] == 2001 and result["unknown_chars"] == 1
    assert abs(result["bpc"] * 0.6931471805599453 - result["nats_per_char"]) < 1e-9


def test_missing_and_corrupt_checkpoints(tiny_corpus, capsys, trained_checkpoint, tmp_path):
    text = str(tiny_corpus)
    _fails(capsys, ["eval", "--checkpoint", str(tmp_path / "nope"), "--text-file", text],
           "does not exist")
    _fails(capsys, ["eval", "--checkpoint", str(tiny_corpus.parent), "--text-file", text],
           "no config.json")
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(trained_checkpoint / "config.json", broken / "config.json")
    shutil.copytree(trained_checkpoint / "tokenizer", broken / "tokenizer")
    _fails(capsys, ["eval", "--checkpoint", str(broken), "--text-file", text], "no saved weights")
    (broken / "best").mkdir()
    (broken / "best" / "model.weights.h5").write_bytes(b"not hdf5 at all")
    _fails(capsys, ["eval", "--checkpoint", str(broken), "--text-file", text], "corrupt")
    (broken / "config.json").write_text("{ truncated")
    _fails(capsys, ["eval", "--checkpoint", str(broken), "--text-file", text],
           "config.json is corrupt")
    _fails(capsys, ["train", "--resume", str(broken)], "config.json is corrupt")


def test_the_old_text_spelling_still_works_with_one_deprecation_line(trained_checkpoint, tmp_path,
                                                                     capsys):
    text = tmp_path / "t.txt"
    text.write_text(TINY_TEXT[:500], encoding="utf-8")
    results = {}
    for flag in ("--text-file", "--text"):
        code, out, err = run_cli(capsys, ["eval", "--checkpoint", str(trained_checkpoint), flag,
                                          str(text), "--json"])
        assert code == 0
        results[flag] = json.loads(out)
        assert err == ("charlm: warning: --text FILE is deprecated; use --text-file FILE\n"
                       if flag == "--text" else ""), err
    assert results["--text"] == results["--text-file"]
    # an error stays the only line, whichever spelling
    _fails(capsys, ["eval", "--checkpoint", str(trained_checkpoint), "--text",
                    str(tmp_path / "none.txt")], "--text-file")
    _fails(capsys, ["eval", "--checkpoint", str(trained_checkpoint), "--text", str(text),
                    "--text-file", str(text)], "pass --text-file FILE only")
    _fails(capsys, ["eval", "--checkpoint", str(trained_checkpoint)],
           "--text-file FILE is required")


def test_eval_reads_gz_folders_and_corpus_names_as_before(trained_checkpoint, tmp_path, capsys):
    import gzip

    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text(TINY_TEXT[:300], encoding="utf-8")
    with gzip.open(tmp_path / "a.txt.gz", "wt", encoding="utf-8") as f:
        f.write(TINY_TEXT[:300])
    chars = {}
    for source in (folder / "a.txt", tmp_path / "a.txt.gz", folder):
        code, out, _ = run_cli(capsys, ["eval", "--checkpoint", str(trained_checkpoint),
                                        "--text-file", str(source), "--json"])
        assert code == 0
        chars[source] = json.loads(out)
    assert len({json.dumps(r, sort_keys=True) for r in chars.values()}) == 1  # the same text
    code, out, _ = run_cli(capsys, ["eval", "--checkpoint", str(trained_checkpoint),
                                    "--text-file", "agreement", "--tail-fraction", "0.001",
                                    "--json"])
    assert code == 0 and json.loads(out)["chars"] > 0
