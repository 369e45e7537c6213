"""charlm.evaluate: bits per character of a text, read in order with the state carried along."""

import math

import numpy as np
from keras import ops

from charlm.evaluate import evaluate_text
from charlm.model.model import zero_states
from tests.helpers import TINY_TEXT


def test_memorised_text_gets_low_bpc(trained_lm):
    result = evaluate_text(trained_lm.model, trained_lm.tokenizer, TINY_TEXT[:3000])
    assert result["chars"] == 3000 and result["unknown_chars"] == 0
    assert result["bpc"] < 0.6, result  # 4 sentence shapes repeated: nearly deterministic


def test_unrelated_text_gets_high_bpc(trained_lm):
    result = evaluate_text(trained_lm.model, trained_lm.tokenizer,
                           "stop dogs sing near the cat keys. " * 20)
    assert result["bpc"] > 1.0


def test_streams_split_gives_nearly_the_same_bpc(trained_lm):
    one = evaluate_text(trained_lm.model, trained_lm.tokenizer, TINY_TEXT)
    four = evaluate_text(trained_lm.model, trained_lm.tokenizer, TINY_TEXT, streams=4)
    assert abs(one["bpc"] - four["bpc"]) < 0.05 and four["streams"] == 4


def test_bpc_is_the_mean_negative_log_likelihood_of_every_character(make_model):
    """Against the definition: one call of the model on "\\n" + text from a zero state, a log
    softmax in float64, every character's nll summed. The text is longer than one chunk (so the
    state must be carried across chunks) and holds a character outside the vocabulary."""
    from charlm.data.tokenizers import CharTokenizer

    tokenizer = CharTokenizer(list("\n .abcde"))
    model = make_model(vocab_size=tokenizer.vocab_size, embedding_dim=4, units=8, seed=5)
    rng = np.random.default_rng(0)
    text = "".join(rng.choice(list("\n .abcde"), 96)) + "z" + "abc"  # 'z' is <unk>
    result = evaluate_text(model, tokenizer, text, chunk_len=40)

    ids = np.concatenate([[tokenizer.token_id("\n")], tokenizer.encode(text, "replace")])
    logits, *_ = model([ops.convert_to_tensor(ids[None, :-1].astype(np.int32)),
                        *zero_states(model, 1)])
    logits = np.asarray(logits[0], np.float64)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nats = -log_probs[np.arange(len(text)), ids[1:]].sum()
    assert result["chars"] == len(text) == 100 and result["unknown_chars"] == 1
    assert math.isclose(result["nats_per_char"], nats / len(text), rel_tol=1e-5)
    assert math.isclose(result["bpc"], nats / len(text) / math.log(2), rel_tol=1e-5)
