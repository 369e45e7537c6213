"""charlm's LSTM variants (charlm.model.cells): the equations on hand-set weights,
(de)serialisation, parameter counts, and `--cell peephole` / `--cell cifg` through train →
generate → eval → probe → export."""

import json

import keras
import numpy as np
import pytest

from charlm.cell_types import CELLS
from charlm.model.cells import CIFGLSTMCell, PeepholeLSTMCell
from charlm.model.model import FusedCellRNN, build_model, make_recurrent_layer
from tests.helpers import TINY_TEXT, read_jsonl, run_cli, tiny_config

H, I, T, B = 2, 3, 4, 2  # units, input size, steps, batch


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def grid(rows, cols, start, step):
    """A hand-made [rows, cols] matrix: start, start + step, ... row by row, folded into [-1.5,
    1.5] so every gate sees positive and negative weights."""
    values = start + step * np.arange(rows * cols)
    return ((values + 1.5) % 3.0 - 1.5).reshape(rows, cols)


# Per-gate weights, set by hand: input W [I, H], recurrent U [H, H], bias b [H].
W = {"i": grid(I, H, 0.3, 0.7), "f": grid(I, H, -0.2, 0.45), "c": grid(I, H, 0.9, -0.55),
     "o": grid(I, H, -1.1, 0.8)}
U = {"i": grid(H, H, 0.5, -0.6), "f": grid(H, H, -0.4, 0.9), "c": grid(H, H, 1.2, 0.35),
     "o": grid(H, H, 0.1, -1.3)}
BIAS = {"i": np.array([0.1, -0.3]), "f": np.array([1.0, 0.5]), "c": np.array([-0.2, 0.4]),
        "o": np.array([0.3, -0.1])}
PEEP = {"i": np.array([0.8, -1.2]), "f": np.array([-0.9, 0.6]), "o": np.array([1.5, -0.7])}
X = grid(B * T, I, -1.0, 0.37).reshape(B, T, I) * 1.3  # inputs [B, T, I]
H0 = np.array([[0.2, -0.5], [-0.3, 0.1]])  # initial states [B, H]
C0 = np.array([[1.0, -0.8], [0.4, 1.6]])


def reference(kind):
    """Both variants' formulas in NumPy, gate by gate → h [B, T, H], c [B, T, H]."""
    h, c, hs, cs = H0, C0, [], []
    for t in range(T):
        x = X[:, t]
        pre = {g: x @ W[g] + h @ U[g] + BIAS[g] for g in "ifco"}
        if kind == "peephole":
            i = sigmoid(pre["i"] + PEEP["i"] * c)
            f = sigmoid(pre["f"] + PEEP["f"] * c)
            c = f * c + i * np.tanh(pre["c"])
            o = sigmoid(pre["o"] + PEEP["o"] * c)  # the new c
        else:  # cifg: f = 1 - i
            i = sigmoid(pre["i"])
            c = (1 - i) * c + i * np.tanh(pre["c"])
            o = sigmoid(pre["o"])
        h = o * np.tanh(c)
        hs.append(h)
        cs.append(c)
    return np.stack(hs, 1), np.stack(cs, 1)


def set_hand_weights(cell):
    gates = "ifco" if cell.kind == "peephole" else "ico"  # the documented block orders
    cell.kernel.assign(np.concatenate([W[g] for g in gates], axis=1))  # [I, nH]
    cell.recurrent_kernel.assign(np.concatenate([U[g] for g in gates], axis=1))  # [H, nH]
    cell.bias.assign(np.concatenate([BIAS[g] for g in gates]))  # [nH]
    if cell.kind == "peephole":
        cell.peephole.assign(np.concatenate([PEEP["i"], PEEP["f"], PEEP["o"]]))  # [3H]


def hand_layer(kind):
    layer = make_recurrent_layer(kind, H, name=kind)
    layer.build((None, None, I))
    set_hand_weights(layer.cell)
    return layer


@pytest.mark.parametrize("kind", ["peephole", "cifg"])
def test_cell_matches_its_equations_on_hand_set_weights(kind):
    layer = hand_layer(kind)
    want_h, want_c = reference(kind)
    x = X.astype(np.float32)
    seq, h, c = layer(x, initial_state=[H0.astype(np.float32), C0.astype(np.float32)])
    np.testing.assert_allclose(np.asarray(seq), want_h, atol=1e-6)
    np.testing.assert_allclose(np.asarray(h), want_h[:, -1], atol=1e-6)
    np.testing.assert_allclose(np.asarray(c), want_c[:, -1], atol=1e-6)
    # the cell itself, one step at a time (what generation runs): every step's cell state
    states = [H0.astype(np.float32), C0.astype(np.float32)]
    for t in range(T):
        out, states = layer.cell(x[:, t], states)
        states = [np.asarray(s) for s in states]
        np.testing.assert_allclose(np.asarray(out), want_h[:, t], atol=1e-6)
        np.testing.assert_allclose(states[1], want_c[:, t], atol=1e-6)


