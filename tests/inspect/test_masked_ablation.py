"""Many ablations as masks in one batched run (charlm.inspect.masked_ablation) give the margins
of one `ablated` block per condition (weights zeroed in place, the PrefixScorer trie re-run), for
every cell, on a lower and the top layer; the model's weights stay untouched."""

import json

import numpy as np
import pytest

from charlm.inspect.ablation import ablated
from charlm.inspect.masked_ablation import AblationScorer
from charlm.probes.pairs import load_pairs
from charlm.probes.scoring import PrefixScorer
from tests.helpers import tiny_model

TEXT = "The cats near dogs sleep bus tre stop girl boy sing key door fit.\n"
ROWS = [("The cat near the dogs", "sleeps.", "sleep."), ("The cats", "sleep.", "sleeps."),
        ("The keys near the door", "fit.", "fits."), ("The girl", "sings.", "sing."),
        ("The boys near the bus", "stop.", "stops."), ("The cat near the dogs", "sleeps.", "sleep."),
        ("The tree", "stops.", "stop.")]


def _pairs(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"sentence_good": f"{p} {g}", "sentence_bad": f"{p} {b}",
                                        "method": "one_prefix", "prefix": p, "good": g, "bad": b})
                            + "\n" for p, g, b in ROWS), encoding="utf-8")
    return load_pairs([path])[0]


def _random_model(cell, vocab_size):
    model = tiny_model(vocab_size=vocab_size, cell=cell, layers=2, units=6)
    rng = np.random.default_rng(3)  # not the initial weights: peephole vectors start at 0
    model.set_weights([rng.normal(0, 0.6, w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "peephole", "cifg"])
def test_masked_margins_match_ablated_weights(cell, tmp_path):
    from charlm.data.tokenizers import CharTokenizer

    tokenizer = CharTokenizer(sorted(set(TEXT)))
    model = _random_model(cell, tokenizer.vocab_size)
    weights = [w.copy() for w in model.get_weights()]
    pairs = _pairs(tmp_path)
    prefix = PrefixScorer(model, tokenizer, pairs, batch_size=4)
    subset = [6, 0, 2, 5, 3]
    unit_sets = [[], [0], [3], [1, 4], [5], [0, 1, 2, 3, 4, 5]]
    for layer in (0, 1):  # 1: the top layer, read by the logits
        # rows=20: a pass holds a few conditions, so the sets run in several passes
        masked = AblationScorer(prefix, rows=20).margins(subset, layer, unit_sets)
        assert masked.shape == (len(unit_sets), len(subset))
        for units, row in zip(unit_sets, masked):
            with ablated(model, layer, units):
                expected = prefix.margins(subset)
            np.testing.assert_allclose(row, expected, atol=2e-5, rtol=1e-5)
        assert np.abs(masked[1:] - masked[0]).max() > 1e-3  # the ablations change something
        np.testing.assert_array_equal(masked[:, 1], masked[:, 3])  # identical texts, one node
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_progress_advances_once_per_unit_set(tmp_path):
    from charlm.data.tokenizers import CharTokenizer

    class Bar:
        n = 0

        def update(self, k):
            assert k > 0
            self.n += k

    tokenizer = CharTokenizer(sorted(set(TEXT)))
    model = tiny_model(vocab_size=tokenizer.vocab_size, layers=1, units=4)
    scorer = AblationScorer(PrefixScorer(model, tokenizer, _pairs(tmp_path)), rows=30)
    bar = Bar()
    scorer.margins([0, 1, 2], 0, [[0], [1], [2], [3], []], bar=bar)
    assert bar.n == 5
    assert scorer.margins([], 0, [[0]], bar=bar).shape == (1, 0)
