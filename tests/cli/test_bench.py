"""`charlm bench train|generate`: the benchmark scripts of benchmarks/ run from the CLI with their
own flags. (No timing is checked: only that they run and report what they measured.)"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from charlm.cli import main
from tests.helpers import ROOT, run_cli


@pytest.mark.slow
def test_bench_generate_json(capsys):
    from charlm import backend
    from charlm.generate import decoding

    code, out, _ = run_cli(capsys, ["bench", "generate", "--json", "--layers", "1", "--units",
                                    "16", "--embedding-dim", "8", "--vocab-size", "12",
                                    "--length", "40", "--batch-size", "3", "--rounds", "1",
                                    "--baseline-chars", "2", "--window", "10"])
    result = json.loads(out)
    assert code == 0 and result["bench"] == "generate" and result["batch_size"] == 3
    assert {k: result[k] for k in ("layers", "units", "embedding_dim", "vocab_size", "length",
                                   "rounds", "window", "baseline_chars", "cell")} == {
        "layers": 1, "units": 16, "embedding_dim": 8, "vocab_size": 12, "length": 40,
        "rounds": 1, "window": 10, "baseline_chars": 2, "cell": "lstm"}
    assert result["chunk_size"] == decoding.CHUNK_SIZE
    assert result["shards"] == 1  # 3 rows: too few to split across cores
    assert result["device"] == backend.device() and result["backend"] == "tensorflow"
    assert result["chars_per_sec"] > 0 and result["baseline_chars_per_sec"] > 0
    assert result["ratio_vs_window_recompute"] > 0 and result["first_call_s"] > 0


def test_bench_generate_rejects_bad_flags(capsys):
    code, out, err = run_cli(capsys, ["bench", "generate", "--json", "--length", "0"])
    assert code == 2 and out == "" and err.strip() == "charlm: error: --length must be positive"


def test_bench_train_help(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["bench", "train", "--help"])
    out = capsys.readouterr().out
    assert exit.value.code == 0 and out.startswith("usage: charlm bench train")
    for flag in ("--layers", "--units", "--batch-size", "--seq-len", "--steps", "--rounds",
                 "--no-torch", "--torch-device", "--json"):
        assert f"  {flag}" in out, flag


def test_bench_train_torch_device_follows_charlm_unless_named():
    spec = importlib.util.spec_from_file_location("bench_train",
                                                  ROOT / "benchmarks" / "bench_train.py")
    bench_train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_train)
    assert [bench_train.torch_device("auto", d) for d in ("cpu", "gpu", "tpu")] == [
        "cpu", "cuda", "cpu"]
    assert bench_train.torch_device("cpu", "gpu") == "cpu"
    assert bench_train.torch_device("cuda", "cpu") == "cuda"
    args = bench_train.parser().parse_args([])
    assert args.torch_device == "auto"


def test_bench_train_json_reports_where_each_side_ran(capsys):
    from charlm import backend

    code, out, _ = run_cli(capsys, ["bench", "train", "--json", "--no-torch", "--layers", "1",
                                    "--units", "8", "--embedding-dim", "4", "--vocab-size", "7",
                                    "--batch-size", "2", "--seq-len", "5", "--steps", "1",
                                    "--rounds", "1"])
    result = json.loads(out)
    assert code == 0 and result["device"] == backend.device() and result["chars_per_sec"] > 0
    assert result["torch_device"] is None and result["torch_chars_per_sec"] is None


@pytest.mark.parametrize("name", ["train", "generate"])
def test_bench_outside_a_checkout_says_to_clone(name, tmp_path):
    """The package as a wheel installs it: charlm/ alone in site-packages, no benchmarks/."""
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "charlm", site / "charlm",
                    ignore=shutil.ignore_patterns("__pycache__"))
    run = subprocess.run([sys.executable, "-m", "charlm", "bench", name, "--json"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(site)})
    err = run.stderr.strip()
    assert run.returncode == 2 and run.stdout == ""
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("charlm: error: charlm bench needs a source checkout"), err
    assert f"bench_{name}.py" in err and "clone the charlm repository" in err
