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
   log P(target | "\n" + context) from `charlm.probes.pairs.requests`; `AgreementScorer` reads
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

from charlm.fileio import atomic_write, atomic_write_json
from charlm.inspect.ablation import ablated
from charlm.inspect.equations import cell_kind
from charlm.inspect.trace import recurrent_layers
from charlm.probes import pairs as probe_pairs
from charlm.probes.stats import stats as acc_stats, wilson

L2 = 1e-2  # logistic regression penalty on standardised inputs (mean log-loss + L2/2 |w|^2)
TEST_FRACTION = 0.2
SCREEN_PAIRS = 200
TOP_K = 5
LSTM_LIKE = ("lstm", "peephole", "cifg")
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


def _zero_states(model, batch: int) -> list:
    return [np.zeros((batch, inp.shape[-1]), np.float32) for inp in model.inputs[1:]]


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
                states = fn(x, _zero_states(model, len(chunk)))
                for layer, index in enumerate(pick):
                    out[layer][chunk] = np.asarray(states[index])
                if bar is not None:
                    bar.update(len(chunk))
    return out


class AgreementScorer:
    """log P(good) − log P(bad) per pair under the model's current weights (so an `ablated`
    block changes it), with the requests and the priming of `charlm probe`
    (`charlm.probes.pairs.requests`: log P(target | "\\n" + context)).

    Each context is read once for both targets (like `charlm.probes.scoring`), but contexts of
    different lengths share a batch: rows sorted by length run segment by segment, the state
    carried, and a row leaves the batch (its state and next-character log-probabilities kept)
    when its context ends. The targets then run right-padded from those states."""

    def __init__(self, model, tokenizer, pairs: list, batch_size: int = 256):
        from charlm import backend

        self.model, self.batch_size = model, max(1, int(batch_size))
        prime = tokenizer.token_id("\n")
        if prime is None:
            raise ValueError("the vocabulary has no line break, which scoring reads first")
        index: dict = {}
        self.contexts = []  # unique "\n" + context, as ids
        self.requests = []  # per pair: [(context index, target ids)] for good, then bad
        for pair in pairs:
            reqs = []
            for context, target in probe_pairs.requests(pair)[:2]:
                if context not in index:
                    index[context] = len(self.contexts)
                    self.contexts.append(np.concatenate(
                        [[prime], tokenizer.encode(context, unknown="replace")]).astype(np.int32))
                reqs.append((index[context],
                             np.asarray(tokenizer.encode(target, unknown="replace"), np.int32)))
            self.requests.append(reqs)

        def read(x, states):
            from keras import ops

            logits, *new_states = model([x, *states], training=False)
            return ops.log_softmax(ops.cast(logits[:, -1, :], "float32"), axis=-1), new_states

        def score(x, y, w, states):
            from keras import ops

            logits = model([x, *states], training=False)[0]
            logp = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
            picked = ops.squeeze(ops.take_along_axis(logp, ops.expand_dims(y, -1), axis=-1), -1)
            return ops.sum(picked * w, axis=1)

        self._read = backend.compile_function(read, model.variables)
        self._score = backend.compile_function(score, model.variables)
        self._plans: dict = {}

    def _plan(self, subset: tuple):
        if subset in self._plans:
            return self._plans[subset]
        contexts = sorted({c for p in subset for c, _ in self.requests[p]},
                          key=lambda c: len(self.contexts[c]))
        slot = {c: i for i, c in enumerate(contexts)}
        reads = []  # (slots [b], x [b, L] right-padded, lengths [b]) for rows sorted by length
        for start in range(0, len(contexts), self.batch_size):
            part = contexts[start:start + self.batch_size]
            lengths = np.array([len(self.contexts[c]) for c in part])
            x = np.zeros((len(part), lengths.max()), np.int32)
            for i, c in enumerate(part):
                x[i, :lengths[i]] = self.contexts[c]
            reads.append((np.array([slot[c] for c in part]), x, lengths))
        rows = sorted(((slot[c], ids, 2 * n + k) for n, p in enumerate(subset)
                       for k, (c, ids) in enumerate(self.requests[p])), key=lambda r: len(r[1]))
        targets = []  # (context slots, first ids, x, y, w, request keys) per batch
        for start in range(0, len(rows), self.batch_size):
            part = rows[start:start + self.batch_size]
            width = max(len(r[1]) for r in part) - 1
            x = np.zeros((len(part), max(width, 0)), np.int32)
            y, w = np.zeros_like(x), np.zeros(x.shape, np.float32)
            for i, (_, ids, _) in enumerate(part):
                m = len(ids) - 1
                x[i, :m], y[i, :m], w[i, :m] = ids[:-1], ids[1:], 1.0
            targets.append((np.array([r[0] for r in part]), np.array([r[1][0] for r in part]),
                            x, y, w, np.array([r[2] for r in part])))
        if len(self._plans) >= 8:
            self._plans.clear()
        self._plans[subset] = plan = (len(contexts), reads, targets)
        return plan

    def margins(self, subset) -> np.ndarray:
        """[len(subset)] float64: log P(good) − log P(bad) for the pairs at these indices."""
        subset = tuple(int(i) for i in subset)
        n_contexts, reads, targets = self._plan(subset)
        units = [inp.shape[-1] for inp in self.model.inputs[1:]]
        saved = [np.zeros((n_contexts, h), np.float32) for h in units]
        last = None
        for slots, x, lengths in reads:
            states = _zero_states(self.model, len(slots))
            alive, position = np.arange(len(slots)), 0
            for end in np.unique(lengths):  # ascending: rows whose context ends here leave
                logp, states = self._read(x[alive, position:end], states)
                logp, states = np.asarray(logp), [np.asarray(s) for s in states]
                if last is None:
                    last = np.zeros((n_contexts, logp.shape[1]), np.float32)
                done = lengths[alive] == end
                for keep, state in zip(saved, states):
                    keep[slots[alive[done]]] = state[done]
                last[slots[alive[done]]] = logp[done]
                alive, states, position = alive[~done], [s[~done] for s in states], end
        logprob = np.zeros(2 * len(subset), np.float64)
        for slots, first, x, y, w, keys in targets:
            total = last[slots, first].astype(np.float64)
            if x.shape[1]:
                total += np.asarray(self._score(x, y, w, [s[slots] for s in saved]), np.float64)
            logprob[keys] = total
        return logprob[0::2] - logprob[1::2]


