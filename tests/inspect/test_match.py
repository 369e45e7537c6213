"""Select and match (charlm.inspect.match) on state matrices built by hand, whose answers are known
by construction, and the corpus states read in parallel streams against one exact pass."""

import numpy as np
import pytest

from charlm.inspect.match import Activity, match, raw_threshold, select

H = 6
S = [0, 1, 2]


def _on(T: int, spans) -> np.ndarray:
    """bool [T, H]: each (start, end, units) turns those units on over [start, end)."""
    on = np.zeros((T, H), bool)
    for start, end, units in spans:
        on[start:end, units] = True
    return on


# The corpus of the ranking tests (positions, units on):
#   A [10, 14) 0 1 2          I=3 U=3 length 4   the exact pattern
#   B [20, 23) 0 1 2 + 5      I=3 U=4 length 3   one extra unit
#   C [30, 36) 0 1 2 + 4      I=3 U=4 length 6   one extra unit, longer than B
#   D [40, 43) 0 1            I=2 U=3 length 3
#   E [50, 51) 0 1 2          length 1: too short to count
#   F [60, 63) 0 1 2, unit 0 also on at 59: at the left border, so unit 0 is not active there
#                             I=2 U=3 length 3 (and a weaker candidate [59, 63) with I=1)
CORPUS = [(10, 14, S), (20, 23, S + [5]), (30, 36, S + [4]), (40, 43, [0, 1]), (50, 51, S),
          (60, 63, S), (59, 60, [0])]


def test_select_keeps_units_on_over_the_span_and_off_at_the_padding():
    on = _on(12, [(3, 6, [0, 1]),  # the pattern
                  (2, 6, [2]),  # also on before the span
                  (3, 7, [3]),  # also on after the span
                  (3, 4, [4]), (5, 6, [4])])  # off in the middle
    assert select(on, 3, 6) == [0, 1, 3]
    assert select(on, 3, 6, right=True) == [0, 1]
    assert select(on, 3, 6, left=False) == [0, 1, 2, 3]
    assert select(Activity.from_bool(on), 3, 6) == [0, 1, 3]  # bits or bools alike
    # at the text's edges the padding lies outside it and constrains nothing
    assert select(on, 0, 1) == [] and select(_on(4, [(0, 2, [1])]), 0, 2, right=True) == [1]
    with pytest.raises(ValueError):
        select(on, 5, 5)


def test_the_cell_state_goes_through_tanh_before_the_threshold():
    values = np.array([[0.32, 0.305, 0.2]])  # tanh: 0.309, 0.296, 0.197
    assert Activity.from_values(values, "cell").rows(0, 1).tolist() == [[True, False, False]]
    assert Activity.from_values(values, "hidden").rows(0, 1).tolist() == [[True, True, False]]
    assert Activity.from_values(values, "forget_gate", 0.31).rows(0, 1).tolist() == \
        [[True, False, False]]
    assert raw_threshold("cell", 0.3) == pytest.approx(np.arctanh(0.3))
    assert raw_threshold("cell", 1.0) == np.inf


def test_bits_hold_every_unit_when_the_units_are_not_a_multiple_of_eight():
    rng = np.random.default_rng(0)
    on = rng.random((50, 13)) < 0.4
    bits = Activity.from_bool(on)
    assert bits.bits.shape == (50, 2)
    assert (bits.rows(0, 50) == on).all() and (bits.rows(7, 9) == on[7:9]).all()
    assert all((bits.column(u) == on[:, u]).all() for u in range(13))
    assert (bits.count([1, 5, 12]) == on[:, [1, 5, 12]].sum(axis=1)).all()


