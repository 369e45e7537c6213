"""One priming rule (tokenizer.prime_id()): eval, score/probe, generate and the exported
SavedModel all read the same id before the text, so they agree on the first character."""

import math

import numpy as np
import pytest
from keras import ops

from charlm.data.tokenizers import UNK_ID, CharTokenizer
from charlm.evaluate import evaluate_text
from charlm.generate.generator import encode_prompt
from charlm.model.model import zero_states
from charlm.probes.scoring import ModelScorer


def _log_probs_after(model, token_id: int) -> np.ndarray:
    """log P(next | token_id read from a zero state) [V], float64, against the definition."""
    logits, *_ = model([ops.convert_to_tensor(np.array([[token_id]], np.int32)),
                        *zero_states(model, 1)])
    logits = np.asarray(logits[0, 0], np.float64)
    return logits - np.log(np.exp(logits).sum())


def test_the_prime_is_the_line_break_or_unk():
    with_break, without = CharTokenizer(list("\nab")), CharTokenizer(list("ab"))
    assert with_break.prime_id() == with_break.token_id("\n") == 1
    assert without.prime_id() == UNK_ID == 0  # a corpus of one line: <unk>, never None
    ids, replaced = encode_prompt(without, "")
    assert ids.tolist() == [0] and replaced == 0


def test_a_vocabulary_without_a_line_break_still_counts_the_first_character(make_model):
    tokenizer = CharTokenizer(list("ab"))
    model = make_model(vocab_size=tokenizer.vocab_size, embedding_dim=4, units=8, seed=3)
    log_probs = _log_probs_after(model, UNK_ID)
    result = evaluate_text(model, tokenizer, "b")
    assert math.isclose(result["nats_per_char"], -log_probs[tokenizer.token_id("b")],
                        rel_tol=1e-5)


@pytest.mark.slow
def test_eval_score_generate_and_export_read_the_same_prime(trained_lm, exported):
    import tensorflow as tf

    model, tokenizer = trained_lm.model, trained_lm.tokenizer
    log_probs = _log_probs_after(model, tokenizer.prime_id())
    first = "T"
    expected = log_probs[tokenizer.token_id(first)]
    # eval: the nats of a one-character text
    assert math.isclose(evaluate_text(model, tokenizer, first)["nats_per_char"], -expected,
                        rel_tol=1e-4)
    # score and probe: log P(context | prime)
    context_lp, _ = ModelScorer(model, tokenizer).score([(first, "h")])
    assert math.isclose(context_lp[0], expected, rel_tol=1e-4)
    # generate and the export, greedy from an empty prompt: the argmax after the prime
    likeliest = tokenizer.decode([int(np.argmax(log_probs))])
    assert trained_lm.generate("", length=1, temperature=0) == likeliest
    serving = tf.saved_model.load(str(exported / "saved_model")).signatures["serving_default"]
    result = serving(prompt=tf.constant(""), length=tf.constant(1), seed=tf.constant(0, tf.int64),
                     num_samples=tf.constant(1), temperature=tf.constant(0.0),
                     top_k=tf.constant(0), top_p=tf.constant(1.0))
    assert [t.decode() for t in result["text"].numpy()] == [likeliest]
