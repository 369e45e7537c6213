"""The agreement grammar: deterministic, held-out words kept out of the corpus, sound minimal pairs.

`charlm.corpora.grammar` is pure standard library and `import charlm` is cheap, so this test runs
in well under a second.
"""
import itertools
import re
from collections import Counter

import pytest

from charlm.corpora import grammar

CONSTRUCTIONS = grammar.CONSTRUCTIONS
N_PAIRS = 200
FIELDS = {"id", "source", "category", "condition", "n_attr", "distance", "sentence_good",
          "sentence_bad", "method", "prefix", "good", "bad", "suffix"}
HELD_NOUNS = {form: (n, num) for n in grammar.HELDOUT.nouns
              for num, form in ((grammar.SG, n.sg), (grammar.PL, n.pl))}
HELD_VERBS = {form: v for v in grammar.HELDOUT.verbs for form in (v.s, v.base)}
TRAIN_NOUNS = {form for n in grammar.TRAIN.nouns for form in (n.sg, n.pl)}


@pytest.fixture(scope="module")
def corpus():
    return grammar.generate_corpus(300_000, seed=1234)


@pytest.fixture(scope="module")
def pairs():
    return {c: grammar.generate_pairs(c, N_PAIRS) for c in CONSTRUCTIONS}


def words(text):
    return re.findall(r"[A-Za-z]+", text)


PREPOSITIONS = {"to", "near", "behind", "beside", "with", "from", "in", "at", "of", "on",
                "under", "about"}
RELATIVE_PRONOUNS = {"that", "who", "which"}


def _shape(p):
    """(words before the subject head, the head, words between it and the agreeing verb, less
    an adverb just before the verb)."""
    prefix = p["prefix"].split()
    head = len(prefix) - p["distance"] - 1
    between = [w.rstrip(",") for w in prefix[head + 1:]]
    if between and between[-1] in grammar.PRE_ADVERBS:
        between = between[:-1]
    return prefix[:head], prefix[head].rstrip(","), between


def test_each_construction_has_the_shape_its_name_says(pairs):
    """What the names promise, read off the pairs (probe sentences use "the" for every noun)."""
    verbs = {form for v in grammar.TRAIN.verbs + grammar.HELDOUT.verbs
             for form in (v.s, v.base, v.past)}
    nouns = TRAIN_NOUNS | set(HELD_NOUNS)
    for construction, items in pairs.items():
        assert {p["category"] for p in items} == {construction}
        for p in items:
            before, head, between = _shape(p)
            shape = (construction, p["prefix"], between)
            assert head in nouns, shape
            subject = before[before.index("The", 0) if construction != "sentential_complement"
                             else len(before) - 1 - before[::-1].index("the"):]
            # "The" / "the", maybe an adjective, then the head
            assert subject[0].lower() == "the" and set(subject[1:]) <= grammar.ADJ_WORDS, shape
            if construction != "sentential_complement":
                assert before[0] == "The", shape  # the subject opens the sentence
            if construction == "simple":  # nothing but an adverb between subject and verb
                assert between == [], shape
            elif construction == "across_pp":
                assert between[0] in PREPOSITIONS, shape
            elif construction == "across_subject_relative":
                assert between[0] in RELATIVE_PRONOUNS and between[1] in verbs | {
                    "is", "are", "was", "were"}, shape
            elif construction == "across_object_relative":
                assert between[:2] == ["that", "the"] and between[-1] in verbs, shape
            elif construction == "across_object_relative_no_that":
                assert between[0] == "the" and between[-1] in verbs, shape
            elif construction == "sentential_complement":  # "The X said (that) the Y ..."
                assert before[0] == "The" and set(before) & verbs, shape
                assert not between or between[0] in PREPOSITIONS, shape
            elif construction == "short_vp_coordination":
                assert len(between) == 2 and between[0] in verbs and between[1] == "and", shape
            elif construction == "long_vp_coordination":
                assert between[0] in verbs and between[-1] == "and", shape
            else:
                raise AssertionError(f"a construction this test does not know: {construction}")


