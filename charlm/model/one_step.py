"""One token through the model: the step that generation (and the inspector) run.

`RecurrentStep` reads the model's own Keras layers, so it computes exactly what the model computes
for a sequence of length 1, with nothing trained twice. For LSTM layers it writes the update out
(Keras gate order i, f, c, o) and precomputes embedding · W_x + b of the first layer as a [V, 4H]
table, a gather instead of a matmul per step; other cells call their Keras cell.
"""

from __future__ import annotations

import keras
from keras import ops


class RecurrentStep:
    """One token through the model: (tokens [B] int32, states) → (logits [B, V], states)."""

    def __init__(self, model: keras.Model):
        self.embedding = model.get_layer("embedding")
        self.rnns = [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]
        self.dense = model.get_layer("logits")  # Dropout layers are skipped: this is inference

    def prepare(self):
        """Return the step function, with loop-invariant tables computed once (call it inside the
        compiled function, before the loop)."""
        first = self.rnns[0]
        table = None
        if isinstance(first, keras.layers.LSTM):
            cell = first.cell
            # [V, E] @ [E, 4H] (+ b): row t is token t's layer-0 input contribution.
            table = ops.matmul(self.embedding.embeddings, cell.kernel)
            if cell.use_bias:
                table = table + cell.bias
        # Upper LSTM layers: [x, h] @ [[W], [U]] as one matmul [B, H_in + H] @ [H_in + H, 4H]
        # instead of two: one larger product is faster than two small ones at batch sizes
        # where generation is compute-bound.
        stacked = {i: ops.concatenate([layer.cell.kernel, layer.cell.recurrent_kernel], axis=0)
                   for i, layer in enumerate(self.rnns)
                   if i > 0 and isinstance(layer, keras.layers.LSTM)}

        def step(tokens, states):
            states, new_states, start = list(states), [], 0
            x = None if table is not None else ops.take(self.embedding.embeddings, tokens, axis=0)
            for i, layer in enumerate(self.rnns):
                size = layer.cell.state_size
                n = len(size) if isinstance(size, (list, tuple)) else 1  # LSTM: h, c; GRU: h
                layer_states = states[start:start + n]
                start += n
                if isinstance(layer, keras.layers.LSTM):
                    cell = layer.cell
                    h, c = layer_states  # [B, H] each
                    if i == 0:
                        z = ops.take(table, tokens, axis=0) + ops.matmul(h, cell.recurrent_kernel)
                    else:
                        z = ops.matmul(ops.concatenate([x, h], axis=-1), stacked[i])
                        if cell.use_bias:
                            z = z + cell.bias
                    x, c = lstm_update(cell, z, c)  # z [B, 4H] → h [B, H], c [B, H]
                    new_states += [x, c]
                else:
                    x, cell_states = layer.cell(x, layer_states, training=False)
                    new_states += list(cell_states) if isinstance(cell_states, (list, tuple)) \
                        else [cell_states]
            return self.dense(x), new_states  # [B, V]

        return step


def lstm_update(cell, z, c):
    """z [B, 4H] (pre-activations), c [B, H] → (h, c), [B, H] each: Keras LSTMCell's gate order
    i, f, c, o and the same formula as LSTMCell.call."""
    i, f, g, o = ops.split(z, 4, axis=-1)
    c = cell.recurrent_activation(f) * c + cell.recurrent_activation(i) * cell.activation(g)
    return cell.recurrent_activation(o) * cell.activation(c), c
