"""Select over a text, match across a corpus, through a trained model: what `charlm inspect match`
and `LanguageModel.match` run (charlm.inspect.match holds the algorithm).

    report = find_matches(model, tokenizer, "ROMEO:\\nO, she doth", (7, 9), corpus_text)
    report.selected                      # the units on over text[7:9] and off before it
    report.result.matches                # Match(start, end, intersection, union), best first
    report.context(match)                # (before, inside, after) in the corpus
    report.to_dict(), report.lines()     # the --json object, the terminal table
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from charlm.inspect import match as matching
from charlm.inspect.corpus_states import (WARMUP, check_quantity, corpus_activity,
                                          default_quantity, layer_index, stream_count)
from charlm.inspect.trace import recurrent_layers, trace_ids

CONTEXT = 24  # tokens shown on each side of a match
VISIBLE = {"\n": "\u23ce", "\t": "\u21e5"}


@dataclass
class MatchReport:
    text_tokens: list  # the selection text, one str per token
    span: tuple  # (b0, b1) in text tokens
    corpus_tokens: list  # the corpus, one str per token
    layer: int
    layer_name: str
    quantity: str
    threshold: float
    left: bool
    right: bool
    phrase_length: int | None
    streams: int
    warmup: int
    result: matching.MatchResult

    @property
    def selected(self) -> list:
        return self.result.selected

    def context(self, m, width: int = CONTEXT) -> tuple[str, str, str]:
        c = self.corpus_tokens
        return ("".join(c[max(0, m.start - width):m.start]), "".join(c[m.start:m.end]),
                "".join(c[m.end:m.end + width]))

    def to_dict(self) -> dict:
        b0, b1 = self.span
        matches = []
        for m in self.result.matches:
            before, inside, after = self.context(m)
            matches.append({**m.to_dict(), "text": inside, "before": before, "after": after})
        return {"span": [b0, b1], "span_text": "".join(self.text_tokens[b0:b1]),
                "layer": self.layer, "layer_name": self.layer_name, "quantity": self.quantity,
                "threshold": self.threshold, "constrain_left": self.left,
                "constrain_right": self.right, "phrase_length": self.phrase_length,
                "corpus_tokens": len(self.corpus_tokens), "streams": self.streams,
                "warmup": self.warmup, "selected": self.selected,
                "candidates": self.result.candidates, "matches": matches,
                "length_histogram": {"fuzzy": self.result.fuzzy_histogram,
                                     "strict": self.result.strict_histogram}}

    def lines(self) -> list[str]:
        """The terminal report: the selection, then one line per match with its context."""
        b0, b1 = self.span
        n = len(self.selected)
        tanh = " after tanh" if self.quantity in matching.SQUASHED else ""
        head = [f"selected {n} unit(s) of {self.layer_name} {self.quantity} "
                f"(on ≥ {self.threshold:g}{tanh}"
                f" over «{_show(''.join(self.text_tokens[b0:b1]))}» [{b0}:{b1}], off "
                f"{_borders(self.left, self.right)}): {' '.join(map(str, self.selected))}"]
        head.append(f"{self.result.candidates:,} candidate span(s) in {len(self.corpus_tokens):,} "
                    f"corpus tokens; the best {len(self.result.matches)}, ranked by shared units "
                    f"(|I| of {n}), then fewest other units (|U|), then length:")
        rows = [f"{'#':>3} {'position':>9} {'len':>4} {'|I|':>4} {'|U|':>4} {'I/U':>5}  context"]
        for rank, m in enumerate(self.result.matches, start=1):
            before, inside, after = self.context(m)
            rows.append(f"{rank:>3} {m.start:>9,} {m.length:>4} {m.intersection:>4} "
                        f"{m.union:>4} {m.ratio:>5.2f}  {_show(before):>{CONTEXT}}[{_show(inside)}]"
                        f"{_show(after)}")
        return head + rows + [_histogram_line(self.result.strict_histogram, n)]


def _show(s: str) -> str:
    return "".join(VISIBLE.get(c, c) for c in s)


def _borders(left: bool, right: bool) -> str:
    return {(True, True): "on both sides", (True, False): "before it",
            (False, True): "after it", (False, False): "nowhere"}[(left, right)]


def _histogram_line(strict: list, size: int) -> str:
    pairs = [f"{length}:{count}" for length, count in enumerate(strict) if count]
    return (f"lengths of the spans where all {size} units are on (length:count): "
            f"{' '.join(pairs) if pairs else 'none'}")


def _tokens(tokenizer, text: str, ids) -> list:
    """The text of each token: the characters themselves for a char tokenizer."""
    from charlm.inspect.view import vocab_of

    if getattr(tokenizer, "kind", "char") == "char" and len(text) == len(ids):
        return list(text)
    vocab = vocab_of(tokenizer)
    return [vocab[i] for i in ids]


def find_matches(model, tokenizer, text: str, span, corpus: str, *, threshold=matching.THRESHOLD,
                 layer=0, quantity: str | None = None, left: bool = True, right: bool = False,
                 phrase_length: int | None = None, top: int = matching.TOP,
                 streams: int | None = None, warmup: int = WARMUP, unknown: str = "error",
                 progress=None) -> MatchReport:
    """Select the units of `quantity` (default: the cell state, else the hidden state) of
    recurrent `layer` (index or name) over text[span] (token positions, read from a zero state)
    and match them across `corpus` (read with the state carried, in `streams` parallel parts;
    see charlm.inspect.corpus_states). Bad arguments raise ValueError."""
    index = layer_index(model, layer)
    quantity = quantity or default_quantity(model, index)
    check_quantity(model, index, quantity)
    ids = np.asarray(tokenizer.encode(text, unknown=unknown), np.int64)
    b0, b1 = (int(x) for x in span)
    if not 0 <= b0 < b1 <= len(ids):
        raise ValueError(f"the span {b0}:{b1} is not inside the text, which has {len(ids)} "
                         f"token(s): give A:B with 0 ≤ A < B ≤ {len(ids)}")
    # the selection reads only up to the padding after the span
    layers, _ = trace_ids(model, ids[:min(len(ids), b1 + 1)])
    text_on = matching.Activity.from_values(layers[index].values[quantity], quantity, threshold)
    selected = matching.select(text_on, b0, b1, left=left, right=right)
    corpus_ids = np.asarray(tokenizer.encode(corpus, unknown=unknown), np.int64)
    streams = stream_count(len(corpus_ids)) if streams is None else streams
    if selected:
        on = corpus_activity(model, corpus_ids, index, quantity, threshold, streams=streams,
                             warmup=warmup, progress=progress)
        result = matching.match(on, selected, left=left, right=right,
                                phrase_length=phrase_length, top=top)
    else:  # nothing to look for: the corpus is not read
        result = matching.MatchResult([], [], 0)
    return MatchReport(_tokens(tokenizer, text, ids), (b0, b1),
                       _tokens(tokenizer, corpus, corpus_ids), index,
                       recurrent_layers(model)[index].name, quantity, float(threshold), left,
                       right, phrase_length, streams, warmup if streams > 1 else 0, result)
