"""Accuracy with Wilson 95% intervals, overall and broken down by group, attractors, condition
and subject-verb distance: the summary every probe report is built from."""

from __future__ import annotations

import math
from collections import defaultdict

Z95 = 1.959963984540054  # two-sided 95% normal quantile
DISTANCE_BUCKETS = ((0, 1), (2, 3), (4, 6), (7, 9), (10, None))


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials; (0, 1) when n == 0."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


def stats(verdicts: list[bool]) -> dict:
    n, k = len(verdicts), sum(verdicts)
    lo, hi = wilson(k, n)
    return {"n": n, "correct": k, "accuracy": k / n if n else None,
            "ci95": [round(lo, 4), round(hi, 4)]}


def distance_bucket(d: int | None) -> str | None:
    if d is None:
        return None
    for lo, hi in DISTANCE_BUCKETS:
        if d >= lo and (hi is None or d <= hi):
            return f"{lo}+" if hi is None else f"{lo}-{hi}"
    return None


def _breakdown(rows, key) -> dict:
    found = defaultdict(list)
    for pair, ok in rows:
        value = key(pair)
        if value is not None:
            found[value].append(ok)
    order = sorted(found, key=lambda v: (str(type(v)), v))
    if key is _distance:
        order = [f"{lo}+" if hi is None else f"{lo}-{hi}" for lo, hi in DISTANCE_BUCKETS]
        order = [b for b in order if b in found]
    return {str(v): stats(found[v]) for v in order}


def _distance(pair):
    return distance_bucket(pair.distance)


def summarize(pairs: list, correct: list[bool | None]) -> dict:
    """Overall, per (source, category) group, and by n_attr / condition / distance bucket."""
    rows = [(p, ok) for p, ok in zip(pairs, correct) if ok is not None]
    groups = defaultdict(list)
    for pair, ok in rows:
        groups[pair.group()].append((pair, ok))
    out_groups = []
    for (source, category), members in groups.items():  # first-seen order: input order
        entry = {"source": source, "category": category, **stats([ok for _, ok in members]),
                 "methods": sorted({p.method for p, _ in members})}
        for name, key in (("by_n_attr", lambda p: p.n_attr),
                          ("by_condition", lambda p: p.condition), ("by_distance", _distance)):
            breakdown = _breakdown(members, key)
            if breakdown:
                entry[name] = breakdown
        out_groups.append(entry)
    summary = {"n_pairs": len(pairs), "skipped": len(pairs) - len(rows),
               "overall": stats([ok for _, ok in rows]), "groups": out_groups}
    for name, key in (("by_n_attr", lambda p: p.n_attr), ("by_distance", _distance)):
        breakdown = _breakdown(rows, key)
        if breakdown:
            summary[name] = breakdown
    return summary


def group_label(group: dict, many_sources: bool) -> str:
    if not group["category"]:
        return group["source"]
    return f"{group['source']}/{group['category']}" if many_sources else group["category"]
