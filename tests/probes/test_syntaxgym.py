"""SyntaxGym suites: the formula grammar, suite validation (one-line errors naming the item and
the place), and region surprisals computed by hand with a model whose next-character
distribution never changes (tests/probes/examples.py)."""

import copy
import json
import math
import re

import numpy as np
import pytest

from charlm.data.tokenizers import CharTokenizer
from charlm.errors import UserError
from charlm.probes import formula, syntaxgym
from charlm.probes.charscores import CharScorer
from charlm.probes.scoring import ModelScorer
from tests.helpers import ROOT
from tests.probes.examples import BIAS, CHARS, unigram_model

VALUES = {("a", 1): 2.0, ("a", 2): 5.0, ("a", 3): 0.0, ("b", 1): 1.0, ("b", 2): 1.0,
          ("b", 3): 1.5}


def holds(text, values=VALUES):
    return formula.parse(text).evaluate(values)


def test_plus_and_minus_bind_tighter_than_comparisons_which_bind_tighter_than_and_or():
    assert holds("(1;%a%) + (1;%b%) > (2;%a%) - 3")  # 3 > 2
    assert not holds("(1;%a%) + (1;%b%) > (2;%a%) - 1")  # 3 > 4
    assert holds("1 > 2 & 1 > 2 | 2 > 1")  # left to right: (F & F) | T
    assert not holds("2 > 1 | 1 > 2 & 1 > 2")  # (T | F) & F: one level, read left to right
    assert holds("2 > 1 | (1 > 2 & 1 > 2)")  # parentheses regroup it


def test_minus_is_left_associative_and_parentheses_change_it():
    assert holds("5 - 2 - 1 = 2") and not holds("5 - (2 - 1) = 2") and holds("5 - (2 - 1) = 4")
    assert holds("((2;%a%) - (1;%a%)) = 3.0")


def test_numbers_integers_decimals_exponents():
    assert holds("(1;%a%) = 2") and holds("(1;%a%) < 2.5") and holds("(1;%a%) > 1.5e0")
    assert holds("(3;%a%) < .5") and holds("(1;%a%) - 2e-4 = 2")


def test_equal_uses_syntaxgym_tolerances():
    assert holds("(1;%a%) = 2.0009")  # |a-b| <= 1e-3 + 1e-5 * |b|
    assert not holds("(1;%a%) = 2.0011")
    big = {("a", 1): 1000.0}
    assert holds("(1;%a%) = 1000.0105", big)  # 1e-3 + 1e-5 * 1000.0105 ≈ 0.011
    assert not holds("(1;%a%) = 1000.012", big)


def test_star_sums_every_region_of_the_condition():
    assert holds("(*;%a%) = 7") and holds("(*;%b%) = 3.5")
    assert holds("(*;%a%) > (*;%b%)")
    tree = formula.parse("(*;%a%) > (2;%b%)")
    assert [str(r) for r in tree.regions()] == ["(*;%a%)", "(2;%b%)"]


@pytest.mark.parametrize("text, pattern", [
    ("(1;%a%) >", "column 9 (found '>'"),  # the operator that has nothing on its right
    ("(1;%a) > 2", "column 3"),
    ("(1;%a%) + ((2;%a%) > 3)", "'+' needs numbers"),
    ("(1;%a%) > 2 & 3", "'&' needs truth values"),
    ("(1;%a%) + 2", "is a number, not a comparison"),
    ("(x;%a%) > 1", "does not parse"),
])
def test_bad_formulas_say_where(text, pattern):
    with pytest.raises(formula.FormulaError, match=re.escape(pattern)):
        formula.parse(text)


