"""What a unit might track, per character, and the units that track it best.

Karpathy, Johnson & Fei-Fei (2015) found character-level LSTM cells that count the position in
the line, switch on inside quotes and inside brackets; Lakretz et al. (2019) found units that
carry the number of the sentence's subject to its verb. Each feature here is a value per token
read (the value *after* reading the token, like the trace's values), NaN where it is undefined:

    line_position   characters read since the last line break: "ab\\ncd" → 1 2 0 1 2 (the text's
                    start counts as a line break; the line break itself is 0)
    in_quotes       1 between an opening double quote and its closing one, the opening quote
                    included and the closing one not ('"' toggles; “ opens, ” closes), else 0
    in_brackets     1 while ( [ { are open (depth > 0 after the character: the opening bracket
                    counts as inside, its closing one as outside; a stray closer is ignored)
    subject_number  the grammatical number of the current sentence's subject, 1 plural and
                    0 singular, by a heuristic on charlm's agreement-grammar lexicon (below); NaN
                    where it can't be determined (no subject noun yet, after the verb, or a
                    sentence without any noun of the lexicon)

The subject heuristic, made for the agreement corpus (charlm.corpora.grammar) and good enough for
plain English sentences built from its words. Sentences end at ". ", "!", "?" or a line break.
A sentence's subject is its first noun of the grammar's lexicon (singular or plural form, any
case; the grammar's person and place names count as singular nouns). Its number is known from
the noun's last character (the model has read the -s by then) up to the character just before
the sentence's verb: the first later word that is a present-tense verb form of the *same*
number (is/are, was/were, has/have or a lexicon verb's -s form for singular, its base form for
plural). Forms of the other number are taken to belong to an embedded clause ("The keys that
the man *holds* are ...") and skipped, as are number-neutral past forms. With no such verb the
span runs to the end of the sentence (its final punctuation excluded). It is a heuristic: a
sentential complement ("The man said that the keys are ...") keeps the matrix subject's number
up to the embedded verb of that number, and words outside the lexicon are invisible to it.

`rank_units` scores every unit of every layer and quantity by |Pearson r| between its values
and a feature over the positions where the feature is defined.
"""

from __future__ import annotations

import re

import numpy as np

FEATURES = ("line_position", "in_quotes", "in_brackets", "subject_number")
DESCRIPTIONS = {
    "line_position": "position in the line (characters since the last line break)",
    "in_quotes": "inside double quotes (1) or not (0)",
    "in_brackets": "inside brackets or parentheses (1) or not (0)",
    "subject_number": "number of the current subject: plural (1) or singular (0), from its "
                      "noun up to its verb (heuristic on the agreement grammar's lexicon)",
}
TOP = 10
OPENERS, CLOSERS = "([{", ")]}"
SENTENCE_END = ".!?\n"
WORD = re.compile(r"[A-Za-z]+")


def line_position(text: str) -> np.ndarray:
    out = np.empty(len(text), np.float64)
    n = 0
    for i, c in enumerate(text):
        n = 0 if c == "\n" else n + 1
        out[i] = n
    return out


def in_quotes(text: str) -> np.ndarray:
    out = np.empty(len(text), np.float64)
    inside = False
    for i, c in enumerate(text):
        if c == '"':
            inside = not inside
        elif c == "\u201c":
            inside = True
        elif c == "\u201d":
            inside = False
        out[i] = inside
    return out


def in_brackets(text: str) -> np.ndarray:
    out = np.empty(len(text), np.float64)
    depth = 0
    for i, c in enumerate(text):
        if c in OPENERS:
            depth += 1
        elif c in CLOSERS:
            depth = max(depth - 1, 0)
        out[i] = depth > 0
    return out


_LEXICON = None


def lexicon() -> tuple[dict, dict]:
    """({noun form: 1 plural / 0 singular}, {verb form: 1 / 0}) from charlm.corpora.grammar."""
    global _LEXICON
    if _LEXICON is None:
        from charlm.corpora import grammar as g

        nouns = {}
        for noun in g.TRAIN.nouns + g.HELDOUT.nouns:
            nouns[noun.sg], nouns[noun.pl] = 0, 1
        for name in g.PERSON_NAMES + g.PLACE_NAMES:
            nouns[name.lower()] = 0
        verbs = {"is": 0, "was": 0, "has": 0, "are": 1, "were": 1, "have": 1}
        for verb in g.TRAIN.verbs + g.HELDOUT.verbs:
            verbs[verb.s], verbs[verb.base] = 0, 1
        _LEXICON = nouns, verbs
    return _LEXICON


def _sentences(text: str):
    """(start, end) of each sentence, its final punctuation or line break excluded."""
    start = 0
    for i, c in enumerate(text):
        if c in "\n!?" or (c == "." and (i + 1 == len(text) or text[i + 1].isspace())):
            yield start, i
            start = i + 1
    if start < len(text):
        yield start, len(text)


