"""Number units: which recurrent units carry the subject's number to the verb, after Lakretz et
al. (2019), "The emergence of number and syntax units in LSTM language models".

Three steps, on agreement pairs in charlm's format (`charlm.probes.pairs.load_pairs`):

1. **Diagnostic classifier.** For each pair with a prefix (method one_prefix) and a known subject
   number, the model reads "\\n" + prefix + " " from a zero state (the line-break priming of
   `charlm probe`), i.e. everything up to the verb's first character. Its state there is the
   cell state c for LSTM-like cells (lstm, peephole, cifg) and the hidden state h for gru/rnn.
   Per layer, an L2-penalised logistic regression (NumPy Newton iterations, penalty `L2` on the
   mean log-loss, bias unpenalised) predicts plural (1) vs singular (0) from the state,
   standardised with the training split's mean and standard deviation. Split: a seeded random
   80% of the pairs to train, 20% held out. Reported: train and held-out accuracy (Wilson 95%),
   chance (the majority class' share of the held-out pairs), and each unit's weight; a positive
   weight means the unit is higher for plural subjects.

2. **Ablation ranking.** Ablating a unit zeroes its outgoing weights (`charlm.inspect.ablation`:
   its row of its own recurrent_kernel and of the next layer's kernel or the logits kernel), run
   as a mask on the layer's output so that many ablations share one batched run
   (`charlm.inspect.masked_ablation`; the same margins).
   Agreement is scored as `charlm probe` scores it (correct iff log P(good) > log P(bad), each
   log P(target | "\n" + context) from `charlm.probes.pairs.requests`;
   `charlm.probes.scoring.PrefixScorer` reads all the texts of a set of pairs as one trie, a
   shared beginning once). The **attractor pairs** are
   those with n_attr >= 1 and at least one attractor whose number differs from the subject's
   (parsed from `condition`, e.g. "singular_subject__plural_singular_attractors"; a sentential
   complement's matrix subject is not an attractor). A seeded random `screen_pairs` of them (at
   most half) form the **screen**: every unit of every recurrent layer is ablated alone on it.
   The `top_k` units of each layer with the largest screen drop (ties: the larger drop of the
   mean log-probability margin) are re-measured on the other attractor pairs; the best unit is
   the one with the largest drop there. The best pair is the pair of those top-k units with
   the largest drop on the screen. Selection happens on the screen, measurement on the rest:
   every accuracy reported (the intact model's included) is on the pairs outside the screen.

3. **Report.** For the best unit and the best pair of each layer: accuracy overall, on the
   attractor pairs, by construction (category) and by condition, before and after ablation,
   with Wilson 95% intervals, and the drop; next to it the drop caused by ablating random units
   of the same layer (as many units; `draws` draws; the layer's top-k units by either ranking
   excluded): mean, standard deviation, min and max. Conditions are coarse (subject number ×
   attractors: none / all of the subject's number / at least one of the other number); the fine
   conditions of the pair files are in the JSON for the intact model and the best ablations.
   Verdict (Lakretz et al.'s finding, on the attractor pairs): number units are found when the
   intact model is above chance (Wilson interval above 50%), the ablated one is at chance (its
   interval reaches 50%) and the drop exceeds every random draw's; "partly" when that holds for
   one subject number's attractor condition only (a singular or a plural unit).

Pairs without a determinable subject number (no parsable condition, and verb forms that are
not an -s/-es/-ies or is/are-type pair) are left out of the classifier and the attractor set
and counted; pairs without a prefix are left out of the classifier. Characters outside the
vocabulary read as <unk>. When the vocabulary has no capital letters, the items are
lower-cased (as `charlm probe --lowercase auto` does).

Outputs: number_units.json, number_units.md, number_units.png in `out_dir`.
"""
from __future__ import annotations

import dataclasses
import itertools
import time
from pathlib import Path

import numpy as np

from charlm.cell_types import LSTM_LIKE
from charlm.fileio import atomic_write, atomic_write_json
from charlm.inspect.equations import cell_kind
from charlm.inspect.masked_ablation import ROWS, AblationScorer
from charlm.inspect.number_units.diagnostic import L2, TEST_FRACTION, diagnostic_classifier
from charlm.inspect.number_units.report import markdown, number_units_chart
from charlm.inspect.number_units.states import phase_bar, verb_states
from charlm.inspect.number_units.stats import (accuracies, breakdown, compare, pair_info,
                                               spearman, spread_of, stats_of, verdict)
