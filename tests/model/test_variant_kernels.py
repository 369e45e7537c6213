"""charlm.model.variant_kernels: the fused CPU kernel of the peephole and cifg cells must match
the Keras cells (charlm.model.cells in keras.layers.RNN's generic loop): outputs, final states and
the gradients wrt the inputs, both initial states and every weight; and the model must use it
where it applies, fall back to the generic loop elsewhere, and load weights saved by either."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from charlm.model import lstm_kernels, model as model_module, variant_kernels
from charlm.model.cells import CELL_CLASSES
from charlm.model.model import build_model, make_recurrent_layer

pytestmark = pytest.mark.skipif(not lstm_kernels.is_enabled(), reason="fused kernel: TF on CPU")

KERNELS = {"peephole": variant_kernels.fused_peephole_sequence,
           "cifg": variant_kernels.fused_cifg_sequence}


def _generic_layer(kind, units, inputs, rng):
    """The cell in keras.layers.RNN with random weights (peephole vectors and biases too)."""
    layer = keras.layers.RNN(CELL_CLASSES[kind](units), return_sequences=True,
                             return_state=True)
    layer.build((None, None, inputs))
    for w in layer.cell.weights:
        w.assign(rng.normal(0, 0.7, w.shape).astype("float32"))
    return layer


@pytest.mark.parametrize("kind", ["peephole", "cifg"])
@pytest.mark.parametrize("steps,batch", [(1, 3), (6, 5), (4, 1)])
def test_fused_kernel_matches_the_keras_cell(kind, steps, batch, inputs=3, units=4):
    rng = np.random.default_rng(steps * 10 + batch)
    layer = _generic_layer(kind, units, inputs, rng)
    x, h0, c0 = (tf.constant(rng.normal(size=s).astype("float32"))
                 for s in ((batch, steps, inputs), (batch, units), (batch, units)))
    probe = tf.constant(rng.normal(size=(batch, steps, units)).astype("float32"))

    def loss(outputs, h, c):  # touches every output, so every gradient path is exercised
        return tf.reduce_sum(outputs * probe) + tf.reduce_sum(h * 2.0) + tf.reduce_sum(c * c)

    weights = layer.cell.weights
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, h0, c0])
        expected = layer(x, initial_state=[h0, c0])
        got = KERNELS[kind](x, h0, c0, *weights)
        loss_expected, loss_got = loss(*expected), loss(*got)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-5, atol=1e-6)
    targets = [x, h0, c0, *weights]
    want, have = tape.gradient(loss_expected, targets), tape.gradient(loss_got, targets)
    assert all(g is not None for g in have) and len(have) == 3 + (4 if kind == "peephole" else 3)
    for e, g in zip(want, have):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-5, atol=1e-5)


def test_only_static_lengths_up_to_the_unroll_limit_are_fused():
    h, w = tf.zeros((1, 1)), [tf.zeros((1, 3)), tf.zeros((1, 3)), tf.zeros((3,))]
    for steps in (0, lstm_kernels.MAX_UNROLL + 1):
        with pytest.raises(ValueError, match="static length"):
            variant_kernels.fused_cifg_sequence(tf.zeros((1, steps, 1)), h, h, *w)


@pytest.fixture
def fused_calls(monkeypatch):
    """Counts the model's calls of each fused kernel (and still runs it)."""
    calls = {kind: 0 for kind in KERNELS}
    monkeypatch.delenv("CHARLM_FUSED_VARIANTS", raising=False)  # the default: on

    def counting(kind, kernel):
        def wrapper(*args):
            calls[kind] += 1
            return kernel(*args)
        return wrapper

    for kind, kernel in KERNELS.items():
        monkeypatch.setitem(model_module.VARIANT_KERNELS, kind, counting(kind, kernel))
    return calls


def _model_pair(cell, tmp_path, layers=2):
    """A generic-loop model (fused=False) with random weights saved to a weights file, and a
    fused model built from the same spec that loads that file."""
    plain = build_model(11, 6, cell, layers=layers, units=4, fused=False)
    rng = np.random.default_rng(3)
    plain.set_weights([rng.normal(0, 0.5, w.shape).astype("float32")
                       for w in plain.get_weights()])
    plain.save_weights(tmp_path / "plain.weights.h5")
    fused = build_model(11, 6, cell, layers=layers, units=4)
    fused.load_weights(tmp_path / "plain.weights.h5")
    assert [v.path for v in fused.variables] == [v.path for v in plain.variables]
    for a, b in zip(fused.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)
    return plain, fused


def _inputs(model, batch=3, steps=7):
    tokens = np.random.default_rng(1).integers(0, 11, (batch, steps)).astype("int32")
    states = [np.random.default_rng(2).normal(size=(batch, inp.shape[-1])).astype("float32")
              for inp in model.inputs[1:]]
    return [tokens, *states]


@pytest.mark.parametrize("cell", ["peephole", "cifg"])
def test_fused_model_loads_generic_weights_and_gives_the_same_logits_and_gradients(
        cell, tmp_path, fused_calls):
    plain, fused = _model_pair(cell, tmp_path)
    assert all(type(l) is keras.layers.RNN for l in plain.layers if hasattr(l, "cell"))
    inputs = _inputs(plain)

    def outputs_and_gradients(model):
        with tf.GradientTape() as tape:
            outputs = model(inputs)
            loss = tf.reduce_sum(outputs[0] ** 2) + sum(tf.reduce_sum(s) for s in outputs[1:])
        grads = tape.gradient(loss, model.trainable_variables)  # the embedding's: IndexedSlices
        return outputs, [tf.convert_to_tensor(g) for g in grads]

    want, want_grads = outputs_and_gradients(plain)
    assert fused_calls[cell] == 0
    got, got_grads = outputs_and_gradients(fused)
    assert fused_calls[cell] == 2  # both layers ran in the fused kernel
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-5)
    for g, w in zip(got_grads, want_grads):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cell", ["peephole", "cifg"])
def test_the_model_falls_back_to_the_generic_loop_where_the_kernel_does_not_apply(
        cell, tmp_path, fused_calls, monkeypatch):
    plain, fused = _model_pair(cell, tmp_path, layers=1)
    inputs = _inputs(plain, steps=5)
    want = plain(inputs)

    def assert_same(got):
        for g, w in zip(got, want):
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-6)

    monkeypatch.setattr(lstm_kernels, "MAX_UNROLL", 4)  # longer than the unroll limit
    assert_same(fused(inputs))
    signature = [tf.TensorSpec([None, None], tf.int32)] + [
        tf.TensorSpec([None, 4], tf.float32)] * (len(inputs) - 1)
    assert_same(tf.function(fused, input_signature=[signature])(inputs))  # unknown length
    monkeypatch.setattr(lstm_kernels, "MAX_UNROLL", 200)
    monkeypatch.setenv("CHARLM_FUSED_LSTM", "0")  # switched off
    assert_same(fused(inputs))
    assert fused_calls[cell] == 0
    monkeypatch.delenv("CHARLM_FUSED_LSTM")
    monkeypatch.setenv("CHARLM_FUSED_VARIANTS", "0")  # the variants' own switch
    assert_same(fused(inputs))
    assert fused_calls[cell] == 0
    monkeypatch.delenv("CHARLM_FUSED_VARIANTS")
    assert_same(fused(inputs))
    assert fused_calls[cell] == 1
