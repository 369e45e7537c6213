"""`charlm export` on the command line: the export folder serves `charlm generate`, and export
never overwrites (the `exported` fixture itself runs `charlm export`)."""

from tests.helpers import assert_one_line_error, run_cli


def test_the_cli_generates_from_the_export_folder(capsys, trained_lm, exported):
    code, out, _ = run_cli(capsys, ["generate", "--checkpoint", str(exported), "--prompt",
                                    "The ", "--length", "40", "--seed", "3"])
    assert code == 0 and out == "The " + trained_lm.generate("The ", length=40, seed=3) + "\n"


def test_export_never_overwrites(capsys, trained_checkpoint, exported):
    before = {p: p.read_bytes() for p in exported.rglob("*") if p.is_file()}
    assert_one_line_error(capsys, ["export", "--checkpoint", str(trained_checkpoint), "--out",
                                   str(exported)], "already exists")
    assert {p: p.read_bytes() for p in exported.rglob("*") if p.is_file()} == before


def test_subword_checkpoints_cannot_be_exported(capsys, bpe_checkpoint, tmp_path):
    assert_one_line_error(capsys, ["export", "--checkpoint", str(bpe_checkpoint), "--out",
                                   str(tmp_path / "out")], "only character tokenizers")
    assert not (tmp_path / "out").exists()
