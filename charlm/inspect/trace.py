"""Read a text through a trained model and keep every gate, cell and hidden value per step.

    text → token ids [T] (read from a zero state, no priming: step 0 reads the first character)
         → per recurrent layer l: its cell's equations on its own weights (charlm.inspect.equations)
           → {quantity: [T, H]}, the hidden sequence feeding layer l+1
         → logits [T, V] = hidden of the last layer · W + b → next-token probabilities

Long texts are read in chunks of `chunk` tokens with the states carried, so memory for the
intermediate projections stays bounded; the result is the same as one pass.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np

from charlm.inspect.equations import EQUATIONS, cell_kind, layer_weights

CHUNK = 2000
DECIMALS = 5  # in the JSON: gates and states are O(1), so 1e-5 absolute is what the eye and any
# independent recomputation in float32 can use


@dataclass
class LayerTrace:
    name: str  # the Keras layer name, e.g. "lstm_0"
    cell: str  # "lstm" | "gru" | "rnn" | "peephole" | "cifg"
    values: dict = field(default_factory=dict)  # quantity → [T, H] float32

    @property
    def quantities(self) -> tuple:
        return EQUATIONS[self.cell][1]

    @property
    def units(self) -> int:
        return next(iter(self.values.values())).shape[1]


@dataclass
class Trace:
    text: str
    tokens: list  # the text of each step's token (a character for char tokenizers)
    ids: np.ndarray  # [T] int
    layers: list  # LayerTrace per recurrent layer, bottom to top
    logits: np.ndarray  # [T, V] float32: the prediction made after reading token t

    def probabilities(self) -> np.ndarray:
        z = self.logits - self.logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def top_next(self, vocab: list, k: int = 5) -> list:
        """Per step: the k likeliest next tokens as [(token text, probability)]."""
        p = self.probabilities()
        top = np.argsort(-p, axis=1, kind="stable")[:, :k]
        return [[(vocab[j], float(p[t, j])) for j in row] for t, row in enumerate(top)]

    def to_json(self, decimals: int = DECIMALS) -> dict:
        """The machine-readable contract: {"text", "tokens", "layers": [{"cell_type", "name",
        quantity: [T][H]}]}, values after reading token t. The kind of cell is "cell_type", not
        "cell": an LSTM's cell state is the quantity "cell", and a JSON object cannot hold one
        key twice."""
        return json.loads(self.json_text(decimals))

    def json_text(self, decimals: int = DECIMALS) -> str:
        """`to_json` as text, written row by row with a fixed number of decimals: 10,000
        characters of a 2×256 LSTM are 30M numbers, which json.dumps takes ~25 s to write and
        this ~4 s."""
        out = io.StringIO()
        out.write('{"text": ' + json.dumps(self.text, ensure_ascii=False) + ', "tokens": '
                  + json.dumps(list(self.tokens), ensure_ascii=False) + ', "layers": [')
        for n, layer in enumerate(self.layers):
            out.write((", " if n else "") + '{"cell_type": ' + json.dumps(layer.cell) + ', "name": '
                      + json.dumps(layer.name))
            for quantity in layer.quantities:
                out.write(f', "{quantity}": ')
                _write_matrix(out, layer.values[quantity], decimals)
            out.write("}")
        out.write("]}")
        return out.getvalue()


def _write_matrix(out, array: np.ndarray, decimals: int) -> None:
    """[T, H] floats as a JSON list of lists, each number with `decimals` decimals."""
    if array.shape[0] == 0:
        out.write("[]")
        return
    row = "[" + ",".join([f"%.{decimals}f"] * array.shape[1]) + "]"
    rounded = np.round(array.astype(np.float64), decimals) + 0.0  # + 0.0: no "-0.0000"
    out.write("[" + ",".join(row % tuple(values) for values in rounded.tolist()) + "]")


def recurrent_layers(model) -> list:
    import keras

    return [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]


def trace_ids(model, ids, chunk: int = CHUNK, progress=None) -> tuple[list, np.ndarray]:
    """ids [T] → (LayerTrace per recurrent layer, logits [T, V]) from a zero state."""
    ids = np.asarray(ids, np.int64)
    embeddings = np.asarray(model.get_layer("embedding").embeddings, np.float64)  # [V, E]
    dense = model.get_layer("logits")
    dense_w = np.asarray(dense.kernel, np.float64)
    dense_b = np.asarray(dense.bias, np.float64)
    layers = recurrent_layers(model)
    kinds = [cell_kind(layer) for layer in layers]
    weights = [layer_weights(layer) for layer in layers]
    states = [[np.zeros(layer.cell.units) for _ in range(EQUATIONS[kind][2])]
              for layer, kind in zip(layers, kinds)]
    parts = [{q: [] for q in EQUATIONS[kind][1]} for kind in kinds]
    logits = []
    for start in range(0, len(ids), chunk):
        x = embeddings[ids[start:start + chunk]]  # [t, E]
        for i, kind in enumerate(kinds):
            values, states[i] = EQUATIONS[kind][0](weights[i], x, states[i])
            for quantity, array in values.items():
                parts[i][quantity].append(array)
            x = values["hidden"].astype(np.float64)  # [t, H]: the next layer's input
        logits.append((x @ dense_w + dense_b).astype(np.float32))
        if progress is not None:
            progress.update(len(x))
    traces = [LayerTrace(layer.name, kind, {q: np.concatenate(v) if v else
                                            np.zeros((0, layer.cell.units), np.float32)
                                            for q, v in part.items()})
              for layer, kind, part in zip(layers, kinds, parts)]
    vocab = dense_w.shape[1]
    return traces, np.concatenate(logits) if logits else np.zeros((0, vocab), np.float32)


def trace_text(model, tokenizer, text: str, unknown: str = "error", chunk: int = CHUNK,
               progress=None) -> Trace:
    """The whole Trace of `text` (characters outside the vocabulary: error, or <unk> with
    unknown="replace")."""
    ids = np.asarray(tokenizer.encode(text, unknown=unknown), np.int64)
    if getattr(tokenizer, "kind", "char") == "char":
        tokens = list(text)
    else:
        tokens = [tokenizer.decode([i]) for i in ids]
    layers, logits = trace_ids(model, ids, chunk, progress)
    return Trace(text, tokens, ids, layers, logits)
