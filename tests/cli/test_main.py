"""charlm.cli (`main`, the `charlm` command): --help, and bad input as one line on stderr naming
the problem and the fix, exit 2, no traceback."""

import pytest

from charlm.cli import COMMANDS, main
from tests.helpers import assert_one_line_error as _fails


@pytest.mark.parametrize("argv,pattern", [
    (["train", "--units", "-3"], "--units must be a positive integer"),
    (["train", "--cell", "transformer"], "--cell must be one of"),
    (["train", "--tokenizer", "words"], "--tokenizer must be one of"),
    (["train", "--dropout", "1.5"], "--dropout must be in"),
    (["train", "--max-steps", "0"], "--max-steps must be positive"),
    (["train", "--bogus"], "unrecognized arguments: --bogus"),
    (["train", "--units", "many"], "invalid int value"),
    (["frobnicate"], "invalid choice"),
])
def test_nonsense_flags(tiny_corpus, capsys, argv, pattern):
    _fails(capsys, argv + ["--corpus", str(tiny_corpus)] if argv[0] == "train" else argv,
           pattern)


def _help(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exit:
        main(argv)
    captured = capsys.readouterr()
    assert exit.value.code == 0 and captured.err == ""
    return captured.out


def test_help_lists_every_command(capsys):
    out = _help(capsys, ["--help"])
    assert out.startswith("usage: charlm")
    listed = out[out.index("{"):out.index("}")]  # usage: charlm [-h] {train,eval,...} ...
    assert listed.strip("{").split(",") == list(COMMANDS)
    for command in COMMANDS:
        assert f"\n    {command} " in out, command  # each with its one-line help


def test_train_help_lists_every_setting(capsys):
    from charlm.cli.train import TRAIN_FLAGS

    out = _help(capsys, ["train", "--help"])
    for flag in [f for f, _, _ in TRAIN_FLAGS] + ["--config", "--resume", "--quiet"]:
        assert f"  {flag} " in out, flag
    assert "--eval-max-chars" not in out  # the old name still works, unlisted


def test_no_command_is_a_one_line_error(capsys):
    _fails(capsys, [], "the following arguments are required: command")
