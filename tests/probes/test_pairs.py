"""charlm.probes.pairs: pair formats (BLiMP, charlm pairs), grouping, requests per method,
line-numbered errors, the lowercase and unknown-character policies, the shipped suite."""

from collections import Counter

import pytest

from charlm.corpora import grammar
from charlm.errors import UserError
from charlm.probes import pairs as probes
from charlm.probes import stats
from tests.probes.examples import BLIMP, BLIMP_TWO, PAIR, write_jsonl as _jsonl


def test_formats_are_detected_per_file_and_grouped(tmp_path):
    a = _jsonl(tmp_path / "blimp.jsonl", [BLIMP, BLIMP_TWO])
    b = _jsonl(tmp_path / "mine.jsonl", [PAIR, {**PAIR, "id": "p2", "n_attr": 2, "distance": 6},
                                         {"sentence_good": "A b.", "sentence_bad": "A c."}])
    pairs, formats = probes.load_pairs([a, b])
    assert formats == {str(a): "blimp", str(b): "pairs"}
    assert [p.group() for p in pairs] == [
        ("blimp", BLIMP["UID"]), ("blimp", BLIMP_TWO["UID"]), ("mine", "across_pp"),
        ("mine", "across_pp"), ("mine", "")]  # no source/category: the file's name
    assert [p.method for p in pairs] == ["full", "full", "one_prefix", "one_prefix", "full"]
    summary = stats.summarize(pairs, [True, False, True, False, True])
    groups = {(g["source"], g["category"]): g for g in summary["groups"]}
    pp = groups[("mine", "across_pp")]
    assert pp["n"] == 2 and pp["correct"] == 1
    assert set(pp["by_n_attr"]) == {"1", "2"} and pp["by_condition"]["singular_subject"]["n"] == 2
    assert pp["by_distance"] == {"2-3": stats.stats([True]), "4-6": stats.stats([False])}
    assert "by_n_attr" not in groups[("blimp", BLIMP["UID"])]
    assert summary["overall"]["n"] == 5 and summary["overall"]["correct"] == 3
    assert stats.summarize(pairs, [True, None, None, True, True])["skipped"] == 2
    with pytest.raises(UserError, match="--format"):
        probes.load_pairs([a], fmt="csv")


def test_requests_per_method(tmp_path):
    pairs, _ = probes.load_pairs([_jsonl(tmp_path / "b.jsonl", [BLIMP, BLIMP_TWO])],
                                 method="prefix")
    one, two = pairs
    prefix = "Boys that aren't disturbing Natalie"
    # BLiMP words stop before the period, which is then the mandatory next character
    assert probes.requests(one) == ((prefix, " suffer."), (prefix, " suffers."), False)
    assert probes.requests(two) == (("The students", " perform.\n"),
                                    ("The student", " perform.\n"), False)
    full, _ = probes.load_pairs([_jsonl(tmp_path / "b.jsonl", [BLIMP])])
    # whole sentences: shared characters are the context, totals add log P(context) back
    assert probes.requests(full[0]) == ((prefix + " suffer", ".\n"), (prefix + " suffer", "s.\n"),
                                        True)
    mine, _ = probes.load_pairs([_jsonl(tmp_path / "m.jsonl", [PAIR, {
        **PAIR, "sentence_good": "The keys to the door admire.", "sentence_bad":
        "The keys to the door admires.", "prefix": "The keys to the door", "good": "admire.",
        "bad": "admires.", "suffix": ""}])])
    assert probes.requests(mine[0])[:2] == (("The key to the doors", " is "),
                                            ("The key to the doors", " are "))
    assert probes.requests(mine[1])[:2] == (("The keys to the door", " admire.\n"),
                                            ("The keys to the door", " admires.\n"))


@pytest.mark.parametrize("line,pattern", [
    ('{"sentence_good": "A b."', ":2: not valid JSON"),
    ('["A b.", "A c."]', ":2: expected a JSON object"),
    ('{"sentence_bad": "A c."}', ":2: field 'sentence_good' must be a string and is missing"),
    ('{"sentence_good": "A b.", "sentence_bad": "A c.", "n_attr": "two"}', ":2: field 'n_attr'"),
    ('{"sentence_good": "A b.", "sentence_bad": "A c.", "method": "guess"}', ":2: method must"),
    ('{"sentence_good": "A b.", "sentence_bad": "A c.", "method": "one_prefix", "prefix": "A", '
     '"good": "x.", "bad": "c.", "suffix": ""}', ":2: prefix + good + suffix gives 'A x.'"),
])
def test_malformed_lines_get_a_line_numbered_error(tmp_path, line, pattern):
    path = _jsonl(tmp_path / "bad.jsonl", [PAIR, line])
    with pytest.raises(UserError, match=pattern.replace("+", r"\+").replace("(", r"\(")) as e:
        probes.load_pairs([path])
    assert str(path) in str(e.value)


def test_lowercase_and_unknown_policies():
    lower, note = probes.should_lowercase("auto", lambda c: c.islower() or not c.isalpha())
    assert lower and "no capital letters" in note
    assert probes.should_lowercase("auto", lambda c: True) == (False, None)
    assert probes.should_lowercase("no", lambda c: False)[0] is False
    pair = probes.Pair({}, "f:3", "s", "c", "full", "The Bus.", "The Buses.")
    probes.lowercase_pair(pair)
    assert (pair.good_text, pair.bad_text) == ("the bus.", "the buses.")
    flags, first = probes.unknown_chars([pair], lambda c: c != "u")
    assert flags == [True] and first == {"u": "f:3"}


@pytest.mark.parametrize("half", ["heldout", "known"])
def test_shipped_suite_covers_the_constructions(half):
    files = probes.default_suite(heldout=half == "heldout", known_words=half == "known")
    pairs, formats = probes.load_pairs(files)
    assert set(formats.values()) == {"pairs"} and len(pairs) == 8000
    assert {p.source for p in pairs} == {grammar.PAIR_WORDS[half][1]}
    by_category = Counter(p.category for p in pairs)
    assert set(by_category) == set(grammar.CONSTRUCTIONS)  # both object relatives, coordination…
    assert set(by_category.values()) == {1000}
    assert {p.n_attr for p in pairs} == {0, 1, 2, 3}
    buckets = {stats.distance_bucket(p.distance) for p in pairs}
    assert buckets == {"0-1", "2-3", "4-6", "7-9", "10+"}
    for category in grammar.CONSTRUCTIONS:
        subjects = Counter(p.condition.split("__")[0] for p in pairs if p.category == category)
        assert abs(subjects["singular_subject"] - subjects["plural_subject"]) <= 2
        attrs = {p.n_attr for p in pairs if p.category == category}
        assert attrs == set(grammar.ATTRACTORS[category])
    assert all(p.method == "one_prefix" for p in pairs)