def test_the_corpus_draws_exactly_the_listed_constructions():
    drawn = Counter(c for c, _ in itertools.islice(grammar.iter_sentences(99), 3000))
    assert set(drawn) == set(CONSTRUCTIONS) == set(grammar.ATTRACTORS)
    for construction, weight in grammar.CORPUS_WEIGHTS.items():  # in the stated shares
        assert abs(drawn[construction] / 3000 - weight) < 0.03, (construction, drawn)


def test_attractors_mostly_have_the_other_number(monkeypatch):
    """The corpus makes "agree with the nearest noun" a losing strategy (issue 14), while the
    probe suites stay balanced (test_singular_plural_balance)."""
    drawn, build = [], grammar._attempt

    def spy(g, construction, num, attrs, matrix_num=None):
        drawn.append((construction, num, attrs, matrix_num))
        return build(g, construction, num, attrs, matrix_num)

    monkeypatch.setattr(grammar, "_attempt", spy)
    list(itertools.islice(grammar.iter_sentences(5), 3000))
    differ = [a != num for _, num, attrs, _ in drawn for a in attrs]
    assert grammar.ATTRACTOR_MISMATCH > 0.5 and len(differ) > 2000
    assert abs(sum(differ) / len(differ) - grammar.ATTRACTOR_MISMATCH) < 0.04
    subjects = Counter(num for _, num, _, _ in drawn)
    assert abs(subjects[grammar.SG] / len(drawn) - 0.5) < 0.04  # subjects stay half and half


def test_corpus_is_deterministic_and_seeded():
    a = grammar.generate_corpus(20_000, seed=7)
    assert a == grammar.generate_corpus(20_000, seed=7)
    assert a != grammar.generate_corpus(20_000, seed=8)


def test_corpus_format(corpus):
    assert 0.99 * 300_000 <= len(corpus) <= 300_000
    assert corpus.endswith(".\n")
    for line in corpus.splitlines():
        assert line[0].isupper() and line.endswith(".") and "  " not in line, line
        assert line.count(".") == 1, line
    assert set(corpus) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ,.\n")


def test_lexicon_size_and_split():
    nouns = grammar.TRAIN.nouns + grammar.HELDOUT.nouns
    verbs = grammar.TRAIN.verbs + grammar.HELDOUT.verbs
    assert len(nouns) >= 150 and len(verbs) >= 80
    assert 0.12 <= len(grammar.HELDOUT.nouns) / len(nouns) <= 0.18
    assert 0.12 <= len(grammar.HELDOUT.verbs) / len(verbs) <= 0.18
    assert any(n.irregular for n in grammar.TRAIN.nouns)
    assert not any(n.irregular for n in grammar.HELDOUT.nouns)
    assert not grammar.HELDOUT_WORDS & grammar.TRAIN.words()


def test_heldout_words_never_in_corpus(corpus):
    tokens = set(words(corpus))
    assert not tokens & grammar.HELDOUT_WORDS
    assert tokens & grammar.TRAIN.words()  # sanity: the check looks at the right kind of token


def test_corpus_has_every_construction():
    counts = Counter(c for c, _ in itertools.islice(grammar.iter_sentences(1234), 1500))
    for construction in CONSTRUCTIONS:
        assert counts[construction] >= 0.5 * grammar.CORPUS_WEIGHTS[construction] * 1500, \
            (construction, counts)


def test_corpus_shows_the_constructions(corpus):
    for marker in (" that the ", ", which ", " who ", " and ", " said that ", " near the ",
                   " is ", " are ", " was ", " were ", " has ", " have "):
        assert marker in corpus, marker


def test_pairs_are_deterministic_and_seeded(pairs):
    for construction in CONSTRUCTIONS:
        assert grammar.generate_pairs(construction, 40) == pairs[construction][:40]
        other = grammar.generate_pairs(construction, 40, seed=99)
        assert [p["sentence_good"] for p in other] != [p["sentence_good"] for p in
                                                       pairs[construction][:40]]


def test_pair_schema_and_exact_reconstruction(pairs):
    for construction, items in pairs.items():
        assert len(items) == N_PAIRS
        assert len({p["id"] for p in items}) == N_PAIRS
        for p in items:
            assert set(p) == FIELDS
            assert (p["source"], p["method"], p["category"]) == (
                "charlm-agreement", "one_prefix", construction)
            for x in ("good", "bad"):
                joined = " ".join(w for w in [p["prefix"], p[x], p["suffix"]] if w)
                assert p[f"sentence_{x}"] == joined
            assert p["sentence_good"][0].isupper() and p["sentence_good"].endswith(".")


