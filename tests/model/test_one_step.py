"""charlm.model.one_step: RecurrentStep, one token through the model's own layers."""

import numpy as np
import pytest
from keras import ops

from charlm.model.model import zero_states
from charlm.model.one_step import RecurrentStep


@pytest.mark.parametrize("cell,layers", [("lstm", 2), ("gru", 1), ("rnn", 2)])
def test_one_token_steps_equal_the_full_sequence(make_model, cell, layers):
    model = make_model(vocab_size=11, embedding_dim=6, cell=cell, layers=layers, units=16)
    tokens = np.random.default_rng(0).integers(0, 11, (3, 9)).astype(np.int32)
    full, *final = model([ops.convert_to_tensor(tokens), *zero_states(model, 3)])  # [3, 9, 11]
    step, states, logits = RecurrentStep(model).prepare(), zero_states(model, 3), []
    for t in range(tokens.shape[1]):
        out, states = step(ops.convert_to_tensor(tokens[:, t]), states)  # [3, 11]
        logits.append(np.asarray(out))
    np.testing.assert_allclose(np.stack(logits, axis=1), np.asarray(full), atol=1e-5)
    assert len(states) == len(final)  # and the state it hands on is the model's final state
    for got, want in zip(states, final):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-5)
