"""charlm.model.model: the Keras model (tokens + states → logits + states), its config round trip,
standard Keras weights, and FusedLSTM (the CPU kernel inside a keras.layers.LSTM)."""

import keras
import numpy as np
import pytest
from keras import ops

from charlm.model import lstm_kernels
from charlm.model.model import FusedLSTM, zero_states


@pytest.mark.parametrize("cell,layers", [("lstm", 2), ("gru", 1), ("rnn", 2)])
def test_windows_with_the_state_carried_equal_the_full_sequence(make_model, cell, layers):
    model = make_model(vocab_size=11, embedding_dim=6, cell=cell, layers=layers, units=16)
    tokens = np.random.default_rng(0).integers(0, 11, (3, 12)).astype(np.int32)
    full, *_ = model([ops.convert_to_tensor(tokens), *zero_states(model, 3)])
    states, steps = zero_states(model, 3), []
    for t in range(0, 12, 4):  # windows of 4 with the state carried across
        logits, *states = model([ops.convert_to_tensor(tokens[:, t:t + 4]), *states])
        steps.append(np.asarray(logits))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), np.asarray(full), atol=1e-5)


@pytest.mark.parametrize("cell,layers", [("lstm", 2), ("gru", 1), ("rnn", 2)])
def test_model_config_round_trip(make_model, cell, layers):
    model = make_model(vocab_size=9, embedding_dim=4, cell=cell, layers=layers, units=8,
                       dropout=0.1)
    clone = keras.Model.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert [type(layer) for layer in clone.layers] == [type(layer) for layer in model.layers]
    clone.set_weights(model.get_weights())
    tokens = ops.convert_to_tensor(np.array([[1, 2, 3]], np.int32))
    np.testing.assert_allclose(np.asarray(clone([tokens, *zero_states(clone, 1)])[0]),
                               np.asarray(model([tokens, *zero_states(model, 1)])[0]), atol=1e-6)


def test_weights_are_standard_keras_lstm_weights(make_model):
    model = make_model(vocab_size=9, embedding_dim=4, cell="lstm", layers=1, units=8)
    cell = model.get_layer("lstm_0").cell
    assert tuple(cell.kernel.shape) == (4, 32) and tuple(cell.recurrent_kernel.shape) == (8, 32)
    assert isinstance(model.get_layer("lstm_0"), keras.layers.LSTM)


@pytest.mark.skipif(not lstm_kernels.is_enabled(), reason="fused kernel: TF on CPU")
def test_model_gives_the_same_logits_with_the_fused_kernel_on_and_off(make_model, monkeypatch):
    model = make_model(vocab_size=9, embedding_dim=4, cell="lstm", layers=2, units=8)
    assert isinstance(model.get_layer("lstm_0"), FusedLSTM)
    tokens = ops.convert_to_tensor(np.random.default_rng(1).integers(0, 9, (2, 6)).astype("int32"))
    calls = []
    fused_sequence = lstm_kernels.fused_lstm_sequence
    monkeypatch.setattr(lstm_kernels, "fused_lstm_sequence",
                        lambda *args: calls.append(args[0].shape) or fused_sequence(*args))
    fused = np.asarray(model([tokens, *zero_states(model, 2)])[0])
    assert len(calls) == 2 and all(tuple(s)[:2] == (2, 6) for s in calls)  # both layers fused
    monkeypatch.setenv("CHARLM_FUSED_LSTM", "0")
    assert not lstm_kernels.is_enabled()
    generic = np.asarray(model([tokens, *zero_states(model, 2)])[0])
    assert len(calls) == 2  # Keras' own loop this time
    np.testing.assert_allclose(fused, generic, atol=1e-5)
