"""Minimal-pair probes: read pair files (BLiMP or charlm pairs), turn each pair into scoring
requests, and score them into verdicts (`charlm.probes.stats` summarises them).

Two input formats, detected per file from the first object (or forced with `fmt`):

- **BLiMP** (`UID` present): `sentence_good`, `sentence_bad`, grouped by `UID`. Scored as whole
  sentences by default (the published metric); with `method="prefix"` the pair's
  `one_prefix_*` / `two_prefix_*` fields are used where its flags allow.
- **charlm pairs**: `sentence_good`, `sentence_bad`, optional `id`, `source`, `category`,
  `condition`, `n_attr`, `distance`, and for prefix scoring `method` (`full` | `one_prefix` |
  `two_prefix`) with `prefix`, `good`, `bad`, `suffix`, where
  `sentence_x == " ".join(w for w in [prefix, x, suffix] if w)` must hold.

Every pair becomes two requests `(context, target)`, scored as log P(target | "\\n" + context):

- `full`: the sentence as a line of its own. The shared leading characters of the two
  sentences (character-level longest common prefix) become the context, so a scorer reads them
  once; the totals add log P(context) back, so logprob_x = log P(sentence_x + "\\n" | "\\n").
- `one_prefix`: target = " " + word + the character after the word (space, punctuation, or the
  end marker "\\n"). The following character is mandatory: without it "admire" would beat
  "admires" for free, because every continuation of "admires" is also one of "admire".
- `two_prefix`: target = everything after the differing words, through the end marker, read
  after each sentence's own beginning.

Correct iff logprob_good > logprob_bad, strictly: a tie is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from charlm.data.corpus import SHIPPED_DIR, read_text_file
from charlm.data.tokenizers import (UNKNOWN_POLICIES, check_unknown_policy,
                                     unknown_characters_error)
from charlm.errors import UserError

FORMATS = ("auto", "blimp", "pairs")
METHODS = ("full", "one_prefix", "two_prefix")
END = "\n"  # the end marker: the line break that ends each sentence's line
SUITE_DIR = SHIPPED_DIR / "agreement"


@dataclass
class Pair:
    fields: dict  # the input object, unchanged (written back by --pairs-out)
    where: str  # "file:line", for messages
    source: str
    category: str
    method: str
    good_text: str  # sentence_good
    bad_text: str
    prefix: str = ""  # method != full: shared/left part, differing words, shared right part
    good: str = ""
    bad: str = ""
    suffix: str = ""
    after: str = ""  # the sentence's text after the differing word(s): " " + suffix, ".", ""
    condition: str | None = None
    n_attr: int | None = None
    distance: int | None = None

    def group(self) -> tuple[str, str]:
        return self.source, self.category


# --- reading ---------------------------------------------------------------------------------
def default_suite(heldout: bool = True, known_words: bool = True) -> list[Path]:
    """The shipped suite: held-out words (corpora/agreement/*.jsonl) and the same constructions
    with the training corpus' own words in new sentences (corpora/agreement/known_words/)."""
    parts = [SUITE_DIR] * heldout + [SUITE_DIR / "known_words"] * known_words
    found = [sorted(folder.glob("*.jsonl")) for folder in parts]
    files = [f for part in found for f in part]
    if not all(found):
        raise UserError(f"the shipped probe suite is missing from {SUITE_DIR}; regenerate it with "
                        "python -m charlm.corpora.make_agreement_corpus")
    return files


def read_jsonl(path: Path) -> list[tuple[int, dict]]:
    """(line number, object) for every non-blank line; malformed lines are a line-numbered error."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder; pass the .jsonl files in it (e.g. {path}/*.jsonl)")
    text = read_text_file(path, "--data")
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{number}: not valid JSON ({e.msg} at column {e.colno}); "
                            "each line must be one JSON object")
        if not isinstance(obj, dict):
            raise UserError(f"{path}:{number}: expected a JSON object, got {type(obj).__name__}")
        rows.append((number, obj))
    if not rows:
        raise UserError(f"{path} has no pairs (it is empty)")
    return rows


def detect_format(obj: dict) -> str:
    return "blimp" if "UID" in obj else "pairs"


def load_pairs(paths, fmt: str = "auto", method: str = "auto") -> tuple[list[Pair], dict]:
    """All pairs of all files, in input order, and {file: format}. `method`: auto (each pair's
    own; BLiMP: full) | full (every pair as whole sentences) | prefix (BLiMP prefix fields)."""
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if method not in ("auto", "full", "prefix"):
        raise UserError(f"--method must be auto, full or prefix, not {method!r}")
    pairs, formats = [], {}
    for path in paths:
        rows = read_jsonl(Path(path))
        kind = detect_format(rows[0][1]) if fmt == "auto" else fmt
        formats[str(path)] = kind
        parse = _parse_blimp if kind == "blimp" else _parse_pairs
        for number, obj in rows:
            pair = parse(obj, f"{path}:{number}", Path(path).stem, method)
            if method == "full":
                pair.method = "full"
            pairs.append(pair)
    return pairs, formats


def _text(obj, key, where, required=True):
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise UserError(f"{where}: field {key!r} must be a string"
                        + ("" if key in obj else " and is missing"))
    return value


def _int(obj, key, where):
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{where}: field {key!r} must be an integer, not {value!r}")
    return value


def _parse_pairs(obj: dict, where: str, stem: str, method: str) -> Pair:
    good_text, bad_text = _text(obj, "sentence_good", where), _text(obj, "sentence_bad", where)
    how = obj.get("method", "full")
    if how not in METHODS:
        raise UserError(f"{where}: method must be one of {', '.join(METHODS)}, not {how!r}")
    pair = Pair(obj, where, str(obj.get("source") or stem), str(obj.get("category") or ""),
                how, good_text, bad_text, condition=_text(obj, "condition", where, False),
                n_attr=_int(obj, "n_attr", where), distance=_int(obj, "distance", where))
    if how != "full":
        pair.prefix = _text(obj, "prefix", where, False) or ""
        pair.good, pair.bad = _text(obj, "good", where), _text(obj, "bad", where)
        pair.suffix = _text(obj, "suffix", where, False) or ""
        for word, sentence, name in ((pair.good, good_text, "good"), (pair.bad, bad_text, "bad")):
            joined = " ".join(w for w in (pair.prefix, word, pair.suffix) if w)
            if joined != sentence:
                raise UserError(f"{where}: prefix + {name} + suffix gives {joined!r}, not "
                                f"sentence_{name} {sentence!r}; fix the fields")
        if not pair.good or pair.good == pair.bad:
            raise UserError(f"{where}: good and bad must be different, non-empty words")
        pair.after = " " + pair.suffix if pair.suffix else ""
    return pair


def _parse_blimp(obj: dict, where: str, stem: str, method: str) -> Pair:
    good_text, bad_text = _text(obj, "sentence_good", where), _text(obj, "sentence_bad", where)
    pair = Pair(obj, where, "blimp", str(obj.get("UID") or stem), "full", good_text, bad_text,
                distance=_int(obj, "dependency_length", where))
    if method != "prefix":
        return pair
    if obj.get("one_prefix_method"):
        prefix = _text(obj, "one_prefix_prefix", where)
        good = _text(obj, "one_prefix_word_good", where)
        bad = _text(obj, "one_prefix_word_bad", where)
        rest_good = _after(good_text, f"{prefix} {good}", where)
        rest_bad = _after(bad_text, f"{prefix} {bad}", where)
        if rest_good != rest_bad:
            raise UserError(f"{where}: the sentences differ after the one-prefix words")
        # BLiMP words stop before punctuation: "suffer" + ".", so `after` is kept verbatim.
        pair.method, pair.prefix, pair.good, pair.bad = "one_prefix", prefix, good, bad
        pair.after = rest_good
    elif obj.get("two_prefix_method"):
        good = _text(obj, "two_prefix_prefix_good", where)
        bad = _text(obj, "two_prefix_prefix_bad", where)
        rest_good, rest_bad = _after(good_text, good, where), _after(bad_text, bad, where)
        if rest_good != rest_bad:
            raise UserError(f"{where}: the sentences differ after the two-prefix prefixes")
        pair.method, pair.good, pair.bad, pair.after = "two_prefix", good, bad, rest_good
    return pair


def _after(sentence: str, start: str, where: str) -> str:
    if not sentence.startswith(start):
        raise UserError(f"{where}: sentence {sentence!r} does not start with {start!r}")
    return sentence[len(start):]


# --- requests --------------------------------------------------------------------------------
def lowercase_pair(pair: Pair) -> None:
    for name in ("good_text", "bad_text", "prefix", "good", "bad", "suffix", "after"):
        setattr(pair, name, getattr(pair, name).lower())


def common_prefix(a: str, b: str) -> str:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return a[:n]


def requests(pair: Pair) -> tuple[tuple[str, str], tuple[str, str], bool]:
    """((context, target) good, (context, target) bad, add log P(context) to the totals)."""
    if pair.method == "full":
        # Both lines end with END, so the sentences' rests (here "s.\\n" / ".\\n") are non-empty
        # even when one sentence is a prefix of the other; identical sentences tie (wrong).
        shared = common_prefix(pair.good_text, pair.bad_text)
        n = len(shared)
        return ((shared, pair.good_text[n:] + END), (shared, pair.bad_text[n:] + END), True)
    lead = " " if pair.prefix else ""
    rest = pair.after + END
    if pair.method == "one_prefix":
        # rest[0]: the mandatory character after the word (" ", "." or the end marker)
        return ((pair.prefix, lead + pair.good + rest[0]),
                (pair.prefix, lead + pair.bad + rest[0]), False)
    # two_prefix: each sentence's own beginning, then the shared rest through the end marker
    return ((pair.prefix + lead + pair.good, rest), (pair.prefix + lead + pair.bad, rest), False)


# --- running ---------------------------------------------------------------------------------
def should_lowercase(mode: str, has_char) -> tuple[bool, str | None]:
    """--lowercase auto|yes|no → (lower-case the items?, a note for the user or None)."""
    if mode not in ("auto", "yes", "no"):
        raise UserError(f"--lowercase must be auto, yes or no, not {mode!r}")
    if mode == "auto":
        if not any(has_char(c) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
            return True, ("the model's vocabulary has no capital letters: items are lower-cased "
                          "(--lowercase no keeps them)")
        return False, None
    return mode == "yes", ("items lower-cased (--lowercase yes)" if mode == "yes" else None)


def unknown_chars(pairs: list[Pair], has_char) -> tuple[list[bool], dict[str, str]]:
    """Per pair: does it use a character outside the vocabulary? And {char: first file:line}."""
    known, first, flags = {}, {}, []
    for pair in pairs:
        bad = False
        for c in set(pair.good_text) | set(pair.bad_text):
            if c not in known:
                known[c] = has_char(c)
            if not known[c]:
                bad = True
                first.setdefault(c, pair.where)
        flags.append(bad)
    return flags, first


def score_pairs(scorer, pairs: list[Pair], unknown: str = "error", progress=None) -> list[dict]:
    """{logprob_good, logprob_bad, correct} per pair, in order; None values for skipped pairs."""
    check_unknown_policy(unknown, UNKNOWN_POLICIES + ("skip",))
    flags, first = unknown_chars(pairs, scorer.has_char)
    if first and unknown == "error":
        raise unknown_characters_error(
            list(first), "pass --unknown replace (score them as <unk>) or --unknown skip (drop "
            "those pairs)", where=first)
    keep = [i for i, f in enumerate(flags) if not (f and unknown == "skip")]
    reqs, add_context = [], []
    for i in keep:
        good, bad, with_context = requests(pairs[i])
        reqs += [good, bad]
        add_context += [with_context, with_context]
    ctx_lp, tgt_lp = scorer.score(reqs, progress=progress) if reqs else ([], [])
    total = [t + (c if w else 0.0) for c, t, w in zip(ctx_lp, tgt_lp, add_context)]
    results = [{"logprob_good": None, "logprob_bad": None, "correct": None} for _ in pairs]
    for n, i in enumerate(keep):
        good, bad = float(total[2 * n]), float(total[2 * n + 1])
        results[i] = {"logprob_good": good, "logprob_bad": bad, "correct": bool(good > bad)}
    return results


def pairs_jsonl(pairs: list[Pair], results: list[dict]) -> str:
    """Every input pair, in input order: its own fields plus logprob_good/bad and correct."""
    return "".join(json.dumps({**p.fields, **r}, ensure_ascii=False) + "\n"
                   for p, r in zip(pairs, results))
