"""charlm.generate.novelty: the share of generated n-grams found verbatim in the corpus."""

from charlm.generate.novelty import novelty
from tests.helpers import TINY_TEXT


def test_novelty_counts_verbatim_substrings():
    corpus = [TINY_TEXT[:5000], TINY_TEXT[5000:]]  # an n-gram across the chunk edge still counts
    copied = TINY_TEXT[4990:5030]
    scores = novelty([copied, "qqqqqqqqqqqqqqqqqqqqqqqq", "short"], iter(corpus), n=20)
    assert scores[0] == {"ngrams": 21, "copied": 21, "copied_share": 1.0}
    assert scores[1]["copied_share"] == 0.0 and scores[2]["copied_share"] is None