from charlm.inspect.trace import recurrent_layers
from charlm.probes import pairs as probe_pairs
from charlm.probes.scoring import PrefixScorer

SCREEN_PAIRS = 200
TOP_K = 5


def number_units_report(model, tokenizer, pairs, out_dir, draws: int = 20, seed: int = 0,
                        progress=None, *, screen_pairs: int = SCREEN_PAIRS, top_k: int = TOP_K,
                        batch_size: int = 256) -> dict:
    """The three steps of the module docstring on `pairs` (from load_pairs); writes
    out_dir/number_units.json, .md and .png and returns the JSON dict."""
    started = time.perf_counter()
    seconds = {}
    out_dir = Path(out_dir)
    draws, top_k, screen_pairs = max(1, int(draws)), max(2, int(top_k)), max(1, int(screen_pairs))
    lower, note = probe_pairs.should_lowercase("auto", lambda c: tokenizer.token_id(c) is not None)
    pairs = [dataclasses.replace(p) for p in pairs]
    if lower:
        for pair in pairs:
            probe_pairs.lowercase_pair(pair)
    notes = [note] if note else []
    infos = [pair_info(p) for p in pairs]
    layers = recurrent_layers(model)
    rng = np.random.default_rng(seed)

    t = time.perf_counter()
    classifiers, usable = _classifiers(model, tokenizer, pairs, infos, seed, batch_size, progress)
    seconds["classifier"] = round(time.perf_counter() - t, 2)

    t = time.perf_counter()
    scorer = AblationScorer(PrefixScorer(model, tokenizer, pairs), max(batch_size, ROWS))
    split = _split(infos, rng, screen_pairs, notes)
    ablation = _Ablation(model, scorer, pairs, infos, split, progress)
    seconds["intact"] = round(time.perf_counter() - t, 2)
    layer_reports = [_ablate_layer(ablation, n, layer, classifiers[n], rng, draws, top_k)
                     for n, layer in enumerate(layers)]

    report = {
        "method": _method(split, top_k, draws),
        "seed": seed, "draws": draws, "screen_pairs": int(len(split.screen)), "top_k": top_k,
        "lowercased": lower, "notes": notes,
        "pairs": {"total": len(pairs), "with_number": sum(1 for i in infos if i.number),
                  "skipped_no_number": sum(1 for i in infos if not i.number),
                  "skipped_no_prefix": sum(1 for i in infos if i.number and not i.has_prefix),
                  "classifier": len(usable), "attractor": int(len(split.attractor_set)),
                  "screen": int(len(split.screen)), "evaluation": int(len(split.evaluation)),
                  "evaluation_attractor": int(len(split.eval_attractor)),
                  "attractor_basis": split.basis},
        "layers": [{"name": layer.name, "cell": cell_kind(layer), "units": layer.cell.units}
                   for layer in layers],
        "classifier": classifiers,
        "intact": ablation.intact,
        "ablation": layer_reports,
        "best": verdict(layer_reports, ablation.intact),
        "seconds": {**seconds, "total": round(time.perf_counter() - started, 2)},
    }
    atomic_write_json(out_dir / "number_units.json", report)
    atomic_write(out_dir / "number_units.md", markdown(report))
    number_units_chart(report, out_dir / "number_units.png")
    return report


# --- 1. the diagnostic classifier ----------------------------------------------------------------
def _classifiers(model, tokenizer, pairs, infos, seed, batch_size, progress) -> tuple[list, list]:
    """Per recurrent layer, the classifier's part of the report; and the indices of the pairs it
    reads (those with a prefix and a subject number)."""
    layers = recurrent_layers(model)
    usable = [i for i, (p, info) in enumerate(zip(pairs, infos)) if info.has_prefix and info.number]
    prime = tokenizer.prime_id()
    contexts = [np.concatenate([[prime], tokenizer.encode(pairs[i].prefix + " " if pairs[i].prefix
                                                          else "", unknown="replace")])
                for i in usable]
    states = verb_states(model, contexts, batch_size, progress) if usable else \
        [np.zeros((0, layer.cell.units)) for layer in layers]
    labels = np.array([infos[i].number == "plural" for i in usable], np.float64)
    return [_classifier_entry(n, layer, states[n], labels, seed)
            for n, layer in enumerate(layers)], usable