# --- suites ----------------------------------------------------------------------------------
def make_suite(formulas=("(2;%bad%) > (2;%good%)",), metric="sum"):
    def item(n, good, bad):
        return {"item_number": n, "conditions": [
            {"condition_name": "good", "regions": [
                {"region_number": 1, "content": "a dream"}, {"region_number": 2, "content": good},
                {"region_number": 3, "content": ""}]},
            {"condition_name": "bad", "regions": [
                {"region_number": 1, "content": "a dream"}, {"region_number": 2, "content": bad},
                {"region_number": 3, "content": ""}]}]}
    return {"meta": {"name": "tiny", "metric": metric},
            "region_meta": {"1": "start", "2": "word", "3": "empty"},
            "predictions": [{"type": "formula", "formula": f} for f in formulas],
            "items": [item(1, "is", "aimed."), item(2, "dim", "am")]}


@pytest.mark.parametrize("edit, pattern", [
    (lambda s: s.pop("items"), "missing items"),
    (lambda s: s["meta"].pop("name"), "meta needs a name"),
    (lambda s: s["meta"].update(metric="mode"), "meta.metric 'mode'"),
    (lambda s: s["items"][1].update(item_number="2"), "items[1]: needs an integer item_number"),
    (lambda s: s["items"][1]["conditions"][0]["regions"][1].pop("content"),
     "item 2, condition 'good': every region needs"),
    (lambda s: s["items"][0]["conditions"][1]["regions"][1].update(region_number=7),
     "item 1, condition 'bad': region 7 is not in region_meta"),
    (lambda s: s["region_meta"].update({"5": "gap"}), "without gaps"),
    (lambda s: s["items"][1].update(item_number=1), "item_number 1 appears more than once"),
    (lambda s: s["predictions"].append({"type": "formula", "formula": "(2;%worse%) > 1"}),
     "prediction 2 '(2;%worse%) > 1': item 1 has no condition 'worse'"),
    (lambda s: s["predictions"].append({"type": "formula", "formula": "(4;%bad%) > 1"}),
     "prediction 2 '(4;%bad%) > 1': region 4 is not in region_meta"),
    (lambda s: s["predictions"].append({"type": "formula", "formula": "(2;%bad%) >> 1"}),
     "prediction 2 '(2;%bad%) >> 1': does not parse at column"),
    (lambda s: s["predictions"][0].update(type="regex"), "type 'regex' is not supported"),
])
def test_bad_suites_get_one_line_naming_the_item_and_place(edit, pattern):
    suite = make_suite()
    edit(suite)
    with pytest.raises(UserError) as e:
        syntaxgym.load_suite(suite)
    assert pattern in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_a_suite_file_is_detected_by_extension_or_content(tmp_path):
    suite = make_suite()
    (tmp_path / "s.json").write_text(json.dumps(suite))
    (tmp_path / "s.txt").write_text(json.dumps(suite, indent=2))
    (tmp_path / "p.jsonl").write_text(json.dumps({"sentence_good": "a", "sentence_bad": "b"}))
    (tmp_path / "one.txt").write_text(json.dumps({"sentence_good": "a", "sentence_bad": "b"}))
    assert syntaxgym.is_suite(tmp_path / "s.json") and syntaxgym.is_suite(tmp_path / "s.txt")
    assert not syntaxgym.is_suite(tmp_path / "p.jsonl")
    assert not syntaxgym.is_suite(tmp_path / "one.txt")
    assert syntaxgym.load_suite(tmp_path / "s.txt").name == "tiny"


@pytest.fixture(scope="module")
def unigram():
    tok = CharTokenizer(CHARS)
    log_z = math.log(np.exp(BIAS.astype(np.float64)).sum())
    bits = {c: -(float(BIAS[tok.token_id(c)]) - log_z) / math.log(2) for c in CHARS}
    return CharScorer(ModelScorer(unigram_model(tok), tok)), bits


@pytest.mark.parametrize("metric", ["sum", "mean", "median", "max", "min", "range"])
def test_region_surprisal_by_hand_the_joining_space_belongs_to_the_next_region(unigram, metric):
    scorer, bits = unigram
    suite = syntaxgym.load_suite(make_suite(metric=metric))
    values = syntaxgym.region_surprisals(scorer, suite)
    reduce = syntaxgym.METRICS[metric]
    for (number, condition), regions in values.items():
        word = {(1, "good"): "is", (1, "bad"): "aimed.", (2, "good"): "dim",
                (2, "bad"): "am"}[number, condition]
        assert regions[1] == pytest.approx(float(reduce([bits[c] for c in "a dream"])), abs=1e-4)
        assert regions[2] == pytest.approx(float(reduce([bits[c] for c in " " + word])), abs=1e-4)
        assert regions[3] == 0.0  # empty: no characters, and no joining space either


