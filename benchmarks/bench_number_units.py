"""number-units speed: `charlm inspect number-units` on N agreement pairs of the shipped suite
(corpora/agreement/*.jsonl, default all 8,000) under the default model shape (1×384 LSTM,
embedding 64), randomly initialised unless --checkpoint is given (speed does not depend on the
weights).

    python benchmarks/bench_number_units.py                  # 8,000 pairs, default draws
    python benchmarks/bench_number_units.py --pairs 2000 --baseline-pairs 500 --json

It times the whole report (the new path: PrefixScorer's trie) and, as the baseline measured in
the same run, the scorer the report used before (`ContextBatchScorer` below: each context read
once, then the targets) on a subset of --baseline-pairs pairs, against the trie scorer on the
same subset. The baseline's whole-report time is EXTRAPOLATED: its seconds per scored pair on
the subset × the pairs the report scores (the screen, the top units, the unit pairs, the best
and random ablations, the intact model), plus the report's own classifier time and the rest
(the same code in both). Figures are for one machine; name its CPU beside them.
"""

import argparse
import glob
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_report import print_result  # noqa: E402
from charlm.probes import scoring  # noqa: E402


class ContextBatchScorer:
    """The scorer number-units used before the trie (copied as the baseline): each distinct
    context read once, contexts of different lengths side by side (a row leaves the batch
    when its context ends), then the targets right-padded from the saved states."""

    def __init__(self, model, tokenizer, pairs: list, batch_size: int = 256):
        self.model, self.batch_size = model, max(1, int(batch_size))
        prime = tokenizer.prime_id()
        index: dict = {}
        self.contexts = []  # unique "\n" + context, as ids
        self.requests = []  # per pair: [(context index, target ids)] for good, then bad
        for pair in pairs:
            reqs = []
            for context, target in scoring.requests(pair)[:2]:
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

        self._read = scoring.backend.compile_function(read, model.variables)
        self._score = scoring._compile(model)  # ModelScorer's: (Σ w·log p(y), …)
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
            states = scoring.zero_states(self.model, len(slots))
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
                total += np.asarray(self._score(x, y, w, [s[slots] for s in saved])[0],
                                    np.float64)
            logprob[keys] = total
        return logprob[0::2] - logprob[1::2]


def scored_pairs(report: dict) -> int:
    """How many pair scorings the report ran: the intact model on the evaluation pairs, the
    screen and the attractor pairs, then per layer every unit on the screen, the top units on
    the attractor pairs, their pairs on the screen, the best unit and pair and their random
    draws on the evaluation pairs."""
    p = report["pairs"]
    total = p["evaluation"] + p["screen"] + p["evaluation_attractor"]
    for layer in report["ablation"]:
        groups = sum(1 for key in ("best_unit", "best_pair") if key in layer)
        total += (layer["units"] * p["screen"] + len(layer["top_units"]) * p["evaluation_attractor"]
                  + len(layer["pair_screen"]) * p["screen"]
                  + groups * (1 + report["draws"]) * p["evaluation"])
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=8000)
    ap.add_argument("--baseline-pairs", type=int, default=1000,
                    help="pairs the baseline scorer is timed on (extrapolated per pair)")
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--units", type=int, default=384)
    ap.add_argument("--checkpoint", help="time this checkpoint instead of a random 1×384 model")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from charlm.inspect.number_units import number_units_report
    from charlm.probes.pairs import load_pairs

    files = sorted(glob.glob(str(ROOT / "corpora" / "agreement" / "*.jsonl")))
    pairs, _ = load_pairs(files)
    pairs = [pairs[i] for i in np.sort(np.random.default_rng(0).permutation(len(pairs))[
        :args.pairs])]
    if args.checkpoint:
        import charlm

        lm = charlm.load(args.checkpoint)
        model, tokenizer = lm.model, lm.tokenizer
    else:
        from charlm.data.tokenizers import CharTokenizer
        from charlm.model.model import build_model

        tokenizer = CharTokenizer.fit([(ROOT / "corpora" / "agreement.txt").read_text()])
        model = build_model(tokenizer.vocab_size, 64, "lstm", 1, args.units)

    subset = np.arange(min(args.baseline_pairs, len(pairs)))
    per_pair = {}
    for name, cls in (("trie", scoring.PrefixScorer), ("baseline", ContextBatchScorer)):
        scorer = cls(model, tokenizer, pairs, 2048 if name == "trie" else 256)
        scorer.margins(subset[:8])  # trace once, outside the timing
        t0 = time.perf_counter()
        scorer.margins(subset)
        per_pair[name] = (time.perf_counter() - t0) / len(subset)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        report = number_units_report(model, tokenizer, pairs, tmp, draws=args.draws,
                                     progress=False)
        seconds = time.perf_counter() - t0
    n_scored = scored_pairs(report)
    scoring_seconds = sum(sum(layer["seconds"].values()) for layer in report["ablation"]) \
        + report["seconds"]["intact"]
    baseline = seconds - scoring_seconds + n_scored * per_pair["baseline"]
    print_result({
        "bench": "number-units", "pairs": len(pairs), "draws": args.draws,
        "model": args.checkpoint or f"1x{args.units} lstm, random weights",
        "scored_pairs": n_scored,
        "seconds": round(seconds, 1),
        "classifier_seconds": report["seconds"]["classifier"],
        "baseline_seconds_extrapolated": round(baseline, 1),
        "speedup": round(baseline / seconds, 2),
        "subset_pairs": len(subset),
        "subset_ms_per_pair_trie": round(1000 * per_pair["trie"], 3),
        "subset_ms_per_pair_baseline": round(1000 * per_pair["baseline"], 3),
        "three_minute_bar": "met" if seconds <= 180 else f"NOT met ({seconds / 60:.1f} min)",
    }, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
