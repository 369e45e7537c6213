"""Log-probability scoring: hand-computed values, the batched scorer against a one-row reference,
the end-marker rule, ties, and `charlm score` on a checkpoint folder built by hand."""

import json
import math

import keras
import numpy as np
import pytest

from charlm import checkpoint as ckpt
from charlm.cli import main
from charlm.model.model import build_model, zero_states
from charlm.probes.pairs import Pair, requests, score_pairs
from charlm.probes.scoring import ModelScorer as LstmScorer, score_lines
from charlm.data.tokenizers import CharTokenizer

CHARS = ["\n", " ", ".", "a", "d", "e", "i", "m", "r", "s"]  # ids 1..10; id 0 is <unk>
BIAS = np.array([-9.0, 0.5, 1.0, -0.5, 2.0, 0.0, 1.5, 0.3, -1.0, 0.7, 1.2], np.float32)


def _unigram_model(tokenizer):
    """An LSTM whose output ignores its input: logits = BIAS at every step, so
    log p(c) = BIAS[c] - log Σ exp(BIAS), the same after any history: computable by hand."""
    model = build_model(tokenizer.vocab_size, 4, "lstm", 1, 8)
    dense = model.get_layer("logits")
    dense.set_weights([np.zeros_like(dense.get_weights()[0]), BIAS])
    return model


def _hand_logprob(tokenizer, text):
    log_z = math.log(sum(math.exp(b) for b in BIAS.tolist()))
    return sum(float(BIAS[tokenizer.token_id(c)]) - log_z for c in text)


@pytest.fixture(scope="module")
def tok():
    return CharTokenizer(CHARS)


def test_hand_computed_logprobs_match_score(tok):
    scorer = LstmScorer(_unigram_model(tok), tok)
    rows = score_lines(scorer, ["ai", "", "dime", "a dream."])
    for row, line in zip(rows, ["ai", "", "dime", "a dream."]):
        # the line and the line break that ends it; the priming line break is not scored
        assert row["chars"] == len(line) + 1
        assert row["logprob"] == pytest.approx(_hand_logprob(tok, line + "\n"), abs=1e-4)
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
def test_batched_shared_prefix_scoring_matches_reference(tok, cell):
    keras.utils.set_random_seed(3)
    model = build_model(tok.vocab_size, 6, cell, 2, 12)
    reqs = [("a dream", " is "), ("a dream", " i "), ("", "ma dame.\n"), ("a", "d"),
            ("dime", "s.\n"), ("dime", " s\n"), ("mare", "s.\n"), ("a dream", " is ")]
    ctx_lp, tgt_lp = LstmScorer(model, tok, batch_size=2).score(reqs)  # several chunks
    for (context, target), c, t in zip(reqs, ctx_lp, tgt_lp):
        ref_c, ref_t = _reference(model, tok, context, target)
        assert c == pytest.approx(ref_c, abs=1e-4) and t == pytest.approx(ref_t, abs=1e-4)
    assert tgt_lp[0] == tgt_lp[-1]  # a repeated request is scored once: bit-identical


def test_full_sentence_logprob_is_the_whole_line(tok):
    keras.utils.set_random_seed(4)
    model = build_model(tok.vocab_size, 6, "lstm", 1, 12)
    pair = Pair({}, "x:1", "s", "c", "full", "a dame sees mares.", "a dame see mares.")
    [result] = score_pairs(LstmScorer(model, tok), [pair])
    for key, sentence in (("logprob_good", pair.good_text), ("logprob_bad", pair.bad_text)):
        assert result[key] == pytest.approx(sum(_reference(model, tok, "", sentence + "\n")),
                                            abs=1e-4)


def test_end_marker_rule_prefix_word_does_not_win_by_default(trained_checkpoint):
    """'sleep' is a prefix of 'sleeps': scored without the character after it, it wins (every
    continuation of 'sleeps' is also one of 'sleep'), here against what the model learned. With
    that character mandatory the verdict follows the model: 'sleeps.' + end marker."""
    import charlm
    from charlm.probes.pairs import _parse_pairs

    lm = charlm.load(trained_checkpoint)
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
    [result] = score_pairs(LstmScorer(_unigram_model(tok), tok), [same])
    assert result["logprob_good"] == result["logprob_bad"] and result["correct"] is False
    anagram = Pair({}, "x:2", "s", "c", "one_prefix", "a dime.", "a mide.", prefix="a",
                   good="dime.", bad="mide.", after="")
    assert score_pairs(_FlatScorer(), [anagram, same])[0]["correct"] is False


def _hand_checkpoint(folder, tok):
    model = _unigram_model(tok)
    tok.save(folder / "tokenizer")
    spec = {"vocab_size": tok.vocab_size, "embedding_dim": 4, "cell": "lstm", "layers_count": 1,
            "units": 8, "dropout": 0.0}
    (folder / "config.json").write_text(json.dumps({"model": spec, "corpus": {"name": "hand"}}))
    ckpt.save_best(folder, model, {"step": 0})
    return folder


def test_cli_score_json(tmp_path, tok, capsys):
    folder = _hand_checkpoint(tmp_path / "ckpt", tok)
    text = tmp_path / "lines.txt"
    text.write_text("a dream.\nmare\n")
    assert main(["score", "--checkpoint", str(folder), "--text-file", str(text), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["line"] for r in rows] == [1, 2] and [r["chars"] for r in rows] == [9, 5]
    assert rows[0]["logprob"] == pytest.approx(_hand_logprob(tok, "a dream.\n"), abs=1e-4)
    assert rows[1]["logprob"] == pytest.approx(_hand_logprob(tok, "mare\n"), abs=1e-4)


def test_cli_score_unknown_character_is_one_line(tmp_path, tok, capsys):
    folder = _hand_checkpoint(tmp_path / "ckpt", tok)
    text = tmp_path / "lines.txt"
    text.write_text("a dream!\n")
    assert main(["score", "--checkpoint", str(folder), "--text-file", str(text)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'!'" in err and "--unknown replace" in err
