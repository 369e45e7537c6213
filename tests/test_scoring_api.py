"""The scoring API in minicons' shape (`lm.token_scores`, `lm.sequence_score`,
`lm.conditional_score`), pinned against `charlm score` and a one-row model call."""

import json

import keras
import numpy as np
import pytest

from charlm.errors import UserError
from charlm.model.model import zero_states
from tests.helpers import run_cli

LINES = ["The cat near the dogs sleeps.", "The keys near the doors fit.", "T", ""]


def _reference(lm, text):
    """log p and rank of each character of `text` after "\\n", one row, no batching."""
    ids = np.concatenate([[lm.tokenizer.token_id("\n")], lm.tokenizer.encode(text)])
    logits, *_ = lm.model([keras.ops.convert_to_tensor(ids[None, :-1].astype(np.int32)),
                           *zero_states(lm.model, 1)])
    logits = np.asarray(logits[0], np.float64)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))  # [T, V]
    picked = logp[np.arange(len(ids) - 1), ids[1:]]
    ranks = 1 + (logp > picked[:, None]).sum(-1)
    return picked, ranks


def test_token_scores_sum_to_charlm_score(trained_checkpoint, trained_lm, tmp_path, capsys):
    path = tmp_path / "lines.txt"
    path.write_text("\n".join(LINES) + "\n")
    code, stdout, _ = run_cli(capsys, ["score", "--checkpoint", str(trained_checkpoint),
                                       "--text-file", str(path), "--json"])
    assert code == 0
    rows = [json.loads(line) for line in stdout.splitlines()]
    # `charlm score` counts the line break that ends each line: score line + "\n"
    scores = trained_lm.token_scores([line + "\n" for line in LINES])
    for row, line, chars in zip(rows, LINES, scores):
        assert [c for c, _ in chars] == list(line + "\n")  # the first character is scored too
        assert sum(v for _, v in chars) == pytest.approx(row["logprob"], abs=1e-3)


def test_values_surprisal_bits_and_ranks_match_one_row(trained_lm):
    text = LINES[0]
    (plain,) = trained_lm.token_scores(text)
    (bits,) = trained_lm.token_scores([text], surprisal=True, base_two=True, rank=True)
    picked, ranks = _reference(trained_lm, text)
    assert [v for _, v in plain] == pytest.approx(picked.tolist(), abs=1e-4)
    assert [v for _, v, _ in bits] == pytest.approx((-picked / np.log(2)).tolist(), abs=1e-4)
    assert [r for _, _, r in bits] == ranks.tolist()
    assert all(isinstance(r, int) and r >= 1 for _, _, r in bits)
    assert min(r for _, _, r in bits) == 1  # the memorised corpus: some characters are top-1
    assert len(plain[0]) == 2  # (character, value) without rank


def test_sequence_score_reduces_per_character_logprobs(trained_lm):
    scores = trained_lm.token_scores(LINES[:3])
    means = trained_lm.sequence_score(LINES[:3])
    sums = trained_lm.sequence_score(LINES[:3], reduction=np.sum)
    for chars, mean, total in zip(scores, means, sums):
        values = [v for _, v in chars]
        assert mean == pytest.approx(np.mean(values), abs=1e-5)
        assert total == pytest.approx(np.sum(values), abs=1e-4)
    in_bits = trained_lm.sequence_score(LINES[0], reduction=np.sum, base_two=True)
    assert in_bits[0] == pytest.approx(sums[0] / np.log(2), abs=1e-4)
    with pytest.raises(UserError, match="empty text"):
        trained_lm.sequence_score([""])


def test_conditional_score_scores_separator_and_continuation_given_the_prefix(trained_lm):
    prefixes, continuations = ["The cat near the dogs", "The cat near the dogs"], \
        ["sleep.", "sleeps."]
    totals = trained_lm.conditional_score(prefixes, continuations, reduction=np.sum)
    for prefix, cont, total in zip(prefixes, continuations, totals):
        (chars,) = trained_lm.token_scores(prefix + " " + cont)
        assert total == pytest.approx(sum(v for _, v in chars[len(prefix):]), abs=1e-4)
    # the scorer `charlm probe` uses: log P(target | "\n" + context)
    from charlm.probes.scoring import ModelScorer

    _, logp = ModelScorer(trained_lm.model, trained_lm.tokenizer).score(
        [(p, " " + c) for p, c in zip(prefixes, continuations)])
    assert totals == pytest.approx(logp.tolist(), abs=1e-3)
    assert totals[1] > totals[0]  # the corpus says "The cat near the dogs sleeps."
    means = trained_lm.conditional_score(prefixes, continuations)
    assert means[0] == pytest.approx(totals[0] / len(" sleep."), abs=1e-5)
    no_prefix = trained_lm.conditional_score([""], ["The"], reduction=np.sum)[0]
    assert no_prefix == pytest.approx(trained_lm.sequence_score("The", reduction=np.sum)[0])
    with pytest.raises(UserError, match="2 prefixes but 1 continuations"):
        trained_lm.conditional_score(prefixes, ["x"])


def test_unknown_characters(trained_lm):
    with pytest.raises(UserError, match="not in the model's vocabulary"):
        trained_lm.token_scores("The cat!")
    (chars,) = trained_lm.token_scores("The cat!", unknown="replace")
    assert [c for c, _ in chars] == list("The cat!") and np.isfinite(chars[-1][1])
