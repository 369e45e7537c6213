"""`charlm export`: a checkpoint as a `.keras` model plus a TensorFlow SavedModel that generates.

    OUT/model.keras        the Keras model (tokens + states → logits + states), weights included;
                           for lstm, gru and rnn only stock Keras layers, so plain
                           keras.saving.load_model reads it without charlm; a peephole or cifg
                           model holds charlm's own cells: plain Keras reads it only after
                           `import charlm.model.cells` (which registers them; `import charlm`
                           alone does not), and charlm.load(OUT) always reads it
    OUT/tokenizer/         the checkpoint's tokenizer files
    OUT/config.json        the checkpoint's config, plus an "export" section
    OUT/saved_model/       serving_default(prompt, length, seed, num_samples, temperature, top_k,
                           top_p) → {"text": [num_samples] string, "unknown_chars": int32}

The serving signature runs the same code as in-process generation: the prompt is decoded from
UTF-8 and looked up in the character table in the graph, read in one compiled pass
(`Decoder.read_prompt`), and the same Sampler loop runs in compiled chunks, with the sampler chosen
at run time the way the CLI chooses it (temperature 0 → greedy; top_p < 1 → top-p; top_k > 0 →
top-k; else plain; top_k = 0 and top_p = 1 mean "off"). So for the same seed it returns the text
that `charlm generate` / `LanguageModel.generate` produce. Prompt characters outside the
vocabulary become <unk> (the "replace" policy) and are counted in `unknown_chars`. `length` is in
characters; only character tokenizers can be exported (subword tokenizers would need
sentencepiece ops in the graph). `charlm.load(OUT)` reads the folder back, like a checkpoint.

The folder is written under a temporary name and renamed into place: a crash leaves no half export.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from keras import ops

from charlm.errors import UserError
from charlm.generate.samplers import GreedySampler, Sampler, nucleus, sorted_draw


def export(checkpoint, out, which: str = "best") -> Path:
    import keras

    from charlm import checkpoint as ckpt
    from charlm.fileio import fsync_tree
    from charlm.model.model import build_model, spec_from_saved

    if keras.backend.backend() != "tensorflow":  # the serving graph is TensorFlow's own
        raise UserError("export writes a TensorFlow SavedModel; run it with "
                        f"KERAS_BACKEND=tensorflow, not {keras.backend.backend()} (a checkpoint "
                        "trained on any backend exports the same)")
    out = Path(out)
    if out.exists():
        raise UserError(f"{out} already exists; pass a new --out folder (nothing was written)")
    lm = ckpt.load(checkpoint, which=which)
    if getattr(lm.tokenizer, "kind", "") != "char":
        raise UserError(f"{checkpoint} uses a {lm.tokenizer.kind} tokenizer; only character "
                        "tokenizers can be exported (the serving graph tokenizes in TensorFlow)")
    # Stock Keras layers with the same weights: plain keras.saving.load_model reads the file
    # without charlm installed (charlm's LSTM subclass only changes how it trains on a CPU).
    # Not for peephole/cifg: Keras has no such cells, so the file names charlm's classes.
    plain = build_model(**spec_from_saved(lm.config["model"]), fused=False)
    plain.set_weights(lm.model.get_weights())
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        plain.save(staged / ckpt.EXPORT_MODEL)
        lm.tokenizer.save(staged / ckpt.TOKENIZER)
        config = dict(lm.config)
        config["export"] = {"from": str(Path(checkpoint).resolve()), "which": which,
                            "signature": "serving_default"}
        ckpt.write_config(staged, config)
        save_serving_model(lm.model, lm.tokenizer, staged / ckpt.SAVED_MODEL)
        ckpt.seal_export(staged)
        fsync_tree(staged)
        os.replace(staged, out)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return out


def save_serving_model(model, tokenizer, path: Path) -> None:
    import tensorflow as tf

    module = serving_module(model, tokenizer)
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.generate})


class RuntimeSampler(Sampler):
    """make_sampler's choice made in the graph from scalar tensors, drawing exactly what the
    class make_sampler would pick draws (same masks, same order, same uniform)."""

    def __init__(self, temperature, top_k, top_p):
        super().__init__(ops.where(temperature > 0, temperature, 1.0))
        self.raw_temperature, self.k, self.p = temperature, top_k, top_p

    def get_next_token(self, probabilities, uniform):
        k = ops.where(self.k > 0, self.k, probabilities.shape[-1])
        p = ops.where(self.p < 1, self.p, 2.0)  # 2: above every prefix's mass, so keeps all

        # TopPSampler's rule; with p = 2 it is TopKSampler's
        ranked = sorted_draw(probabilities, lambda top, rank: nucleus(top, rank, p, k), uniform)
        plain = Sampler.get_next_token(self, probabilities, uniform)
        greedy = GreedySampler.get_next_token(self, probabilities, uniform)
        filtered = ops.logical_or(self.k > 0, self.p < 1)
        return ops.where(self.raw_temperature <= 0, greedy, ops.where(filtered, ranked, plain))


def serving_module(model, tokenizer):
    """A tf.Module whose `generate` tf.function is the serving signature (see the module doc)."""
    import numpy as np
    import tensorflow as tf

    from charlm.generate.decoding import Decoder, mask_unknown
    from charlm.generate.samplers import row_keys

    decoder = Decoder(model)
    chunk = decoder.chunk_size
    prime = tokenizer.prime_id()  # read before an empty prompt
    module = tf.Module()
    # Only the tf.Variables the graph reads are tracked, not the Keras model: saving a tracked
    # model would also trace its own call with unknown shapes, which generation never needs.
    module.weights = [v.value for v in model.variables]
    module.table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant([ord(c) for c in tokenizer.chars], tf.int32),
            tf.constant(np.arange(1, len(tokenizer.chars) + 1), tf.int32)), default_value=0)
    vocab = tf.constant(["\ufffd"] + list(tokenizer.chars))  # id 0 (<unk>) decodes as U+FFFD
    zeros = [tf.zeros([1, inp.shape[-1]]) for inp in model.inputs[1:]]

    @tf.function(jit_compile=True)
    def loop(logits, states, rng, steps, temperature, top_k, top_p):
        sampler = RuntimeSampler(temperature, top_k, top_p)
        return sampler(decoder.sampling_step(), mask_unknown(logits), states, rng, steps,
                       max_steps=chunk)  # exactly Decoder.compiled_loop's body

    @tf.function(input_signature=[
        tf.TensorSpec([], tf.string, name="prompt"), tf.TensorSpec([], tf.int32, name="length"),
        tf.TensorSpec([], tf.int64, name="seed"), tf.TensorSpec([], tf.int32, name="num_samples"),
        tf.TensorSpec([], tf.float32, name="temperature"),
        tf.TensorSpec([], tf.int32, name="top_k"), tf.TensorSpec([], tf.float32, name="top_p")])
    def generate(prompt, length, seed, num_samples, temperature, top_k, top_p):
        ids = module.table.lookup(tf.strings.unicode_decode(prompt, "UTF-8", errors="replace"))
        unknown = tf.reduce_sum(tf.cast(tf.equal(ids, 0), tf.int32))
        ids = tf.cond(tf.size(ids) > 0, lambda: ids, lambda: tf.constant([prime], tf.int32))
        logits, states = decoder.read_prompt(ids[None, :], zeros)  # [1, V], [1, H] each
        logits = tf.repeat(logits, num_samples, axis=0)  # the same prompt for every row
        states = [tf.repeat(s, num_samples, axis=0) for s in states]
        rng = row_keys(tf.fill([num_samples], tf.cast(seed % (2**32), tf.uint32)),
                       tf.range(num_samples))
        n_chunks = tf.maximum((length + chunk - 1) // chunk, 0)

        def body(i, chunks, logits, states, rng):  # the same chunks as Generator.stream
            steps = tf.minimum(chunk, length - i * chunk)
            tokens, logits, states, rng = loop(logits, states, rng, steps, temperature, top_k,
                                               top_p)  # tokens [B, chunk]
            return i + 1, chunks.write(i, tokens), logits, list(states), rng

        chunks = tf.TensorArray(tf.int32, size=n_chunks, element_shape=[None, chunk])
        _, chunks, *_ = tf.while_loop(lambda i, *_: i < n_chunks, body,
                                      (tf.constant(0), chunks, logits, states, rng))
        tokens = tf.cond(  # [C, B, chunk] → [B, C·chunk]; an empty TensorArray cannot stack
            n_chunks > 0,
            lambda: tf.reshape(tf.transpose(chunks.stack(), [1, 0, 2]), [num_samples, -1]),
            lambda: tf.zeros([num_samples, 0], tf.int32))
        text = tf.strings.reduce_join(tf.gather(vocab, tokens[:, :tf.maximum(length, 0)]), -1)
        return {"text": text, "unknown_chars": unknown}  # text [B] string

    module.generate = generate
    return module
