"""Select a hidden-state pattern over a span of text and find it across a corpus, the way
LSTMVis' select and match views do (Strobelt et al., arXiv 1606.07461).

A unit is *on* at a step when its value is ≥ θ (default 0.3). The cell state is read through
tanh first (tanh(c) ≥ θ, as LSTMVis shows raw cell values); gates, the candidate and the hidden
state are taken as they are.

    select: given a span [b0, b1) of a text, the selected units S are those on at every step of
            the span and off at the step before it (and, if asked, the step after it). A border
            outside the text constrains nothing.
    match:  over the corpus, count[t] = how many units of S are on at t. For k = |S| down to 1,
            every maximal run where count ≥ k, of length ≥ 2 (or exactly `phrase_length`), is a
            candidate (up to MAX_CANDIDATES, the first found kept). Each candidate is scored by
            the units active over it: on at every step inside, off at each constrained border
            (a border outside the corpus counts as off, so a match at position 0 with a left
            constraint is kept and scored on its inside only). I = active ∩ S, U = active ∪ S.
            Rank: the largest |I|, then the smallest |U|, then the longest span, then the
            earliest; keep the top TOP, each with |I|/|U|. A histogram of candidate lengths comes
            with it: all candidates ("fuzzy") and those with I = S ("strict").

On/off values are kept as bits (`Activity`, [T, ⌈H/8⌉] uint8, units packed along the row), so a
million characters of a 384-unit layer take 48 MB.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

THRESHOLD = 0.3
TOP = 50
MIN_LENGTH = 2  # a run of one step is noise, not a pattern
MAX_CANDIDATES = 10_000
SQUASHED = {"cell"}  # quantities LSTMVis reads through tanh before thresholding


def raw_threshold(quantity: str, threshold: float) -> float:
    """The threshold on the raw value: arctanh(θ) for the cell state (tanh(c) ≥ θ ⇔ c ≥
    arctanh θ, with no tanh over a whole corpus), θ otherwise."""
    if quantity not in SQUASHED:
        return float(threshold)
    if threshold >= 1:
        return np.inf
    if threshold <= -1:
        return -np.inf
    return float(np.arctanh(threshold))


class Activity:
    """Which units are on at each step: bits [T, ⌈H/8⌉] (np.packbits along the units)."""

    def __init__(self, bits: np.ndarray, units: int):
        self.bits = np.ascontiguousarray(bits, np.uint8)
        self.units = int(units)

    @classmethod
    def from_bool(cls, on) -> Activity:
        on = np.asarray(on, bool)
        return cls(np.packbits(on, axis=1), on.shape[1])

    @classmethod
    def from_values(cls, values, quantity: str, threshold: float = THRESHOLD) -> Activity:
        """[T, H] values of `quantity` → on where value (tanh'd for the cell) ≥ threshold."""
        return cls.from_bool(np.asarray(values) >= raw_threshold(quantity, threshold))

    def __len__(self) -> int:
        return len(self.bits)

    def rows(self, start: int, end: int) -> np.ndarray:
        """bool [end − start, H]: every unit at steps start..end−1."""
        return np.unpackbits(self.bits[start:end], axis=1, count=self.units).astype(bool)

    def column(self, unit: int) -> np.ndarray:
        """bool [T]: one unit at every step."""
        return (self.bits[:, unit >> 3] >> (7 - (unit & 7))) & 1 == 1

    def count(self, units) -> np.ndarray:
        """int [T]: how many of `units` are on at each step."""
        total = np.zeros(len(self), np.int32)
        for unit in units:
            total += self.column(int(unit))
        return total


def as_activity(on) -> Activity:
    return on if isinstance(on, Activity) else Activity.from_bool(on)


def select(on, start: int, end: int, left: bool = True, right: bool = False) -> list[int]:
    """The units on at every step of [start, end) and off at the step before it (left) and the
    step after it (right); `on` is an Activity or a bool [T, H]."""
    on = as_activity(on)
    if not 0 <= start < end <= len(on):
        raise ValueError(f"the span {start}:{end} is not inside the text's {len(on)} steps")
    lo, hi = max(0, start - 1), min(len(on), end + 1)
    rows = on.rows(lo, hi)  # [hi − lo, H]
    chosen = rows[start - lo:end - lo].all(axis=0)
    if left and start > 0:
        chosen &= ~rows[0]
    if right and end < len(on):
        chosen &= ~rows[-1]
    return np.flatnonzero(chosen).tolist()


@dataclass
class Match:
    start: int
    end: int  # exclusive
    intersection: int  # |active ∩ S|
    union: int  # |active ∪ S|

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def ratio(self) -> float:
        return self.intersection / self.union if self.union else 0.0

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "length": self.length,
                "intersection": self.intersection, "union": self.union,
                "ratio": round(self.ratio, 4)}


