"""Bits per character of a text under a model, read in order with the state carried along.

The text is read as one stream from the start (or `streams` contiguous segments processed side by
side for speed, each carrying its own state; each segment after the first starts from a zero
state, which costs a few characters of context). The state is primed with a line break, as if the
text followed one, so every character of the text is predicted and counted.

bpc = total negative log-likelihood in nats / number of characters / ln 2. With a subword
tokenizer the total is over tokens but the divisor is still characters, so figures compare across
tokenizers.
"""

from __future__ import annotations

import math

import numpy as np

from charlm import backend
from charlm.model.model import zero_states

CHUNK_LEN = 1000  # tokens per call when reading a text in order (one pass: charlm eval)
UNROLLED_CALLS = 10  # chunks per stream and validation before unrolled chunks pay for their trace


def token_nll(y, logits):
    """y [B, T] int, logits [B, T, V] → nll [B, T] in nats (log-softmax in float32)."""
    from keras import ops

    logits = ops.cast(logits, "float32")
    return ops.sparse_categorical_crossentropy(y, logits, from_logits=True)


class NllStep:
    """nll(x [B,T], y [B,T], weight [B,T], states) → (sum of weight·nll, new_states), no update;
    compiled once (validation, eval)."""

    def __init__(self, model):
        from keras import ops

        def nll(x, y, weight, states):
            logits, *new_states = model([x, *states], training=False)
            return ops.sum(token_nll(y, logits) * weight), new_states

        self._fn = backend.compile_function(nll, model.variables)

    def __call__(self, x, y, weight, states):
        return self._fn(x, y, weight.astype(np.float32), states)


def repeated_chunk_len(tokens_per_stream: int) -> int:
    """Tokens per call for a text read again and again (periodic validation): as many steps as
    charlm's CPU kernels unroll, where they run and the text gives each stream at least
    UNROLLED_CALLS such chunks. A longer chunk takes the kernels' while-loop fallback, ~1.8x
    slower per token; the unrolled graph takes seconds to trace, once, which a short text would
    not win back (benchmarks/RESULTS.md, "Validation during training"). Otherwise CHUNK_LEN."""
    from charlm.model import lstm_kernels

    enough = tokens_per_stream >= UNROLLED_CALLS * lstm_kernels.MAX_UNROLL
    unrolled = lstm_kernels.is_enabled() and enough
    return lstm_kernels.MAX_UNROLL if unrolled else CHUNK_LEN


def evaluate_ids(model, ids: np.ndarray, prime_id: int | None, streams: int = 1,
                 chunk_len: int = CHUNK_LEN, nll_step: NllStep | None = None,
                 progress=None) -> dict:
    """Sum of nats over every predicted token of `ids`, reading in order with carried state.
    Every call reads `chunk_len` steps (the last is padded), so a compiled step traces once."""
    ids = np.asarray(ids, dtype=np.int32)
    if prime_id is not None:
        ids = np.concatenate([[prime_id], ids]).astype(np.int32)
    inputs, targets = ids[:-1], ids[1:]
    n = len(targets)
    if n == 0:
        return {"nats": 0.0, "tokens": 0}
    streams = max(1, min(streams, n))
    seg = math.ceil(n / streams)
    pad = seg * streams - n
    # [S, seg] each; padded positions carry weight 0 so they never count.
    x, y, w = (np.pad(a, (0, pad)).reshape(streams, seg)
               for a in (inputs, targets, np.ones(n, np.float32)))
    # whole chunks: each segment's end is padded too (weight 0), so every call has one shape
    chunk_len = min(chunk_len, seg)
    tail = -seg % chunk_len
    x, y, w = (np.pad(a, ((0, 0), (0, tail))) for a in (x, y, w))
    seg += tail
    nll_step = nll_step or NllStep(model)
    states = zero_states(model, streams)
    total = 0.0
    for start in range(0, seg, chunk_len):
        end = start + chunk_len
        nats, states = nll_step(x[:, start:end], y[:, start:end], w[:, start:end], states)
        total += float(nats)
        if progress is not None:  # the chunk's real tokens (not its padding): n in all
            progress.update(int(w[:, start:end].sum()))
    return {"nats": total, "tokens": n}


def evaluate_text(model, tokenizer, text: str, streams: int = 1, chunk_len: int = CHUNK_LEN,
                  progress=None) -> dict:
    """bpc of `text`; characters outside the vocabulary are mapped to <unk> and reported."""
    ids = tokenizer.encode(text, unknown="replace")
    result = evaluate_ids(model, ids, tokenizer.prime_id(), streams, chunk_len,
                          progress=progress)
    return summarize(result["nats"], len(text), extra={
        "tokens": result["tokens"], "unknown_chars": tokenizer.count_unknown(text),
        "streams": max(1, min(streams, len(ids)))})


def summarize(nats: float, chars: int, extra: dict | None = None) -> dict:
    per_char = nats / max(chars, 1)
    return {"bpc": per_char / math.log(2), "nats_per_char": per_char, "chars": chars,
            **(extra or {})}
