"""Kill `charlm train` at any moment and check that nothing is lost.

    python benchmarks/kill_harness.py --kills 20 [--seed 0] [--steps 200] [--json]

A tiny run (on the first 12,000 characters of the shipped agreement corpus) is started in a
subprocess with the command a user types, killed, resumed with `charlm train --resume DIR`, killed
again, and so on. The kills are SIGKILL (no handler runs, as with the OOM killer or a pre-empted
VM) at points charlm.faults names (during a step, a validation, a checkpoint write, between the
two renames of a checkpoint swap, right after a checkpoint, after the final one), or at a random
moment from outside; some events are SIGINT/SIGTERM instead, which must checkpoint and exit
130/143. After every kill `charlm doctor` must find the folder readable; leftovers of the killed
write are allowed until the next resume removes them. At the end, the run is resumed to completion
and its variables are compared with an uninterrupted run of the same command (run in this process).

Prints one line per event and a summary: kills survived, unreadable checkpoints, leftover files
after the final resume, and the largest difference from the uninterrupted run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--layers", "2", "--units", "32", "--embedding-dim", "8", "--seq-len", "20", "--batch-size", "8",
         "--eval-every", "5", "--sample-chars", "0", "--eval-max-tokens", "1000",
         "--warmup-steps", "2", "--lr", "0.01", "--dropout", "0", "--quiet"]
POINTS = ("step", "validation", "checkpoint-write", "checkpoint-swap", "after-checkpoint",
          "finished", "random", "SIGINT", "SIGTERM")


def write_corpus(folder: Path) -> Path:
    from charlm.data.corpus import resolve_corpus

    text = resolve_corpus("agreement").read_text()[:12_000]
    path = folder / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    return path


def train_argv(corpus: Path, out: Path, steps: int) -> list[str]:
    return ["train", "--corpus", str(corpus), "--out", str(out), "--max-steps", str(steps), *FLAGS]


def _env(**extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", **extra)
    env.pop("CHARLM_KILL_AT", None)
    env.update(extra)
    return env


def run_once(argv: list[str], event: tuple, cwd: Path) -> int:
    """Run `python -m charlm ARGV` until it exits or the event stops it → its exit code
    (-9 for SIGKILL). event: (point, nth) for a kill point, ("SIGINT"|"SIGTERM", nth) for that
    signal at the nth step, ("random", seconds) for a SIGKILL from outside after that long."""
    point, arg = event
    command = [sys.executable, "-m", "charlm", *argv]
    if point == "random":
        process = subprocess.Popen(command, cwd=cwd, env=_env(), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
        try:
            process.wait(timeout=arg)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
        process.wait()
        return process.returncode
    spec = f"step:{arg}:{point}" if point in ("SIGINT", "SIGTERM") else f"{point}:{arg}"
    done = subprocess.run(command, cwd=cwd, env=_env(CHARLM_KILL_AT=spec), capture_output=True,
                          text=True, timeout=600)
    if done.returncode not in (0, -9, 130, 143):
        raise RuntimeError(f"{' '.join(argv)} under {spec} exited {done.returncode}:\n"
                           f"{done.stderr[-2000:]}")
    return done.returncode


def leftover_names(run: Path) -> list[str]:
    from charlm.fileio import leftovers

    return [str(p.relative_to(run)) for unit in (".", "best", "last", "tokenizer")
            for p in leftovers(run / unit)]


def kill_chain(events: list[tuple], workdir: Path, steps: int, log=print,
               finish_in_process: bool = False) -> dict:
    """Start, stop by each event in turn, resume; then resume to the end and compare.

    finish_in_process: the last `charlm train --resume DIR` runs in this process (the same CLI
    entry point, without a second interpreter importing TensorFlow: the test's shortcut)."""
    import numpy as np

    from charlm import doctor
    from charlm.cli import main

    corpus = write_corpus(workdir)
    run, reference = workdir / "run", workdir / "reference"
    started = time.perf_counter()
    assert main(train_argv(corpus, reference, steps)) == 0, "the uninterrupted run failed"
    log(f"uninterrupted run: {time.perf_counter() - started:.1f} s")
    rows, unreadable, expected = [], 0, {"SIGINT": 130, "SIGTERM": 143}
    for point, arg in events:
        # a user re-types the first command while the folder has no config.json, else resumes
        argv = (["train", "--resume", str(run)] if (run / "config.json").is_file()
                else train_argv(corpus, run, steps))
        code = run_once(argv, (point, arg), workdir)
        findings = doctor.examine(run)["findings"] if run.exists() else []
        problems = [f.what for f in findings if f.status == "problem"]
        unreadable += bool(problems)
        finished = code == 0 and _step(run) == steps  # the run ended before the event came
        ok = (code == expected.get(point, code) or finished) and not problems
        row = {"event": f"{point}:{arg}", "exit": code, "step": _step(run),
               "leftovers": leftover_names(run), "problems": problems, "ok": ok}
        rows.append(row)
        log(f"{row['event']:<22} exit {code:>4}  step {row['step']!s:>4}  "
            f"leftovers {len(row['leftovers'])}  {'ok' if ok else 'PROBLEM ' + str(problems)}")
    resume = ["train", "--resume", str(run)]
    final = (main([*resume, "--quiet"]) if finish_in_process
             else run_once(resume, ("none", 0), workdir))
    got, want = (_variables(f) for f in (run, reference))
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(got, want))
    summary = {"events": len(events), "kills": sum(r["exit"] == -9 for r in rows),
               "signals": sum(r["exit"] in (130, 143) for r in rows),
               "survived": sum(r["ok"] for r in rows), "unreadable": unreadable,
               "final_exit": final, "final_step": _step(run),
               "reference_step": _step(reference), "leftovers_at_end": leftover_names(run),
               "max_abs_diff": diff, "same_shapes": [a.shape for a in got] ==
               [b.shape for b in want], "seconds": round(time.perf_counter() - started, 1)}
    return {"rows": rows, "summary": summary}


