"""charlm.generate.decoding: the compiled prompt reader and sampling loop (Decoder): what they
compute, <unk> masking, CPU batch shards, and compiling once."""

import numpy as np
import pytest
from keras import ops

from charlm.data.tokenizers import CharTokenizer
from charlm.generate.decoding import Decoder
from charlm.generate.generator import Generator
from charlm.model.model import zero_states


def test_compiled_greedy_loop_follows_the_full_sequence_model(trained_lm):
    prompt = "The cat near"
    text = trained_lm.generate(prompt, length=60, temperature=0)
    ids = trained_lm.tokenizer.encode(prompt + text)[None, :]
    model = trained_lm.model
    full, *_ = model([ops.convert_to_tensor(ids), *zero_states(model, 1)])
    predicted = np.asarray(full)[0].argmax(-1)[len(prompt) - 1:-1]  # next-char argmax
    assert trained_lm.tokenizer.decode(predicted) == text
    assert text.startswith(" the ")  # memorised corpus


def test_gru_checkpoint_generates_and_never_draws_unk(make_model):
    model = make_model(vocab_size=5, embedding_dim=4, cell="gru", layers=2, units=8)
    bias = model.get_layer("logits").bias
    bias.assign(np.array([8.0, 0, 0, 0, 0], np.float32))  # <unk> would win almost every draw
    gen = Generator(model, CharTokenizer(list("abcd")))
    text = gen.generate("ab", length=30, temperature=1.0, seed=1)
    assert len(text) == 30 and set(text) <= set("abcd")


def test_cpu_batch_split_across_cores_gives_the_same_rows(trained_lm, monkeypatch):
    from charlm import backend

    monkeypatch.setattr(backend, "cpu_count", lambda: 2)
    gen = Generator(trained_lm.model, trained_lm.tokenizer)
    if gen.decoder.shard_sizes(34) == [34]:
        pytest.skip("the backend computes on an accelerator: batches are not split")
    assert gen.decoder.shard_sizes(34) == [17, 17] and gen.decoder.shard_sizes(31) == [31]
    rows = gen.generate("The ", length=50, temperature=1.5, seed=21, num_samples=34)
    assert rows[0] == trained_lm.generate("The ", length=50, temperature=1.5, seed=21)
    with monkeypatch.context() as m:
        m.setattr(backend, "cpu_count", lambda: 1)
        assert Generator(trained_lm.model, trained_lm.tokenizer).generate(
            "The ", length=50, temperature=1.5, seed=21, num_samples=34) == rows


@pytest.fixture
def fresh_decoder(make_model):
    """(Generator, its own new Decoder) for a tiny random model: nothing compiled yet."""
    model = make_model(vocab_size=7, embedding_dim=4, cell="lstm", layers=1, units=8)
    decoder = Decoder(model)
    return Generator(model, CharTokenizer(list("abc \n.")), decoder), decoder


def _traces(compiled) -> int:
    if not hasattr(compiled, "experimental_get_tracing_count"):
        pytest.skip("counts traces of tf.function (TensorFlow backend)")
    return compiled.experimental_get_tracing_count()


def test_a_second_generate_call_does_not_retrace_the_sampling_loop(fresh_decoder):
    gen, decoder = fresh_decoder
    gen.generate("ab", length=30, temperature=0.8, seed=1, num_samples=2)
    [loop] = decoder._loops.values()
    assert _traces(loop) == 1
    # another prompt length, seed and text length (two chunks, the last one short): same loop
    gen.generate("abc ab.", length=decoder.chunk_size + 44, temperature=0.8, seed=7,
                 num_samples=2)
    gen.generate("c", length=5, temperature=0.8, seed=3, num_samples=2)
    assert list(decoder._loops.values()) == [loop] and _traces(loop) == 1
    assert _traces(decoder._prime) == 1  # compiled for any prompt length up front


def test_a_second_generate_call_does_not_retrace_the_prompt_reader(fresh_decoder):
    """Decoder.start is what each generate call runs first: the prompt read at batch 1."""
    from charlm.generate.samplers import row_keys

    gen, decoder = fresh_decoder
    rng = row_keys(np.array([1, 1], np.uint32), np.array([0, 1], np.uint32))
    decoder.start(gen.tokenizer.encode("ab"), rng)
    assert _traces(decoder._prime) == 1
    decoder.start(gen.tokenizer.encode("abc ab."), rng)  # another prompt length
    assert _traces(decoder._prime) == 1


def test_one_compiled_loop_per_sampler_configuration(fresh_decoder):
    from charlm.generate.samplers import make_sampler

    _, decoder = fresh_decoder
    loop = decoder.compiled_loop(make_sampler(0.8))
    assert decoder.compiled_loop(make_sampler(0.8)) is loop
    others = [decoder.compiled_loop(s) for s in (make_sampler(0.9), make_sampler(0.8, top_k=3),
                                                 make_sampler(0.8, top_p=0.5), make_sampler(0))]
    assert len({id(f) for f in [loop, *others]}) == 5
