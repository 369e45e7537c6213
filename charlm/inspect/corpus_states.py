"""One layer's on/off pattern (charlm.inspect.match.Activity) over a whole corpus, read with the
recurrent state carried, fast enough for a million characters.

The corpus is cut into B streams of L consecutive tokens, read side by side (one batched matmul
per step, the cells' own equations in charlm.inspect.equations, in float32). Each stream first
reads the `warmup` tokens before its part (their values are dropped), so its state at its first
token has already seen that much context; the first stream starts from a zero state at token 0,
as `charlm inspect` does. With one stream (short corpora, or streams=1) the result is exactly a
single pass; with several, a unit whose memory reaches further back than `warmup` tokens can
differ in the first steps of each part.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from charlm.inspect.equations import EQUATIONS, cell_kind, layer_weights
from charlm.inspect.match import THRESHOLD, Activity, raw_threshold
from charlm.inspect.trace import recurrent_layers

WARMUP = 256  # tokens each stream reads before its part
STREAM_TOKENS = 4096  # automatic stream count: one stream per this many tokens ...
MAX_STREAMS = 256  # ... up to this many
CHUNK_BYTES = 64 << 20  # the float32 values of all quantities of one chunk of steps, at most


def stream_count(tokens: int) -> int:
    return max(1, min(MAX_STREAMS, tokens // STREAM_TOKENS))


def layer_index(model, layer) -> int:
    """A recurrent layer by index (0 = the first) or Keras name ("lstm_1") → its index."""
    layers = recurrent_layers(model)
    names = [x.name for x in layers]
    if isinstance(layer, str) and not layer.lstrip("-").isdigit():
        if layer not in names:
            raise ValueError(f"no layer {layer!r}; the recurrent layers are {', '.join(names)}")
        return names.index(layer)
    index = int(layer)
    if not 0 <= index < len(layers):
        raise ValueError(f"layer {index} does not exist; the model has {len(layers)} recurrent "
                         f"layer(s), 0–{len(layers) - 1}")
    return index


def default_quantity(model, layer: int) -> str:
    """The cell state where the layer has one (LSTMVis' default view), else the hidden state."""
    quantities = EQUATIONS[cell_kind(recurrent_layers(model)[layer])][1]
    return "cell" if "cell" in quantities else "hidden"


def check_quantity(model, layer: int, quantity: str) -> None:
    rnn = recurrent_layers(model)[layer]
    quantities = EQUATIONS[cell_kind(rnn)][1]
    if quantity not in quantities:
        raise ValueError(f"{quantity!r} is not a quantity of {rnn.name}; it has "
                         f"{', '.join(quantities)}")


def _stream_grid(ids: np.ndarray, streams: int, warmup: int) -> tuple[np.ndarray, int]:
    """ids [N] → (the ids each stream reads [B, warmup + L], L): stream s reads
    ids[s·L − warmup : (s+1)·L], id 0 outside the corpus (dropped or reset)."""
    part = math.ceil(len(ids) / streams)
    streams = math.ceil(len(ids) / part)  # no empty stream
    padded = np.zeros(warmup + streams * part, np.int64)
    padded[warmup:warmup + len(ids)] = ids
    index = np.arange(streams)[:, None] * part + np.arange(warmup + part)[None, :]
    return padded[index], part


def corpus_activity(model, ids, layer: int = 0, quantity: str = "cell",
                    threshold: float = THRESHOLD, streams: int | None = None,
                    warmup: int = WARMUP, progress=None) -> Activity:
    """ids [N] read through the model → the Activity [N] of `quantity` of recurrent `layer`."""
    ids = np.asarray(ids, np.int64)
    if len(ids) == 0:
        raise ValueError("the corpus is empty")
    streams = stream_count(len(ids)) if streams is None else max(1, int(streams))
    warmup = warmup if streams > 1 else 0
    grid, part = _stream_grid(ids, streams, warmup)  # [B, warmup + L]
    layers = recurrent_layers(model)[:layer + 1]
    kinds = [cell_kind(x) for x in layers]
    weights = [{k: v.astype(np.float32) for k, v in layer_weights(x).items()} for x in layers]
    embeddings = np.asarray(model.get_layer("embedding").embeddings, np.float32)  # [V, E]
    units = layers[-1].cell.units
    states = [[np.zeros((len(grid), x.cell.units), np.float32) for _ in range(EQUATIONS[k][2])]
              for x, k in zip(layers, kinds)]
    cut = raw_threshold(quantity, threshold)
    bits = np.zeros((len(grid), part, (units + 7) // 8), np.uint8)  # [B, L, ⌈H/8⌉]
    widest = max(x.cell.units for x in layers)
    step = max(1, CHUNK_BYTES // (len(grid) * widest * 4 * 6))  # 6: the most quantities a cell has
    with one_blas_thread():
        _read_all(grid, warmup, part, step, embeddings, kinds, weights, states, quantity, cut,
                  bits, len(ids), progress)
    return Activity(bits.reshape(-1, bits.shape[2])[:len(ids)], units)


def one_blas_thread():
    """BLAS on one thread while stepping: each step's matmul ([B, H] @ [H, 4H]) is too small to
    share out, and on a busy 2-core machine BLAS threads waiting for each other made a step 3-4×
    slower in CPU time than one thread (AMD EPYC, Zen 2). NumPy's element-wise work is on one
    thread anyway."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a dependency; without it, BLAS keeps its own setting
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _read_all(grid, warmup, part, step, embeddings, kinds, weights, states, quantity, cut, bits,
              tokens, progress) -> None:
    """The warm-up, then every chunk of steps, packing each step's on/off into `bits`."""
    if warmup:
        _read(grid[:, :warmup], embeddings, kinds, weights, states)
        for layer_states in states:  # the first stream's warm-up read padding: start it afresh
            for state in layer_states:
                state[0] = 0.0
    for start in range(0, part, step):
        columns = grid[:, warmup + start:warmup + start + step]  # [B, t]
        values = _read(columns, embeddings, kinds, weights, states)[quantity]  # [t, B, H]
        bits[:, start:start + columns.shape[1]] = np.packbits(
            values.transpose(1, 0, 2) >= cut, axis=2)
        if progress is not None:  # in corpus tokens, each stream being 1/B of the corpus
            done = min(tokens, round((start + columns.shape[1]) / part * tokens))
            progress.update(done - min(tokens, round(start / part * tokens)))


def _read(columns: np.ndarray, embeddings, kinds, weights, states) -> dict:
    """Step every stream through `columns` [B, t] of ids, updating `states` in place → the top
    layer's {quantity: [t, B, H]}."""
    x = embeddings[columns.T]  # [t, B, E]
    values = {}
    for i, kind in enumerate(kinds):
        values, states[i][:] = EQUATIONS[kind][0](weights[i], x, states[i])
        x = values["hidden"]  # [t, B, H]: the next layer's input
    return values