def _step(run: Path):
    try:
        return json.loads((run / "last" / "trainer.json").read_text())["step"]
    except (OSError, ValueError, KeyError):
        return None


def _variables(run: Path) -> list:
    from charlm.checkpoint import load_arrays

    return load_arrays(run / "last" / "variables.npz")


def random_events(count: int, seed: int, steps: int) -> list[tuple]:
    """`count` events over every kind of point, the kill after the final checkpoint last (after it
    the run is complete); nth small enough to be reached in one run."""
    rng = random.Random(seed)
    kinds = [p for p in POINTS if p != "finished"]
    events = []
    for i in range(count - 1):
        point = kinds[i % len(kinds)] if i < len(kinds) else rng.choice(kinds)
        if point == "random":
            events.append((point, round(rng.uniform(2.0, 12.0), 2)))
        elif point in ("step", "SIGINT", "SIGTERM"):
            events.append((point, rng.randint(1, 12)))
        else:
            events.append((point, rng.randint(1, 3)))
    return events + [("finished", 1)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=20, help="events (kills and signals)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=200, help="the run's --max-steps")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="charlm-kills-") as tmp:
        result = kill_chain(random_events(args.kills, args.seed, args.steps), Path(tmp),
                            args.steps, log=(lambda *a: None) if args.json else print)
    s = result["summary"]
    if args.json:
        print(json.dumps(result))
    else:
        print(f"\n{s['events']} events ({s['kills']} SIGKILL, {s['signals']} SIGINT/SIGTERM): "
              f"{s['survived']} survived, {s['unreadable']} unreadable checkpoints, "
              f"{len(s['leftovers_at_end'])} leftovers after the final resume, final step "
              f"{s['final_step']} (uninterrupted {s['reference_step']}), largest difference "
              f"from the uninterrupted run {s['max_abs_diff']:g}; {s['seconds']} s")
    good = (s["survived"] == s["events"] and not s["leftovers_at_end"] and s["max_abs_diff"] == 0
            and s["final_step"] == s["reference_step"])
    return 0 if good else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