def test_weight_layouts_and_initialisation():
    peep = make_recurrent_layer("peephole", 5, name="p")
    cifg = make_recurrent_layer("cifg", 5, name="c", fused=False)
    peep.build((None, None, 3))
    cifg.build((None, None, 3))
    assert peep.cell.kind == "peephole" and cifg.cell.kind == "cifg"
    assert [tuple(v.shape) for v in peep.cell.weights] == [(3, 20), (5, 20), (20,), (15,)]
    assert [tuple(v.shape) for v in cifg.cell.weights] == [(3, 15), (5, 15), (15,)]
    assert [v.path.split("/")[-1] for v in peep.cell.weights] == [
        "kernel", "recurrent_kernel", "bias", "peephole"]
    # forget-gate bias 1 (Keras' unit_forget_bias); cifg's f = 1 - i: input-gate bias -1
    np.testing.assert_array_equal(np.asarray(peep.cell.bias), np.repeat([0, 1, 0, 0], 5))
    np.testing.assert_array_equal(np.asarray(peep.cell.peephole), np.zeros(15))
    np.testing.assert_array_equal(np.asarray(cifg.cell.bias), np.repeat([-1, 0, 0], 5))
    for fused, layer_class in ((True, FusedCellRNN), (False, keras.layers.RNN)):
        layer = make_recurrent_layer("peephole", 5, name="x", fused=fused)
        assert type(layer) is layer_class and isinstance(layer.cell, PeepholeLSTMCell)


@pytest.mark.parametrize("cls", [PeepholeLSTMCell, CIFGLSTMCell])
def test_cell_config_round_trip(cls):
    cell = cls(H, name="c")
    clone = cls.from_config(cell.get_config())
    assert clone.get_config() == cell.get_config() and clone.units == H
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(cell))
    assert type(rebuilt) is cls and rebuilt.get_config() == cell.get_config()
    layer, other = hand_layer(cls.kind), keras.layers.RNN(clone, return_sequences=True)
    other.build((None, None, I))
    other.set_weights(layer.get_weights())
    x = X.astype(np.float32)
    np.testing.assert_allclose(np.asarray(other(x)), np.asarray(layer(x)[0]), atol=1e-7)


def _tokens():
    return np.random.default_rng(1).integers(0, 11, (2, 7)).astype(np.int32)


def _logits(model):
    zeros = [np.zeros((2, inp.shape[-1]), np.float32) for inp in model.inputs[1:]]
    return [np.asarray(t) for t in model([_tokens(), *zeros])]


def _randomise(model, seed=0):
    rng = np.random.default_rng(seed)  # peephole weights start at 0: make them matter
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32)
                       for w in model.get_weights()])


@pytest.mark.parametrize("cell", ["peephole", "cifg"])
def test_model_config_and_keras_file_round_trip(cell, tmp_path):
    model = build_model(11, 6, cell, layers=2, units=4, dropout=0.1)
    _randomise(model)
    clone = keras.Model.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    clone.set_weights(model.get_weights())
    for got, want in zip(_logits(clone), _logits(model)):
        np.testing.assert_allclose(got, want, atol=1e-6)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False, safe_mode=True)
    assert type(loaded.get_layer(f"{cell}_1").cell) is type(model.get_layer(f"{cell}_1").cell)
    for got, want in zip(_logits(loaded), _logits(model)):
        np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("cell", ["peephole", "cifg"])
@pytest.mark.parametrize("layers", [1, 2])
def test_count_params_equals_keras(cell, layers):
    from charlm.experiments.cells import count_params

    assert count_params(cell, 24, 43, 16, layers) == \
        build_model(43, 16, cell, layers, 24).count_params()


@pytest.mark.parametrize("cell", CELLS)
def test_registry_matches_the_built_layer(cell):
    """charlm.cell_types is the one table of cell facts: each row's state count and parameter
    count match the Keras layer the model builds, and the inspector has its equations."""
    from charlm.cell_types import CELL_TYPES
    from charlm.config import TrainConfig
    from charlm.inspect.equations import EQUATIONS
    from charlm.model.model import build_model

    TrainConfig(cell=cell).check()
    model = build_model(43, 16, cell, 1, 24)
    layer = next(l for l in model.layers if hasattr(l, "cell"))
    kind = CELL_TYPES[cell]
    assert len(model.outputs) - 1 == kind.state_count  # logits, then the layer's states
    assert layer.count_params() == kind.params_per_layer(16, 24)
    assert EQUATIONS[cell][1] == kind.quantities and EQUATIONS[cell][2] == kind.state_count
    assert kind.lstm_like == (kind.state_count == 2)


def test_experiment_accepts_the_variants(capsys):
    from tests.helpers import assert_one_line_error

    assert_one_line_error(capsys, ["experiment", "cells", "--cells", "peephole,cifg,nope"],
                          "lstm, gru, rnn, peephole, cifg")


# --- end to end: train → generate → eval → probe → export ---------------------------------------