def test_good_and_bad_differ_exactly_in_the_verb_number(pairs):
    for items in pairs.values():
        for p in items:
            good, bad = p["sentence_good"].split(), p["sentence_bad"].split()
            diff = [i for i, (a, b) in enumerate(zip(good, bad)) if a != b]
            assert len(good) == len(bad) and len(diff) == 1
            verb = HELD_VERBS[p["good"].rstrip(".")]
            assert {p["good"].rstrip("."), p["bad"].rstrip(".")} == {verb.s, verb.base}
            singular = p["condition"].startswith("singular_subject")
            assert p["good"].rstrip(".") == (verb.s if singular else verb.base)


def test_heldout_words_in_the_slots_that_matter(pairs):
    for items in pairs.values():
        for p in items:
            prefix = p["prefix"].split()
            head = prefix[len(prefix) - p["distance"] - 1].rstrip(",")
            noun, num = HELD_NOUNS[head]  # the subject head is a held-out noun ...
            assert p["condition"].startswith(f"{num}_subject")  # ... of the labelled number
            between = [w.rstrip(",") for w in prefix[len(prefix) - p["distance"]:]]
            held = [HELD_NOUNS[w][1] for w in between if w in HELD_NOUNS]
            assert len(held) == p["n_attr"]  # every attractor is held out, in the labelled numbers
            if held:
                assert p["condition"].endswith("_".join(held) + "_attractor" + "s" * (len(held) > 1))
            assert not set(between) & TRAIN_NOUNS  # no train noun can act as an attractor


def test_singular_plural_balance(pairs):
    for construction, items in pairs.items():
        singular = sum(p["condition"].startswith("singular_subject") for p in items)
        assert abs(singular - N_PAIRS / 2) <= 0.1 * N_PAIRS / 2, construction
        attractors = [a for p in items for a in p["condition"].split("__")[-1].split("_")
                      if p["n_attr"] and a in ("singular", "plural")]
        if attractors:
            assert abs(attractors.count("singular") / len(attractors) - 0.5) <= 0.1


def test_attractor_counts_and_distances(pairs):
    for construction, items in pairs.items():
        counts = {p["n_attr"] for p in items}
        assert counts == set(grammar.ATTRACTORS[construction])
        assert counts <= {0, 1, 2, 3}
        for p in items:
            assert p["distance"] >= p["n_attr"]
    assert {p["n_attr"] for p in pairs["across_pp"]} == {1, 2, 3}
    assert max(p["distance"] for p in pairs["across_object_relative"]) >= 8


def test_no_duplicate_pairs(pairs):
    for items in pairs.values():
        assert len({p["sentence_good"] for p in items}) == len(items)


def test_unknown_construction():
    with pytest.raises(ValueError, match="unknown construction"):
        grammar.generate_pairs("across_everything", 3)
    with pytest.raises(ValueError, match="unknown word set"):
        grammar.generate_pairs("simple", 3, words="borrowed")


def test_known_word_pairs_use_training_words_in_new_sentences(corpus):
    lines = frozenset(corpus.splitlines())
    train_verbs = {form: v for v in grammar.TRAIN.verbs for form in (v.s, v.base)}
    for construction in CONSTRUCTIONS:
        known = grammar.generate_pairs(construction, 60, words="known", exclude=lines)
        assert {p["source"] for p in known} == {"charlm-agreement-known-words"}
        assert not {p["sentence_good"] for p in known} & lines  # none copied from the corpus
        for p in known:
            prefix = p["prefix"].split()
            assert prefix[len(prefix) - p["distance"] - 1].rstrip(",") in TRAIN_NOUNS
            verb = train_verbs[p["good"].rstrip(".")]
            assert {p["good"].rstrip("."), p["bad"].rstrip(".")} == {verb.s, verb.base}
            assert not set(words(p["sentence_good"])) & grammar.HELDOUT_WORDS
