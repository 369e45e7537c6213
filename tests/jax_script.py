"""The JAX half of tests/test_jax_backend.py. A process has one Keras backend, so the test runs
this file in a subprocess with KERAS_BACKEND=jax:

    KERAS_BACKEND=jax PYTHONPATH=REPO python -m tests.jax_script WORK_DIR TF_CHECKPOINT

It trains a tiny model on TINY_TEXT (the Python API), resumes it to more steps (the CLI),
evaluates, generates greedy and sampled text, scores lines and probes pairs, runs the commands
that are TensorFlow-only, and reads TF_CHECKPOINT (trained on TensorFlow). It prints one JSON
line of what it saw; the test, on TensorFlow, checks it against its own results. Everything is
done in-process (charlm.cli.main) so JAX starts once.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

# Shared with the TensorFlow side of the test, which must ask its model the same questions.
PROMPT, LENGTH, SEED = "The cat", 40, 5
EVAL_CHARS = 999  # TINY_TEXT[:EVAL_CHARS]; with the primer 1000 tokens, one chunk of eval
FRESH_STEPS, RESUMED_STEPS = 12, 18
SCORE_LINES = ["The cat near the dogs sleeps.", "The cat near the dogs sleep."]
PAIRS = [{"sentence_good": "The bus near the trees stops.",
          "sentence_bad": "The bus near the trees stop."},
         {"sentence_good": "The keys near the doors fit.",
          "sentence_bad": "The keys near the doors fits."}]


def cli(*argv) -> dict:
    """`charlm ARGV` in this process → {"code", "out", "err"}."""
    from charlm.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return {"code": code, "out": out.getvalue(), "err": err.getvalue().strip()}


def step_of(run: Path) -> int:
    return json.loads((run / "last" / "trainer.json").read_text())["step"]


def seeding() -> dict:
    """charlm.backend.set_random_seed: a seed draws the same numbers again, and on JAX it leaves
    TensorFlow unimported (checked first: today training imports it through
    keras.utils.set_random_seed)."""
    import keras

    from charlm import backend

    draws = []
    for seed in (SEED, SEED, SEED + 1):
        backend.set_random_seed(seed)
        draws.append(keras.random.uniform((4,)).tolist())
    return {"repeats": draws[0] == draws[1], "differs": draws[0] != draws[2],
            "imported_tensorflow": "tensorflow" in sys.modules}


def train_and_resume(work: Path) -> tuple[Path, dict]:
    import charlm
    from tests.helpers import TINY_TEXT, tiny_config

    corpus = work / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    # 64 units, the shape of the TensorFlow checkpoint: its compiled functions are the same ones
    settings = tiny_config(corpus, work / "run", max_steps=FRESH_STEPS, units=64).to_dict()
    run = Path(charlm.train(**settings))
    fresh = step_of(run)
    resumed = cli("train", "--resume", run, "--max-steps", RESUMED_STEPS, "--quiet")
    return run, {"fresh_step": fresh, "resume_code": resumed["code"],
                 "resumed_step": step_of(run)}


def use(run: Path, work: Path, text: str) -> dict:
    """eval, generate (greedy batch, sampled), score and probe on the JAX-trained run."""
    import charlm

    text_file, lines_file, pairs_file = work / "eval.txt", work / "lines.txt", work / "pairs.jsonl"
    text_file.write_text(text, encoding="utf-8")
    lines_file.write_text("".join(line + "\n" for line in SCORE_LINES), encoding="utf-8")
    pairs_file.write_text("".join(json.dumps(p) + "\n" for p in PAIRS), encoding="utf-8")
    evaluated = cli("eval", "--checkpoint", run, "--text-file", text_file, "--json")
    greedy = cli("generate", "--checkpoint", run, "--prompt", PROMPT, "--length", LENGTH,
                 "--temperature", 0, "--num-samples", 2, "--json")
    scored = cli("score", "--checkpoint", run, "--text-file", lines_file, "--json")
    probed = cli("probe", "--checkpoint", run, "--data", pairs_file, "--out", work / "probe",
                 "--json")
    codes = {name: r["code"] for name, r in [("eval", evaluated), ("generate", greedy),
                                              ("score", scored), ("probe", probed)]}
    lm = charlm.load(run)
    return {"codes": codes, "eval": json.loads(evaluated["out"]),
            "greedy": [json.loads(line)["text"] for line in greedy["out"].splitlines()],
            "sampled": lm.generate(PROMPT, length=LENGTH, temperature=1.0, seed=SEED,
                                   num_samples=2),
            "score": [json.loads(line) for line in scored["out"].splitlines()],
            "probe": json.loads(probed["out"])["overall"]}


def tensorflow_only(run: Path, work: Path) -> dict:
    """How the commands that need TensorFlow fail on JAX: exit code, stderr, whether they wrote."""
    export = cli("export", "--checkpoint", run, "--out", work / "exported")
    # a one-worker cluster: enough for the trainer to reach the backend check
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": ["localhost:1"]},
                                          "task": {"type": "worker", "index": 0}})
    try:
        multiworker = cli("train", "--corpus", work / "tiny.txt", "--out", work / "multiworker",
                          "--distribute", "multiworker", "--max-steps", 2, "--quiet")
    finally:
        del os.environ["TF_CONFIG"]
    return {"export": {"code": export["code"], "err": export["err"],
                       "wrote": (work / "exported").exists()},
            "train --distribute multiworker": {
                "code": multiworker["code"], "err": multiworker["err"],
                "wrote": (work / "multiworker" / "last").exists()}}


def read_tensorflow_checkpoint(path: str, text: str) -> dict:
    import charlm

    lm = charlm.load(path)
    return {"greedy": lm.generate(PROMPT, length=LENGTH, temperature=0),
            "bpc": lm.eval(text)["bpc"]}


def mirrored(work: Path) -> dict:
    """--distribute mirrored on JAX (Keras' DataParallel over the two host devices the test's
    XLA_FLAGS makes) and the same run on one device: their validation losses."""
    import jax

    losses = {}
    for mode in ("none", "mirrored"):
        out = work / f"dp-{mode}"
        cli("train", "--corpus", work / "tiny.txt", "--out", out, "--units", 32,
            "--embedding-dim", 8, "--seq-len", 10, "--batch-size", 8, "--max-steps", 6,
            "--eval-every", 3, "--sample-chars", 0, "--eval-max-tokens", 1000, "--lr", 0.01,
            "--warmup-steps", 2, "--dropout", 0, "--distribute", mode, "--quiet")
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        losses[mode] = [r["nats_per_char"] for r in rows if r["kind"] == "val"]
    return {"devices": len(jax.devices()), **losses}


def main(work: str, tf_checkpoint: str) -> None:
    from charlm.backend import import_quietly

    import_quietly()
    from charlm import backend
    from tests.helpers import TINY_TEXT

    work = Path(work)
    result = {"backend": backend.name(), "seeding": seeding()}
    run, result["train"] = train_and_resume(work)
    result["tensorflow_after_training"] = "tensorflow" in sys.modules  # JAX runs never need it
    result["mirrored"] = mirrored(work)
    result.update(use(run, work, TINY_TEXT[:EVAL_CHARS]))
    result["tensorflow_only"] = tensorflow_only(run, work)
    result["tf_checkpoint"] = read_tensorflow_checkpoint(tf_checkpoint, TINY_TEXT[:EVAL_CHARS])
    result["run"] = str(run.resolve())  # the JAX-trained checkpoint, for the TensorFlow side
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:])
