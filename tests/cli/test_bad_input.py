"""Bad input, table-driven: every kind gives one line on stderr that names the problem and the fix,
a non-zero exit, no traceback, and leaves the checkpoint it was pointed at unchanged.

(Each command's own tests have more cases; this table is the contract across all of them.)
"""

import hashlib
import json
import os

import pytest

from charlm.cli import main

pytestmark = pytest.mark.slow

# Placeholders: {ckpt} a trained run, {tiny} its corpus, {files} a folder of bad files (below),
# {new} a folder that does not exist yet.
TRAIN = ["train", "--corpus", "{tiny}", "--out", "{new}"]
CASES = [
    # every numeric training option out of range
    (TRAIN + ["--units", "0"], "--units must be a positive integer"),
    (TRAIN + ["--layers", "0"], "--layers must be a positive integer"),
    (TRAIN + ["--embedding-dim", "-1"], "--embedding-dim must be a positive integer"),
    (TRAIN + ["--seq-len", "0"], "--seq-len must be a positive integer"),
    (TRAIN + ["--batch-size", "0"], "--batch-size must be a positive integer"),
    (TRAIN + ["--state-reset-every", "0"], "--state-reset-every must be a positive integer"),
    (TRAIN + ["--lr", "0"], "--lr must be positive"),
    (TRAIN + ["--min-lr-ratio", "1.5"], "--min-lr-ratio must be in [0, 1]"),
    (TRAIN + ["--warmup-steps", "-1"], "--warmup-steps must be 0 or more"),
    (TRAIN + ["--weight-decay", "-0.1"], "--weight-decay must be 0 or more"),
    (TRAIN + ["--clip-norm", "0"], "--clip-norm must be positive"),
    (TRAIN + ["--dropout", "1"], "--dropout must be in [0, 1)"),
    (TRAIN + ["--val-fraction", "1.5"], "--val-fraction must be in (0, 1)"),
    (TRAIN + ["--vocab-size", "4", "--tokenizer", "bpe"], "--vocab-size must be at least 16"),
    (TRAIN + ["--max-steps", "0"], "--max-steps must be positive"),
    (TRAIN + ["--max-minutes", "-1"], "--max-minutes must be positive"),
    (TRAIN + ["--epochs", "0"], "--epochs must be positive"),
    (TRAIN + ["--eval-every", "0"], "--eval-every must be a positive integer"),
    (TRAIN + ["--eval-max-tokens", "1"], "--eval-max-tokens must be at least 2"),
    (TRAIN + ["--patience", "-1"], "--patience must be 0 or more"),
    (TRAIN + ["--sample-chars", "-1"], "--sample-chars must be 0 or more"),
    (TRAIN + ["--seed", "-1"], "--seed must be in [0, 2**32)"),
    (TRAIN + ["--units", "many"], "argument --units: invalid int value: 'many'"),
    # --config files
    (TRAIN + ["--config", "{files}/string_dropout.json"], "--dropout must be a number, not '0.1'"),
    (TRAIN + ["--config", "{files}/unknown_key.json"], "unknown config keys ['unitz']"),
    (TRAIN + ["--config", "{files}/broken.json"], "is not valid JSON"),
    (TRAIN + ["--config", "{files}/list.json"], "must hold a JSON object of settings"),
    # corpora
    (["train", "--corpus", "{files}/fifo", "--out", "{new}"], "is not a regular file"),
    (["train", "--corpus", "/dev/zero", "--out", "{new}"], "is not a regular file"),
    (["train", "--corpus", "{files}/binary.txt", "--out", "{new}"], "looks like a binary file"),
    (["train", "--corpus", "{files}/latin1.txt", "--out", "{new}"], "is not UTF-8 text"),
    (["train", "--corpus", "{files}/empty.txt", "--out", "{new}"], "is empty"),
    (["train", "--corpus", "{files}/missing.txt", "--out", "{new}"], "is neither a file"),
    (TRAIN + ["--val-corpus", "{files}/val_with_new_chars.txt", "--max-steps", "2"],
     "character(s) not in the model's vocabulary: 'Z' '€'; the --val-corpus"),
    # run folders
    (["train", "--corpus", "{tiny}", "--out", "{files}"], "already exists and is not empty"),
    (["train", "--resume", "{ckpt}", "--units", "7"], "--units cannot change when resuming"),
    (["train", "--resume", "{files}"], "has no config.json, so it is not a charlm checkpoint"),
    (["train", "--resume", "{ckpt}", "--config", "{files}/unknown_key.json"],
     "--config cannot be used with --resume"),
    # prompts, sampling flags, checkpoints
    (["generate", "--checkpoint", "{ckpt}", "--prompt", "Zebra €"],
     "2 character(s) not in the model's vocabulary: 'Z' '€'"),
    (["generate", "--checkpoint", "{ckpt}", "--temperature", "-1"], "--temperature must be 0"),
    (["generate", "--checkpoint", "{ckpt}", "--top-p", "1.5"], "--top-p must be in (0, 1]"),
    (["generate", "--checkpoint", "{ckpt}", "--top-k", "0"], "--top-k must be at least 1"),
    (["generate", "--checkpoint", "{ckpt}", "--num-samples", "0"],
     "--num-samples must be at least 1"),
    (["generate", "--checkpoint", "{new}"], "does not exist"),
    (["eval", "--checkpoint", "{ckpt}", "--text-file", "{tiny}", "--streams", "0"],
     "--streams must be at least 1"),
    (["eval", "--checkpoint", "{ckpt}", "--text-file", "{files}/binary.txt"],
     "looks like a binary"),
    (["score", "--checkpoint", "{ckpt}", "--text-file", "{files}/latin1.txt"],
     "is not UTF-8 text"),
    # probe items and texts with characters the model lacks
    (["probe", "--checkpoint", "{ckpt}", "--data", "{files}/pairs_new_chars.jsonl"],
     "not in the model's vocabulary"),
    (["probe", "--checkpoint", "{ckpt}", "--data", "{files}/missing.jsonl"], "missing.jsonl"),
    (["inspect", "--checkpoint", "{ckpt}", "--text", "Zebra €", "--json"],
     "not in the model's vocabulary"),
    (["export", "--checkpoint", "{ckpt}", "--out", "{files}"], "already exists"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad-input")
    (folder / "string_dropout.json").write_text(json.dumps({"dropout": "0.1"}))
    (folder / "unknown_key.json").write_text(json.dumps({"unitz": 3}))
    (folder / "broken.json").write_text("{\"units\": ")
    (folder / "list.json").write_text("[1, 2]")
    os.mkfifo(folder / "fifo")  # reading it would block forever
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02text\x00" * 50)
    (folder / "latin1.txt").write_bytes("café crème brûlée".encode("latin-1"))
    (folder / "empty.txt").write_text("")
    (folder / "val_with_new_chars.txt").write_text("The cat near the dogs sleeps. Zebra €\n")
    pair = {"sentence_good": "The Zebra sleeps.", "sentence_bad": "The Zebra sleep.",
            "category": "simple", "condition": "singular"}
    (folder / "pairs_new_chars.jsonl").write_text(json.dumps(pair) + "\n")
    return folder


def _fingerprint(folder):
    """Every file's bytes in the run (not the lock, whose pid line the next writer rewrites)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


# Every flag that names a user's text file goes through the one reader: the same file, the same
# one-line error, naming the flag it came in by.
READERS = [["eval", "--checkpoint", "{ckpt}", "--text-file"],
           ["eval", "--checkpoint", "{ckpt}", "--text"],  # the old spelling
           ["score", "--checkpoint", "{ckpt}", "--text-file"],
           ["inspect", "--checkpoint", "{ckpt}", "--text-file"],
           ["generate", "--checkpoint", "{ckpt}", "--prompt-file"],
           ["probe", "--checkpoint", "{ckpt}", "--data"]]


@pytest.mark.parametrize("file,pattern", [
    ("latin1.txt", "is not UTF-8 text (bad byte at offset 3)"),
    ("binary.txt", "looks like a binary file"), ("empty.txt", "is empty"),
    ("missing.txt", "does not exist"), ("fifo", "is not a regular file")])
@pytest.mark.parametrize("argv", READERS, ids=[" ".join([a[0], a[-1]]) for a in READERS])
def test_every_text_file_flag_reads_through_the_one_reader(argv, file, pattern, trained_checkpoint,
                                                           files, capsys):
    path = f"{files}/{file}"
    code = main([a.format(ckpt=trained_checkpoint) for a in argv] + [path])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("charlm: error: ") and pattern in err and path in err, err
    flag = "--text-file" if argv[-1] == "--text" else argv[-1]  # the old spelling's new name
    assert f"{flag} {path}" in err, err


@pytest.mark.parametrize("argv,pattern", CASES, ids=[" ".join([a[0], *a[-2:]]) for a, _ in CASES])
def test_one_line_nonzero_exit_no_traceback_checkpoint_unchanged(
        argv, pattern, trained_checkpoint, tiny_corpus, files, tmp_path, capsys):
    names = {"ckpt": str(trained_checkpoint), "tiny": str(tiny_corpus), "files": str(files),
             "new": str(tmp_path / "new")}
    before = _fingerprint(trained_checkpoint)
    code = main([a.format(**names) for a in argv])
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code != 0 and code is not None
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("charlm: error: ") and pattern in err, err
    assert _fingerprint(trained_checkpoint) == before
    assert not (tmp_path / "new").exists()  # nothing half-made either
