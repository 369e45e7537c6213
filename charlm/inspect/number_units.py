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
   its row of its own recurrent_kernel and of the next layer's kernel or the logits kernel).
   Agreement is scored as `charlm probe` scores it (correct iff log P(good) > log P(bad), each
   log P(target | "\n" + context) from `charlm.probes.pairs.requests`; `charlm.probes.scoring.PrefixScorer` reads
   each context once, contexts of different lengths side by side). The **attractor pairs** are
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
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from charlm.cell_types import LSTM_LIKE
from charlm.fileio import atomic_write, atomic_write_json
from charlm.inspect.ablation import ablated
from charlm.inspect.diagnostic import L2, TEST_FRACTION, diagnostic_classifier
from charlm.inspect.equations import cell_kind
from charlm.inspect.number_report import markdown, number_units_chart
from charlm.inspect.number_stats import (accuracies, breakdown, compare, pair_info, spearman,
                                         spread_of, stats_of, verdict)
from charlm.inspect.trace import recurrent_layers
from charlm.model.model import zero_states
from charlm.probes import pairs as probe_pairs
from charlm.probes.scoring import PrefixScorer

SCREEN_PAIRS = 200
TOP_K = 5


# --- running the model ----------------------------------------------------------------------
def _bar(progress, total: int, desc: str, unit: str = "unit"):
    """A context manager giving an object with update(n), or None, for one phase of the work.

    progress None: a tqdm bar on stderr per phase (hidden when stderr is not a terminal);
    False: none; a bar object (has `update`, e.g. a tqdm bar, as `charlm inspect` passes):
    reset to the phase's total and description, then updated; another callable:
    progress(total, desc) → a bar (e.g. charlm.cli.common.progress_bar)."""
    import contextlib

    if progress is False or total == 0:
        return contextlib.nullcontext(None)
    if hasattr(progress, "update"):
        if hasattr(progress, "reset"):
            progress.reset(total=total)
        if hasattr(progress, "set_description"):
            progress.set_description(desc)
        return contextlib.nullcontext(progress)
    if callable(progress):
        return progress(total, desc)
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=None, leave=False, file=sys.stderr)


def state_index(model) -> list[int]:
    """Per recurrent layer: the index (among the model's state outputs) of the state the
    classifier reads: c for LSTM-like cells, h otherwise."""
    layers = recurrent_layers(model)
    per_layer = (len(model.outputs) - 1) // len(layers)
    return [i * per_layer + (1 if cell_kind(layer) in LSTM_LIKE and per_layer > 1 else 0)
            for i, layer in enumerate(layers)]


def verb_states(model, contexts: list[np.ndarray], batch_size: int = 256,
                progress=None) -> list[np.ndarray]:
    """Per recurrent layer, [N, H]: the state after reading each id sequence from a zero state.
    Sequences of one length run side by side (padding would run the state past the end)."""
    from charlm import backend

    fn = backend.compile_function(
        lambda x, states: model([x, *states], training=False)[1:], model.variables)
    pick = state_index(model)
    units = [layer.cell.units for layer in recurrent_layers(model)]
    out = [np.zeros((len(contexts), h), np.float32) for h in units]
    by_length = defaultdict(list)
    for i, ids in enumerate(contexts):
        by_length[len(ids)].append(i)
    with _bar(progress, len(contexts), "states", "pair") as bar:
        for length in sorted(by_length):
            members = by_length[length]
            for start in range(0, len(members), batch_size):
                chunk = members[start:start + batch_size]
                x = np.stack([contexts[i] for i in chunk]).astype(np.int32)
                states = fn(x, zero_states(model, len(chunk)))
                for layer, index in enumerate(pick):
                    out[layer][chunk] = np.asarray(states[index])
                if bar is not None:
                    bar.update(len(chunk))
    return out