def _classifier_entry(n: int, layer, states: np.ndarray, labels: np.ndarray, seed: int) -> dict:
    """The classifier of layer n on its states [N, H] and labels [N] (1 = plural)."""
    kind = cell_kind(layer)
    entry = {"layer": n, "name": layer.name, "cell": kind,
             "state": "cell" if kind in LSTM_LIKE else "hidden", "units": layer.cell.units}
    if len(labels) >= 2 and 0 < labels.sum() < len(labels):
        fit = diagnostic_classifier(states, labels, seed)
        w = fit.pop("weights")
        order = np.argsort(-np.abs(w), kind="stable")
        entry.update({k: (round(v, 4) if isinstance(v, float) else v) for k, v in fit.items()})
        entry["weights"] = np.round(w, 5).tolist()
        entry["rank_by_weight"] = order.tolist()
        entry["top_units"] = [{"unit": int(u), "weight": round(float(w[u]), 4),
                               "higher_for": "plural" if w[u] > 0 else "singular"}
                              for u in order[:10]]
    else:
        entry["skipped"] = "needs pairs with a prefix and subjects of both numbers"
    return entry


# --- 2. ablation: intact, screen, top-k, best unit and pair, random units ------------------------
@dataclasses.dataclass
class _Split:
    """Pair indices: the screen selects units; `evaluation` (everything else) measures them, so
    the screen's winners are not measured on the pairs that chose them."""
    attractor_set: np.ndarray   # the attractor pairs (or all pairs, when there are none)
    basis: str                  # which of the two attractor_set is, in words
    screen: np.ndarray          # a seeded sample of attractor_set, at most half of it
    evaluation: np.ndarray      # all pairs outside the screen
    eval_attractor: np.ndarray  # the attractor pairs outside the screen