# --- the diagnostic classifier ---------------------------------------------------------------
def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, iterations: int = 100):
    """L2-penalised logistic regression by Newton's method with backtracking:
    min mean(log(1 + e^z) − y z) + l2/2 |w|², z = x w + b. → (w [D], b)."""
    n, d = x.shape
    a = np.hstack([x, np.ones((n, 1))]).astype(np.float64)
    reg = np.full(d + 1, float(l2))
    reg[-1] = 0.0

    def loss(v):
        z = a @ v
        return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * np.sum(reg * v * v))

    v = np.zeros(d + 1)
    current = loss(v)
    for _ in range(iterations):
        p = _sigmoid(a @ v)
        grad = a.T @ (p - y) / n + reg * v
        hess = (a.T * (p * (1 - p))) @ a / n + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-10:
            candidate = loss(v - t * step)
            if candidate <= current - 1e-4 * t * float(grad @ step):
                break
            t /= 2
        v, current = v - t * step, candidate
        if float(np.max(np.abs(t * step))) < 1e-9:
            break
    return v[:-1], float(v[-1])


def diagnostic_classifier(states: np.ndarray, labels: np.ndarray, seed: int = 0,
                          l2: float = L2, test_fraction: float = TEST_FRACTION) -> dict:
    """states [N, H], labels [N] (1 = plural) → weights per unit (on standardised inputs),
    train / held-out accuracy and chance, with a seeded split by pair."""
    states, labels = np.asarray(states, np.float64), np.asarray(labels, np.float64)
    n = len(labels)
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(test_fraction * n))) if n > 1 else 0
    test, train = order[:n_test], order[n_test:]
    mean, std = states[train].mean(axis=0), states[train].std(axis=0)
    std[std < 1e-8] = 1.0  # a constant unit stays 0 after centring
    xs = (states - mean) / std
    w, b = fit_logistic(xs[train], labels[train], l2)
    predicted = (xs @ w + b) > 0
    right = predicted == (labels > 0.5)
    k_test = int(right[test].sum())
    share = float(labels[test].mean()) if n_test else 0.5
    return {"n_train": int(len(train)), "n_test": int(n_test), "l2": l2,
            "train_accuracy": float(right[train].mean()) if len(train) else None,
            "heldout_accuracy": k_test / n_test if n_test else None,
            "heldout_ci95": [round(v, 4) for v in wilson(k_test, n_test)],
            "chance": max(share, 1.0 - share), "weights": w, "bias": b}


