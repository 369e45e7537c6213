"""Number units, the bookkeeping: each agreement pair's subject number and attractors, the
accuracies by construction and condition before and after an ablation, the rankings' Spearman
correlation, and the verdict (see `charlm.inspect.number_units.search`)."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import numpy as np

from charlm.probes.stats import stats as acc_stats

NUMBERS = ("singular", "plural")
ATTRACTOR_CLASSES = ("none", "same", "different")
SINGULAR_PLURAL = {"is": "are", "was": "were", "has": "have", "does": "do", "isn't": "aren't",
                   "wasn't": "weren't", "doesn't": "don't", "hasn't": "haven't"}
COARSE = [(n, a) for n in NUMBERS for a in ATTRACTOR_CLASSES]


# --- the pairs: subject number, attractors ---------------------------------------------------
def parse_condition(condition: str | None) -> tuple[str | None, list[str] | None]:
    """"singular_subject__plural_singular_attractors" → ("singular", ["plural", "singular"]);
    ("plural", []) for "plural_subject"; None where it cannot be read. Also accepts the display
    form "singular subject, plural attractor"."""
    if not condition:
        return None, None
    parts = condition.strip().replace(", ", "__").replace(" ", "_").split("__")
    first = parts[0].split("_")
    if not (len(first) == 2 and first[1] == "subject" and first[0] in NUMBERS):
        return None, None
    subject = first[0]
    attractors: list[str] | None = []
    for part in parts[1:]:
        words = part.split("_")
        if words[-1] in ("attractor", "attractors"):
            if not all(w in NUMBERS for w in words[:-1]) or len(words) < 2:
                attractors = None
                break
            attractors += words[:-1]
        elif part.endswith("_matrix_subject"):
            continue  # before the subject, not between it and the verb
        else:
            attractors = None
            break
    return subject, attractors


def number_from_verbs(good: str, bad: str) -> str | None:
    """The subject's number from the verb forms: "sleeps"/"sleep" → singular."""
    g, b = (w.strip().rstrip(".,;:!?").lower() for w in (good, bad))
    if SINGULAR_PLURAL.get(g) == b:
        return "singular"
    if SINGULAR_PLURAL.get(b) == g:
        return "plural"
    for s, p in ((g, b), (b, g)):
        if p and (s in (p + "s", p + "es") or (p.endswith("y") and s == p[:-1] + "ies")):
            return "singular" if s == g else "plural"
    return None


@dataclasses.dataclass
class PairInfo:
    number: str | None  # the subject's number
    attractors: str | None  # none | same | different (at least one of the other number)
    coarse: str | None  # "singular subject, different attractor"
    has_prefix: bool


def pair_info(pair) -> PairInfo:
    subject, attractors = parse_condition(pair.condition)
    number = subject or (number_from_verbs(pair.good, pair.bad) if pair.good else None)
    klass = None
    if number and attractors is not None and pair.condition:
        if not attractors:
            klass = "none" if not pair.n_attr else None
        else:
            klass = "different" if any(a != number for a in attractors) else "same"
    coarse = coarse_label(number, klass) if number and klass else None
    return PairInfo(number, klass, coarse, pair.method == "one_prefix")


def coarse_label(number: str, klass: str) -> str:
    return {"none": f"{number} subject, no attractor",
            "same": f"{number} subject, attractors all {number}",
            "different": f"{number} subject, attractor of the other number"}[klass]


# --- summaries -------------------------------------------------------------------------------
def stats_of(correct) -> dict:
    return acc_stats([bool(c) for c in correct])


def breakdown(indices: np.ndarray, correct: np.ndarray, pairs: list, infos: list,
              focus: set, fine: bool = False) -> dict:
    """Accuracy (Wilson 95%) overall, on the pairs in `focus` (the attractor pairs), by
    construction and by coarse condition (and by fine condition, per construction, with
    `fine`); correct is aligned with indices."""
    ok = dict(zip(indices.tolist(), correct.tolist()))
    attractor = [ok[i] for i in ok if i in focus]
    by_cat, by_cond, by_fine = defaultdict(list), defaultdict(list), defaultdict(list)
    for i, c in ok.items():
        by_cat[pairs[i].category or pairs[i].source].append(c)
        if infos[i].coarse:
            by_cond[infos[i].coarse].append(c)
        if fine and pairs[i].condition:
            by_fine[f"{pairs[i].category}: {pairs[i].condition}"].append(c)
    order = [coarse_label(n, a) for n, a in COARSE]
    out = {"overall": stats_of(list(ok.values())), "attractor": stats_of(attractor),
           "by_construction": {k: stats_of(v) for k, v in by_cat.items()},
           "by_condition": {k: stats_of(by_cond[k]) for k in order if k in by_cond}}
    if fine:
        out["by_fine_condition"] = {k: stats_of(v) for k, v in by_fine.items()}
    return out


def accuracies(b: dict) -> dict:
    """The accuracies of a breakdown, without counts and intervals (for the random draws)."""
    return {"overall": b["overall"]["accuracy"], "attractor": b["attractor"]["accuracy"],
            "by_construction": {k: v["accuracy"] for k, v in b["by_construction"].items()},
            "by_condition": {k: v["accuracy"] for k, v in b["by_condition"].items()}}


def spread_of(values: list) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    a = np.array(values, np.float64)
    return {"mean": round(float(a.mean()), 4), "std": round(float(a.std(ddof=1)), 4)
            if len(a) > 1 else 0.0, "min": round(float(a.min()), 4),
            "max": round(float(a.max()), 4), "n": len(a)}