def test_predictions_evaluate_per_item_and_summarise_with_wilson(unigram):
    scorer, bits = unigram
    suite = syntaxgym.load_suite(make_suite(["(2;%bad%) > (2;%good%)", "(*;%bad%) > (*;%good%)",
                                             "(2;%bad%) - (2;%good%) > 5"]))
    values = syntaxgym.region_surprisals(scorer, suite)
    results = syntaxgym.evaluate(suite, values)
    by_hand = {1: sum(bits[c] for c in " aimed.") - sum(bits[c] for c in " is"),
               2: sum(bits[c] for c in " am") - sum(bits[c] for c in " dim")}
    assert results[0] == [(n, by_hand[n] > 0) for n in (1, 2)]
    assert results[1] == results[0]  # region 1 is the same in both conditions
    assert results[2] == [(n, by_hand[n] > 5) for n in (1, 2)]
    summary = syntaxgym.summarize_suite(suite, results, values)
    first = summary["predictions"][0]
    assert first["correct"] == sum(ok for _, ok in results[0]) and first["n"] == 2
    assert first["ci95"][0] < first["accuracy"] <= first["ci95"][1] or first["accuracy"] == 0
    mean_word_good = np.mean([values[1, "good"][2], values[2, "good"][2]])
    assert summary["region_means"]["good"]["word"]["mean"] == pytest.approx(mean_word_good,
                                                                             abs=1e-4)


def test_the_shipped_suites_are_valid_with_the_agreement_corpus_vocabulary():
    files = sorted((ROOT / "corpora" / "suites").glob("*.json"))
    assert len(files) >= 2
    corpus_chars = set((ROOT / "corpora" / "agreement.txt").read_text(encoding="utf-8"))
    for path in files:
        suite = syntaxgym.load_suite(path)
        assert len(suite.items) >= 20
        assert {"match_sg", "mismatch_sg", "match_pl", "mismatch_pl"} <= set(suite.items[0][1])
        assert syntaxgym.suite_characters(suite) <= corpus_chars
        for number, conditions in suite.items:  # match and mismatch differ in the verb only
            assert conditions["match_sg"][:-1] == conditions["mismatch_sg"][:-1]
            assert conditions["match_sg"][-1] != conditions["mismatch_sg"][-1]


def test_load_suite_leaves_the_dict_unchanged():
    suite = make_suite()
    before = copy.deepcopy(suite)
    syntaxgym.load_suite(suite)
    assert suite == before


def test_the_ngram_baseline_gives_the_same_totals_per_character():
    from charlm.probes.ngram import NgramModel

    ngram = NgramModel.fit("a dream is aimed.\na dim dream.\n" * 5, 3)
    texts = ["a dream is aimed.", "a mad dime", "a"]
    per_char = CharScorer(ngram).logprobs(texts)
    _, totals = ngram.score([("", t) for t in texts])
    for text, (lp, ranks), total in zip(texts, per_char, totals):
        assert len(lp) == len(text) and ranks is None
        assert lp.sum() == pytest.approx(total, abs=1e-9)
    with pytest.raises(UserError, match="ranks need a checkpoint"):
        CharScorer(ngram).logprobs(texts, rank=True)


def test_deeply_nested_parentheses_parse():
    # 30 levels: a grammar that re-parses each level for each operator would never finish
    assert holds("(" * 30 + "(1;%a%) > 1" + ")" * 30)
    assert not holds("((((((1;%a%) + 2) - 3) > ((((2;%a%)))))) & (((3 > 1)))) | 1 > 2")
