"""The Keras model: tokens [B, T] + recurrent states → logits [B, T, V] + new states.

    tokens ─ Embedding(V, E) ─ [Dropout] ─ RNN_0(units) ─ … ─ RNN_{L-1} ─ [Dropout] ─ Dense(V)
                                          ↑ state_0   ↓ new state_0 …

The model takes and returns its states (as in the TensorFlow text-generation tutorial), so the
same weights serve truncated-BPTT training (state carried across windows), evaluation of long
texts in order, and step-by-step sampling. Layers are plain Keras layers with standard weights:
`model.get_layer("lstm_0").cell.kernel` is [E, 4H] in Keras' i, f, c, o gate order. The LSTM
variants `peephole` and `cifg` are charlm's own cells (charlm.model.cells) in keras.layers.RNN.

`FusedLSTM` is a `keras.layers.LSTM` that keeps its weights and cuDNN eligibility (tanh/sigmoid,
bias, no recurrent dropout, no unroll) and, on the TensorFlow backend without a GPU, runs
sequences of known length in `charlm.model.lstm_kernels` (hand-written BPTT, weight gradients as single
matmuls) instead of Keras' per-step while loop; CHARLM_FUSED_LSTM=0 turns it off. `FusedCellRNN`
(class RNN) does the same for the peephole and cifg cells (`charlm.model.variant_kernels`): a
keras.layers.RNN with the same cell, weights and variable paths, so either loads the other's
checkpoints.
"""

from __future__ import annotations

import keras

from charlm.cell_types import CELL_TYPES
from charlm.model import lstm_kernels, variant_kernels
from charlm.model.cells import CELL_CLASSES

# The fused kernel of each of charlm's own cells (charlm.model.cells), by the cell's kind.
VARIANT_KERNELS = {"peephole": variant_kernels.fused_peephole_sequence,
                   "cifg": variant_kernels.fused_cifg_sequence}


@keras.saving.register_keras_serializable(package="charlm")
class FusedLSTM(keras.layers.LSTM):
    def inner_loop(self, sequences, initial_state, mask, training=False):
        fusable = (
            mask is None and sequences.shape[1] is not None and not self.go_backwards
            and not self.unroll and not self.dropout and not self.recurrent_dropout
            and self.use_bias and self.activation is keras.activations.tanh
            and self.recurrent_activation is keras.activations.sigmoid
            and lstm_kernels.is_enabled()
        )
        if not fusable:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        outputs, h, c = lstm_kernels.fused_lstm_sequence(
            sequences, initial_state[0], initial_state[1],
            self.cell.kernel, self.cell.recurrent_kernel, self.cell.bias)
        return outputs[:, -1], outputs, [h, c]


@keras.saving.register_keras_serializable(package="charlm")
class RNN(keras.layers.RNN):
    """keras.layers.RNN over a peephole or cifg cell that, on TensorFlow without a GPU, runs
    sequences of static length 1..MAX_UNROLL in the cell's fused kernel; anything else (a mask,
    a longer or unknown length, CHARLM_FUSED_LSTM=0 or CHARLM_FUSED_VARIANTS=0, another backend:
    see variant_kernels.is_enabled) in the generic loop.

    Named RNN (registered as charlm>RNN) because Keras' weights files address each layer by its
    class name in snake case ("rnn", "rnn_1"): the same name reads and writes the same weights
    files as keras.layers.RNN, so checkpoints of either kind load in the other."""

    def __init__(self, cell, **kwargs):
        super().__init__(cell, **kwargs)
        if variant_kernels.is_enabled():
            self.supports_jit = False  # LSTMBlockCellGrad has no XLA kernel

    def inner_loop(self, sequences, initial_state, mask, training=False):
        kernel, steps = VARIANT_KERNELS.get(getattr(self.cell, "kind", None)), sequences.shape[1]
        fusable = (
            kernel is not None and mask is None and steps is not None
            and 0 < steps <= lstm_kernels.MAX_UNROLL and not self.go_backwards
            and not self.unroll and variant_kernels.is_enabled()
        )
        if not fusable:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        outputs, h, c = kernel(sequences, initial_state[0], initial_state[1], *self.cell.weights)
        return outputs[:, -1], outputs, [h, c]


FusedCellRNN = RNN  # the name the rest of charlm uses


def make_recurrent_layer(cell: str, units: int, name: str, fused: bool = True):
    """The one place that maps --cell to a layer: add new cells here.

    `fused=False` gives the stock Keras layer with the same weights (what an export saves, so
    plain Keras loads it without charlm). charlm's own cells (peephole, cifg) have no stock
    Keras equivalent: `fused=False` gives them in a plain keras.layers.RNN (the generic
    per-step loop), and loading them needs charlm's registered classes either way."""
    # float32 under any global dtype policy (--precision mixed): cuDNN's LSTM kernel and a cell
    # state summed over hundreds of steps want it; Keras casts the inputs at the layer's edge.
    common = dict(return_sequences=True, return_state=True, name=name, dtype="float32")
    if cell == "lstm":
        return FusedLSTM(units, **common) if fused else keras.layers.LSTM(units, **common)
    if cell == "gru":
        return keras.layers.GRU(units, **common)  # reset_after=True: cuDNN-compatible
    if cell == "rnn":
        return keras.layers.SimpleRNN(units, **common)
    if cell in CELL_CLASSES:
        layer = FusedCellRNN if fused else keras.layers.RNN
        return layer(CELL_CLASSES[cell](units, name=f"{cell}_cell", dtype="float32"), **common)
    raise ValueError(f"unknown cell {cell!r}")


def build_model(vocab_size: int, embedding_dim: int, cell: str, layers: int, units: int,
                dropout: float = 0.0, name: str = "charlm", fused: bool = True) -> keras.Model:
    n_states = CELL_TYPES[cell].state_count
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    state_inputs = [keras.Input(shape=(units,), name=f"state_{i}_{j}")
                    for i in range(layers) for j in range(n_states)]
    x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(tokens)  # [B, T, E]
    new_states = []
    for i in range(layers):
        if dropout and i > 0:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
        rnn = make_recurrent_layer(cell, units, name=f"{cell}_{i}", fused=fused)
        x, *states = rnn(x, initial_state=state_inputs[i * n_states:(i + 1) * n_states])
        new_states += states  # [B, H] each
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout_out")(x)
    logits = keras.layers.Dense(vocab_size, name="logits")(x)  # [B, T, V]
    return keras.Model([tokens, *state_inputs], [logits, *new_states], name=name)


def model_spec(config, vocab_size: int) -> dict:
    """What build_model needs, as saved in config.json["model"]."""
    return {"vocab_size": vocab_size, "embedding_dim": config.embedding_dim, "cell": config.cell,
            "layers": config.layers, "units": config.units, "dropout": config.dropout}


def spec_from_saved(saved: dict) -> dict:
    """A saved config.json["model"] as build_model's arguments. Checkpoints written before the
    layout redesign call the layer count `layers_count`."""
    spec = dict(saved)
    if "layers_count" in spec:
        spec["layers"] = spec.pop("layers_count")
    return spec


def zero_states(model: keras.Model, batch_size: int) -> list:
    """Initial recurrent states: one [B, H] zero tensor per state input of the model."""
    return [keras.ops.zeros((batch_size, inp.shape[-1]), dtype="float32")
            for inp in model.inputs[1:]]
