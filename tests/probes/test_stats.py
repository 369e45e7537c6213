"""charlm.probes.stats: Wilson intervals, accuracy summaries, distance buckets."""

import pytest

from charlm.probes import stats


@pytest.mark.parametrize("k,n,lo,hi", [(8, 10, 0.4902, 0.9433), (0, 10, 0.0, 0.2775),
                                       (10, 10, 0.7225, 1.0), (50, 100, 0.4038, 0.5962),
                                       (1, 1, 0.2065, 1.0), (0, 0, 0.0, 1.0)])
def test_wilson_interval_known_values(k, n, lo, hi):
    got = stats.wilson(k, n)
    assert got[0] == pytest.approx(lo, abs=1e-4) and got[1] == pytest.approx(hi, abs=1e-4)


def test_distance_buckets():
    assert [stats.distance_bucket(d) for d in (0, 1, 2, 3, 4, 6, 7, 9, 10, 40)] == [
        "0-1", "0-1", "2-3", "2-3", "4-6", "4-6", "7-9", "7-9", "10+", "10+"]
