"""charlm's own recurrent cells: two LSTM variants, written with keras.ops only (any backend).

Each is a Keras cell (state_size [H, H] = (h, c), output_size H) that `make_recurrent_layer` wraps
in keras.layers.RNN; each has a `kind` the inspector reads (charlm.inspect.equations). Shapes:
B batch, I input size, H units. σ = sigmoid.

    peephole  (Gers & Schmidhuber 2000) the gates also see the cell state.
              kernel [I, 4H], recurrent_kernel [H, 4H], bias [4H]: blocks i, f, c, o (Keras'
              LSTM order); peephole [3H]: blocks p_i, p_f, p_o.
              i = σ(x W_i + h U_i + p_i ⊙ c_{t-1} + b_i)
              f = σ(x W_f + h U_f + p_f ⊙ c_{t-1} + b_f)
              g = tanh(x W_c + h U_c + b_c)
              c_t = f ⊙ c_{t-1} + i ⊙ g
              o = σ(x W_o + h U_o + p_o ⊙ c_t + b_o)   (c_t: the NEW cell state)
              h_t = o ⊙ tanh(c_t)
    cifg      coupled input and forget gates: f = 1 − i.
              kernel [I, 3H], recurrent_kernel [H, 3H], bias [3H]: blocks i, c, o.
              i = σ(x W_i + h U_i + b_i), g = tanh(x W_c + h U_c + b_c), o = σ(x W_o + h U_o + b_o)
              c_t = (1 − i) ⊙ c_{t-1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)

Initialisation as Keras' LSTMCell: kernels glorot_uniform, recurrent kernels orthogonal, biases 0
except the forget gate's, which starts at 1 (unit_forget_bias): peephole b_f = 1; cifg has no b_f,
so its input-gate bias starts at −1, the same f = 1 − σ(−1) = σ(1) at the start. Peephole weights
start at 0 (the cell starts as a plain LSTM and learns how much to look at c).

No recurrent dropout (charlm's dropout is between layers, outside the cells).
"""

from __future__ import annotations

import keras
from keras import ops


def _blocks(*values):
    """An initializer for a bias made of [H] blocks filled with `values` (shape [n·H])."""
    def initializer(shape, dtype=None):
        units = shape[0] // len(values)
        return ops.concatenate([ops.full((units,), v, dtype=dtype) for v in values])
    return initializer


class _Cell(keras.layers.Layer):
    """What both cells share: the (h, c) state, the config, the input/recurrent/bias weights."""

    kind = None
    blocks = 0  # gate blocks in kernel / recurrent_kernel / bias
    bias_blocks = ()  # initial value of each bias block

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]  # h, c
        self.output_size = units

    def build(self, input_shape):
        n = self.blocks * self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], n), name="kernel",
                                      initializer="glorot_uniform")  # [I, nH]
        self.recurrent_kernel = self.add_weight(shape=(self.units, n), name="recurrent_kernel",
                                                initializer="orthogonal")  # [H, nH]
        self.bias = self.add_weight(shape=(n,), name="bias",
                                    initializer=_blocks(*self.bias_blocks))  # [nH]

    def _preactivations(self, x, h):
        # x [B, I], h [B, H] → [B, nH], split into n blocks of [B, H]
        z = ops.matmul(x, self.kernel) + ops.matmul(h, self.recurrent_kernel) + self.bias
        return ops.split(z, self.blocks, axis=-1)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="charlm")
class PeepholeLSTMCell(_Cell):
    kind = "peephole"
    blocks = 4  # i, f, c, o
    bias_blocks = (0.0, 1.0, 0.0, 0.0)

    def build(self, input_shape):
        super().build(input_shape)
        self.peephole = self.add_weight(shape=(3 * self.units,), name="peephole",
                                        initializer="zeros")  # [3H]: p_i, p_f, p_o

    def call(self, inputs, states, training=False):
        h, c = states  # [B, H] each
        zi, zf, zg, zo = self._preactivations(inputs, h)  # [B, H] each
        pi, pf, po = ops.split(self.peephole, 3)  # [H] each
        i = ops.sigmoid(zi + pi * c)
        f = ops.sigmoid(zf + pf * c)
        c = f * c + i * ops.tanh(zg)
        o = ops.sigmoid(zo + po * c)  # sees c_t
        h = o * ops.tanh(c)
        return h, [h, c]


@keras.saving.register_keras_serializable(package="charlm")
class CIFGLSTMCell(_Cell):
    kind = "cifg"
    blocks = 3  # i, c, o
    bias_blocks = (-1.0, 0.0, 0.0)

    def call(self, inputs, states, training=False):
        h, c = states  # [B, H] each
        zi, zg, zo = self._preactivations(inputs, h)  # [B, H] each
        i = ops.sigmoid(zi)
        c = (1.0 - i) * c + i * ops.tanh(zg)
        h = ops.sigmoid(zo) * ops.tanh(c)
        return h, [h, c]


CELL_CLASSES = {PeepholeLSTMCell.kind: PeepholeLSTMCell, CIFGLSTMCell.kind: CIFGLSTMCell}
