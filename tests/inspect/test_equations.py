"""The inspector's NumPy equations (charlm.inspect.equations, via trace_ids) recompute exactly what
the Keras layers compute, for every cell: hidden sequences and the cell state at every step."""

import keras
import numpy as np
import pytest

from charlm.config import CELLS
from charlm.inspect.equations import EQUATIONS, LSTM_QUANTITIES, cell_kind
from charlm.inspect.trace import recurrent_layers, trace_ids
from tests.helpers import tiny_model

IDS = np.random.default_rng(7).integers(0, 11, 13)  # [T] token ids, vocabulary 11


def _random_model(cell):
    model = tiny_model(cell=cell, layers=2, units=5)
    rng = np.random.default_rng(3)  # not the initial weights: peephole vectors start at 0
    model.set_weights([rng.normal(0, 0.6, w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model


def _zeros(model):
    return [np.zeros((1, inp.shape[-1]), np.float32) for inp in model.inputs[1:]]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "peephole", "cifg"])
def test_trace_equals_the_keras_layers(cell):
    model = _random_model(cell)
    layers = recurrent_layers(model)
    traces, logits = trace_ids(model, IDS, chunk=5)  # chunks carry the state, too
    assert [t.cell for t in traces] == [cell, cell] and [cell_kind(l) for l in layers] == [cell] * 2

    # hidden sequences: each recurrent layer's sequence output, from one full-sequence pass
    hidden = keras.Model(model.inputs, [layer.output[0] for layer in layers])
    tokens = IDS[None].astype(np.int32)
    for trace, seq in zip(traces, hidden([tokens, *_zeros(model)])):
        np.testing.assert_allclose(trace.values["hidden"], np.asarray(seq)[0], atol=1e-5)
    full_logits = np.asarray(model([tokens, *_zeros(model)])[0])[0]
    np.testing.assert_allclose(logits, full_logits, atol=1e-4)

    # every step's states: the model one token at a time, carrying its returned states
    n = EQUATIONS[cell][2]
    states = _zeros(model)
    for t, token in enumerate(IDS):
        _, *states = model([np.array([[token]], np.int32), *states])
        states = [np.asarray(s) for s in states]  # numpy again: Keras refuses a mix
        for i, trace in enumerate(traces):
            np.testing.assert_allclose(trace.values["hidden"][t], states[i * n][0], atol=1e-5)
            if n == 2:  # h, c
                np.testing.assert_allclose(trace.values["cell"][t], states[i * n + 1][0],
                                           atol=1e-5)


def test_cifg_reports_forget_gate_as_one_minus_input_gate():
    traces, _ = trace_ids(_random_model("cifg"), IDS)
    for trace in traces:
        assert trace.quantities == LSTM_QUANTITIES
        np.testing.assert_allclose(trace.values["forget_gate"],
                                   1.0 - trace.values["input_gate"], atol=1e-7)
        assert trace.values["input_gate"].std() > 0.05  # not a degenerate constant


def test_peephole_gates_see_the_cell_state():
    """The recorded gates follow from the recorded cell states: i, f from c_{t-1}, o from c_t."""
    model = _random_model("peephole")
    (trace, _), _ = trace_ids(model, IDS)
    cell = model.get_layer("peephole_0").cell
    W, U, b = (np.asarray(v, np.float64) for v in (cell.kernel, cell.recurrent_kernel, cell.bias))
    p = np.asarray(cell.peephole, np.float64).reshape(3, 5)  # p_i, p_f, p_o
    x = np.asarray(model.get_layer("embedding").embeddings, np.float64)[IDS]  # [T, E]
    v = trace.values
    h_prev, c_prev = np.zeros(5), np.zeros(5)
    for t in range(len(IDS)):
        z = (x[t] @ W + h_prev @ U + b).reshape(4, 5)  # i, f, c, o
        s = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
        np.testing.assert_allclose(v["input_gate"][t], s(z[0] + p[0] * c_prev), atol=1e-5)
        np.testing.assert_allclose(v["forget_gate"][t], s(z[1] + p[1] * c_prev), atol=1e-5)
        np.testing.assert_allclose(v["output_gate"][t], s(z[3] + p[2] * v["cell"][t]), atol=1e-5)
        h_prev, c_prev = v["hidden"][t].astype(np.float64), v["cell"][t].astype(np.float64)


def test_every_trainable_cell_has_equations():
    assert set(CELLS) <= set(EQUATIONS)