# --- summaries -------------------------------------------------------------------------------
def _stats(correct) -> dict:
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
    out = {"overall": _stats(list(ok.values())), "attractor": _stats(attractor),
           "by_construction": {k: _stats(v) for k, v in by_cat.items()},
           "by_condition": {k: _stats(by_cond[k]) for k in order if k in by_cond}}
    if fine:
        out["by_fine_condition"] = {k: _stats(v) for k, v in by_fine.items()}
    return out


def _accuracies(b: dict) -> dict:
    """The accuracies of a breakdown, without counts and intervals (for the random draws)."""
    return {"overall": b["overall"]["accuracy"], "attractor": b["attractor"]["accuracy"],
            "by_construction": {k: v["accuracy"] for k, v in b["by_construction"].items()},
            "by_condition": {k: v["accuracy"] for k, v in b["by_condition"].items()}}


def _spread(values: list) -> dict:
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
                "random_drop": _spread([before["accuracy"] - r for r in randoms
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
    prime = tokenizer.token_id("\n")
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
    scorer = AgreementScorer(model, tokenizer, pairs, batch_size)
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
                st = _stats(ok)
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
                    acc = _accuracies(breakdown(evaluation, r_ok, pairs, infos, focus))
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
                                     "drop": _spread([d["drop"] for d in draws_])}}
        layer_reports.append(entry)

    # 3. verdict and files --------------------------------------------------------------------
    best = _verdict(layer_reports, intact)
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


def _criteria(row: dict) -> dict:
    """Lakretz et al.'s finding, as three tests on a comparison row: the intact model is above
    chance (Wilson interval above 50%), the ablated one is not, and the drop exceeds every
    random draw's."""
    spread = row["random_drop"]
    return {"intact_above_chance": bool(row["intact"]["n"]) and row["intact"]["ci95"][0] > 0.5,
            "ablated_at_chance": bool(row["ablated_at_chance"]),
            "beyond_random": row["drop"] is not None and spread["max"] is not None
            and row["drop"] > spread["max"]}


def _verdict(layer_reports: list, intact: dict) -> dict:
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
    numbers = (f"{_pct(b['attractor_ablated'])}% {_ci(b['attractor_ablated_ci95'])} from "
               f"{_pct(b['attractor_intact'])}% {_ci(b['attractor_intact_ci95'])} on the "
               f"attractor pairs, a drop of {_points(b['drop'])} points; random units of that "
               f"layer: {_points(b['random_drop']['mean'])} ± {_pct(b['random_drop']['std'])}, "
               f"at most {_points(b['random_drop']['max'])}")
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


def _points(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}".replace("-", "−")


def _ci(ci) -> str:
    return f"[{_pct(ci[0])}, {_pct(ci[1])}]"


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


# --- Markdown and PNG ------------------------------------------------------------------------
def _table(header, rows) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
            + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def _acc_ci(st: dict) -> str:
    if not st or st["accuracy"] is None:
        return "–"
    return f"{_pct(st['accuracy'])} [{_pct(st['ci95'][0])}, {_pct(st['ci95'][1])}]"


def _chance_cell(row: dict) -> str:
    if row["ablated_at_chance"] is None:
        return "–"
    if not (row["intact"]["n"] and row["intact"]["ci95"][0] > 0.5):
        return "intact too"
    return "**yes**" if row["ablated_at_chance"] else "no"


def _random_cell(spread: dict) -> str:
    if spread["mean"] is None:
        return "–"
    return (f"{_pct(spread['mean'])} ± {_pct(spread['std'])} "
            f"({_pct(spread['min'])}…{_pct(spread['max'])})")


