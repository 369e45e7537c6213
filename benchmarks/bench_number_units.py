"""number-units speed: `charlm inspect number-units` on N agreement pairs of the shipped suite
(corpora/agreement/*.jsonl, default all 8,000) under the default model shape (1×384 LSTM,
embedding 64), randomly initialised unless --checkpoint is given (speed does not depend on the
weights).

    python benchmarks/bench_number_units.py                  # 8,000 pairs, default draws
    python benchmarks/bench_number_units.py --pairs 1000 --json

It times the whole report (the new path: every ablation of a phase as a mask in one batched
run, charlm.inspect.masked_ablation) and, as the baseline measured in the same run, the path the
report used before: one condition at a time, its units zeroed in the weights (`ablated`) and
the PrefixScorer trie re-run (2,048 rows per call). The baseline is timed on --baseline-units
single-unit conditions of the screen and on one condition of the attractor pairs and of the
evaluation pairs (the report's own split), and its whole-report time is EXTRAPOLATED: those
seconds per condition × the conditions the report ran, plus the report's classifier and the
rest (the same code in both). Figures are for one machine; name its CPU beside them.
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


def conditions(report: dict) -> dict:
    """How many ablation conditions the report scored on each set of pairs: per layer every unit
    and the top units' pairs on the screen, the top units on the attractor pairs, the best unit
    and pair and their random draws on the evaluation pairs; the intact model on all three."""
    counts = {"screen": 1, "attractor": 1, "evaluation": 1}
    for layer in report["ablation"]:
        groups = sum(1 for key in ("best_unit", "best_pair") if key in layer)
        counts["screen"] += layer["units"] + len(layer["pair_screen"])
        counts["attractor"] += len(layer["top_units"])
        counts["evaluation"] += groups * (1 + report["draws"])
    return counts


def baseline_seconds(model, tokenizer, pairs, seed: int, units: int) -> dict:
    """Seconds per condition of the previous path on the report's screen, attractor and
    evaluation pairs (its split, from the same seed)."""
    from charlm.inspect.ablation import ablated
    from charlm.inspect.number_units.search import SCREEN_PAIRS, _split
    from charlm.inspect.number_units.stats import pair_info
    from charlm.probes.scoring import PrefixScorer

    split = _split([pair_info(p) for p in pairs], np.random.default_rng(seed), SCREEN_PAIRS, [])
    scorer = PrefixScorer(model, tokenizer, pairs, 2048)
    scorer.margins(split.screen[:8])  # trace once, outside the timing
    seconds = {}
    for name, subset, count in (("screen", split.screen, units),
                                ("attractor", split.eval_attractor, 1),
                                ("evaluation", split.evaluation, 1)):
        scorer.plan(subset)  # the trie is built once per subset in the report too
        t0 = time.perf_counter()
        for unit in range(count):
            with ablated(model, 0, [unit]):
                scorer.margins(subset)
        seconds[name] = (time.perf_counter() - t0) / count
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=8000)
    ap.add_argument("--baseline-units", type=int, default=4,
                    help="screen conditions the baseline is timed on (extrapolated)")
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

    per_condition = baseline_seconds(model, tokenizer, pairs, 0, max(1, args.baseline_units))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        report = number_units_report(model, tokenizer, pairs, tmp, draws=args.draws, seed=0,
                                     progress=False)
        seconds = time.perf_counter() - t0
    counts = conditions(report)
    scoring_seconds = sum(sum(layer["seconds"].values()) for layer in report["ablation"]) \
        + report["seconds"]["intact"]
    baseline = seconds - scoring_seconds + sum(counts[k] * per_condition[k] for k in counts)
    print_result({
        "bench": "number-units", "pairs": len(pairs), "draws": args.draws,
        "model": args.checkpoint or f"1x{args.units} lstm, random weights",
        "conditions": counts,
        "seconds": round(seconds, 1),
        "classifier_seconds": report["seconds"]["classifier"],
        "ablation_seconds": round(scoring_seconds, 1),
        "baseline_seconds_extrapolated": round(baseline, 1),
        "speedup": round(baseline / seconds, 2),
        "baseline_seconds_per_condition": {k: round(v, 3) for k, v in per_condition.items()},
        "three_minute_bar": "met" if seconds <= 180 else f"NOT met ({seconds / 60:.1f} min)",
    }, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
