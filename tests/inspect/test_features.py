"""charlm.inspect.features: the per-character features on hand-made strings, and the unit
ranking on a hand-made trace (no model)."""

import numpy as np
import pytest

from charlm.inspect.features import (features, in_brackets, in_quotes, line_position,
                                     rank_units, subject_number)
from charlm.inspect.trace import LayerTrace

NAN = float("nan")


def _codes(values) -> str:
    """[T] → one character per value: "." for NaN, else the value's last digit."""
    return "".join("." if np.isnan(v) else str(int(v))[-1] for v in values)


def test_line_position_counts_characters_since_the_line_break():
    assert line_position("ab\ncd").tolist() == [1, 2, 0, 1, 2]
    assert line_position("\n\nx").tolist() == [0, 0, 1]
    assert line_position("").tolist() == []


def test_in_quotes_includes_the_opening_quote_not_the_closing_one():
    text = 'a "bc" d \u201ce\u201d'
    assert _codes(in_quotes(text)) == "0011100001100"[:len(text)]
    assert in_quotes('x"y\nz').tolist() == [0, 1, 1, 1, 1]  # an open quote spans line breaks


def test_in_brackets_is_depth_above_zero():
    text = "a(b[c])d)e(f"
    assert _codes(in_brackets(text)) == "011111000011"
    assert in_brackets("))a").tolist() == [0, 0, 0]  # stray closers are ignored


def test_subject_number_from_the_noun_to_its_verb():
    text = "The keys to the cabinet are on the table."
    #       0123456789...: "keys" ends at 7, "are" starts at 24
    expected = [NAN] * 7 + [1.0] * 17 + [NAN] * 17
    np.testing.assert_array_equal(subject_number(text), expected)


def test_subject_number_skips_embedded_verbs_of_the_other_number():
    text = "A man the dogs like sleeps.\nDogs sleep."
    values = subject_number(text)
    # "man" (singular) from its "n" (index 4) up to "sleeps" (index 20), exclusive; "like" is
    # plural, so it belongs to the relative clause and is skipped
    assert _codes(values[:28]) == "...." + "0" * 16 + "." * 8
    # the line break starts a sentence: "Dogs" plural from its "s" up to "sleep", exclusive
    assert _codes(values[28:]) == "...11" + "......"


def test_subject_number_absent_without_a_lexicon_noun_and_to_the_end_without_a_verb():
    assert np.isnan(subject_number("Hello there, world.")).all()
    values = subject_number("Mary near the doors. Ok")
    assert _codes(values) == "..." + "0" * 16 + "...."  # a name is singular; no verb:
    # to the sentence's end, the period excluded


def test_features_map_subword_tokens_to_their_last_character():
    feats = features(["ab", "\n", "c"])
    assert feats["line_position"].tolist() == [2, 0, 1]


def _layer(values: dict, name="lstm_0", cell="rnn") -> LayerTrace:
    return LayerTrace(name, cell, {q: np.asarray(v, np.float32) for q, v in values.items()})


def test_ranking_puts_the_unit_equal_to_a_feature_first():
    rng = np.random.default_rng(0)
    text = "ab (cd) ef\ngh (ij\nkl) mn\n" * 3
    feats = features(text)
    hidden = rng.normal(size=(len(text), 6))
    hidden[:, 4] = feats["in_brackets"]  # unit 4 is the bracket feature itself
    hidden[:, 1] = -feats["line_position"] / 10  # unit 1 anti-correlates with line position
    ranking = rank_units([_layer({"hidden": hidden})], feats, top=3)
    top = ranking["in_brackets"]["units"][0]
    assert (top["layer"], top["layer_name"], top["quantity"], top["unit"]) == \
        (0, "lstm_0", "hidden", 4)
    assert top["r"] == pytest.approx(1.0)
    line = ranking["line_position"]["units"][0]
    assert line["unit"] == 1 and line["r"] == pytest.approx(-1.0)
    assert len(ranking["in_brackets"]["units"]) == 3
    rs = [abs(u["r"]) for u in ranking["in_brackets"]["units"]]
    assert rs == sorted(rs, reverse=True)
    # no quotes in the text: nothing to correlate, said so
    assert ranking["in_quotes"]["units"] == [] and "constant" in ranking["in_quotes"]["note"]
    assert ranking["subject_number"]["units"] == [] and ranking["subject_number"]["defined"] == 0


def test_ranking_uses_only_positions_where_the_feature_is_defined():
    text = "The keys are here. A key is here. The keys are here."
    feats = features(text)
    number = feats["subject_number"]
    hidden = np.zeros((len(text), 2))
    hidden[:, 0] = np.where(np.isnan(number), 50.0, number)  # wild where undefined
    hidden[:, 1] = np.arange(len(text))
    ranking = rank_units([_layer({"hidden": hidden})], {"subject_number": number})
    top = ranking["subject_number"]["units"][0]
    assert top["unit"] == 0 and top["r"] == pytest.approx(1.0)
    assert ranking["subject_number"]["defined"] == int((~np.isnan(number)).sum())
