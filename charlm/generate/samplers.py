"""Samplers: how the next token is chosen from logits, and the on-device loop that chooses many.

KerasHub style: the base class `Sampler` owns the loop (`__call__`, one `ops.while_loop` over
steps, carrying the recurrent state — the sampler's *cache* — the last logits and the random
state) and each decoding strategy overrides one method, `get_next_token(probabilities, uniform)`:

    GreedySampler        argmax                        (--temperature 0)
    Sampler              draw from softmax(logits / T)  (plain temperature sampling)
    TopKSampler(k)       draw among the k likeliest     (--top-k)
    TopPSampler(p, k)    draw among the smallest set of likeliest tokens whose mass reaches p

Every draw uses exactly one uniform per row (inverse CDF), so a row's text depends only on its own
random stream, never on the other rows of the batch. Random numbers are counter based: row b's
state is a uint32 `rng[b]` (derived from its seed and stream index by `row_keys`), each step
hashes it (lowbias32) into a uniform in (0, 1] and advances it by a Weyl constant. Plain integer
ops, so the same seed gives the same bits on TensorFlow and JAX, CPU and GPU, in-process and in an
exported SavedModel.

Sampler parameters (temperature, k, p) may be Python numbers or scalar tensors: the exported
serving signature passes them in at run time and must pick exactly the tokens the in-process
sampler picks, so top-k and top-p always sort the whole vocabulary and mask by rank.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from charlm.errors import UserError

GOLDEN = 0x9E3779B9  # Weyl increment (2^32 / golden ratio): consecutive states never collide
MAX_SEED = 2**32


def mix32(x):
    """lowbias32 (C. Wellons): a bijective uint32 → uint32 hash with full avalanche."""
    x = ops.bitwise_xor(x, ops.right_shift(x, 16))
    x = ops.multiply(x, ops.convert_to_tensor(0x7FEB352D, "uint32"))
    x = ops.bitwise_xor(x, ops.right_shift(x, 15))
    x = ops.multiply(x, ops.convert_to_tensor(0x846CA68B, "uint32"))
    return ops.bitwise_xor(x, ops.right_shift(x, 16))


def row_keys(seeds, streams):
    """Initial random state [B] uint32 of rows with seeds [B] and stream indices [B] (< 2^32).

    `generate(seed=s, num_samples=n)` gives row b the pair (s, b); a list of seeds gives row b the
    pair (seeds[b], 0) — so row 0 of a batch seeded s is the single run seeded s, and a batch of
    explicit seeds reproduces the single runs with those seeds.
    """
    seeds = ops.cast(seeds, "uint32")
    streams = ops.cast(streams, "uint32")
    mixed = mix32(ops.bitwise_xor(seeds, ops.convert_to_tensor(0x5BD1E995, "uint32")))
    offset = ops.multiply(mix32(streams), ops.convert_to_tensor(GOLDEN, "uint32"))
    return mix32(ops.add(mixed, offset))


def uniform_from_state(rng):
    """rng [B] uint32 → uniforms [B] float32 in (0, 1] (the top 24 bits, exact in float32)."""
    bits = ops.right_shift(mix32(rng), 8)
    return (ops.cast(bits, "float32") + 1.0) * (1.0 / (1 << 24))


def cumsum(x):
    """Running sum along the last axis of x [B, N].

    For small N it is a matmul with an upper-triangular ones matrix: XLA on CPU fuses a plain
    cumsum (a reduce-window) with the softmax that feeds it and recomputes each exp per window
    element, O(N²) transcendentals per row, which made sampling cost as much as the LSTM step.
    """
    n = x.shape[-1]
    if n is None or n > 512:
        return ops.cumsum(x, axis=-1)
    upper = np.triu(np.ones((n, n), np.float32))  # upper[i, j] = 1 where i ≤ j
    return ops.matmul(x, ops.convert_to_tensor(upper, x.dtype))


def inverse_cdf(probabilities, uniform):
    """Index drawn from rows of (unnormalised) probabilities [B, N] with uniforms [B] in (0, 1].

    Picks the first i with cdf[i] ≥ u · total: never an index of zero probability (u > 0), and
    the same u picks the same index whatever the other rows hold.
    """
    cdf = cumsum(probabilities)  # [B, N]
    target = uniform[:, None] * cdf[:, -1:]  # [B, 1]
    index = ops.sum(ops.cast(cdf < target, "int32"), axis=-1)  # [B]
    return ops.minimum(index, ops.shape(probabilities)[-1] - 1)


def sorted_draw(probabilities, keep_fn, uniform):
    """Draw among the tokens that keep_fn keeps, ranked by probability; → token ids [B] int32."""
    vocab = ops.shape(probabilities)[-1]
    top, index = ops.top_k(probabilities, k=vocab)  # [B, V] descending; ties: lower id first
    keep = keep_fn(top, ops.arange(vocab, dtype="int32")[None, :])  # [B, V] bool
    rank = inverse_cdf(ops.where(keep, top, ops.zeros_like(top)), uniform)  # [B]
    return ops.cast(ops.take_along_axis(index, rank[:, None], axis=-1)[:, 0], "int32")


class Sampler:
    """Temperature sampling; the base of every sampler (subclasses override get_next_token)."""

    def __init__(self, temperature=1.0):
        self.temperature = temperature

    def get_config(self) -> dict:
        return {"class": type(self).__name__, "temperature": self.temperature}

    def compute_probabilities(self, logits):
        """logits [B, V] → probabilities [B, V] float32 = softmax(logits / temperature)."""
        return ops.softmax(ops.cast(logits, "float32") / self.temperature, axis=-1)

    def get_next_token(self, probabilities, uniform):
        """probabilities [B, V], uniform [B] in (0, 1] → next token ids [B] int32."""
        return ops.cast(inverse_cdf(probabilities, uniform), "int32")

    def __call__(self, next, logits, cache, rng, steps, max_steps: int):
        """Sample `steps` tokens per row (≤ max_steps; may be a tensor) in one ops.while_loop.

        next(tokens [B] int32, cache) → (logits [B, V], cache) runs the model one step;
        logits [B, V] give the distribution of the first token; cache is the recurrent state
        (a list of [B, H]); rng [B] uint32 is the per-row random state.
        Returns (tokens [B, max_steps] int32, columns ≥ steps left 0; logits; cache; rng), ready
        to continue with the next call.
        """
        batch = ops.shape(logits)[0]
        tokens = ops.zeros((batch, max_steps), "int32")

        def body(t, tokens, logits, cache, rng):
            probabilities = self.compute_probabilities(logits)
            token = self.get_next_token(probabilities, uniform_from_state(rng))  # [B]
            tokens = ops.slice_update(tokens, (0, t), token[:, None])
            logits, cache = next(token, cache)
            rng = ops.add(rng, ops.convert_to_tensor(GOLDEN, "uint32"))
            return t + 1, tokens, logits, list(cache), rng

        _, tokens, logits, cache, rng = ops.while_loop(
            lambda t, *_: t < steps, body,
            (ops.convert_to_tensor(0, "int32"), tokens, logits, list(cache), rng),
            maximum_iterations=max_steps)
        return tokens, logits, cache, rng


class GreedySampler(Sampler):
    """Always the likeliest token (temperature does not matter; the lower id wins ties)."""

    def get_next_token(self, probabilities, uniform):
        return ops.cast(ops.argmax(probabilities, axis=-1), "int32")


class TopKSampler(Sampler):
    """Draw among the k likeliest tokens, in proportion to their probabilities."""

    def __init__(self, k, temperature=1.0):
        super().__init__(temperature)
        self.k = k

    def get_config(self) -> dict:
        return {**super().get_config(), "k": self.k}

    def get_next_token(self, probabilities, uniform):
        return sorted_draw(probabilities, lambda top, rank: rank < self.k, uniform)


class TopPSampler(Sampler):
    """Nucleus sampling: the smallest set of likeliest tokens whose probability reaches p.

    Token at rank r is kept when the mass of the tokens ranked above it is still below p, so the
    set stops at the first rank where the running total reaches p. Optionally also cut at k.
    """

    def __init__(self, p, k=None, temperature=1.0):
        super().__init__(temperature)
        self.p, self.k = p, k

    def get_config(self) -> dict:
        return {**super().get_config(), "p": self.p, "k": self.k}

    def get_next_token(self, probabilities, uniform):
        return sorted_draw(probabilities, lambda top, rank: nucleus(top, rank, self.p, self.k),
                           uniform)


def nucleus(top, rank, p, k=None):
    """The top-p rule, for tokens sorted by probability top [B, V] with ranks [1, V]: keep rank r
    while the mass ranked above it is still below p (and, if k is given, r < k) → bool [B, V]."""
    cumulative = cumsum(top)  # [B, V]
    above = ops.concatenate([ops.zeros_like(cumulative[:, :1]), cumulative[:, :-1]], -1)
    kept = above < p
    return kept if k is None else ops.logical_and(kept, rank < k)


def make_sampler(temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None) -> Sampler:
    """The sampler for the CLI flags: temperature 0 → greedy; else top-p, top-k or plain."""
    if temperature is None or temperature < 0:
        raise UserError(f"--temperature must be 0 (greedy) or positive, not {temperature}")
    if top_k is not None and top_k < 1:
        raise UserError(f"--top-k must be at least 1, not {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise UserError(f"--top-p must be in (0, 1], not {top_p}")
    if temperature == 0:
        return GreedySampler()
    if top_p is not None and top_p < 1:
        return TopPSampler(top_p, top_k, temperature=temperature)
    if top_k is not None:
        return TopKSampler(top_k, temperature=temperature)
    return Sampler(temperature)
