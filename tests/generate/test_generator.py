"""charlm.generate.generator: Generator / LanguageModel.generate: seeds and batch rows, prompt
policy, stop strings, lengths in characters, the trainer's sample_text."""

import pytest

import charlm
from charlm.errors import UserError
from charlm.generate.generator import Generator, sample_text
from charlm.generate.samplers import make_sampler


def test_temperature_zero_equals_top_k_one(trained_lm):
    greedy = trained_lm.generate("The ", length=80, temperature=0, seed=1)
    assert trained_lm.generate("The ", length=80, temperature=1.0, top_k=1, seed=2) == greedy
    assert len(greedy) == 80


def test_same_seed_same_text_different_seed_different_text(trained_lm):
    a = trained_lm.generate("The ", length=120, temperature=1.5, seed=11)
    assert trained_lm.generate("The ", length=120, temperature=1.5, seed=11) == a
    assert trained_lm.generate("The ", length=120, temperature=1.5, seed=12) != a


def test_batch_rows_match_single_runs(trained_lm):
    seeds = [3, 4, 5]
    batch = trained_lm.generate("The ", length=70, temperature=1.5, seed=seeds)
    assert batch == [trained_lm.generate("The ", length=70, temperature=1.5, seed=s)
                     for s in seeds]
    rows = trained_lm.generate("The ", length=70, temperature=1.5, seed=3, num_samples=4)
    assert rows[0] == batch[0] and len(set(rows)) == 4  # streams 0..3 of seed 3


def test_unknown_prompt_characters_follow_the_tokenizer_policy(trained_lm):
    with pytest.raises(UserError, match=r"vocabulary: 'Z' 'é'; .* pass --unknown replace"):
        trained_lm.generate("Zé cat", length=5)
    with pytest.warns(UserWarning, match="2 prompt character"):
        assert len(trained_lm.generate("Zé cat", length=5, unknown="replace")) == 5


def test_stop_strings_cut_the_text(trained_lm):
    gen = Generator(trained_lm.model, trained_lm.tokenizer)
    full = trained_lm.generate("The cat", length=300, temperature=0)
    line = full[:full.index("\n")]  # the memorised corpus has short lines
    samples = gen.run("The cat", 300, make_sampler(0), seed=0, stop=["\n", "zzz"])
    assert samples[0].finish_reason == "stop" and samples[0].text == line
    assert gen.run("The cat", 5, make_sampler(0), stop=["\n"])[0].finish_reason == "length"
    streamed = []
    gen.run("The cat", 300, make_sampler(0), stop=["\nThe "], on_text=streamed.append)
    assert "".join(d[0] for d in streamed) == line  # nothing past the cut, not even "\n"


def test_length_zero_and_trainer_helper(trained_lm):
    assert trained_lm.generate("The", length=0) == ""
    text = sample_text(trained_lm.model, trained_lm.tokenizer, 40, seed=3)
    assert isinstance(text, str) and len(text) == 40
    # "" reads as "\n"
    assert sample_text(trained_lm.model, trained_lm.tokenizer, 40, seed=3, prompt="") == text


def test_subword_checkpoint_counts_length_in_characters(bpe_checkpoint):
    lm = charlm.load(bpe_checkpoint)
    for length in (1, 37):
        texts = lm.generate("The cat", length=length, temperature=1.0, seed=2, num_samples=2)
        assert [len(t) for t in texts] == [length, length]
    assert "\n" not in lm.generate("The", length=200, temperature=1.0, seed=4, stop="\n")
