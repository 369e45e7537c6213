"""The flags every command shares are declared once (charlm.cli.common) and user text files are
read by one reader (charlm.data.corpus.read_text_file): the same spelling, choices, defaults and
one-line errors in every command."""

import gzip
import os

import pytest

from charlm.cli import build_parser
from charlm.cli.common import (Parser, add_checkpoint_flags, add_text_file_flag,
                               add_unknown_flag, note_deprecated_text_flag, text_file_arg)
from charlm.data.corpus import read_text_file
from charlm.errors import UserError


def _parser(add, *args, **kwargs):
    p = Parser(prog="charlm test")
    add(p, *args, **kwargs)
    return p


def test_checkpoint_flags():
    p = _parser(add_checkpoint_flags)
    args = p.parse_args(["--checkpoint", "run"])
    assert (args.checkpoint, args.which) == ("run", "best")
    assert p.parse_args(["--checkpoint", "run", "--which", "last"]).which == "last"
    with pytest.raises(UserError, match="invalid choice: 'middle'"):
        p.parse_args(["--checkpoint", "run", "--which", "middle"])
    with pytest.raises(UserError, match="required: --checkpoint"):
        p.parse_args([])
    assert _parser(add_checkpoint_flags, required=False).parse_args([]).checkpoint is None


def test_unknown_flag():
    p = _parser(add_unknown_flag, "characters")
    assert p.parse_args([]).unknown == "error"
    assert p.parse_args(["--unknown", "replace"]).unknown == "replace"
    with pytest.raises(UserError, match="invalid choice: 'skip'"):
        p.parse_args(["--unknown", "skip"])
    assert _parser(add_unknown_flag, "pairs", skip=True).parse_args(
        ["--unknown", "skip"]).unknown == "skip"


def test_text_file_flag_and_its_old_spelling(capsys):
    p = _parser(add_text_file_flag, "the text", old="--text")
    new, old = p.parse_args(["--text-file", "a.txt"]), p.parse_args(["--text", "a.txt"])
    assert text_file_arg(new, "--text") == text_file_arg(old, "--text") == "a.txt"
    note_deprecated_text_flag(new, "--text")
    assert capsys.readouterr().err == ""
    note_deprecated_text_flag(old, "--text")
    assert capsys.readouterr().err == ("charlm: warning: --text FILE is deprecated; use "
                                       "--text-file FILE\n")
    assert "--text " not in p.format_help()  # the old spelling is not advertised
    with pytest.raises(UserError, match="--text-file FILE is required"):
        text_file_arg(p.parse_args([]), "--text")


def test_every_command_spells_the_shared_flags_the_same():
    """--checkpoint/--which, --unknown and files as --text-file (or --prompt-file) FILE."""
    sub = build_parser()._subparsers._group_actions[0].choices
    for command in ("eval", "generate", "export", "probe", "score", "inspect"):
        flags = {a.option_strings[0]: a for a in sub[command]._actions if a.option_strings}
        assert flags["--checkpoint"].metavar == "DIR", command
        assert flags["--which"].choices == ("best", "last") and flags["--which"].default == "best"
        if "--unknown" in flags:
            assert flags["--unknown"].choices[:2] == ("error", "replace"), command
            assert flags["--unknown"].default == "error"
        for name, action in flags.items():
            if name.endswith("-file"):
                assert action.metavar == "FILE", (command, name)
    for command in ("eval", "score", "inspect"):
        assert "--text-file" in sub[command].format_help()
    assert "--prompt-file" in sub["generate"].format_help()


@pytest.mark.parametrize("write,text", [
    (lambda p: p.write_text("café\n", encoding="utf-8"), "café\n"),
    (lambda p: p.with_suffix(".gz").write_bytes(gzip.compress("naïve\n".encode())), "naïve\n"),
])
def test_the_reader_reads_utf8_and_gzip(tmp_path, write, text):
    path = tmp_path / "a.txt"
    write(path)
    target = path if path.exists() else path.with_suffix(".gz")
    assert read_text_file(target, "--text-file") == text


def test_the_reader_gives_one_line_errors(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01text")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "broken.gz").write_bytes(b"not gzip at all")
    os.mkfifo(tmp_path / "fifo")
    cases = [("missing.txt", "does not exist"), (".", "is a folder"),
             ("fifo", "is not a regular file"), ("latin1.txt", "is not UTF-8 text"),
             ("binary.txt", "looks like a binary file"), ("empty.txt", "is empty"),
             ("broken.gz", "cannot read --prompt-file")]
    for name, pattern in cases:
        with pytest.raises(UserError, match=pattern) as caught:
            read_text_file(tmp_path / name, "--prompt-file")
        assert len(str(caught.value).splitlines()) == 1 and "; " in str(caught.value), name
