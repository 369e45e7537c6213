"""charlm.generate.samplers: the decoding rules (greedy, top-k, top-p, inverse CDF), the
per-row random streams, make_sampler and get_config."""

import numpy as np
import pytest
from keras import ops

from charlm.errors import UserError
from charlm.generate import samplers
from charlm.generate.samplers import (GreedySampler, Sampler, TopKSampler, TopPSampler,
                                      inverse_cdf, make_sampler, row_keys, uniform_from_state)


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


SAMPLERS = [Sampler(0.7), GreedySampler(), TopKSampler(3, temperature=0.9),
            TopPSampler(0.8, temperature=1.1), TopPSampler(0.8, k=2, temperature=1.1)]


def test_get_config_rebuilds_the_same_sampler():
    """get_config() → {"class": name, **parameters}: the class called with the parameters gives a
    sampler with the same config that picks the same tokens; no two samplers share a config
    (the Decoder compiles one loop per config, so a shared one would run the wrong rule)."""
    rng = np.random.default_rng(0)
    logits = ops.convert_to_tensor(rng.normal(size=(256, 7)).astype(np.float32) * 2)
    uniform = ops.convert_to_tensor(rng.uniform(1e-6, 1.0, 256).astype(np.float32))
    keys = set()
    for sampler in SAMPLERS:
        config = sampler.get_config()
        assert config["class"] == type(sampler).__name__
        rebuilt = getattr(samplers, config["class"])(
            **{k: v for k, v in config.items() if k != "class"})
        assert type(rebuilt) is type(sampler) and rebuilt.get_config() == config
        want = sampler.get_next_token(sampler.compute_probabilities(logits), uniform)
        got = rebuilt.get_next_token(rebuilt.compute_probabilities(logits), uniform)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
        keys.add(tuple(sorted(config.items())))
    assert len(keys) == len(SAMPLERS)
    assert make_sampler(0.7, top_k=5).get_config() == {"class": "TopKSampler",
                                                         "temperature": 0.7, "k": 5}
    assert make_sampler(0.7, top_k=5, top_p=0.9).get_config() == {
        "class": "TopPSampler", "temperature": 0.7, "p": 0.9, "k": 5}
    assert make_sampler(0).get_config()["class"] == "GreedySampler"
