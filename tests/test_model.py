import keras
import numpy as np
import pytest
from keras import ops

from charlm.model.model import build_model, zero_states


@pytest.mark.parametrize("cell,layers", [("lstm", 2), ("gru", 1), ("rnn", 2)])
def test_step_by_step_logits_equal_full_sequence(cell, layers):
    keras.utils.set_random_seed(0)
    model = build_model(vocab_size=11, embedding_dim=6, cell=cell, layers=layers, units=16)
    tokens = np.random.default_rng(0).integers(0, 11, (3, 12)).astype(np.int32)
    full, *_ = model([ops.convert_to_tensor(tokens), *zero_states(model, 3)])
    states, steps = zero_states(model, 3), []
    for t in range(0, 12, 4):  # windows of 4 with the state carried across
        logits, *states = model([ops.convert_to_tensor(tokens[:, t:t + 4]), *states])
        steps.append(np.asarray(logits))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), np.asarray(full), atol=1e-5)


def test_model_config_round_trip():
    model = build_model(vocab_size=9, embedding_dim=4, cell="lstm", layers=2, units=8,
                        dropout=0.1)
    clone = keras.Model.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    clone.set_weights(model.get_weights())
    tokens = ops.convert_to_tensor(np.array([[1, 2, 3]], np.int32))
    np.testing.assert_allclose(np.asarray(clone([tokens, *zero_states(clone, 1)])[0]),
                               np.asarray(model([tokens, *zero_states(model, 1)])[0]), atol=1e-6)


def test_weights_are_standard_keras_lstm_weights():
    model = build_model(vocab_size=9, embedding_dim=4, cell="lstm", layers=1, units=8)
    cell = model.get_layer("lstm_0").cell
    assert tuple(cell.kernel.shape) == (4, 32) and tuple(cell.recurrent_kernel.shape) == (8, 32)
    assert isinstance(model.get_layer("lstm_0"), keras.layers.LSTM)
