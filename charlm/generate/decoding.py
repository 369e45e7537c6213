"""Device side of generation: read the prompt, then sample in compiled chunks.

`Decoder` holds, per model (cached by `decoder_for`), the compiled prompt reader and one compiled
sampling loop per sampler configuration, each traced once per batch size and reused (a chunk's
step count is a tensor, so a short last chunk does not recompile):

    ids [1, P], zero states → read_prompt (one compiled call, any P) → logits [1, V], states
    → tiled to B rows → Sampler loop, chunk_size steps per call (XLA on TF) → tokens [B, chunk]

The one-token step is `charlm.model.one_step.RecurrentStep`, read from the model's own layers. The
sampler never draws <unk> (its logit is
masked): it spells no character. On a CPU, where one XLA loop uses one core, a large batch is
split into one shard per core (rows are independent, so the text does not change).

Weights are plain Keras variables, so a checkpoint trained on a GPU (cuDNN) samples on a CPU and
the other way round; nothing here depends on the device that trained it.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
from keras import ops

from charlm import backend
from charlm.generate.samplers import Sampler
from charlm.model.one_step import RecurrentStep

# Steps per compiled call: streaming granularity vs per-call and host-decoding overhead. At batch
# 64 on 2 CPU cores, 256 gave 2–3% more chars/s than 128 (512: 1% more again); a chunk is still
# only ~20 ms at batch 1.
CHUNK_SIZE = 256
MIN_SHARD_ROWS = 16  # below this many rows per core, splitting a CPU batch does not pay
UNK_ID = 0  # <unk>: CharTokenizer's id 0 and sentencepiece's unk_id


class Decoder:
    """Device side for one model: read the prompt (`start`), then sample in chunks (`advance`)."""

    def __init__(self, model: keras.Model, chunk_size: int = CHUNK_SIZE, jit_compile: bool = True):
        # No reference to the model itself: decoder_for caches by it in a WeakKeyDictionary.
        self.chunk_size, self.jit_compile = chunk_size, jit_compile
        self.variables = list(model.variables)
        self.state_sizes = [inp.shape[-1] for inp in model.inputs[1:]]  # H of each state input
        self.step = RecurrentStep(model)
        self._loops: dict = {}
        self._pool = None  # threads for shards (see shard_sizes), made on first use
        # Not XLA: the prompt length varies, and the exported graph runs these same kernels.
        # Any batch and prompt length: ids [B, P] int32, one [B, H] float32 per state.
        self._prime = backend.compile_function(
            self.read_prompt, self.variables,
            signature=[((None, None), "int32"), [((None, h), "float32") for h in self.state_sizes]])

    def read_prompt(self, ids, states):
        """ids [B, P] (P ≥ 1), states → (logits [B, V] after the last id, states).

        One compiled call reads the whole prompt on the device with the sampler's own step, so
        the state it hands over is bit for bit what the exported SavedModel computes, and P may
        vary without recompiling (the model's sequence kernel may need a static length).
        """
        step = self.step.prepare()

        def body(t, logits, states):
            logits, states = step(ops.take(ids, t, axis=1), states)  # [B, V]
            return t + 1, logits, list(states)

        logits = ops.zeros((ops.shape(ids)[0], self.step.dense.units), "float32")
        _, logits, states = ops.while_loop(lambda t, *_: t < ops.shape(ids)[1], body,
                                           (ops.convert_to_tensor(0, "int32"), logits,
                                            list(states)))
        return logits, states

    def _compile(self, fn, jit: bool):
        return backend.compile_function(fn, self.variables, jit=jit)

    def shard_sizes(self, batch: int) -> list[int]:
        """Rows per parallel loop call. An XLA loop on a CPU runs on one core, so on a CPU a large
        batch is split into one shard per core, each run from its own thread; rows never
        interact (own state, own random stream), so the text is the same as unsplit."""
        if not backend.on_cpu() or batch < 2 * MIN_SHARD_ROWS:
            return [batch]
        n = min(backend.cpu_count(), batch // MIN_SHARD_ROWS)
        return [batch // n + (i < batch % n) for i in range(n)]

    def start(self, ids: np.ndarray, rng) -> list:
        """ids [P], rng [B] → per shard (logits [b, V], states [b, H] each, rng [b]): the prompt
        read once at batch 1 and tiled to every row."""
        states = [ops.zeros((1, size), "float32") for size in self.state_sizes]
        logits, states = self._prime(ops.convert_to_tensor(ids[None, :].astype(np.int32)), states)
        tile = lambda x, n: ops.repeat(x, n, axis=0) if n > 1 else x
        shards, start = [], 0
        for n in self.shard_sizes(int(ops.shape(rng)[0])):
            shards.append((tile(logits, n), [tile(s, n) for s in states], rng[start:start + n]))
            start += n
        return shards

    def advance(self, sampler: Sampler, shards: list, steps: int):
        """Run `steps` sampling steps on every shard → (tokens [B, steps] on the host, shards)."""
        loop, n = self.compiled_loop(sampler), ops.convert_to_tensor(steps, "int32")

        def run(shard):
            tokens, *rest = loop(*shard, n)  # tokens [b, chunk_size]
            return np.asarray(tokens)[:, :steps], rest  # np.asarray waits for the device

        if len(shards) == 1:
            results = [run(shards[0])]
        else:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(len(shards), thread_name_prefix="charlm-shard")
            results = list(self._pool.map(run, shards))
        return np.concatenate([r[0] for r in results]), [tuple(r[1]) for r in results]

    def sampling_step(self):
        """The step the sampler runs: the model's, with <unk> made impossible (call it inside
        the compiled function)."""
        step = self.step.prepare()

        def next(tokens, states):
            logits, states = step(tokens, states)
            return mask_unknown(logits), states

        return next

    def compiled_loop(self, sampler: Sampler):
        """loop(logits, states, rng, steps) → (tokens [B, chunk_size], logits, states, rng):
        `steps` ≤ chunk_size sampling steps, compiled once per sampler configuration."""
        key = tuple(sorted(sampler.get_config().items()))
        if key not in self._loops:
            chunk = self.chunk_size

            def loop(logits, states, rng, steps):
                return sampler(self.sampling_step(), mask_unknown(logits), states, rng, steps,
                               max_steps=chunk)

            self._loops[key] = self._compile(loop, jit=self.jit_compile)
        return self._loops[key]


def mask_unknown(logits):
    """logits [B, V] with <unk> (id 0 in every charlm tokenizer) at -inf: the model never saw it
    in training and it spells no character, so generated text never contains it."""
    vocab = ops.arange(ops.shape(logits)[-1], dtype="int32")[None, :]
    return ops.where(vocab == UNK_ID, ops.full_like(logits, float("-inf")), logits)


_DECODERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def decoder_for(model: keras.Model) -> Decoder:
    """The model's Decoder, built once: the trainer samples at every validation without
    recompiling (compiled functions read the variables, so they see updated weights)."""
    if model not in _DECODERS:
        _DECODERS[model] = Decoder(model)
    return _DECODERS[model]