def _drop(before: dict, after: dict) -> float | None:
    if before["accuracy"] is None or after["accuracy"] is None:
        return None
    return round(before["accuracy"] - after["accuracy"], 4)


def _at_chance(st: dict) -> bool | None:
    return None if not st["n"] else bool(st["ci95"][0] <= 0.5)


def compare(intact: dict, ablation: dict, random_draws: list) -> dict:
    """Rows (overall, attractor, each construction and condition): n, intact, ablated, drop,
    at chance, and the random units' drop (mean, std, min, max)."""
    def row(before, after, randoms):
        return {"n": before["n"], "intact": before, "ablated": after,
                "drop": _drop(before, after), "ablated_at_chance": _at_chance(after),
                "random_drop": spread_of([before["accuracy"] - r for r in randoms
                                        if r is not None and before["accuracy"] is not None])}

    out = {key: row(intact[key], ablation[key], [d[key] for d in random_draws])
           for key in ("overall", "attractor")}
    for key in ("by_construction", "by_condition"):
        out[key] = {name: row(st, ablation[key][name],
                              [d[key].get(name) for d in random_draws])
                    for name, st in intact[key].items() if name in ablation[key]}
    return out


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    for end in range(1, len(values) + 1):  # average ranks over ties
        if end == len(values) or sorted_values[end] != sorted_values[start]:
            ranks[order[start:end]] = (start + end - 1) / 2
            start = end
    return ranks


def spearman(a, b) -> float | None:
    ra, rb = _ranks(np.asarray(a, float)), _ranks(np.asarray(b, float))
    if ra.std() == 0 or rb.std() == 0:
        return None
    return round(float(np.corrcoef(ra, rb)[0, 1]), 4)


def _criteria(row: dict) -> dict:
    """Lakretz et al.'s finding, as three tests on a comparison row: the intact model is above
    chance (Wilson interval above 50%), the ablated one is not, and the drop exceeds every
    random draw's."""
    spread = row["random_drop"]
    return {"intact_above_chance": bool(row["intact"]["n"]) and row["intact"]["ci95"][0] > 0.5,
            "ablated_at_chance": bool(row["ablated_at_chance"]),
            "beyond_random": row["drop"] is not None and spread["max"] is not None
            and row["drop"] > spread["max"]}


def verdict(layer_reports: list, intact: dict) -> dict:
    """For the best unit and the best pair (over layers: the largest drop on the attractor
    pairs): the attractor numbers and the three tests, overall and per attractor condition;
    then one sentence."""
    out = {}
    for key in ("best_unit", "best_pair"):
        found = [e for e in layer_reports if key in e]
        if not found:
            continue
        entry = max(found, key=lambda e: e[key]["comparison"]["attractor"]["drop"] or -1.0)
        comparison = entry[key]["comparison"]
        c = comparison["attractor"]
        out[key] = {"layer": entry["name"], "units": entry[key]["units"],
                    "attractor_intact": c["intact"]["accuracy"],
                    "attractor_intact_ci95": c["intact"]["ci95"],
                    "attractor_ablated": c["ablated"]["accuracy"],
                    "attractor_ablated_ci95": c["ablated"]["ci95"], "drop": c["drop"],
                    "random_drop": c["random_drop"], **_criteria(c),
                    "by_condition": {name: {"intact": row["intact"]["accuracy"],
                                            "ablated": row["ablated"]["accuracy"],
                                            "drop": row["drop"], **_criteria(row)}
                                     for name, row in comparison["by_condition"].items()
                                     if name.endswith("other number")}}
    if not out:
        return {"number_units_found": False, "sentence": "no ablation was run"}

    def holds(tests: dict) -> bool:
        return all(tests[k] for k in ("intact_above_chance", "ablated_at_chance",
                                      "beyond_random"))

    full = [k for k in out if holds(out[k])]
    partly = {k: [n for n, v in out[k]["by_condition"].items() if holds(v)] for k in out}
    k = full[0] if full else next((k for k in partly if partly[k]), None)
    k = k or max(out, key=lambda key: out[key]["drop"] if out[key]["drop"] is not None else -1)
    b = out[k]
    what = (f"unit{'s' * (len(b['units']) > 1)} {', '.join(map(str, b['units']))} of "
            f"{b['layer']}")
    numbers = (f"{pct(b['attractor_ablated'])}% {ci_text(b['attractor_ablated_ci95'])} from "
               f"{pct(b['attractor_intact'])}% {ci_text(b['attractor_intact_ci95'])} on the "
               f"attractor pairs, a drop of {points(b['drop'])} points; random units of that "
               f"layer: {points(b['random_drop']['mean'])} ± {pct(b['random_drop']['std'])}, "
               f"at most {points(b['random_drop']['max'])}")
    if full:
        sentence = (f"yes: ablating {what} takes agreement across attractors of the other "
                    f"number to chance ({numbers})")
    elif partly[k]:
        sentence = (f"partly: ablating {what} takes agreement to chance only for "
                    f"{'; '.join(partly[k])} ({numbers})")
    elif not b["intact_above_chance"]:
        sentence = (f"undetermined: the intact model is not above chance on the attractor "
                    f"pairs, so no ablation can take it there (best ablation, {what}: "
                    f"{numbers})")
    else:
        sentence = (f"no: no unit or pair of units found takes agreement across attractors to "
                    f"chance; the most harmful, {what}: {numbers}")
    out["number_units_found"] = bool(full)
    out["sentence"] = sentence
    return out


def points(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}".replace("-", "−")


def ci_text(ci) -> str:
    return f"[{pct(ci[0])}, {pct(ci[1])}]"


def pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}"
