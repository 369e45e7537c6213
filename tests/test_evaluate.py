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


def test_every_call_reads_whole_chunks_so_the_step_traces_once(make_model):
    """The last chunk of each segment is padded (weight 0): one input shape for every call, and
    the same nats as reading it unpadded."""
    from charlm.evaluate import NllStep, evaluate_ids

    model = make_model(vocab_size=7, embedding_dim=4, units=8, seed=3)
    ids = np.random.default_rng(1).integers(0, 7, 101).astype(np.int32)
    step, shapes = NllStep(model), []

    def recording(x, y, weight, states):
        shapes.append(x.shape)
        return step(x, y, weight, states)

    class Progress:
        n = 0

        def update(self, k):
            self.n += k

    progress = Progress()
    padded = evaluate_ids(model, ids, 0, streams=3, chunk_len=15, nll_step=recording,
                          progress=progress)
    assert set(shapes) == {(3, 15)} and len(shapes) == 3  # segments of 34 → 3 chunks of 15
    assert progress.n == 101  # real tokens only, not the padding
    whole = evaluate_ids(model, ids, 0, streams=3, chunk_len=34)  # one unpadded call
    assert padded["tokens"] == whole["tokens"] == 101
    assert math.isclose(padded["nats"], whole["nats"], rel_tol=1e-5)


def test_periodic_validation_reads_chunks_the_cpu_kernel_unrolls(monkeypatch):
    from charlm.evaluate import CHUNK_LEN, repeated_chunk_len
    from charlm.model import lstm_kernels

    monkeypatch.setattr(lstm_kernels, "is_enabled", lambda: True)
    assert repeated_chunk_len(10_000) == lstm_kernels.MAX_UNROLL  # the default run's segments
    assert repeated_chunk_len(500) == CHUNK_LEN  # too short to win back the unrolled graph's trace
    monkeypatch.setattr(lstm_kernels, "is_enabled", lambda: False)
    assert repeated_chunk_len(10_000) == CHUNK_LEN
