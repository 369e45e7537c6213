"""Device side of generation: read the prompt, then sample in compiled chunks.

`Decoder` holds, per model (cached by `decoder_for`), the compiled prompt reader and one compiled
sampling loop per sampler configuration, each traced once per batch size and reused (a chunk's
step count is a tensor, so a short last chunk does not recompile):

    ids [1, P], zero states → read_prompt (one compiled call, any P) → logits [1, V], states
    → tiled to B rows → Sampler loop, chunk_size steps per call (XLA on TF) → tokens [B, chunk]

The one-token step (`RecurrentStep`) is read from the model's own Keras layers: for LSTM layers it
precomputes embedding · W_x + b of the first layer as a [V, 4H] table (a gather instead of a
matmul per step); other cells call their Keras cell. The sampler never draws <unk> (its logit is
masked): it spells no character. On a CPU, where one XLA loop uses one core, a large batch is
split into one shard per core (rows are independent, so the text does not change).

Weights are plain Keras variables, so a checkpoint trained on a GPU (cuDNN) samples on a CPU and
the other way round; nothing here depends on the device that trained it.
"""

from __future__ import annotations

import functools
import os
import weakref

import keras
import numpy as np
from keras import ops

from charlm.sampler import Sampler

# Steps per compiled call: streaming granularity vs per-call and host-decoding overhead. At batch
# 64 on 2 CPU cores, 256 gave 2–3% more chars/s than 128 (512: 1% more again); a chunk is still
# only ~20 ms at batch 1.
CHUNK_SIZE = 256
MIN_SHARD_ROWS = 16  # below this many rows per core, splitting a CPU batch does not pay
UNK_ID = 0  # <unk>: CharTokenizer's id 0 and sentencepiece's unk_id


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
                    x, c = _lstm_update(cell, z, c)  # z [B, 4H] → h [B, H], c [B, H]
                    new_states += [x, c]
                else:
                    x, cell_states = layer.cell(x, layer_states, training=False)
                    new_states += list(cell_states) if isinstance(cell_states, (list, tuple)) \
                        else [cell_states]
            return self.dense(x), new_states  # [B, V]

        return step


def _lstm_update(cell, z, c):
    # Keras LSTMCell gate order i, f, c, o; the same formula as LSTMCell.call.
    i, f, g, o = ops.split(z, 4, axis=-1)
    c = cell.recurrent_activation(f) * c + cell.recurrent_activation(i) * cell.activation(g)
    return cell.recurrent_activation(o) * cell.activation(c), c


class Decoder:
    """Device side for one model: read the prompt (`start`), then sample in chunks (`advance`)."""

    def __init__(self, model: keras.Model, chunk_size: int = CHUNK_SIZE, jit_compile: bool = True):
        # No reference to the model itself: decoder_for caches by it in a WeakKeyDictionary.
        self.chunk_size, self.jit_compile = chunk_size, jit_compile
        self.variables = list(model.variables)
        self.state_sizes = [inp.shape[-1] for inp in model.inputs[1:]]  # H of each state input
        self.step = RecurrentStep(model)
        self.backend = keras.backend.backend()
        self._loops: dict = {}
        self._pool = None  # threads for shards (see shard_sizes), made on first use
        # Not XLA: the prompt length varies, and the exported graph runs these same kernels.
        self._prime = self._compile(self.read_prompt, jit=False)

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
        if self.backend == "tensorflow":
            import tensorflow as tf

            return tf.function(fn, jit_compile=jit, reduce_retracing=not jit)
        if self.backend == "jax":
            import jax

            variables = self.variables

            def pure(values, *args):
                with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                    return fn(*args)

            jitted = jax.jit(pure)
            return lambda *args: jitted([v.value for v in variables], *args)
        return fn  # other backends: eager, correct but slow

    def shard_sizes(self, batch: int) -> list[int]:
        """Rows per parallel loop call. An XLA loop on a CPU runs on one core, so on a CPU a large
        batch is split into one shard per core, each run from its own thread; rows never
        interact (own state, own random stream), so the text is the same as unsplit."""
        if not _on_cpu() or batch < 2 * MIN_SHARD_ROWS:
            return [batch]
        n = min(_cpu_count(), batch // MIN_SHARD_ROWS)
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


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@functools.lru_cache(maxsize=None)
def _on_cpu() -> bool:
    """True when the backend computes on the CPU (no GPU/TPU to run the loop on)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return not tf.config.list_logical_devices("GPU")
    if backend == "jax":
        import jax

        return jax.default_backend() == "cpu"
    return False


_DECODERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def decoder_for(model: keras.Model) -> Decoder:
    """The model's Decoder, built once: the trainer samples at every validation without
    recompiling (compiled functions read the variables, so they see updated weights)."""
    if model not in _DECODERS:
        _DECODERS[model] = Decoder(model)
    return _DECODERS[model]