def markdown(report: dict) -> str:
    p = report["pairs"]
    lines = ["# Number units", "", f"**{report['best'].get('sentence', '')}**", "",
             f"{p['total']:,} pairs: {p['classifier']:,} for the classifier; {p['attractor']:,} "
             f"{p['attractor_basis']}, of which {p['screen']:,} screen every unit and the other "
             f"{p['evaluation_attractor']:,} measure the drops. All accuracies below are on the "
             f"{p['evaluation']:,} pairs outside the screen. {p['skipped_no_number']} pairs "
             f"without a subject number, {p['skipped_no_prefix']} without a prefix. "
             f"Seed {report['seed']}.", ""]
    lines += [f"- {note}" for note in report["notes"]] + ([""] if report["notes"] else [])
    lines += ["## Diagnostic classifier (subject number from the state before the verb)", ""]
    rows = []
    for c in report["classifier"]:
        if "skipped" in c:
            rows.append([c["name"], c["state"], "–", "–", "–", c["skipped"]])
            continue
        top = ", ".join(f"{t['unit']} ({t['weight']:+.2f}, {t['higher_for']})"
                        for t in c["top_units"][:5])
        rows.append([c["name"], c["state"], _pct(c["train_accuracy"]),
                     f"{_pct(c['heldout_accuracy'])} [{_pct(c['heldout_ci95'][0])}, "
                     f"{_pct(c['heldout_ci95'][1])}] (n={c['n_test']})", _pct(c["chance"]), top])
    lines += _table(["layer", "state", "train %", "held-out % [95% CI]", "chance %",
                     "top units by |weight| (weight, higher for)"], rows)
    intact = report["intact"]
    lines += ["", f"Intact model: {_acc_ci(intact['overall'])}% on all pairs, "
              f"{_acc_ci(intact['attractor'])}% on the attractor pairs.", ""]
    for entry in report["ablation"]:
        lines += [f"## Ablation, {entry['name']} ({entry['units']} units)", "",
                  f"Screen: every unit alone on {entry['screen']['pairs']} attractor pairs "
                  f"(intact {_pct(entry['screen']['intact_accuracy'])}%), "
                  f"{entry['screen']['seconds']:.0f} s "
                  f"({entry['screen']['seconds_per_unit']:.2f} s per unit). Spearman "
                  f"correlation of |weight| with the screen drop: "
                  f"{entry['spearman_weight_vs_screen_drop']}.", ""]
        rows = [[m["unit"], _pct(m["screen_drop"]), _acc_ci(m["attractor"]), _pct(m["drop"]),
                 "–" if m["weight_rank"] is None else m["weight_rank"] + 1]
                for m in entry["top_units"]]
        lines += _table(["unit", "screen drop (points)", "attractor acc. % ablated [95% CI]",
                         "drop (points)", "rank by |weight|"], rows)
        lines += ["", "The two rankings, top 10 (screen drop in points; weight on standardised "
                  "states):", ""]
        c = next(c for c in report["classifier"] if c["name"] == entry["name"])
        drops, weights = entry["screen"]["drop"], c.get("weights")
        by_weight, by_ablation = entry["rank_by_weight"], entry["rank_by_ablation"]
        rank_w = {u: r for r, u in enumerate(by_weight)}
        rank_a = {u: r for r, u in enumerate(by_ablation)}
        rows = []
        for r in range(min(10, entry["units"])):
            row = [r + 1]
            if by_weight:
                u = by_weight[r]
                row += [f"{u} ({weights[u]:+.2f}; screen drop {_points(drops[u])}, ablation "
                        f"rank {rank_a[u] + 1})"]
            else:
                row += ["–"]
            u = by_ablation[r]
            row += [f"{u} ({_points(drops[u])}; weight rank "
                    f"{rank_w[u] + 1 if u in rank_w else '–'})"]
            rows.append(row)
        lines += _table(["rank", "by |classifier weight|", "by single-unit ablation (screen)"],
                        rows)
        for key, title in (("best_unit", "Best unit"), ("best_pair", "Best pair")):
            if key not in entry:
                continue
            best = entry[key]
            c = best["comparison"]
            lines += ["", f"### {title}: {best['units']} (random units: "
                      f"{len(best['random']['draws'])} draws of {len(best['units'])} from "
                      f"{best['random']['pool']})", ""]
            rows = []
            for label, row in ([("**all pairs**", c["overall"]),
                                ("**attractor pairs**", c["attractor"])]
                               + [(f"construction: {k}", v) for k, v in
                                  c["by_construction"].items()]
                               + [(k, v) for k, v in c["by_condition"].items()]):
                rows.append([label, row["n"], _acc_ci(row["intact"]), _acc_ci(row["ablated"]),
                             _pct(row["drop"]), _random_cell(row["random_drop"]),
                             _chance_cell(row)])
            lines += _table(["", "n", "intact % [95% CI]", "ablated % [95% CI]",
                             "drop (points)", "random-unit drop: mean ± sd (min…max)",
                             "at chance"], rows)
    s = report["seconds"]
    lines += ["", "Time: " + ", ".join(f"{k} {v:.0f} s" for k, v in s.items()) + "; per layer: "
              + "; ".join(f"{e['name']}: " + ", ".join(f"{k} {v:.0f} s"
                                                       for k, v in e["seconds"].items())
                          for e in report["ablation"]) + "."]
    return "\n".join(lines) + "\n"