def _split(infos, rng, screen_pairs: int, notes: list) -> _Split:
    everything = np.arange(len(infos))
    attractor_set = np.array([i for i in everything if infos[i].attractors == "different"], int)
    basis = "attractor pairs"
    if not len(attractor_set):
        attractor_set = everything
        basis = "all pairs (none has an attractor of the other number)"
        notes.append(f"no attractor pairs: the screen and the drops use {basis}")
    # the screen selects units; everything else measures them (no winner's curse from the
    # screen): at most half of the attractor pairs go to the screen
    n_screen = max(1, min(screen_pairs, len(attractor_set) // 2))
    screen = np.sort(rng.choice(attractor_set, n_screen, replace=False))
    evaluation, eval_attractor = np.setdiff1d(everything, screen), \
        np.setdiff1d(attractor_set, screen)
    if not len(eval_attractor):  # a single attractor pair: it does both jobs
        evaluation, eval_attractor = everything, attractor_set
        notes.append("one attractor pair only: the screen and the measurements share it")
    return _Split(attractor_set, basis, screen, evaluation, eval_attractor)


class _Ablation:
    """What every ablation shares: the model, its scorer, the pairs, their split and the intact
    model's scores on it."""

    def __init__(self, model, scorer: AblationScorer, pairs: list, infos: list, split: _Split,
                 progress):
        self.model, self.scorer, self.pairs, self.infos = model, scorer, pairs, infos
        self.split, self.progress = split, progress
        self.focus = set(split.eval_attractor.tolist())
        subsets = (split.evaluation, split.screen, split.eval_attractor)
        intact = []
        with phase_bar(progress, len(subsets), "intact model", "set") as bar:
            # the screen and the attractor pairs again, read as the ablations read them
            for subset in subsets:
                intact.append(scorer.margins(subset, 0, [[]], bar)[0])
        self.intact = self.breakdown(intact[0] > 0, fine=True)
        self.screen_base = intact[1]
        self.screen_accuracy = float((self.screen_base > 0).mean())
        self.attractor_base = intact[2] > 0

    def margins(self, subset: np.ndarray, layer_index: int, unit_sets: list, desc: str,
                unit: str = "unit") -> np.ndarray:
        """[len(unit_sets), len(subset)]: log P(good) - log P(bad) per pair of `subset`, with
        each unit set of the layer ablated; a progress bar `desc` counts the sets."""
        with phase_bar(self.progress, len(unit_sets), desc, unit) as bar:
            return self.scorer.margins(subset, layer_index, unit_sets, bar)

    def screen_drops(self, layer_index: int, unit_sets: list, desc: str,
                     unit: str = "unit") -> tuple[np.ndarray, np.ndarray]:
        """Per unit set: the drop in screen accuracy and in mean screen margin when it is
        ablated."""
        m = self.margins(self.split.screen, layer_index, unit_sets, desc, unit)
        return (self.screen_accuracy - (m > 0).mean(axis=1),
                self.screen_base.mean() - m.mean(axis=1))

    def breakdown(self, correct: np.ndarray, fine: bool = False) -> dict:
        """Accuracies on the evaluation pairs, given which of them are `correct`."""
        return breakdown(self.split.evaluation, correct, self.pairs, self.infos, self.focus,
                         fine=fine)


def _ablate_layer(ab: _Ablation, n: int, layer, classifier: dict, rng, draws: int,
                  top_k: int) -> dict:
    """Layer n's part of the report: the screen of every unit, its top units measured, the best
    unit and pair against random units of the layer."""
    units = layer.cell.units
    t = time.perf_counter()
    drops, margin_drops = ab.screen_drops(n, [[u] for u in range(units)], f"screen {layer.name}")
    screen_seconds = time.perf_counter() - t
    order = np.lexsort((-margin_drops, -drops))  # by drop, then by margin drop
    top = [int(u) for u in order[:min(top_k, units)]]

    t = time.perf_counter()
    measured = _measure_top(ab, n, layer, top, drops)
    best_unit = max(measured, key=lambda m: (m["drop"], -top.index(m["unit"])))["unit"]
    combos = list(itertools.combinations(top, 2))
    combo_drops = [(float(d), float(m)) for d, m in zip(*ab.screen_drops(
        n, [list(c) for c in combos], f"unit pairs {layer.name}", "pair"))]
    best_pair = list(combos[max(range(len(combos)), key=lambda c: combo_drops[c])]) \
        if combos else [best_unit]
    top_seconds = time.perf_counter() - t

    t = time.perf_counter()
    by_weight = classifier.get("rank_by_weight", [])
    pool = _random_pool(units, top, by_weight[:top_k])
    chosen = {size: units_ for size, units_ in ((1, [best_unit]), (2, best_pair))
              if len(units_) == size and len(pool) >= size}
    results, random = _best_and_random(ab, n, layer, chosen, pool, rng, draws)
    random_seconds = time.perf_counter() - t

    w = np.abs(np.array(classifier.get("weights", [0.0] * units)))
    entry = {
        "layer": n, "name": layer.name, "cell": cell_kind(layer), "units": units,
        "screen": {"pairs": int(len(ab.split.screen)),
                   "intact_accuracy": round(ab.screen_accuracy, 4),
                   "drop": np.round(drops, 4).tolist(),
                   "margin_drop": np.round(margin_drops, 4).tolist(),
                   "seconds": round(screen_seconds, 2),
                   "seconds_per_unit": round(screen_seconds / units, 3)},
        "rank_by_ablation": order.tolist(),
        "rank_by_weight": by_weight,
        "spearman_weight_vs_screen_drop": spearman(w, drops) if by_weight else None,
        "top_units": [{**m, "weight_rank": by_weight.index(m["unit"]) if by_weight else None}
                      for m in measured],
        "pair_screen": [{"units": list(c), "screen_drop": round(d[0], 4),
                         "screen_margin_drop": round(d[1], 4)}
                        for c, d in zip(combos, combo_drops)],
        "seconds": {"screen": round(screen_seconds, 2), "top": round(top_seconds, 2),
                    "best_and_random": round(random_seconds, 2)},
    }
    for size, key in ((1, "best_unit"), (2, "best_pair")):
        if size in results:
            entry[key] = {"units": chosen[size], "breakdown": results[size],
                          "comparison": compare(ab.intact, results[size], random[size]),
                          "random": {"pool": int(len(pool)), "draws": random[size],
                                     "drop": spread_of([d["drop"] for d in random[size]])}}
    return entry


def _measure_top(ab: _Ablation, n: int, layer, top: list[int], drops: np.ndarray) -> list[dict]:
    """Each top unit of the screen ablated alone on the attractor pairs outside the screen."""
    margins = ab.margins(ab.split.eval_attractor, n, [[u] for u in top], f"top units {layer.name}")
    return [{"unit": u, "screen_drop": round(float(drops[u]), 4), "attractor": stats_of(ok),
             "drop": round(float(ab.attractor_base.mean() - ok.mean()), 4)}
            for u, ok in zip(top, margins > 0)]


def _random_pool(units: int, top: list[int], top_by_weight: list[int]) -> np.ndarray:
    """The units random draws come from: the layer's top units by either ranking left out (only
    the best two by ablation when that would leave fewer than two)."""
    excluded = set(top) | set(top_by_weight)
    pool = np.array([u for u in range(units) if u not in excluded], int)
    if len(pool) < 2:
        pool = np.array([u for u in range(units) if u not in set(top[:2])], int)
    return pool


def _best_and_random(ab: _Ablation, n: int, layer, chosen: dict, pool: np.ndarray, rng,
                     draws: int) -> tuple[dict, dict]:
    """Per group size in `chosen` (1: the best unit, 2: the best pair): the breakdown with those
    units ablated, and `draws` draws of as many random units from `pool`."""
    picks = {}  # size → the random unit sets, drawn before any is scored
    for size in chosen:
        # single units: distinct ones while the pool lasts
        singles = rng.permutation(pool) if size == 1 else None
        picks[size] = [[int(singles[d])] if singles is not None and d < len(singles) else
                       sorted(int(u) for u in rng.choice(pool, size, replace=False))
                       for d in range(draws)]
    unit_sets = [units_ for size in chosen for units_ in [chosen[size], *picks[size]]]
    correct = iter(ab.margins(ab.split.evaluation, n, unit_sets,
                              f"best and random {layer.name}", "set") > 0)
    results, random = {}, {}
    for size in chosen:
        results[size] = ab.breakdown(next(correct), fine=True)
        random[size] = []
        for pick in picks[size]:
            acc = accuracies(ab.breakdown(next(correct)))
            random[size].append({"units": pick, **acc,
                                 "drop": None if acc["attractor"] is None else
                                 round(ab.intact["attractor"]["accuracy"] - acc["attractor"], 4)})
    return results, random


# --- 3. the method, in words ---------------------------------------------------------------------
def _method(split: _Split, top_k: int, draws: int) -> dict:
    return {
        "state": "after reading '\\n' + prefix + ' ' from a zero state (right before the "
                 "verb's first character): c for LSTM-like cells, h for gru/rnn",
        "classifier": f"L2-penalised logistic regression (penalty {L2} on the mean "
                      "log-loss) on standardised states, predicting plural (1) vs singular; "
                      f"seeded {100 - 100 * TEST_FRACTION:.0f}/{100 * TEST_FRACTION:.0f} "
                      "split by pair; weights on standardised inputs",
        "ablation": "zero the unit's rows of its own recurrent_kernel and of the next "
                    "layer's kernel (or the logits kernel): its output reaches nothing",
        "accuracy": "share of pairs with log P(good) > log P(bad), as charlm probe",
        "attractor_pairs": "n_attr >= 1 and at least one attractor of the other number "
                           "than the subject (from the condition)",
        "screen": f"every unit ablated alone on {len(split.screen)} seeded attractor pairs; the "
                  f"top {top_k} per layer re-measured on the other {len(split.eval_attractor)}; "
                  "every reported accuracy (intact included) is on the pairs not in the "
                  "screen",
        "best_pair": "the pair of top units with the largest drop on the screen",
        "random": f"{draws} draws of as many random units of the same layer, its top "
                  f"{top_k} units by either ranking excluded",
        "at_chance": "the ablated accuracy's Wilson 95% interval reaches 0.5",
        "conditions": "subject number × attractors (none / all the subject's number / at "
                      "least one of the other number)",
    }
