"""The character n-gram baseline: Witten-Bell by the book, normalised, scored like the LSTM."""

import math

import numpy as np
import pytest

from charlm.errors import UserError
from charlm.probes.ngram import NgramModel
from charlm.probes.pairs import Pair, requests, score_pairs

TEXT = "the dog admires the cat.\nthe dogs admire the cat.\n" * 20 + "a cat sleeps.\n"


def _count(text, gram):
    return sum(text.startswith(gram, i) for i in range(len(text) - len(gram) + 1))


def _witten_bell(text, char, history, k):
    """The textbook recursion, by counting substrings: the definition the vectorised code meets."""
    vocab = sorted(set(text))
    if k == 0:
        return 1.0 / (len(vocab) + 1)
    if len(history) < k - 1:
        return _witten_bell(text, char, history, k - 1)
    h = history[len(history) - (k - 1):] if k > 1 else ""
    follow = {c: _count(text, h + c) for c in vocab}
    total, types = sum(follow.values()), sum(1 for n in follow.values() if n)
    if total == 0:
        return _witten_bell(text, char, history, k - 1)
    lower = _witten_bell(text, char, history, k - 1)
    return (follow.get(char, 0) + types * lower) / (total + types)


def test_matches_the_textbook_recursion():
    model = NgramModel.fit(TEXT, 3)
    line = "\nthe dogs admires a cow.\n"  # 'w' is unseen: it gets the uniform share only
    ids = model.encode(line)
    lp = model.position_logprobs(ids, np.arange(len(ids)))
    for i in range(1, len(line)):
        assert lp[i] == pytest.approx(math.log(_witten_bell(TEXT, line[i], line[:i], 3)), abs=1e-9)


@pytest.mark.parametrize("history", ["", "t", "the d", "zzz", "cat.\n"])
def test_distribution_sums_to_one(history):
    model = NgramModel.fit(TEXT, 4)
    total = 0.0
    for char in [None] + model.chars:  # None: a character outside the vocabulary
        text = "\n" + history + (char or "§")
        ids = model.encode(text)
        total += math.exp(model.position_logprobs(ids, np.arange(len(ids)))[-1])
    assert total == pytest.approx(1.0, abs=1e-9)


def test_score_splits_context_and_target_like_the_lstm_scorer():
    model = NgramModel.fit(TEXT, 5)
    ctx, tgt = model.score([("the dog", " admires "), ("", "the cat.\n"), ("a", "b")])
    ids = model.encode("\nthe dog admires ")
    whole = model.position_logprobs(ids, np.arange(len(ids)))
    assert ctx[0] == pytest.approx(whole[1:8].sum()) and tgt[0] == pytest.approx(whole[8:].sum())
    assert ctx[1] == 0.0


def test_end_marker_rule_with_the_ngram():
    """'admire' is a prefix of 'admires'; the character after it must be scored, or the shorter
    word wins every time. 'the dog admires ' is what the corpus says (order 12 sees 'dog ')."""
    model = NgramModel.fit(TEXT, 12)
    pair = Pair({}, "t:1", "s", "c", "one_prefix", "the dog admires the cat.",
                "the dog admire the cat.", prefix="the dog", good="admires", bad="admire",
                suffix="the cat.", after=" the cat.")
    assert requests(pair)[:2] == (("the dog", " admires "), ("the dog", " admire "))
    assert score_pairs(model, [pair])[0]["correct"] is True
    _, naive = model.score([("the dog", " admires"), ("the dog", " admire")])
    assert naive[1] > naive[0]


def test_order_limits():
    with pytest.raises(UserError, match="--order must be at least 1"):
        NgramModel.fit(TEXT, 0)
    with pytest.raises(UserError, match="too high"):
        NgramModel.fit("".join(map(chr, range(33, 1033))), 7)
