"""charlm.experiments.seeds: --seeds parsing, the spread over seeds, the crossing count."""

import math

import numpy as np
import pytest

from charlm.errors import UserError
from charlm.experiments.seeds import (CROSSING_ACCURACY, cell_summaries, check_crossing,
                                      parse_seeds, seed_row, spread)
from charlm.probes.pairs import Pair
from charlm.probes.stats import summarize


def test_parse_seeds():
    assert parse_seeds("1,2,3") == [1, 2, 3]
    assert parse_seeds(" 3, 1 ") == [3, 1]  # the order given
    assert parse_seeds("1-3,7") == [1, 2, 3, 7]
    for bad in ("", "a", "1,1", "1-3,2", "-1", "3-1", "1,,2", "1.5", f"{2**32}"):
        with pytest.raises(UserError, match="--seeds takes"):
            parse_seeds(bad)


def test_check_crossing():
    assert check_crossing(CROSSING_ACCURACY) == CROSSING_ACCURACY
    assert check_crossing(1) == 1
    for bad in (0, -0.5, 90):
        with pytest.raises(UserError, match="--crossing-accuracy"):
            check_crossing(bad)


def test_spread_matches_numpy():
    values = [0.81, 0.93, 0.5, None, float("nan"), 0.77]
    found = np.array([0.81, 0.93, 0.5, 0.77])
    s = spread(values)
    assert s["n"] == 4
    assert s["mean"] == pytest.approx(found.mean())
    assert s["sd"] == pytest.approx(found.std(ddof=1))
    assert (s["min"], s["max"]) == (found.min(), found.max())
    assert spread([0.7])["sd"] is None and spread([0.7])["mean"] == 0.7
    assert spread([None, float("nan")])["mean"] is None


def _summary(correct: list[bool]) -> dict:
    """A probe summary of len(correct) pairs at distances 1, 5, 1, 5, ... and constructions
    alternating across_pp / simple."""
    pairs = [Pair({}, f"d.jsonl:{i}", "mine", ("across_pp", "simple")[i // 2 % 2], "one_prefix",
                  "", "", n_attr=1, distance=1 + 4 * (i % 2)) for i in range(len(correct))]
    return summarize(pairs, correct)


def test_crossing_count_and_summary_from_rows():
    # accuracy per seed: 1.0, 0.75, 0.5, 0.25 for lstm; 0.25 twice for rnn
    patterns = {("lstm", 1): [1, 1, 1, 1], ("lstm", 2): [1, 1, 1, 0],
                ("lstm", 3): [1, 0, 1, 0], ("lstm", 4): [0, 0, 0, 1],
                ("rnn", 1): [0, 1, 0, 0], ("rnn", 2): [0, 0, 1, 0]}
    for threshold in (0.7, 0.25, 1.0):
        rows = [seed_row({"cell": cell, "seed": seed, "units": 8, "params": 100, "lr": 0.01,
                          "steps": 3 + seed, "val_bpc": 2.0 + 0.1 * seed,
                          "accuracy": sum(p) / len(p)}, _summary([bool(v) for v in p]), threshold)
                for (cell, seed), p in patterns.items()]
        summaries = {c["cell"]: c for c in cell_summaries(rows)}
        assert list(summaries) == ["lstm", "rnn"]
        for cell, summary in summaries.items():
            mine = [r for r in rows if r["cell"] == cell]
            assert summary["seeds"] == [r["seed"] for r in mine]
            assert summary["crossed"] == sum(r["accuracy"] >= threshold for r in mine)
            for column in ("steps", "val_bpc", "accuracy"):
                values = np.array([r[column] for r in mine])
                assert summary[column]["mean"] == pytest.approx(values.mean())
                assert summary[column]["sd"] == pytest.approx(values.std(ddof=1))
                assert summary[column]["min"] == values.min()
                assert summary[column]["max"] == values.max()
            for table, keys in (("by_distance", ["0-1", "4-6"]),
                                ("by_construction", ["across_pp", "simple"])):
                assert list(summary[table]) == keys
                for key in keys:
                    values = np.array([r[table][key] for r in mine])
                    assert summary[table][key]["mean"] == pytest.approx(values.mean())
                    assert summary[table][key]["max"] == values.max()
    # the per-construction accuracy is that construction's pairs only
    row = seed_row({"accuracy": 0.5}, _summary([True, True, False, False]), 0.9)
    assert row["by_construction"] == {"across_pp": 1.0, "simple": 0.0}
    assert row["by_distance"] == {"0-1": 0.5, "4-6": 0.5} and row["crossed"] is False
    assert not math.isnan(row["probe"]["overall"]["accuracy"])