def test_matches_rank_by_intersection_then_union_then_length():
    result = match(_on(80, CORPUS), S)
    got = [(m.start, m.end, m.intersection, m.union) for m in result.matches]
    assert got[:5] == [(10, 14, 3, 3), (30, 36, 3, 4), (20, 23, 3, 4), (40, 43, 2, 3),
                       (60, 63, 2, 3)]
    assert (59, 63, 1, 3) in got  # unit 0's longer run, where units 1, 2 are off at its start
    assert (50, 51) not in [(m.start, m.end) for m in result.matches]  # length 1
    assert [m.ratio for m in result.matches[:4]] == [1.0, 0.75, 0.75, pytest.approx(2 / 3)]
    # every candidate once, whatever level k found it
    assert len(set(got)) == len(got) == result.candidates
    # strict histogram: the lengths of the spans where all of S is active (A 4, B 3, C 6)
    assert result.strict_histogram == [0, 0, 0, 1, 1, 0, 1]
    assert sum(result.fuzzy_histogram) == result.candidates
    assert result.to_dict()["matches"][0] == {"start": 10, "end": 14, "length": 4,
                                              "intersection": 3, "union": 3, "ratio": 1.0}


def test_a_right_constraint_drops_units_on_after_the_match():
    on = _on(30, [(5, 8, S), (8, 9, [1])])  # unit 1 stays on one step longer
    (best, *_) = match(on, S, right=True).matches
    assert (best.start, best.end, best.intersection) == (5, 8, 2)
    assert match(on, S).matches[0].intersection == 3  # unconstrained on the right


def test_a_match_at_position_zero_with_a_left_constraint_is_kept():
    # unit 0 is on at the last step: reading "the step before 0" as the last one (a wrap-around)
    # would wrongly drop it from the match at 0
    on = _on(20, [(0, 3, S), (19, 20, [0]), (10, 12, S), (9, 10, [2])])
    result = match(on, S)
    assert [(m.start, m.end, m.intersection, m.union) for m in result.matches[:2]] == \
        [(0, 3, 3, 3), (10, 12, 2, 3)]
    # and a match that ends at the corpus' end with a right constraint
    end = match(_on(10, [(7, 10, S)]), S, right=True).matches[0]
    assert (end.start, end.end, end.intersection) == (7, 10, 3)


def test_phrase_length_keeps_only_spans_of_that_length():
    result = match(_on(80, CORPUS), S, phrase_length=3)
    assert {m.length for m in result.matches} == {3}
    assert [(m.start, m.end) for m in result.matches[:3]] == [(20, 23), (40, 43), (60, 63)]
    one = match(_on(80, CORPUS), S, phrase_length=1)
    assert (50, 51, 3) in [(m.start, m.end, m.intersection) for m in one.matches]
    with pytest.raises(ValueError):
        match(_on(80, CORPUS), S, phrase_length=0)


def test_top_limits_the_list_and_no_selection_matches_nothing():
    assert len(match(_on(80, CORPUS), S, top=2).matches) == 2
    empty = match(_on(80, CORPUS), [])
    assert empty.matches == [] and empty.candidates == 0


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_corpus_read_in_streams_agrees_with_one_pass(make_model, cell):
    from charlm.inspect.corpus_states import corpus_activity
    from charlm.inspect.trace import trace_ids

    model = make_model(cell=cell, layers=2, units=12)
    ids = np.random.default_rng(1).integers(0, 11, 1500)
    layers, _ = trace_ids(model, ids)
    quantity = "cell" if cell == "lstm" else "hidden"
    exact = Activity.from_values(layers[1].values[quantity], quantity, 0.1).rows(0, len(ids))
    one = corpus_activity(model, ids, 1, quantity, 0.1, streams=1).rows(0, len(ids))
    assert (one == exact).all()
    many = corpus_activity(model, ids, 1, quantity, 0.1, streams=6, warmup=100)
    assert len(many) == len(ids)
    many = many.rows(0, len(ids))
    # the first stream starts from a zero state at token 0, exactly as one pass
    assert (many[:250] == exact[:250]).all()
    # the others read 100 tokens first: a small random cell has forgotten its start by then
    assert (many == exact).mean() > 0.995