PAIRS = [{"id": "a", "sentence_good": "The cat near the dogs sleeps.",
          "sentence_bad": "The cat near the dogs sleep."},
         {"id": "b", "sentence_good": "The keys near the doors fit.",
          "sentence_bad": "The keys near the doors fits."},
         {"id": "c", "sentence_good": "The girl near the boys sings.",
          "sentence_bad": "The girl near the boys sing."}]


@pytest.fixture(scope="module", params=["peephole", "cifg"])
def run(request, tmp_path_factory):
    from charlm.training.trainer import train

    folder = tmp_path_factory.mktemp(request.param)
    corpus = folder / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    config = tiny_config(corpus, folder / "run", cell=request.param, units=16, max_steps=6,
                         eval_every=3)
    return request.param, train(config, quiet=True)


@pytest.mark.slow
def test_trained_variant_generates(run):
    import charlm

    cell, out = run
    lm = charlm.load(out)
    assert lm.config["model"]["cell"] == cell
    assert type(lm.model.get_layer(f"{cell}_0")) is FusedCellRNN  # the fused kernel on a CPU
    assert len(lm.generate("The cat", length=30, temperature=1.0, seed=3)) == 30
    prompt, steps = "The ca", 6
    text = lm.generate(prompt, length=steps, temperature=0)
    assert len(text) == steps
    for k in range(steps):  # greedy = argmax of the full-sequence model, step by step
        ids = np.asarray([lm.tokenizer.encode(prompt + text[:k])], np.int32)
        zeros = [np.zeros((1, inp.shape[-1]), np.float32) for inp in lm.model.inputs[1:]]
        logits = np.array(lm.model([ids, *zeros])[0])[0, -1]
        logits[0] = -np.inf  # generation never emits <unk>
        chosen = lm.tokenizer.encode(text[k])[0]
        assert logits[chosen] >= logits.max() - 1e-5, (k, text)


@pytest.mark.slow
def test_trained_variant_evaluates(run, tmp_path, capsys):
    import charlm
    from charlm.evaluate import evaluate_text

    cell, out = run
    part = TINY_TEXT[:600]
    (tmp_path / "part.txt").write_text(part, encoding="utf-8")
    code, stdout, _ = run_cli(capsys, ["eval", "--checkpoint", str(out), "--text-file",
                                       str(tmp_path / "part.txt"), "--json"])
    assert code == 0
    lm = charlm.load(out)
    want = evaluate_text(lm.model, lm.tokenizer, part)["bpc"]
    assert json.loads(stdout)["bpc"] == pytest.approx(want, abs=1e-6)
    assert 0 < want < 8


@pytest.mark.slow
def test_trained_variant_probes(run, tmp_path, capsys):
    import charlm

    cell, out = run
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in PAIRS), encoding="utf-8")
    code, stdout, _ = run_cli(capsys, ["probe", "--checkpoint", str(out), "--data", str(data),
                                       "--pairs-out", str(tmp_path / "scored.jsonl"), "--json"])
    assert code == 0
    summary = json.loads(stdout)
    assert summary["n_pairs"] == 3 and summary["skipped"] == 0
    lm = charlm.load(out)
    for row in read_jsonl(tmp_path / "scored.jsonl"):  # full sentences: each one's line score
        good, bad = lm.score([row["sentence_good"], row["sentence_bad"]])
        assert row["logprob_good"] == pytest.approx(good["logprob"], abs=1e-4)
        assert row["logprob_bad"] == pytest.approx(bad["logprob"], abs=1e-4)
        assert row["correct"] == (row["logprob_good"] > row["logprob_bad"])


@pytest.mark.slow
def test_trained_variant_exports_and_loads(run, tmp_path):
    import charlm
    from charlm.cli import main

    cell, out = run
    exported = tmp_path / "exported"
    assert main(["export", "--checkpoint", str(out), "--out", str(exported)]) == 0
    lm, reloaded = charlm.load(out), charlm.load(exported)
    for got, want in zip(_logits(reloaded.model), _logits(lm.model)):
        np.testing.assert_allclose(got, want, atol=1e-6)
    # the .keras file names charlm's registered cell: Keras reads it once charlm.model.cells is
    # imported (this process has)
    plain = keras.saving.load_model(exported / "model.keras", compile=False, safe_mode=True)
    assert getattr(plain.get_layer(f"{cell}_0").cell, "kind", None) == cell
    greedy = lm.generate("The", length=12, temperature=0)
    assert reloaded.generate("The", length=12, temperature=0) == greedy
    import tensorflow as tf  # the SavedModel generates the same text

    serving = tf.saved_model.load(str(exported / "saved_model")).signatures["serving_default"]
    result = serving(prompt=tf.constant("The"), length=tf.constant(12),
                     seed=tf.constant(0, tf.int64), num_samples=tf.constant(1),
                     temperature=tf.constant(0.0), top_k=tf.constant(0),
                     top_p=tf.constant(1.0))
    assert result["text"].numpy()[0].decode("utf-8") == greedy
