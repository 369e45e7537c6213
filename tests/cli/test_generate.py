"""`charlm generate` (and `python generate.py`) on the command line: streaming, JSON rows, stop
strings and the novelty report, the unknown-character policy, one-line flag errors."""

import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT, run_cli as _run


def test_streams_prompt_and_continuation(capsys, trained_checkpoint, trained_lm):
    code, out, err = _run(capsys, ["generate", "--checkpoint", str(trained_checkpoint),
                                   "--prompt", "The ", "--length", "150", "--seed", "7"])
    assert code == 0 and err == ""
    assert out == "The " + trained_lm.generate("The ", length=150, temperature=0.8, seed=7) + "\n"


def test_prompt_file_is_the_prompt_read_from_a_file(capsys, trained_checkpoint, tmp_path):
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("The keys\nThe ", encoding="utf-8")  # a line break inside: files allow it
    argv = ["generate", "--checkpoint", str(trained_checkpoint), "--length", "40", "--seed", "3",
            "--json"]
    from_file = _run(capsys, argv + ["--prompt-file", str(prompt)])
    from_flag = _run(capsys, argv + ["--prompt", "The keys\nThe "])
    assert from_file[0] == 0 and from_file == from_flag
    assert json.loads(from_file[1])["prompt"] == "The keys\nThe "
    code, out, err = _run(capsys, argv + ["--prompt-file", str(prompt), "--prompt", "The "])
    assert code == 2 and out == "" and "not both" in err
    code, out, err = _run(capsys, argv + ["--prompt-file", str(tmp_path / "none.txt")])
    assert code == 2 and out == "" and "--prompt-file" in err and "does not exist" in err


def test_json_samples_are_reproducible_rows(capsys, trained_checkpoint, trained_lm):
    argv = ["generate", "--checkpoint", str(trained_checkpoint), "--prompt", "The ", "--length",
            "60", "--num-samples", "3", "--seed", "5", "--json", "--top-p", "0.9",
            "--temperature", "1.2", "--novelty"]
    code, out, _ = _run(capsys, argv)
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["sample"] for r in records] == [0, 1, 2]
    assert [(r["seed"], r["stream"]) for r in records] == [(5, 0), (5, 1), (5, 2)]
    expected = trained_lm.generate("The ", length=60, temperature=1.2, top_p=0.9, seed=5,
                                   num_samples=3)
    assert [r["text"] for r in records] == expected
    assert all(r["novelty"]["ngrams"] == 41 and 0 <= r["novelty"]["copied_share"] <= 1
               for r in records)
    assert _run(capsys, argv)[1] == out


def test_stop_and_novelty_report(capsys, trained_checkpoint, trained_lm):
    code, out, err = _run(capsys, ["generate", "--checkpoint", str(trained_checkpoint),
                                   "--prompt", "The cat", "--temperature", "0", "--length",
                                   "500", "--stop", "\n", "--novelty"])
    line = trained_lm.generate("The cat", length=500, temperature=0).split("\n")[0]
    assert code == 0 and out == f"The cat{line}\n" and len(line) > 10  # stopped at the line end
    assert err.startswith(f"novelty: 100.0% of {len(line) - 19} generated 20-character "
                          "substrings occur verbatim in the training corpus")


def test_length_zero_prints_nothing(capsys, trained_checkpoint):
    assert _run(capsys, ["generate", "--checkpoint", str(trained_checkpoint), "--prompt",
                         "The", "--length", "0"]) == (0, "", "")


def test_script_length_zero_exits_0_silently(trained_checkpoint):
    run = subprocess.run([sys.executable, str(ROOT / "generate.py"), "--checkpoint",
                          str(trained_checkpoint), "--length", "0"], capture_output=True,
                         text=True)
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")


def test_unknown_characters_error_or_replace(capsys, trained_checkpoint):
    code, out, err = _run(capsys, ["generate", "--checkpoint", str(trained_checkpoint),
                                   "--prompt", "Zebra €", "--length", "10"])
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "2 character(s) not in the model's vocabulary: 'Z' '€'; remove them or pass " \
           "--unknown replace" in err
    code, out, err = _run(capsys, ["generate", "--checkpoint", str(trained_checkpoint),
                                   "--prompt", "Zebra €", "--length", "10", "--unknown",
                                   "replace"])
    assert code == 0 and out.startswith("Zebra €") and len(out) == len("Zebra €") + 11
    assert err.startswith("charlm: warning: 2 prompt character(s)")


@pytest.mark.parametrize("flags,pattern", [
    (["--temperature", "-1"], "--temperature must be 0"),
    (["--top-p", "1.5"], "--top-p must be in (0, 1]"),
    (["--top-k", "0"], "--top-k must be at least 1"),
    (["--length", "-4"], "--length must be 0 or more"),
    (["--num-samples", "0"], "--num-samples must be at least 1"),
    (["--seed", "-1"], "--seed must be in [0, 2^32)"),
    (["--unknown", "drop"], "invalid choice"),
])
def test_bad_flags_one_line_exit_2(capsys, trained_checkpoint, flags, pattern):
    code, out, err = _run(capsys, ["generate", "--checkpoint", str(trained_checkpoint), *flags])
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and pattern in err
