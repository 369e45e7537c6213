"""Samplers and the compiled generation loop: exact logits, seeds, decoding rules, prompt policy."""

import keras
import numpy as np
import pytest
from keras import ops

from charlm.errors import UserError
from charlm.model.one_step import RecurrentStep
from charlm.generate.generator import Generator
from charlm.api import load
from charlm.model.model import build_model, zero_states
from charlm.generate.novelty import novelty
from charlm.generate.generator import sample_text
from charlm.generate.samplers import (GreedySampler, Sampler, TopKSampler, TopPSampler,
                                      inverse_cdf, make_sampler, row_keys, uniform_from_state)
from conftest import TINY_TEXT


@pytest.fixture(scope="module")
def lm(trained_checkpoint):
    return load(trained_checkpoint)


@pytest.mark.parametrize("cell,layers", [("lstm", 2), ("gru", 1), ("rnn", 2)])
def test_step_by_step_logits_equal_full_sequence(cell, layers):
    keras.utils.set_random_seed(0)
    model = build_model(vocab_size=11, embedding_dim=6, cell=cell, layers=layers, units=16)
    tokens = np.random.default_rng(0).integers(0, 11, (3, 9)).astype(np.int32)
    full, *_ = model([ops.convert_to_tensor(tokens), *zero_states(model, 3)])  # [3, 9, 11]
    step, states, logits = RecurrentStep(model).prepare(), zero_states(model, 3), []
    for t in range(tokens.shape[1]):
        out, states = step(ops.convert_to_tensor(tokens[:, t]), states)  # [3, 11]
        logits.append(np.asarray(out))
    np.testing.assert_allclose(np.stack(logits, axis=1), np.asarray(full), atol=1e-5)


def test_compiled_greedy_loop_follows_the_full_sequence_model(lm):
    prompt = "The cat near"
    text = lm.generate(prompt, length=60, temperature=0)
    ids = lm.tokenizer.encode(prompt + text)[None, :]
    full, *_ = lm.model([ops.convert_to_tensor(ids), *zero_states(lm.model, 1)])
    predicted = np.asarray(full)[0].argmax(-1)[len(prompt) - 1:-1]  # next-char argmax
    assert lm.tokenizer.decode(predicted) == text
    assert text.startswith(" the ")  # memorised corpus


def test_temperature_zero_equals_top_k_one(lm):
    greedy = lm.generate("The ", length=80, temperature=0, seed=1)
    assert lm.generate("The ", length=80, temperature=1.0, top_k=1, seed=2) == greedy
    assert len(greedy) == 80


def test_same_seed_same_text_different_seed_different_text(lm):
    a = lm.generate("The ", length=120, temperature=1.5, seed=11)
    assert lm.generate("The ", length=120, temperature=1.5, seed=11) == a
    assert lm.generate("The ", length=120, temperature=1.5, seed=12) != a


def test_batch_rows_match_single_runs(lm):
    seeds = [3, 4, 5]
    batch = lm.generate("The ", length=70, temperature=1.5, seed=seeds)
    assert batch == [lm.generate("The ", length=70, temperature=1.5, seed=s) for s in seeds]
    rows = lm.generate("The ", length=70, temperature=1.5, seed=3, num_samples=4)
    assert rows[0] == batch[0] and len(set(rows)) == 4  # streams 0..3 of seed 3


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = ops.convert_to_tensor(np.array([[0.15, 0.5, 0.05, 0.3]] * 4000, np.float32))
    uniform = ops.convert_to_tensor((np.arange(4000, dtype=np.float32) + 1) / 4000)
    for p, kept in [(0.5, {1}), (0.8, {1, 3}), (0.81, {0, 1, 3}), (1.0, {0, 1, 2, 3})]:
        tokens = np.asarray(TopPSampler(p).get_next_token(probs, uniform))
        assert set(tokens.tolist()) == kept, p
        mass = sum([0.15, 0.5, 0.05, 0.3][i] for i in kept)
        for i in kept:  # each kept token drawn in proportion to its probability
            share = [0.15, 0.5, 0.05, 0.3][i] / mass
            assert abs((tokens == i).mean() - share) < 2e-3
    tokens = np.asarray(TopPSampler(0.95, k=2).get_next_token(probs, uniform))
    assert set(tokens.tolist()) == {1, 3}


def test_top_k_greedy_and_inverse_cdf_rules():
    probs = ops.convert_to_tensor(np.array([[0.0, 0.2, 0.0, 0.8]] * 3, np.float32))
    uniform = ops.convert_to_tensor(np.array([1e-7, 0.2, 1.0], np.float32))
    assert np.asarray(inverse_cdf(probs, uniform)).tolist() == [1, 1, 3]  # never a 0-prob id
    assert np.asarray(GreedySampler().get_next_token(probs, uniform)).tolist() == [3, 3, 3]
    assert np.asarray(TopKSampler(1).get_next_token(probs, uniform)).tolist() == [3, 3, 3]
    assert set(np.asarray(TopKSampler(2).get_next_token(probs, uniform)).tolist()) == {1, 3}


