"""Select and match over a corpus (charlm inspect match): speed, and a check on a trained model.

    python benchmarks/bench_match.py [--checkpoint DIR] [--chars 1000000] [--streams N]
        speed: the corpus' states (read in parallel streams, charlm.inspect.corpus_states) plus
        select and match, over --chars characters of Tiny Shakespeare, under a 1×384 LSTM
        (random weights unless --checkpoint: the speed does not depend on them). Target: 1M
        characters within 60 s on 2 cores. Baseline in the same run: one exact pass (one stream)
        over the first --baseline-chars characters, extrapolated to the whole corpus.
    python benchmarks/bench_match.py line-start --checkpoint DIR [--chars 1000000]
        on a model trained on Tiny Shakespeare (python train.py --corpus tinyshakespeare
        --max-minutes 4 --out DIR): the cell-state unit that tracks the position in the line,
        on at line starts (the most negative correlation of tanh(c) with the position, over the
        first 5,000 characters), a span where it turns on at the start of a line, and the share of the matches of (a) that unit alone and (b) all the units
        selected over the span that start at another line start.

Figures print as JSON lines. The CPU is named beside them.
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpora" / "tinyshakespeare.txt"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_model(args):
    if args.checkpoint:
        import charlm

        lm = charlm.load(args.checkpoint, which=args.which)
        return lm.model, lm.tokenizer
    from keras.utils import set_random_seed as keras_seed

    from charlm.data.tokenizers import CharTokenizer
    from charlm.model.model import build_model

    text = CORPUS.read_text(encoding="utf-8")
    tokenizer = CharTokenizer.fit([text])
    keras_seed(0)
    return build_model(tokenizer.vocab_size, 64, "lstm", 1, 384), tokenizer


def speed(args) -> None:
    import numpy as np

    from charlm.backend import cpu_count
    from charlm.inspect.corpus_states import corpus_activity, stream_count
    from charlm.inspect.match import Activity, match, select
    from charlm.inspect.trace import trace_ids

    model, tokenizer = load_model(args)
    text = CORPUS.read_text(encoding="utf-8")[:args.chars]
    ids = np.asarray(tokenizer.encode(text), np.int64)
    streams = args.streams or stream_count(len(ids))
    t0 = time.perf_counter()
    on = corpus_activity(model, ids, 0, "cell", 0.3, streams=streams)
    t1 = time.perf_counter()
    probe = "First Citizen:\nBefore we proceed"
    layers, _ = trace_ids(model, np.asarray(tokenizer.encode(probe), np.int64))
    probe_on = Activity.from_values(layers[0].values["cell"], "cell")
    # the two-character span with the most units selected (random weights select few anywhere)
    selected = max((select(probe_on, b, b + 2) for b in range(len(probe) - 1)), key=len)
    how = "span"
    if not selected:  # small random weights leave the cell under arctanh(0.3): take the 8 units
        how = "most often on"  # on most often, so that match has work to do
        selected = np.argsort(-np.unpackbits(on.bits, axis=1, count=on.units).sum(axis=0,
                                                                                  dtype=np.int64)
                              )[:8].tolist()
    result = match(on, selected)
    t2 = time.perf_counter()
    base = ids[:args.baseline_chars]
    t3 = time.perf_counter()
    corpus_activity(model, base, 0, "cell", 0.3, streams=1)
    t4 = time.perf_counter()
    one_pass = (t4 - t3) / len(base) * len(ids)
    print(json.dumps({
        "what": "match speed", "chars": len(ids), "units": on.units,
        "streams": streams, "states_s": round(t1 - t0, 2), "select_match_s": round(t2 - t1, 2),
        "total_s": round(t2 - t0, 2), "chars_per_s": round(len(ids) / (t2 - t0)),
        "selected_units": len(selected), "selected_by": how, "candidates": result.candidates,
        "baseline_one_pass_s_extrapolated": round(one_pass, 1),
        "baseline_chars": len(base), "speedup_vs_one_pass": round(one_pass / (t1 - t0), 2),
        "target_s": 60, "cpu": cpu_name(), "cores": cpu_count()}))


def line_start(args) -> None:
    import numpy as np

    import charlm
    from charlm.inspect.corpus_states import corpus_activity, stream_count
    from charlm.inspect.match import Activity, match, select

    if not args.checkpoint:
        sys.exit("line-start needs --checkpoint DIR, a model trained on Tiny Shakespeare")
    lm = charlm.load(args.checkpoint, which=args.which)
    full = CORPUS.read_text(encoding="utf-8")
    sample = full[:5000]
    ins = lm.inspect(sample)
    layer, quantity = 0, "cell"
    unit, r = _line_start_unit(ins[layer, quantity], sample)
    values = ins[layer, quantity]  # [T, H]
    text_on = Activity.from_values(values, quantity)
    span = _line_start_span(sample, text_on.column(unit))
    corpus = full[:args.chars]
    ids = np.asarray(lm.tokenizer.encode(corpus), np.int64)
    on = corpus_activity(lm.model, ids, layer, quantity, 0.3, streams=stream_count(len(ids)))
    report = {"what": "line-start matches", "checkpoint": str(args.checkpoint),
              "unit": {"layer": layer, "quantity": quantity, "unit": unit,
                       "r_with_line_position": round(r, 3)},
              "chars": len(ids), "cpu": cpu_name()}
    if span is None:
        report["note"] = "the unit never turns on at a line start in the sample"
        print(json.dumps(report))
        return
    b0, b1 = span
    chosen = select(text_on, b0, b1)
    report.update(span=[b0, b1], span_text=sample[b0:b1], selected_units=len(chosen),
                  unit_in_selection=unit in chosen)
    for name, units in (("unit_alone", [unit]), ("selection", chosen)):
        result = match(on, units, top=10 ** 9)  # every candidate, ranked
        starts = np.array([m.start for m in result.matches], np.int64)
        at_line_start = np.array([_at_line_start(corpus, s) for s in starts.tolist()], bool)
        strict = np.array([m.intersection == len(units) for m in result.matches])
        top = at_line_start[:50]
        report[name] = {"candidates": result.candidates,
                        "top50_at_line_start": round(float(top.mean()), 3) if len(top) else None,
                        "all_at_line_start": round(float(at_line_start.mean()), 3)
                        if len(at_line_start) else None,
                        "all_strict_at_line_start": round(float(at_line_start[strict].mean()), 3)
                        if strict.any() else None,
                        "strict_candidates": int(strict.sum()),
                        "line_starts_in_corpus": corpus.count("\n"),
                        # a position drawn at random is at a line start (a break or the
                        # character after it) this often
                        "chance_at_line_start": round(
                            float(np.mean([_at_line_start(corpus, i)
                                           for i in range(0, len(corpus), 97)])), 3)}
    print(json.dumps(report))


def _line_start_unit(cell, text: str) -> tuple[int, float]:
    """The unit whose tanh(cell) [T, H] falls most steadily along a line (the most negative
    Pearson r with the position in the line): on at line starts, off later."""
    import numpy as np

    from charlm.inspect.features import line_position

    x = np.tanh(np.asarray(cell, np.float64))
    x = x - x.mean(axis=0)
    p = line_position(text).astype(np.float64)
    p = p - p.mean()
    r = (x * p[:, None]).sum(axis=0) / (np.sqrt((x * x).sum(axis=0) * (p * p).sum()) + 1e-12)
    unit = int(np.argmin(r))
    return unit, float(r[unit])


def _at_line_start(text: str, position: int) -> bool:
    """At a line break or the character after it (the state resets on reading the break)."""
    return position == 0 or text[position] == "\n" or text[position - 1] == "\n"


def _line_start_span(text: str, unit_on) -> tuple | None:
    """The first run where the unit is on that begins at a line start."""
    import numpy as np

    starts = np.flatnonzero(np.diff(np.concatenate(([0], unit_on.astype(np.int8)))) == 1)
    for start in starts.tolist():
        if start > 0 and _at_line_start(text, start):
            end = start
            while end < len(unit_on) and unit_on[end]:
                end += 1
            return start, end
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", nargs="?", choices=("speed", "line-start"), default="speed")
    ap.add_argument("--checkpoint", help="a trained run (line-start; speed: random 1×384 if not)")
    ap.add_argument("--which", choices=("best", "last"), default="best")
    ap.add_argument("--chars", type=int, default=1_000_000)
    ap.add_argument("--streams", type=int, default=None)
    ap.add_argument("--baseline-chars", type=int, default=20_000)
    args = ap.parse_args()
    if not CORPUS.is_file():
        sys.exit(f"{CORPUS} is missing: the benchmark reads Tiny Shakespeare from there")
    (line_start if args.mode == "line-start" else speed)(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