def _png_bytes(fig) -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _short(label: str) -> str:
    """A coarse condition as a two-line tick label."""
    for long, short in ((" subject, ", " subject\n"), ("attractors all singular", "attractors:\n"
                        "same number"), ("attractors all plural", "attractors:\nsame number"),
                        ("attractor of the other number", "attractor:\nother number")):
        label = label.replace(long, short)
    return label


def number_units_chart(report: dict, path: Path) -> None:
    """Top: accuracy per condition, intact vs the best unit and pair ablated vs random units
    (mean ± sd, whiskers min…max); below: the classifier's weight per unit, per layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = report["ablation"]
    classifiers = [c for c in report["classifier"] if "weights" in c]
    rows = 1 + len(classifiers)
    fig, axes = plt.subplots(rows, 1, figsize=(11, 4.4 + 2.6 * len(classifiers)), squeeze=False,
                             gridspec_kw={"height_ratios": [1.8] + [1] * len(classifiers),
                                          "hspace": 0.45})
    ax = axes[0][0]
    verdict = report["best"]
    layer = next((e for e in entries if "best_unit" in e
                  and e["name"] == verdict.get("best_pair", verdict.get("best_unit", {}))
                  .get("layer")), entries[0] if entries else None)
    intact = report["intact"]
    labels = ["attractor pairs"] + list(intact["by_condition"])
    keys = [("attractor", None)] + [("by_condition", k) for k in intact["by_condition"]]

    def get(b, key, name):
        return b[key] if name is None else b[key].get(name)

    series = [("intact", [get(intact, k, n) for k, n in keys], None)]
    if layer is not None:
        for key, title in (("best_unit", "best unit"), ("best_pair", "best pair")):
            if key in layer:
                best = layer[key]
                series.append((f"{title} {best['units']} ablated",
                               [get(best["breakdown"], k, n) for k, n in keys], None))
                draws = best["random"]["draws"]
                values = [[d[k] if n is None else d[k].get(n) for d in draws] for k, n in keys]
                series.append((f"{len(best['units'])} random unit(s) ({len(draws)} draws)",
                               None, values))
    width = 0.8 / len(series)
    colors = plt.get_cmap("tab10")
    for s, (label, stats_list, random_values) in enumerate(series):
        xs = [i - 0.4 + width * (s + 0.5) for i in range(len(keys))]
        if stats_list is not None:
            ys = [st["accuracy"] if st and st["accuracy"] is not None else np.nan
                  for st in stats_list]
            err = [[y - st["ci95"][0] if st and st["n"] else 0 for y, st in zip(ys, stats_list)],
                   [st["ci95"][1] - y if st and st["n"] else 0 for y, st in zip(ys, stats_list)]]
            ax.bar(xs, ys, width, yerr=err, capsize=2, label=label + " (95% CI)",
                   color=colors(s))
        else:
            vals = [[v for v in vs if v is not None] for vs in random_values]
            ys = [np.mean(v) if v else np.nan for v in vals]
            sd = [np.std(v, ddof=1) if len(v) > 1 else 0 for v in vals]
            ax.bar(xs, ys, width, yerr=sd, capsize=2, label=label + " (mean ± sd)",
                   color=colors(s), alpha=0.55)
            for x, v in zip(xs, vals):
                if v:
                    ax.plot([x, x], [min(v), max(v)], color="black", linewidth=0.7)
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([_short(lab) for lab in labels], fontsize=7)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("agreement accuracy")
    ax.set_title(("" if layer is None else f"{layer['name']}: ") + "agreement by condition, "
                 "intact vs ablated", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    for row, c in enumerate(classifiers, 1):
        ax = axes[row][0]
        w = np.array(c["weights"])
        ax.bar(np.arange(len(w)), w, width=1.0,
               color=["tab:red" if v > 0 else "tab:blue" for v in w])
        entry = next((e for e in entries if e["name"] == c["name"]), None)
        marked = set()
        if entry is not None:
            for key in ("best_unit", "best_pair"):
                marked |= set(entry.get(key, {}).get("units", []))
        for u in marked:
            ax.annotate(str(u), (u, w[u]), fontsize=7, ha="center",
                        va="bottom" if w[u] >= 0 else "top")
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_xlim(-1, len(w))
        ax.set_ylabel("weight", fontsize=8)
        ax.set_title(f"{c['name']}: classifier weight per unit (red: higher for plural; "
                     f"held-out accuracy {_pct(c['heldout_accuracy'])}%)", fontsize=9)
    axes[-1][0].set_xlabel("unit")
    atomic_write(Path(path), _png_bytes(fig))
    plt.close(fig)