def subject_number(text: str) -> np.ndarray:
    nouns, verbs = lexicon()
    out = np.full(len(text), np.nan)
    for start, end in _sentences(text):
        number, noun_end = None, None
        for m in WORD.finditer(text, start, end):
            word = m.group().lower()
            if number is None:
                if word in nouns:
                    number, noun_end = nouns[word], m.end()
                    out[noun_end - 1:end] = number  # up to the sentence's end, unless a verb:
            elif verbs.get(word) == number:
                out[m.start():end] = np.nan
                break
    return out


FUNCTIONS = {"line_position": line_position, "in_quotes": in_quotes,
             "in_brackets": in_brackets, "subject_number": subject_number}


def features(tokens, text: str | None = None) -> dict:
    """{feature: [T] float64, NaN where undefined} for a trace's tokens. For tokens longer than
    one character (subword tokenizers) a token takes the value at its last character."""
    tokens = list(tokens)
    joined = "".join(tokens)
    text = joined if text is None or text != joined else text
    per_char = {name: f(text) for name, f in FUNCTIONS.items()}
    if len(tokens) == len(text):
        return per_char
    ends = np.cumsum([len(t) for t in tokens]) - 1
    ends = np.maximum(ends, 0)
    if len(text) == 0:
        return {name: np.zeros(len(tokens)) for name in per_char}
    return {name: values[ends] for name, values in per_char.items()}


def _centred(values: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(values [n, H] over the mask, centred per column; the columns' norms, 0 for columns
    that are constant up to rounding)."""
    x = np.asarray(values, np.float64)
    x = x if mask is None else x[mask]
    x = x - x.mean(axis=0)
    norm = np.sqrt((x * x).sum(axis=0))
    scale = max(1.0, float(np.abs(x).max(initial=0.0)))
    return x, np.where(norm > 1e-12 * scale * np.sqrt(len(x)), norm, 0.0)


def _unit_feature(feature: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(mask, the defined values centred and scaled to norm 1), or None if it can't be ranked
    (defined at fewer than 3 positions, or constant there)."""
    mask = ~np.isnan(feature)
    f = feature[mask]
    if len(f) < 3 or f.min() == f.max():
        return None
    f = f - f.mean()
    return mask, f / np.sqrt(f @ f)


def _r(x: np.ndarray, norm: np.ndarray, f: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, (f @ x) / np.where(norm > 0, norm, 1.0), 0.0)


def correlations(values: np.ndarray, feature: np.ndarray) -> np.ndarray | None:
    """Pearson r of each column of values [T, H] with feature [T] over the positions where the
    feature is defined; None if the feature is constant or defined at fewer than 3 positions.
    A unit that is constant there gets r = 0."""
    unit = _unit_feature(np.asarray(feature, np.float64))
    if unit is None:
        return None
    mask, f = unit
    x, norm = _centred(values, None if mask.all() else mask)
    return _r(x, norm, f)


def rank_units(layers, feats: dict, top: int = TOP) -> dict:
    """For each feature, the `top` (layer, quantity, unit) by |r|, strongest first:
    {feature: {"description", "defined": positions, "units": [{"layer" (index), "layer_name",
    "quantity", "unit", "r"}], "note" (when the feature can't be ranked)}}."""
    ranking, ready = {}, {}
    for name, feature in feats.items():
        feature = np.asarray(feature, np.float64)
        defined = feature[~np.isnan(feature)]
        ranking[name] = {"description": DESCRIPTIONS.get(name, name),
                         "defined": int(len(defined)), "units": []}
        unit = _unit_feature(feature)
        if unit is None:
            ranking[name]["note"] = (
                "not determined anywhere in this text" if len(defined) == 0 else
                f"constant ({defined[0]:g}) in this text: nothing to correlate"
                if defined.min() == defined.max() else
                "defined at too few characters to correlate")
        else:
            ready[name] = unit
    rows = {name: [] for name in ready}
    for li, layer in enumerate(layers):
        for quantity in layer.quantities:
            centred = {}  # one centring per distinct mask (features defined everywhere share)
            for name, (mask, f) in ready.items():
                key = "all" if mask.all() else name
                if key not in centred:
                    centred[key] = _centred(layer.values[quantity], None if key == "all" else mask)
                r = _r(*centred[key], f)
                rows[name] += [(-abs(float(v)), li, layer.name, quantity, u, float(v))
                               for u, v in enumerate(r)]
    for name, found in rows.items():
        found.sort(key=lambda row: row[0])  # stable: ties keep layer, quantity, unit order
        ranking[name]["units"] = [{"layer": li, "layer_name": ln, "quantity": q, "unit": u,
                                   "r": round(r, 4)} for _, li, ln, q, u, r in found[:top]]
    return ranking
