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

import math

import numpy as np

from charlm import backend
from charlm.errors import UserError
from charlm.model.model import zero_states

LN2 = math.log(2.0)


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


# --- the minicons-shaped API (charlm.api.LanguageModel wraps these) ---------------------------
def mean_logprob(values: np.ndarray) -> float:
    """minicons' default reduction: the mean over the characters."""
    return float(np.mean(values))


def _as_list(texts) -> list[str]:
    return [texts] if isinstance(texts, str) else list(texts)


def token_scores(char_scorer: CharScorer, texts, surprisal: bool = False,
                 base_two: bool = False, rank: bool = False) -> list[list[tuple]]:
    """Per text: [(character, value[, rank])]; value = log p (or −log p with `surprisal`), in
    nats (bits with `base_two`); rank 1 = the model's most likely next character."""
    texts = _as_list(texts)
    scale = (-1.0 if surprisal else 1.0) / (LN2 if base_two else 1.0)
    out = []
    for text, (lp, ranks) in zip(texts, char_scorer.logprobs(texts, rank=rank)):
        values = (lp * scale).tolist()
        out.append([(c, v, int(r)) for c, v, r in zip(text, values, ranks)] if rank
                   else list(zip(text, values)))
    return out


def sequence_scores(char_scorer: CharScorer, texts, reduction=mean_logprob,
                    base_two: bool = False) -> list[float]:
    """reduction(log p of each character [len(text)] float64) per text (mean by default)."""
    texts = _as_list(texts)
    if not all(texts):
        raise UserError("an empty text has no characters to score")
    scale = 1.0 / LN2 if base_two else 1.0
    return [float(reduction(lp * scale)) for lp, _ in char_scorer.logprobs(texts)]


def conditional_scores(char_scorer: CharScorer, prefixes, continuations, reduction=mean_logprob,
                       separator: str = " ", base_two: bool = False) -> list[float]:
    """reduction(log p of each character of separator + continuation) given "\\n" + prefix.
    The separator (between a non-empty prefix and the continuation) is scored with the
    continuation, as SyntaxGym gives a region the space before it."""
    prefixes, continuations = _as_list(prefixes), _as_list(continuations)
    if len(prefixes) != len(continuations):
        raise UserError(f"{len(prefixes)} prefixes but {len(continuations)} continuations; pass "
                        "one prefix per continuation")
    if not all(continuations):
        raise UserError("an empty continuation has no characters to score")
    tails = [(separator if p else "") + c for p, c in zip(prefixes, continuations)]
    scale = 1.0 / LN2 if base_two else 1.0
    scored = char_scorer.logprobs([p + t for p, t in zip(prefixes, tails)])
    return [float(reduction(lp[len(lp) - len(t):] * scale)) for (lp, _), t in zip(scored, tails)]