@dataclass
class MatchResult:
    selected: list  # S, the unit indices
    matches: list  # Match, best first (at most `top`)
    candidates: int  # how many spans were scored
    fuzzy_histogram: list = field(default_factory=list)  # [length] → candidates of that length
    strict_histogram: list = field(default_factory=list)  # the same, only those with I = S

    def to_dict(self) -> dict:
        return {"selected": list(self.selected), "candidates": self.candidates,
                "matches": [m.to_dict() for m in self.matches],
                "length_histogram": {"fuzzy": list(self.fuzzy_histogram),
                                     "strict": list(self.strict_histogram)}}


def true_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """bool [T] → (starts, lengths) of its maximal runs of True."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    return starts, np.flatnonzero(edges == -1) - starts


def candidates(count: np.ndarray, size: int, phrase_length: int | None = None,
               limit: int = MAX_CANDIDATES) -> list[tuple[int, int]]:
    """(start, length) of every maximal run with count ≥ k, for k = size down to 1, of length
    ≥ MIN_LENGTH (or exactly phrase_length); the first `limit` found, without repeats."""
    found = {}
    for k in range(size, 0, -1):
        if len(found) >= limit:
            break
        starts, lengths = true_runs(count >= k)
        keep = lengths == phrase_length if phrase_length else lengths >= MIN_LENGTH
        for start, length in zip(starts[keep].tolist(), lengths[keep].tolist()):
            found.setdefault((start, length), None)
    return list(found)[:limit]


def active_units(on: Activity, start: int, end: int, left: bool, right: bool) -> np.ndarray:
    """bool [H]: on at every step of [start, end), off at each constrained border inside the
    corpus (a border outside it counts as off)."""
    lo, hi = max(0, start - 1), min(len(on), end + 1)
    rows = on.rows(lo, hi)
    active = rows[start - lo:end - lo].all(axis=0)
    if left and start > 0:
        active &= ~rows[0]
    if right and end < len(on):
        active &= ~rows[-1]
    return active


def match(on, selected, left: bool = True, right: bool = False,
          phrase_length: int | None = None, top: int = TOP,
          limit: int = MAX_CANDIDATES) -> MatchResult:
    """The spans of the corpus where the `selected` units are on together (module docstring);
    `on` is the corpus' Activity (or a bool [T, H])."""
    on = as_activity(on)
    selected = sorted({int(u) for u in selected})
    if phrase_length is not None and phrase_length < 1:
        raise ValueError(f"phrase_length must be at least 1, not {phrase_length}")
    if not selected:
        return MatchResult([], [], 0)
    mask = np.zeros(on.units, bool)
    mask[selected] = True
    scored = []
    for start, length in candidates(on.count(selected), len(selected), phrase_length, limit):
        active = active_units(on, start, start + length, left, right)
        scored.append(Match(start, start + length, int((active & mask).sum()),
                            int((active | mask).sum())))
    lengths = [m.length for m in scored]
    strict = [m.length for m in scored if m.intersection == len(selected)]
    scored.sort(key=lambda m: (-m.intersection, m.union, -m.length, m.start))
    return MatchResult(selected, scored[:top], len(scored),
                       np.bincount(lengths).tolist() if lengths else [],
                       np.bincount(strict).tolist() if strict else [])
