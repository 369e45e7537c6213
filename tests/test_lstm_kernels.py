"""The fused CPU LSTM path must match keras.layers.LSTM: outputs, final states and gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from charlm.model import lstm_kernels


@pytest.mark.skipif(not lstm_kernels.is_enabled(), reason="fused kernel: TF on CPU")
@pytest.mark.parametrize("steps", [1, 7])
def test_fused_lstm_matches_keras_lstm(steps):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(3, steps, 5)).astype("float32"))
    h0 = tf.constant(rng.normal(size=(3, 4)).astype("float32"))
    c0 = tf.constant(rng.normal(size=(3, 4)).astype("float32"))
    layer = keras.layers.LSTM(4, return_sequences=True, return_state=True)
    layer(x)
    layer.cell.bias.assign(rng.normal(size=(16,)).astype("float32"))  # non-trivial gate biases
    weights = [layer.cell.kernel, layer.cell.recurrent_kernel, layer.cell.bias]
    probe = tf.constant(rng.normal(size=(3, steps, 4)).astype("float32"))

    def loss(outputs, h, c):  # touches every output, so every gradient path is exercised
        return tf.reduce_sum(outputs * probe) + tf.reduce_sum(h * 2.0) + tf.reduce_sum(c * c)

    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, h0, c0])
        expected = layer(x, initial_state=[h0, c0])
        got = lstm_kernels.fused_lstm_sequence(x, h0, c0, *weights)
        loss_expected, loss_got = loss(*expected), loss(*got)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), atol=1e-5)
    targets = [x, h0, c0, *weights]
    for e, g in zip(tape.gradient(loss_expected, targets), tape.gradient(loss_got, targets)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), atol=1e-4)


@pytest.mark.skipif(not lstm_kernels.is_enabled(), reason="fused kernel: TF on CPU")
def test_model_gives_the_same_logits_with_the_fused_kernel_on_and_off(monkeypatch):
    from keras import ops

    from charlm.model.model import build_model, zero_states

    keras.utils.set_random_seed(0)
    model = build_model(vocab_size=9, embedding_dim=4, cell="lstm", layers=2, units=8)
    tokens = ops.convert_to_tensor(np.random.default_rng(1).integers(0, 9, (2, 6)).astype("int32"))
    assert lstm_kernels.is_enabled()  # the default on TF without a GPU
    fused = np.asarray(model([tokens, *zero_states(model, 2)])[0])
    monkeypatch.setenv("CHARLM_FUSED_LSTM", "0")
    assert not lstm_kernels.is_enabled()
    generic = np.asarray(model([tokens, *zero_states(model, 2)])[0])
    np.testing.assert_allclose(fused, generic, atol=1e-5)
