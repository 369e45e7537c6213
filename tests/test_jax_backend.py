"""The JAX backend: train (fresh, resumed), eval, generate, score and probe run on JAX; a
checkpoint trained on either backend generates the same text on the other and evaluates to the
same bpc; the TensorFlow-only commands say so in one line.

A process has one Keras backend: the JAX side runs once, in a subprocess (tests/jax_script.py,
which prints one JSON line); the assertions, and the TensorFlow side, run here.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests import jax_script
from tests.helpers import ROOT, TINY_TEXT

pytestmark = [pytest.mark.slow, pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                                   reason="jax is not installed")]


@pytest.fixture(scope="module")
def jax_side(trained_checkpoint, tmp_path_factory) -> dict:
    """What tests/jax_script.py saw on JAX (see its docstring)."""
    work = tmp_path_factory.mktemp("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT),
           "TF_CPP_MIN_LOG_LEVEL": "3",
           # JAX compiles every new function (and shape) in full, and the script builds the same
           # ones again (the resumed run's step, each command's model): a compilation cache,
           # private to this run, compiles each once (saves ~5 of ~30 s of CPU)
           "JAX_COMPILATION_CACHE_DIR": str(work / "jax-cache"),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
           # two host devices, for --distribute mirrored (keras.distribution.DataParallel)
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    # -m, not the file's path: that would put tests/ first on sys.path, where tests/inspect/
    # hides the standard library's inspect
    done = subprocess.run([sys.executable, "-m", "tests.jax_script", str(work),
                           str(trained_checkpoint)], env=env, cwd=work, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_trains_and_resumes_on_jax(jax_side):
    assert jax_side["backend"] == "jax"
    assert jax_side["train"] == {"fresh_step": jax_script.FRESH_STEPS, "resume_code": 0,
                                 "resumed_step": jax_script.RESUMED_STEPS}


def test_seeding_on_jax_repeats_without_importing_tensorflow(jax_side):
    assert jax_side["seeding"] == {"repeats": True, "differs": True, "imported_tensorflow": False}
    assert jax_side["tensorflow_after_training"] is False


def test_eval_generate_score_probe_on_jax(jax_side):
    assert jax_side["codes"] == {"eval": 0, "generate": 0, "score": 0, "probe": 0}
    assert 0 < jax_side["eval"]["bpc"] < 10 and jax_side["eval"]["chars"] == jax_script.EVAL_CHARS
    greedy = jax_side["greedy"]  # greedy rows of one prompt are one text
    assert len(greedy) == 2 and greedy[0] == greedy[1] and len(greedy[0]) == jax_script.LENGTH
    assert len(jax_side["sampled"]) == 2 and jax_side["sampled"][0] != jax_side["sampled"][1]
    assert [r["chars"] for r in jax_side["score"]] == [len(line) + 1
                                                       for line in jax_script.SCORE_LINES]
    assert all(r["logprob"] < 0 for r in jax_side["score"])
    assert jax_side["probe"]["n"] == len(jax_script.PAIRS)


def test_tensorflow_checkpoint_on_jax_equals_tensorflow(jax_side, trained_lm):
    on_jax = jax_side["tf_checkpoint"]
    prompt, length = jax_script.PROMPT, jax_script.LENGTH
    assert on_jax["greedy"] == trained_lm.generate(prompt, length=length, temperature=0)
    assert on_jax["bpc"] == pytest.approx(
        trained_lm.eval(TINY_TEXT[:jax_script.EVAL_CHARS])["bpc"], abs=1e-4)


def test_jax_checkpoint_on_tensorflow_equals_jax(jax_side):
    import charlm

    lm = charlm.load(jax_side["run"])
    prompt, length = jax_script.PROMPT, jax_script.LENGTH
    assert lm.generate(prompt, length=length, temperature=0) == jax_side["greedy"][0]
    # sampling reads the whole distribution, not only its top: the same seed, the same text
    assert lm.generate(prompt, length=length, temperature=1.0, seed=jax_script.SEED,
                       num_samples=2) == jax_side["sampled"]
    assert lm.eval(TINY_TEXT[:jax_script.EVAL_CHARS])["bpc"] == pytest.approx(
        jax_side["eval"]["bpc"], abs=1e-4)
    scores = lm.score(jax_script.SCORE_LINES)
    assert [r["logprob"] for r in scores] == pytest.approx(
        [r["logprob"] for r in jax_side["score"]], abs=1e-3)


@pytest.mark.parametrize("command,says", [
    ("export", "export writes a TensorFlow SavedModel; run it with KERAS_BACKEND=tensorflow"),
    ("train --distribute multiworker", "set KERAS_BACKEND=tensorflow")])
def test_tensorflow_only_commands_fail_in_one_line_on_jax(jax_side, command, says):
    failed = jax_side["tensorflow_only"][command]
    assert failed["code"] == 2 and not failed["wrote"]
    assert len(failed["err"].splitlines()) == 1 and "Traceback" not in failed["err"]
    assert says in failed["err"]


def test_mirrored_on_jax_shards_rows_over_two_devices_like_one_device(jax_side):
    mirrored = jax_side["mirrored"]
    assert mirrored["devices"] == 2 and len(mirrored["none"]) == 2
    assert mirrored["mirrored"] == pytest.approx(mirrored["none"], abs=1e-4)
