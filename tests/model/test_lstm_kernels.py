"""charlm.model.lstm_kernels: the fused CPU LSTM must match keras.layers.LSTM (outputs, final
states and gradients) on both of its paths: the unrolled graph with hand-written BPTT, and the
tf.while_loop used past MAX_UNROLL steps or for an unknown length."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from charlm.model import lstm_kernels

pytestmark = pytest.mark.skipif(not lstm_kernels.is_enabled(), reason="fused kernel: TF on CPU")


def _assert_matches_keras_lstm(steps, batch=3, inputs=5, units=4, seed=0):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(batch, steps, inputs)).astype("float32"))
    h0 = tf.constant(rng.normal(size=(batch, units)).astype("float32"))
    c0 = tf.constant(rng.normal(size=(batch, units)).astype("float32"))
    layer = keras.layers.LSTM(units, return_sequences=True, return_state=True)
    layer(x)
    layer.cell.bias.assign(rng.normal(size=(4 * units,)).astype("float32"))  # non-trivial biases
    weights = [layer.cell.kernel, layer.cell.recurrent_kernel, layer.cell.bias]
    probe = tf.constant(rng.normal(size=(batch, steps, units)).astype("float32"))

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


@pytest.fixture
def paths(monkeypatch):
    """Counts the calls of each path of fused_lstm_sequence (and still runs it)."""
    calls = {"unrolled": 0, "while_loop": 0}
    unrolled, while_loop = lstm_kernels._lstm_unrolled, lstm_kernels._lstm_while_loop

    def count(name, fn):
        def wrapper(*args):
            calls[name] += 1
            return fn(*args)
        return wrapper

    monkeypatch.setattr(lstm_kernels, "_lstm_unrolled", count("unrolled", unrolled))
    monkeypatch.setattr(lstm_kernels, "_lstm_while_loop", count("while_loop", while_loop))
    return calls


@pytest.mark.parametrize("steps", [1, 7])
def test_fused_lstm_matches_keras_lstm(steps, paths):
    _assert_matches_keras_lstm(steps)
    assert paths == {"unrolled": 1, "while_loop": 0}


def test_a_batch_of_one_leaves_the_second_chain_empty_and_still_matches(paths):
    _assert_matches_keras_lstm(3, batch=1)
    assert paths == {"unrolled": 1, "while_loop": 0}


@pytest.mark.parametrize("steps", [5, 9])
def test_longer_sequences_use_the_while_loop_and_match_keras_lstm(steps, paths, monkeypatch):
    monkeypatch.setattr(lstm_kernels, "MAX_UNROLL", 4)  # a short limit keeps this fast
    _assert_matches_keras_lstm(steps)
    assert paths == {"unrolled": 0, "while_loop": 1}


def test_the_real_unroll_limit_decides_the_path(monkeypatch):
    """MAX_UNROLL steps are unrolled; one more step, or a length unknown when tracing, takes the
    while loop (checked with both paths stubbed out, so no 200-step graph is built)."""
    taken = []

    def unrolled(x, h, c, *weights):  # under tf.custom_gradient: (outputs, gradient function)
        taken.append(("_lstm_unrolled", x.shape[1]))
        return (x, h, c), lambda *grads: [None] * 6

    def while_loop(x, h, c, *weights):
        taken.append(("_lstm_while_loop", x.shape[1]))
        return x, h, c

    monkeypatch.setattr(lstm_kernels, "_lstm_unrolled", unrolled)
    monkeypatch.setattr(lstm_kernels, "_lstm_while_loop", while_loop)
    h, w = tf.zeros((1, 1)), [tf.zeros((1, 4)), tf.zeros((1, 4)), tf.zeros((4,))]
    limit = lstm_kernels.MAX_UNROLL
    for steps in (limit, limit + 1):
        lstm_kernels.fused_lstm_sequence(tf.zeros((1, steps, 1)), h, h, *w)

    @tf.function(input_signature=[tf.TensorSpec([1, None, 1])])
    def unknown_length(x):
        return lstm_kernels.fused_lstm_sequence(x, h, h, *w)[0]

    unknown_length(tf.zeros((1, 3, 1)))
    assert taken == [("_lstm_unrolled", limit), ("_lstm_while_loop", limit + 1),
                     ("_lstm_while_loop", None)]
