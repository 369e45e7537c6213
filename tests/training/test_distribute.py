"""--distribute and --precision (charlm/training/distribute.py).

The cluster test runs three processes at once, each importing TensorFlow once: two workers under
MultiWorkerMirroredStrategy (TF_CONFIG on localhost ports) and one MirroredStrategy process over
its CPU split into two logical devices. Each trains 6 steps and resumes to 12; this process trains
the same run on one device. The same global batch gives the same run: validation losses within
TOLERANCE nats/char and weights within TOLERANCE (only the order of the gradient sums differs).
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from charlm.checkpoint import load_arrays
from charlm.cli import main
from charlm.training.distribute import mixed_policy
from tests.helpers import ROOT, TINY_TEXT, read_jsonl

TOLERANCE = 1e-4
FLAGS = ["--units", "32", "--embedding-dim", "8", "--seq-len", "10", "--batch-size", "8",
         "--eval-every", "3", "--sample-chars", "0", "--eval-max-tokens", "1000",
         "--warmup-steps", "2", "--lr", "0.01", "--dropout", "0"]


@pytest.mark.parametrize("device,capability,policy", [
    ("cpu", None, "float32"), ("gpu", (7, 5), "float32"), ("gpu", (8, 0), "mixed_bfloat16"),
    ("gpu", (9, 0), "mixed_bfloat16"), ("tpu", None, "mixed_bfloat16")])
def test_mixed_precision_policy_per_device(device, capability, policy):
    chosen, why = mixed_policy(device, capability)
    assert chosen == policy and why


def test_mixed_precision_keeps_the_recurrence_and_the_loss_in_float32(tiny_corpus, tmp_path,
                                                                     monkeypatch):
    import keras

    from charlm.model import model as model_module
    from charlm.training import distribute, loop

    built = []

    def build(**spec):
        built.append(model_module.build_model(**spec))
        return built[-1]

    # this CPU gets float32; pretend it is a bfloat16 device to run the mixed path here
    monkeypatch.setattr(distribute, "mixed_policy", lambda *a: ("mixed_bfloat16", "test"))
    monkeypatch.setattr(loop, "build_model", build)
    assert main(["train", "--corpus", str(tiny_corpus), "--out", str(tmp_path / "run"), *FLAGS,
                 "--max-steps", "3", "--precision", "mixed", "--quiet"]) == 0
    (model,) = built
    assert model.get_layer("embedding").compute_dtype == "bfloat16"
    assert model.get_layer("logits").compute_dtype == "bfloat16"
    assert model.get_layer("lstm_0").compute_dtype == "float32"
    assert all(v.dtype == "float32" for v in model.weights)  # variables stay float32
    assert keras.config.dtype_policy().name == "float32"  # the global policy is put back
    rows = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert all(np.isfinite(r["bpc"]) for r in rows if r["kind"] == "val")


def _free_ports(count):
    spec = importlib.util.spec_from_file_location(
        "bench_multiworker", ROOT / "benchmarks" / "bench_multiworker.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.free_ports(count)


def _start(folder, mode, **env):
    command = [sys.executable, str(ROOT / "tests" / "training" / "distributed_worker.py"),
               str(folder), json.dumps(["--corpus", str(folder / "tiny.txt"), *FLAGS]), mode]
    return subprocess.Popen(command, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _val_losses(run):
    return [(r["step"], r["nats_per_char"]) for r in read_jsonl(run / "metrics.jsonl")
            if r["kind"] == "val"]


@pytest.mark.slow
def test_two_workers_and_two_replicas_train_like_one_device_and_resume(tmp_path):
    (tmp_path / "tiny.txt").write_text(TINY_TEXT, encoding="utf-8")
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    processes = [_start(tmp_path, "multiworker", TF_CONFIG=json.dumps(
        {"cluster": cluster, "task": {"type": "worker", "index": i}})) for i in range(2)]
    processes.append(_start(tmp_path, "mirrored", CHARLM_CPU_REPLICAS="2"))

    # Meanwhile, the same run on one device, also stopped at 6 and resumed to 12.
    single = tmp_path / "single"
    flags = ["--corpus", str(tmp_path / "tiny.txt"), *FLAGS]
    assert main(["train", *flags, "--max-steps", "6", "--out", str(single), "--quiet"]) == 0
    assert main(["train", "--resume", str(single), "--max-steps", "12", "--quiet"]) == 0

    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
        result = json.loads(out.strip().splitlines()[-1])
        assert result == {"codes": [0, 0], "replicas": 2}, (result, err[-3000:])
    want, want_weights = _val_losses(single), load_arrays(single / "last" / "variables.npz")
    for mode in ("multiworker", "mirrored"):
        run = tmp_path / mode
        got = _val_losses(run)  # one row per validation: only the chief writes metrics
        assert [s for s, _ in got] == [s for s, _ in want] == [3, 6, 9, 12], mode
        np.testing.assert_allclose([v for _, v in got], [v for _, v in want], atol=TOLERANCE)
        assert json.loads((run / "last" / "trainer.json").read_text())["step"] == 12
        for a, b in zip(load_arrays(run / "last" / "variables.npz"), want_weights):
            np.testing.assert_allclose(a, b, atol=TOLERANCE)


def test_distribute_rules_are_one_line_errors(tiny_corpus, tmp_path, capsys):
    argv = ["train", "--corpus", str(tiny_corpus), "--out", str(tmp_path / "run"), *FLAGS]
    for extra, message in [
            (["--distribute", "multiworker", "--max-minutes", "1"], "needs --max-steps or --epochs"),
            (["--distribute", "everywhere", "--max-steps", "2"], "--distribute must be one of"),
            (["--precision", "half", "--max-steps", "2"], "--precision must be one of")]:
        assert main(argv + extra) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "run").exists()
