"""Per-character log-probabilities: what SyntaxGym suites and the minicons-style scoring API
(`LanguageModel.token_scores`) read, with the priming of `charlm score`.

Each text is read as a line of its own: the state starts from zero, the model first reads a line
break, so every character of the text is scored, the first one included:

    x = "\\n" + text[:-1]   [B, T]   (right-padded; padding comes after a row's last character,
    y = text                [B, T]    so it never feeds back into that row's scores)
    → log p(y_t | "\\n" + text[:t]) [B, T] in nats, and the rank of y_t among the vocabulary
      (1 = the most likely next character) when asked.

log P(text) is the sum over its characters, so for `line + "\\n"` the sum equals `charlm
score`'s logprob of that line up to float32 rounding (the batches differ). The n-gram baseline
(`charlm.probes.ngram.NgramModel`) gives the same log-probabilities from its counts (no ranks).
"""

from __future__ import annotations

import numpy as np

from charlm import backend
from charlm.errors import UserError
from charlm.model.model import zero_states


def _compile(model):
    """fn(x [B,T], y [B,T], states) → (log p(y_t) [B,T], rank of y_t [B,T])."""
    from keras import ops

    def fn(x, y, states):
        logits, *_ = model([x, *states], training=False)
        logp = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)  # [B, T, V]
        picked = ops.take_along_axis(logp, ops.expand_dims(y, -1), axis=-1)  # [B, T, 1]
        rank = 1 + ops.sum(ops.cast(logp > picked, "int32"), axis=-1)  # [B, T]
        return ops.squeeze(picked, -1), rank

    return backend.compile_function(fn, model.variables)


class CharScorer:
    """Per-character scores from a `ModelScorer` (a checkpoint) or an `NgramModel` (baseline)."""

    def __init__(self, scorer):
        self.scorer = scorer
        self._fn = None if hasattr(scorer, "position_logprobs") else _compile(scorer.model)

    def has_char(self, char: str) -> bool:
        return self.scorer.has_char(char)

    def logprobs(self, texts: list[str], rank: bool = False, progress=None):
        """[(log p per character [len(text)] float64 nats, ranks [len(text)] int or None)]."""
        if self._fn is None:
            if rank:
                raise UserError("ranks need a checkpoint; the n-gram baseline gives "
                                "log-probabilities only")
            return [(lp, None) for lp in self._ngram(texts)]
        out: list = [None] * len(texts)
        encoded = [np.asarray(self.scorer._encode(t), np.int32) if t else np.zeros(0, np.int32)
                   for t in texts]
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        size = self.scorer.batch_size
        for start in range(0, len(order), size):
            part = order[start:start + size]
            width = max(1, max(len(encoded[i]) for i in part))
            x = np.zeros((len(part), width), np.int32)  # [b, T]
            y = np.zeros_like(x)
            for row, i in enumerate(part):
                ids = encoded[i]
                x[row, :len(ids)] = np.concatenate([[self.scorer.prime], ids[:-1]])[:len(ids)]
                y[row, :len(ids)] = ids
            lp, ranks = self._fn(x, y, zero_states(self.scorer.model, len(part)))
            lp, ranks = np.asarray(lp, np.float64), np.asarray(ranks, np.int64)
            for row, i in enumerate(part):
                n = len(encoded[i])
                out[i] = (lp[row, :n], ranks[row, :n] if rank else None)
            if progress is not None:
                progress.update(len(part))
        return out

    def _ngram(self, texts: list[str]) -> list[np.ndarray]:
        lines = ["\n" + t for t in texts]
        ids = self.scorer.encode("".join(lines))
        lengths = np.array([len(t) for t in lines])
        offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
        lp = self.scorer.position_logprobs(ids, np.arange(len(ids)) - offsets)
        starts = np.cumsum(lengths) - lengths
        return [lp[s + 1:s + n] for s, n in zip(starts, lengths)]  # drop the primer itself