# --- the report ------------------------------------------------------------------------------
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
    kinds = [cell_kind(layer) for layer in layers]
    rng = np.random.default_rng(seed)

    # 1. the diagnostic classifier -----------------------------------------------------------
    t = time.perf_counter()
    usable = [i for i, (p, info) in enumerate(zip(pairs, infos)) if info.has_prefix and info.number]
    prime = tokenizer.prime_id()
    contexts = [np.concatenate([[prime], tokenizer.encode(pairs[i].prefix + " " if pairs[i].prefix
                                                          else "", unknown="replace")])
                for i in usable]
    states = verb_states(model, contexts, batch_size, progress) if usable else \
        [np.zeros((0, layer.cell.units)) for layer in layers]
    labels = np.array([infos[i].number == "plural" for i in usable], np.float64)
    classifiers = []
    for n, (layer, kind) in enumerate(zip(layers, kinds)):
        entry = {"layer": n, "name": layer.name, "cell": kind,
                 "state": "cell" if kind in LSTM_LIKE else "hidden", "units": layer.cell.units}
        if len(usable) >= 2 and 0 < labels.sum() < len(labels):
            fit = diagnostic_classifier(states[n], labels, seed)
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
        classifiers.append(entry)
    seconds["classifier"] = round(time.perf_counter() - t, 2)

    # 2. ablation: intact, screen, top-k, best unit and pair, random units ---------------------
    t = time.perf_counter()
    scorer = PrefixScorer(model, tokenizer, pairs, batch_size)
    everything = np.arange(len(pairs))
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
    focus = set(eval_attractor.tolist())
    intact_ok = scorer.margins(evaluation) > 0
    intact = breakdown(evaluation, intact_ok, pairs, infos, focus, fine=True)
    seconds["intact"] = round(time.perf_counter() - t, 2)
    # the intact margins again on the exact batches the ablations use (same float rounding)
    screen_base = scorer.margins(screen)
    attractor_base = scorer.margins(eval_attractor) > 0

    def ablated_margins(subset, layer_index, units):
        with ablated(model, layer_index, units):
            return scorer.margins(subset)

    layer_reports = []
    for n, layer in enumerate(layers):
        units = layer.cell.units
        t = time.perf_counter()
        base = screen_base
        base_acc = float((base > 0).mean())
        drops, margin_drops = np.zeros(units), np.zeros(units)
        with _bar(progress, units, f"screen {layer.name}") as bar:
            for u in range(units):
                m = ablated_margins(screen, n, [u])
                drops[u] = base_acc - float((m > 0).mean())
                margin_drops[u] = float(base.mean() - m.mean())
                if bar is not None:
                    bar.update(1)
        screen_seconds = time.perf_counter() - t
        order = np.lexsort((-margin_drops, -drops))  # by drop, then by margin drop
        top = [int(u) for u in order[:min(top_k, units)]]

        t = time.perf_counter()
        base_attr = attractor_base
        measured = []
        with _bar(progress, len(top), f"top units {layer.name}") as bar:
            for u in top:
                ok = ablated_margins(eval_attractor, n, [u]) > 0
                st = stats_of(ok)
                measured.append({"unit": u, "screen_drop": round(drops[u], 4),
                                 "attractor": st, "drop": round(base_attr.mean() - ok.mean(), 4)})
                if bar is not None:
                    bar.update(1)
        best_unit = max(measured, key=lambda m: (m["drop"], -top.index(m["unit"])))["unit"]
        combos = list(itertools.combinations(top, 2))
        combo_drops = []
        with _bar(progress, len(combos), f"unit pairs {layer.name}") as bar:
            for combo in combos:
                m = ablated_margins(screen, n, list(combo))
                combo_drops.append((base_acc - float((m > 0).mean()),
                                    float(base.mean() - m.mean())))
                if bar is not None:
                    bar.update(1)
        best_pair = list(combos[max(range(len(combos)), key=lambda c: combo_drops[c])]) \
            if combos else [best_unit]
        top_seconds = time.perf_counter() - t

        t = time.perf_counter()
        by_weight = classifiers[n].get("rank_by_weight", [])
        excluded = set(top) | set(by_weight[:top_k])
        pool = np.array([u for u in range(units) if u not in excluded], int)
        if len(pool) < 2:
            pool = np.array([u for u in range(units) if u not in set(top[:2])], int)
        chosen = {size: units_ for size, units_ in ((1, [best_unit]), (2, best_pair))
                  if len(units_) == size and len(pool) >= size}
        results, random = {}, {}
        total = len(chosen) * (1 + draws)
        with _bar(progress, total, f"best and random {layer.name}") as bar:
            for size, units_ in chosen.items():
                ok = ablated_margins(evaluation, n, units_) > 0
                results[size] = breakdown(evaluation, ok, pairs, infos, focus, fine=True)
                if bar is not None:
                    bar.update(1)
                sampled = []
                # single units: distinct ones while the pool lasts
                singles = rng.permutation(pool) if size == 1 else None
                for d in range(draws):
                    pick = ([int(singles[d])] if singles is not None and d < len(singles) else
                            sorted(int(u) for u in rng.choice(pool, size, replace=False)))
                    r_ok = ablated_margins(evaluation, n, pick) > 0
                    acc = accuracies(breakdown(evaluation, r_ok, pairs, infos, focus))
                    sampled.append({"units": pick, **acc,
                                    "drop": None if acc["attractor"] is None else
                                    round(intact["attractor"]["accuracy"] - acc["attractor"], 4)})
                    if bar is not None:
                        bar.update(1)
                random[size] = sampled
        random_seconds = time.perf_counter() - t

        rank_by_ablation = order.tolist()
        w = np.abs(np.array(classifiers[n].get("weights", [0.0] * units)))
        entry = {
            "layer": n, "name": layer.name, "cell": kinds[n], "units": units,
            "screen": {"pairs": int(len(screen)), "intact_accuracy": round(base_acc, 4),
                       "drop": np.round(drops, 4).tolist(),
                       "margin_drop": np.round(margin_drops, 4).tolist(),
                       "seconds": round(screen_seconds, 2),
                       "seconds_per_unit": round(screen_seconds / units, 3)},
            "rank_by_ablation": rank_by_ablation,
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
            if size not in results:
                continue
            draws_ = random[size]
            entry[key] = {"units": chosen[size], "breakdown": results[size],
                          "comparison": compare(intact, results[size], draws_),
                          "random": {"pool": int(len(pool)), "draws": draws_,
                                     "drop": spread_of([d["drop"] for d in draws_])}}
        layer_reports.append(entry)

    # 3. verdict and files --------------------------------------------------------------------
    best = verdict(layer_reports, intact)
    report = {
        "method": {
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
            "screen": f"every unit ablated alone on {len(screen)} seeded attractor pairs; the "
                      f"top {top_k} per layer re-measured on the other {len(eval_attractor)}; "
                      "every reported accuracy (intact included) is on the pairs not in the "
                      "screen",
            "best_pair": "the pair of top units with the largest drop on the screen",
            "random": f"{draws} draws of as many random units of the same layer, its top "
                      f"{top_k} units by either ranking excluded",
            "at_chance": "the ablated accuracy's Wilson 95% interval reaches 0.5",
            "conditions": "subject number × attractors (none / all the subject's number / at "
                          "least one of the other number)",
        },
        "seed": seed, "draws": draws, "screen_pairs": int(len(screen)), "top_k": top_k,
        "lowercased": lower, "notes": notes,
        "pairs": {"total": len(pairs), "with_number": sum(1 for i in infos if i.number),
                  "skipped_no_number": sum(1 for i in infos if not i.number),
                  "skipped_no_prefix": sum(1 for i in infos if i.number and not i.has_prefix),
                  "classifier": len(usable), "attractor": int(len(attractor_set)),
                  "screen": int(len(screen)), "evaluation": int(len(evaluation)),
                  "evaluation_attractor": int(len(eval_attractor)),
                  "attractor_basis": basis},
        "layers": [{"name": layer.name, "cell": k, "units": layer.cell.units}
                   for layer, k in zip(layers, kinds)],
        "classifier": classifiers,
        "intact": intact,
        "ablation": layer_reports,
        "best": best,
        "seconds": {**seconds, "total": round(time.perf_counter() - started, 2)},
    }
    atomic_write_json(out_dir / "number_units.json", report)
    atomic_write(out_dir / "number_units.md", markdown(report))
    number_units_chart(report, out_dir / "number_units.png")
    return report
