"""When does the default model learn agreement across attractors? Probe it along one run.

    python benchmarks/agreement_over_steps.py --out DIR --seed 7 [--max-steps 2400] \\
        [--probe-at 1000] [--set min_lr_ratio=0.5 ...]

Trains the default config for charlm.config.DEFAULT_STEPS steps unless --max-steps says
otherwise (with the default budget, the run equals `python train.py --seed S`), stopping at each
--probe-at step and at the end to probe the known-words half of the shipped suite on last/. A
stop and resume continues the run exactly (tests/training/test_trainer.py), so the probes watch
one uninterrupted run. Prints one JSON line per probe: overall and per-construction accuracy (%).
The learning-rate schedule follows --max-steps, so runs with different budgets are different
runs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from charlm.config import DEFAULT_STEPS  # noqa: E402  (cheap: no Keras)


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _probe(out: Path, step: int) -> dict:
    from charlm.cli import main

    known = sorted(str(p) for p in (ROOT / "corpora" / "agreement" / "known_words").glob("*.jsonl"))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        main(["probe", "--checkpoint", str(out), "--which", "last", "--data", *known, "--json",
              "--out", str(out / f"probe-known-{step}")])
    summary = json.loads(printed.getvalue().strip().splitlines()[-1])
    groups = {g["category"]: round(100 * g["accuracy"], 1) for g in summary["groups"]}
    return {"all": round(100 * summary["overall"]["accuracy"], 1), "min": min(groups.values()),
            "groups": groups}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--max-steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--probe-at", default="1000")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="TrainConfig settings, e.g. min_lr_ratio=0.5")
    args = parser.parse_args(argv)

    from charlm.config import TrainConfig
    from charlm.training.trainer import prepare_resume, train

    settings = {k: _value(v) for k, v in (item.split("=", 1) for item in args.set)}
    stops = sorted({int(s) for s in args.probe_at.split(",") if 0 < int(s) < args.max_steps})
    started, resume = time.perf_counter(), False  # a new --out (train refuses a used one)
    for stop in [*stops, args.max_steps]:
        config = (prepare_resume(str(args.out), {}) if resume else
                  TrainConfig(seed=args.seed, max_steps=args.max_steps, out=str(args.out),
                              **settings))
        train(config, resume=resume, quiet=True,
              stop_after_steps=stop if stop < args.max_steps else None)
        resume = True
        print(json.dumps({"seed": args.seed, "step": stop, **_probe(args.out, stop),
                          "elapsed_s": round(time.perf_counter() - started)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