def test_samplers_override_one_method():
    for cls in (GreedySampler, TopKSampler, TopPSampler):
        assert issubclass(cls, Sampler) and "get_next_token" in vars(cls)
        assert "__call__" not in vars(cls) and "compute_probabilities" not in vars(cls)
    assert isinstance(make_sampler(0), GreedySampler)
    assert isinstance(make_sampler(0.7, top_k=5), TopKSampler)
    assert isinstance(make_sampler(0.7, top_k=5, top_p=0.9), TopPSampler)
    assert type(make_sampler(0.7, top_p=1.0)) is Sampler
    for bad in (dict(temperature=-1), dict(top_k=0), dict(top_p=0), dict(top_p=1.5)):
        with pytest.raises(UserError):
            make_sampler(**{"temperature": 1.0, **bad})


def test_random_streams_are_uniform_and_independent_per_row():
    keys = row_keys(np.array([7] * 4 + [8], np.uint32), np.array([0, 1, 2, 3, 0], np.uint32))
    assert len(set(np.asarray(keys).tolist())) == 5
    states = np.asarray(keys)[:, None] + np.arange(20000, dtype=np.uint32) * np.uint32(0x9E3779B9)
    u = np.asarray(uniform_from_state(ops.convert_to_tensor(states.reshape(-1))))
    assert u.min() > 0 and u.max() <= 1 and abs(u.mean() - 0.5) < 0.01
    assert abs(np.corrcoef(u.reshape(5, -1))[0, 1]) < 0.03


def test_unknown_prompt_characters_follow_the_tokenizer_policy(lm):
    with pytest.raises(UserError, match=r"vocabulary: 'Z' 'é'; .* pass --unknown replace"):
        lm.generate("Zé cat", length=5)
    with pytest.warns(UserWarning, match="2 prompt character"):
        assert len(lm.generate("Zé cat", length=5, unknown="replace")) == 5


def test_stop_strings_cut_the_text(lm):
    gen = Generator(lm.model, lm.tokenizer)
    full = lm.generate("The cat", length=300, temperature=0)
    line = full[:full.index("\n")]  # the memorised corpus has short lines
    samples = gen.run("The cat", 300, make_sampler(0), seed=0, stop=["\n", "zzz"])
    assert samples[0].finish_reason == "stop" and samples[0].text == line
    assert gen.run("The cat", 5, make_sampler(0), stop=["\n"])[0].finish_reason == "length"
    streamed = []
    gen.run("The cat", 300, make_sampler(0), stop=["\nThe "], on_text=streamed.append)
    assert "".join(d[0] for d in streamed) == line  # nothing past the cut, not even "\n"


def test_length_zero_and_trainer_helper(lm):
    assert lm.generate("The", length=0) == ""
    text = sample_text(lm.model, lm.tokenizer, 40, seed=3)
    assert isinstance(text, str) and len(text) == 40
    assert sample_text(lm.model, lm.tokenizer, 40, seed=3, prompt="") == text  # "" reads as "\n"


def test_gru_checkpoint_generates_and_never_draws_unk():
    keras.utils.set_random_seed(0)
    from charlm.data.tokenizers import CharTokenizer

    model = build_model(vocab_size=5, embedding_dim=4, cell="gru", layers=2, units=8)
    bias = model.get_layer("logits").bias
    bias.assign(np.array([8.0, 0, 0, 0, 0], np.float32))  # <unk> would win almost every draw
    gen = Generator(model, CharTokenizer(list("abcd")))
    text = gen.generate("ab", length=30, temperature=1.0, seed=1)
    assert len(text) == 30 and set(text) <= set("abcd")


def test_novelty_counts_verbatim_substrings():
    corpus = [TINY_TEXT[:5000], TINY_TEXT[5000:]]  # an n-gram across the chunk edge still counts
    copied = TINY_TEXT[4990:5030]
    scores = novelty([copied, "qqqqqqqqqqqqqqqqqqqqqqqq", "short"], iter(corpus), n=20)
    assert scores[0] == {"ngrams": 21, "copied": 21, "copied_share": 1.0}
    assert scores[1]["copied_share"] == 0.0 and scores[2]["copied_share"] is None


def test_cpu_batch_split_across_cores_gives_the_same_rows(lm, monkeypatch):
    import charlm.generate.decoding as decoding

    monkeypatch.setattr(decoding, "_cpu_count", lambda: 2)
    gen = Generator(lm.model, lm.tokenizer)
    if gen.decoder.shard_sizes(34) == [34]:
        pytest.skip("the backend computes on an accelerator: batches are not split")
    assert gen.decoder.shard_sizes(34) == [17, 17] and gen.decoder.shard_sizes(31) == [31]
    rows = gen.generate("The ", length=50, temperature=1.5, seed=21, num_samples=34)
    assert rows[0] == lm.generate("The ", length=50, temperature=1.5, seed=21)
    with monkeypatch.context() as m:
        m.setattr(decoding, "_cpu_count", lambda: 1)
        assert Generator(lm.model, lm.tokenizer).generate(
            "The ", length=50, temperature=1.5, seed=21, num_samples=34) == rows


def test_subword_checkpoint_counts_length_in_characters(tiny_corpus, tmp_path):
    from charlm.training.trainer import train
    from conftest import tiny_config

    folder = train(tiny_config(tiny_corpus, tmp_path / "bpe", tokenizer="bpe", vocab_size=300,
                               max_steps=4, eval_every=4), quiet=True)
    lm = load(folder)
    for length in (1, 37):
        texts = lm.generate("The cat", length=length, temperature=1.0, seed=2, num_samples=2)
        assert [len(t) for t in texts] == [length, length]
    assert "\n" not in lm.generate("The", length=200, temperature=1.0, seed=4, stop="\n")
