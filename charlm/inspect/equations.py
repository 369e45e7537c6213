"""Each cell's equations in NumPy, run on a trained layer's own weights, step by step, keeping
every intermediate quantity: what `charlm inspect` shows, recomputed rather than hooked.

A cell function takes the layer's weights (a dict of arrays, see `layer_weights`), the layer's
whole input sequence x [T, I] and its initial states, and returns ({quantity: [T, H]}, final
states). Values at row t are those after reading token t. A batch of independent streams steps
at once with x [T, B, I] and states [B, H] (values [T, B, H]; the weights' float type is kept).
Keras' layouts:

    lstm      kernel [I, 4H], recurrent_kernel [H, 4H], bias [4H]; gate blocks i, f, c, o
              i, f, o = σ(·), g = tanh(·);  c_t = f ⊙ c_{t-1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)
    gru       kernel [I, 3H], recurrent_kernel [H, 3H], bias [2, 3H] (input, recurrent; reset
              after the matmul, the cuDNN form); blocks z, r, h
              z, r = σ(·);  ĥ = tanh(x W_h + b_h + r ⊙ (h_{t-1} U_h + b'_h));  h_t = z ⊙ h_{t-1}
              + (1 − z) ⊙ ĥ
    rnn       kernel [I, H], recurrent_kernel [H, H], bias [H];  h_t = tanh(x W + h_{t-1} U + b)

and charlm's own cells (charlm.model.cells):

    peephole  lstm's weights plus peephole [3H] (blocks p_i, p_f, p_o); i and f add p ⊙ c_{t-1},
              o adds p_o ⊙ c_t (the new cell state)
    cifg      kernel [I, 3H], recurrent_kernel [H, 3H], bias [3H]; blocks i, c, o
              f = 1 − i (reported as forget_gate);  c_t = f ⊙ c_{t-1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)

Cells added by charlm register theirs in `EQUATIONS` with the quantities they expose.
"""

from __future__ import annotations

import numpy as np

from charlm.cell_types import CELL_TYPES, GRU_QUANTITIES, LSTM_QUANTITIES, RNN_QUANTITIES


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm(w: dict, x: np.ndarray, states: list[np.ndarray]):
    h, c = states  # [H] each
    units = h.shape[-1]
    xp = x @ w["kernel"] + w["bias"]  # [T, 4H]: the input's part of every step, one matmul
    out = {name: np.empty((len(x),) + h.shape, np.float32) for name in LSTM_QUANTITIES}
    for t in range(len(x)):
        z = xp[t] + h @ w["recurrent_kernel"]
        i, f, g, o = sigmoid(z[..., :units]), sigmoid(z[..., units:2 * units]), \
            np.tanh(z[..., 2 * units:3 * units]), sigmoid(z[..., 3 * units:])
        c = f * c + i * g
        h = o * np.tanh(c)
        for name, value in zip(LSTM_QUANTITIES, (i, f, g, o, c, h)):
            out[name][t] = value
    return out, [h, c]


def peephole(w: dict, x: np.ndarray, states: list[np.ndarray]):
    h, c = states  # [H] each
    units = h.shape[-1]
    p_i, p_f, p_o = np.split(w["peephole"], 3)  # [H] each
    xp = x @ w["kernel"] + w["bias"]  # [T, 4H]
    out = {name: np.empty((len(x),) + h.shape, np.float32) for name in LSTM_QUANTITIES}
    for t in range(len(x)):
        z = xp[t] + h @ w["recurrent_kernel"]
        i = sigmoid(z[..., :units] + p_i * c)
        f = sigmoid(z[..., units:2 * units] + p_f * c)
        g = np.tanh(z[..., 2 * units:3 * units])
        c = f * c + i * g
        o = sigmoid(z[..., 3 * units:] + p_o * c)  # the new cell state
        h = o * np.tanh(c)
        for name, value in zip(LSTM_QUANTITIES, (i, f, g, o, c, h)):
            out[name][t] = value
    return out, [h, c]


def cifg(w: dict, x: np.ndarray, states: list[np.ndarray]):
    h, c = states  # [H] each
    units = h.shape[-1]
    xp = x @ w["kernel"] + w["bias"]  # [T, 3H]
    out = {name: np.empty((len(x),) + h.shape, np.float32) for name in LSTM_QUANTITIES}
    for t in range(len(x)):
        z = xp[t] + h @ w["recurrent_kernel"]
        i, g, o = sigmoid(z[..., :units]), np.tanh(z[..., units:2 * units]), \
            sigmoid(z[..., 2 * units:])
        f = 1.0 - i
        c = f * c + i * g
        h = o * np.tanh(c)
        for name, value in zip(LSTM_QUANTITIES, (i, f, g, o, c, h)):
            out[name][t] = value
    return out, [h, c]


def gru(w: dict, x: np.ndarray, states: list[np.ndarray]):
    (h,) = states
    units = h.shape[-1]
    bias = w["bias"].reshape(2, 3 * units)  # reset_after: [input bias, recurrent bias]
    xp = x @ w["kernel"] + bias[0]  # [T, 3H]
    out = {name: np.empty((len(x),) + h.shape, np.float32) for name in GRU_QUANTITIES}
    for t in range(len(x)):
        rec = h @ w["recurrent_kernel"] + bias[1]  # [3H]
        z = sigmoid(xp[t][..., :units] + rec[..., :units])
        r = sigmoid(xp[t][..., units:2 * units] + rec[..., units:2 * units])
        candidate = np.tanh(xp[t][..., 2 * units:] + r * rec[..., 2 * units:])
        h = z * h + (1.0 - z) * candidate
        for name, value in zip(GRU_QUANTITIES, (z, r, candidate, h)):
            out[name][t] = value
    return out, [h]


def rnn(w: dict, x: np.ndarray, states: list[np.ndarray]):
    (h,) = states
    xp = x @ w["kernel"] + w["bias"]  # [T, H]
    out = {"hidden": np.empty((len(x),) + h.shape, np.float32)}
    for t in range(len(x)):
        h = np.tanh(xp[t] + h @ w["recurrent_kernel"])
        out["hidden"][t] = h
    return out, [h]


# cell kind → (equations, quantities in display order, number of states); the quantities and
# state counts are the registry's (charlm.cell_types), the functions are this module's.
_FUNCTIONS = {"lstm": lstm, "gru": gru, "rnn": rnn, "peephole": peephole, "cifg": cifg}
EQUATIONS = {name: (_FUNCTIONS[name], cell.quantities, cell.state_count)
             for name, cell in CELL_TYPES.items()}


def cell_kind(layer) -> str:
    """"lstm", "gru", "rnn", or a charlm cell's own `kind` (e.g. "peephole", "cifg")."""
    import keras

    cell = layer.cell
    kind = getattr(cell, "kind", None)
    if kind in EQUATIONS:
        return kind
    for cls, name in ((keras.layers.LSTMCell, "lstm"), (keras.layers.GRUCell, "gru"),
                      (keras.layers.SimpleRNNCell, "rnn")):
        if isinstance(cell, cls):
            return name
    raise ValueError(f"no equations for the cell {type(cell).__name__} of layer {layer.name}")


def layer_weights(layer) -> dict:
    """{weight name: float64 array} of a recurrent layer's cell (kernel, recurrent_kernel, bias,
    and any extra weights a charlm cell has, e.g. peephole vectors)."""
    return {v.path.split("/")[-1]: np.asarray(v, np.float64) for v in layer.cell.weights}
