"""charlm.generate.export: a SavedModel that generates what charlm generates, and a `.keras` file
that plain Keras loads (the `exported` fixture is trained_checkpoint through `charlm export`)."""

import json
import subprocess
import sys

import numpy as np

import charlm


def test_export_savedmodel_and_keras_reproduce_the_text(trained_lm, exported):
    import tensorflow as tf

    lm, out_dir = trained_lm, exported
    assert (out_dir / "model.keras").is_file() and (out_dir / "saved_model").is_dir()
    assert [p.name for p in out_dir.parent.iterdir()] == [out_dir.name]  # no staging left
    serving = tf.saved_model.load(str(out_dir / "saved_model")).signatures["serving_default"]
    reloaded = charlm.load(out_dir)  # the one loader reads exports too
    for temperature, top_k, top_p in [(0.9, 0, 1.0), (0.0, 0, 1.0), (1.3, 4, 0.9)]:
        expected = lm.generate("The ", length=150, temperature=temperature, top_k=top_k or None,
                               top_p=top_p, seed=9, num_samples=2)
        result = serving(prompt=tf.constant("The "), length=tf.constant(150),
                         seed=tf.constant(9, tf.int64), num_samples=tf.constant(2),
                         temperature=tf.constant(temperature), top_k=tf.constant(top_k),
                         top_p=tf.constant(top_p))
        assert [t.decode() for t in result["text"].numpy()] == expected
        again = reloaded.generate("The ", length=150, temperature=temperature,
                                  top_k=top_k or None, top_p=top_p, seed=9, num_samples=2)
        assert again == expected
    empty = serving(prompt=tf.constant("Zé"), length=tf.constant(0), seed=tf.constant(1, tf.int64),
                    num_samples=tf.constant(1), temperature=tf.constant(1.0),
                    top_k=tf.constant(0), top_p=tf.constant(1.0))
    assert empty["text"].numpy().tolist() == [b""] and int(empty["unknown_chars"]) == 2


def _logits_and_states(model, tokens):
    zeros = [np.zeros((tokens.shape[0], inp.shape[-1]), np.float32) for inp in model.inputs[1:]]
    return [np.asarray(o) for o in model([tokens, *zeros], training=False)]


def test_plain_keras_loads_the_export_without_charlm(trained_lm, exported, tmp_path):
    """The .keras file holds only stock Keras layers: a Python that cannot import charlm loads it
    with keras.saving.load_model (safe mode) and computes the same logits and states."""
    tokens = np.array([trained_lm.tokenizer.encode("The cat near the dogs sleeps.\n")], np.int32)
    expected = _logits_and_states(trained_lm.model, tokens)
    np.save(tmp_path / "tokens.npy", tokens)
    script = f"""
import json, sys
import numpy as np
try:
    import charlm
    sys.exit("charlm is importable here: " + charlm.__file__)
except ImportError:
    pass
import keras
model = keras.saving.load_model({str(exported / "model.keras")!r})
tokens = np.load({str(tmp_path / "tokens.npy")!r})
zeros = [np.zeros((1, inp.shape[-1]), np.float32) for inp in model.inputs[1:]]
outputs = model([tokens, *zeros], training=False)
np.savez({str(tmp_path / "out.npz")!r}, *[np.asarray(o) for o in outputs])
print(json.dumps(sorted({{type(layer).__module__.split(".")[0] for layer in model.layers}})))
"""
    # -I: isolated mode, so neither the repo (cwd, PYTHONPATH) nor user site-packages are on sys.path
    run = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True,
                         cwd=tmp_path, env={"KERAS_BACKEND": "tensorflow", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == ["keras"]
    with np.load(tmp_path / "out.npz") as got:
        for i, want in enumerate(expected):
            np.testing.assert_allclose(got[f"arr_{i}"], want, rtol=1e-5, atol=1e-6)


def test_exports_from_before_the_plain_keras_change_still_load(trained_lm, exported, tmp_path):
    """An export whose model.keras holds charlm's own LSTM subclass (how exports were written
    before) loads through charlm.load with the same weights."""
    import shutil

    lm = trained_lm

    old = tmp_path / "old-export"
    shutil.copytree(exported, old)
    (old / "model.keras").unlink()
    (old / "manifest.json").unlink()  # exports from then had no manifest
    lm.model.save(old / "model.keras")  # FusedLSTM layers, registered as charlm>FusedLSTM
    assert "FusedLSTM" in json.dumps(json.loads(
        __import__("zipfile").ZipFile(old / "model.keras").read("config.json")))
    reloaded = charlm.load(old)
    tokens = np.array([lm.tokenizer.encode("The bus near the trees stops.")], np.int32)
    for got, want in zip(_logits_and_states(reloaded.model, tokens),
                         _logits_and_states(lm.model, tokens)):
        np.testing.assert_array_equal(got, want)
