"""Write the shipped SyntaxGym test suites (corpora/suites/*.json) from the grammar's TRAIN words.

    python -m charlm.corpora.make_suites            # rewrites corpora/suites/

Pure standard library, deterministic. Each suite crosses subject number with verb number
(match_sg, mismatch_sg, match_pl, mismatch_pl); the noun between subject and verb (the
attractor) always has the other number than the subject, the hard case. The verb region carries
the sentence's final period: a character model reads "laugh" as the first five characters of
"laughs", so without the character after the verb the plural form would never be more
surprising than the singular one. Prediction 3 (`*`) compares whole sentences, as BLiMP does.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

try:
    from . import grammar
except ImportError:  # run as a script
    import grammar

OUT = Path(__file__).resolve().parent / "suites"
N_ITEMS = 24
PREPOSITIONS = ("near", "behind", "beside")


def _humans():
    return [n for n in grammar.TRAIN.nouns if n.cls[0] == "H" and n.sg != n.pl]


def _verbs(kind):
    return [v for v in grammar.TRAIN.verbs
            if any(f.kind == kind and "H" in f.subj and (kind == "i" or "H" in f.obj)
                   for f in v.frames)]


def _conditions(subject, middle, verb):
    """{condition: [subject, middle, verb + "."]} with the attractor of the other number."""
    out = {}
    for num, other in (("sg", "pl"), ("pl", "sg")):
        head = subject.sg if num == "sg" else subject.pl
        for match in (True, False):
            form = verb.s if (num == "sg") == match else verb.base
            name = f"{'match' if match else 'mismatch'}_{num}"
            out[name] = [f"The {head}", middle(other), f"{form}."]
    return out


def _suite(name, description, region_names, make_item, seed):
    rng = random.Random(seed)
    items = []
    for number in range(1, N_ITEMS + 1):
        conditions = make_item(rng)
        items.append({"item_number": number, "conditions": [
            {"condition_name": c, "regions": [{"region_number": i, "content": text}
                                              for i, text in enumerate(regions, 1)]}
            for c, regions in conditions.items()]})
    last = len(region_names)
    predictions = [f"({last};%mismatch_sg%) > ({last};%match_sg%)",
                   f"({last};%mismatch_pl%) > ({last};%match_pl%)",
                   "(*;%mismatch_sg%) + (*;%mismatch_pl%) > (*;%match_sg%) + (*;%match_pl%)"]
    return {"meta": {"name": name, "metric": "sum", "description": description,
                     "reference": "charlm corpora/make_suites.py"},
            "region_meta": {str(i): r for i, r in enumerate(region_names, 1)},
            "predictions": [{"type": "formula", "formula": f} for f in predictions],
            "items": items}


def across_pp(rng):
    subject, attractor = rng.sample(_humans(), 2)
    prep, verb = rng.choice(PREPOSITIONS), rng.choice(_verbs("i"))
    middle = lambda num: f"{prep} the {attractor.sg if num == 'sg' else attractor.pl}"
    return _conditions(subject, middle, verb)


def across_object_relative(rng):
    subject, attractor = rng.sample(_humans(), 2)
    rc_verb, verb = rng.choice(_verbs("t")), rng.choice(_verbs("i"))
    middle = lambda num: (f"that the {attractor.sg} {rc_verb.s}" if num == "sg"
                          else f"that the {attractor.pl} {rc_verb.base}")
    return _conditions(subject, middle, verb)


SUITES = {
    "agreement_across_pp": (
        "Subject-verb agreement across a prepositional phrase whose noun has the other number",
        ["subject", "prepositional phrase", "verb"], across_pp, 11),
    "agreement_across_object_relative": (
        "Subject-verb agreement across an object relative clause whose subject has the other "
        "number", ["subject", "object relative clause", "verb"], across_object_relative, 12),
}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, (description, regions, make_item, seed) in SUITES.items():
        suite = _suite(name, description, regions, make_item, seed)
        (OUT / f"{name}.json").write_text(json.dumps(suite, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {OUT / name}.json ({len(suite['items'])} items)")


if __name__ == "__main__":
    main()
