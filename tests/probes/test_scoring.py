"""charlm.probes.scoring: log-probabilities computed by hand, the batched scorer against a one-row
reference, the end-marker rule, ties."""

import keras
import numpy as np
import pytest

from charlm.data.tokenizers import CharTokenizer
from charlm.model.model import zero_states
from charlm.probes.pairs import Pair, requests, score_pairs
from charlm.probes.scoring import ModelScorer as LstmScorer, score_lines
from tests.probes.examples import CHARS, hand_logprob, unigram_model


@pytest.fixture(scope="module")
def tok():
    return CharTokenizer(CHARS)


def test_hand_computed_logprobs_match_score(tok):
    scorer = LstmScorer(unigram_model(tok), tok)
    rows = score_lines(scorer, ["ai", "", "dime", "a dream."])
    for row, line in zip(rows, ["ai", "", "dime", "a dream."]):
        # the line and the line break that ends it; the priming line break is not scored
        assert row["chars"] == len(line) + 1
        assert row["logprob"] == pytest.approx(hand_logprob(tok, line + "\n"), abs=1e-4)
    assert [r["line"] for r in rows] == [1, 2, 3, 4]


def _reference(model, tok, context, target):
    """One row, whole text, no batching or state reuse: the definition."""
    ids = np.concatenate([[tok.token_id("\n")], tok.encode(context + target)]).astype(np.int32)
    logits, *_ = model([keras.ops.convert_to_tensor(ids[None, :-1]), *zero_states(model, 1)])
    logits = np.asarray(logits[0], np.float64)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = logp[np.arange(len(ids) - 1), ids[1:]]
    return picked[:len(context)].sum(), picked[len(context):].sum()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_batched_shared_prefix_scoring_matches_reference(tok, cell, make_model):
    model = make_model(vocab_size=tok.vocab_size, embedding_dim=6, cell=cell, layers=2, units=12,
                       seed=3)
    reqs = [("a dream", " is "), ("a dream", " i "), ("", "ma dame.\n"), ("a", "d"),
            ("dime", "s.\n"), ("dime", " s\n"), ("mare", "s.\n"), ("a dream", " is ")]
    ctx_lp, tgt_lp = LstmScorer(model, tok, batch_size=2).score(reqs)  # several chunks
    for (context, target), c, t in zip(reqs, ctx_lp, tgt_lp):
        ref_c, ref_t = _reference(model, tok, context, target)
        assert c == pytest.approx(ref_c, abs=1e-4) and t == pytest.approx(ref_t, abs=1e-4)
    assert tgt_lp[0] == tgt_lp[-1]  # a repeated request is scored once: bit-identical


def test_full_sentence_logprob_is_the_whole_line(tok, make_model):
    model = make_model(vocab_size=tok.vocab_size, embedding_dim=6, cell="lstm", units=12, seed=4)
    pair = Pair({}, "x:1", "s", "c", "full", "a dame sees mares.", "a dame see mares.")
    [result] = score_pairs(LstmScorer(model, tok), [pair])
    for key, sentence in (("logprob_good", pair.good_text), ("logprob_bad", pair.bad_text)):
        assert result[key] == pytest.approx(sum(_reference(model, tok, "", sentence + "\n")),
                                            abs=1e-4)


def test_end_marker_rule_prefix_word_does_not_win_by_default(trained_lm):
    """'sleep' is a prefix of 'sleeps': scored without the character after it, it wins (every
    continuation of 'sleeps' is also one of 'sleep'), here against what the model learned. With
    that character mandatory the verdict follows the model: 'sleeps.' + end marker."""
    from charlm.probes.pairs import _parse_pairs

    lm = trained_lm
    scorer = LstmScorer(lm.model, lm.tokenizer)
    prefix = "The cat near the dogs"  # TINY_TEXT has "The cat near the dogs sleeps."
    obj = {"sentence_good": f"{prefix} sleeps.", "sentence_bad": f"{prefix} sleep.",
           "method": "one_prefix", "prefix": prefix, "good": "sleeps.", "bad": "sleep.",
           "suffix": ""}
    pair = _parse_pairs(obj, "t:1", "t", "auto")
    assert requests(pair)[:2] == ((prefix, " sleeps.\n"), (prefix, " sleep.\n"))
    [result] = score_pairs(scorer, [pair])
    assert result["correct"] and result["logprob_good"] > result["logprob_bad"] + 1.0
    _, naive = scorer.score([(prefix, " sleeps"), (prefix, " sleep")])  # no next character
    assert naive[1] > naive[0]


class _FlatScorer:
    """Gives every target the same score: every pair is a tie."""

    def has_char(self, char):
        return True

    def score(self, reqs, progress=None):
        return np.zeros(len(reqs)), np.full(len(reqs), -3.0)


def test_ties_count_as_wrong(tok):
    same = Pair({}, "x:1", "s", "c", "full", "a dream.", "a dream.")
    [result] = score_pairs(LstmScorer(unigram_model(tok), tok), [same])
    assert result["logprob_good"] == result["logprob_bad"] and result["correct"] is False
    anagram = Pair({}, "x:2", "s", "c", "one_prefix", "a dime.", "a mide.", prefix="a",
                   good="dime.", bad="mide.", after="")
    assert score_pairs(_FlatScorer(), [anagram, same])[0]["correct"] is False
