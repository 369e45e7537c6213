"""The training loop: corpus → tokenizer → ids → batches → model → checkpoints.

One straight flow in `run_training()`. Everything the next step depends on (weights, optimizer
moments, dropout seeds, data cursor / RNG, carried LSTM state, step, elapsed time, best bpc, the
run's settings) is saved in `last/`, so `--resume` continues exactly where the run stopped. A
fresh run writes last/ at step 0 before its first step, so a run killed at any moment resumes.

Faults:
  * Ctrl-C or SIGTERM asks the loop to stop after the current step; it writes a checkpoint and
    raises `Interrupted` (the CLI exits 130 or 143). A second Ctrl-C stops at once.
  * A NaN/inf loss, gradient norm or weight never reaches a checkpoint: every save is preceded by
    a check, and on detection the run rolls back to last/ (the last good state) and goes on at
    half the learning rate, at most NAN_RETRIES times; then it stops with `TrainingFailed`.
  * A checkpoint write that fails (disk full, permissions) leaves the previous checkpoint and
    raises `TrainingFailed`.

Determinism: the same seed and config give the same weights for step or epoch budgets; with
--max-minutes the learning-rate schedule follows the wall clock, so the final step (and weights)
depend on the machine's speed.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from datetime import datetime
from pathlib import Path

from charlm.backend import import_quietly

import_quietly()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from charlm import backend  # noqa: E402
from charlm import checkpoint as ckpt  # noqa: E402
from charlm.config import TrainConfig  # noqa: E402
from charlm.data.batching import make_batcher, split_tail  # noqa: E402
from charlm.data.corpus import Corpus, resolve_corpus  # noqa: E402
from charlm.data.id_cache import encode_corpus  # noqa: E402
from charlm.data.tokenizers import (fit_tokenizer, load_tokenizer,  # noqa: E402
                                    unknown_characters_error, unknown_in_corpus)
from charlm.errors import Interrupted, TrainingFailed, UserError  # noqa: E402
from charlm.evaluate import NllStep, evaluate_ids, prime_token, summarize  # noqa: E402
from charlm.faults import kill_point  # noqa: E402
from charlm.generate.generator import progress_sampler  # noqa: E402
from charlm.model.model import build_model, model_spec, zero_states  # noqa: E402
from charlm.training.distribute import Placement, set_precision  # noqa: E402
from charlm.training.schedule import learning_rate  # noqa: E402
from charlm.training.step import TrainStep  # noqa: E402

LOG_EVERY = 10  # steps per metrics row, and per NaN check
NAN_RETRIES = 3  # rollbacks to last/ (each halving the learning rate) before the run stops


class _StopFlag:
    """First Ctrl-C / SIGTERM: finish the step, checkpoint, exit. Second Ctrl-C: stop now."""

    def __init__(self):
        self.signum = None

    def __enter__(self):
        self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc):
        for s, handler in self._old.items():
            signal.signal(s, handler)


def _validation_ids(config: TrainConfig, tokenizer, ids):
    """(train ids, val ids): the tail of the corpus, or all of it and the --val-corpus text."""
    if not config.val_corpus:
        return split_tail(ids, config.val_fraction)
    corpus = resolve_corpus(config.val_corpus).check_head()
    missing = unknown_in_corpus(tokenizer, corpus)  # read in chunks, like the ids below
    if missing:
        raise unknown_characters_error(
            missing, f"the --val-corpus {config.val_corpus} has them but the training corpus does "
            "not; remove them from the validation text or train on a corpus that has them")
    return ids, encode_corpus(tokenizer, corpus)


def run_training(config: TrainConfig, corpus: Corpus, out: Path, *, resume: bool, log,
                 quiet: bool, stop_after_steps: int | None = None) -> Path:
    """Train into `out` (locked by the caller): a fresh run, or the continuation of last/."""
    previous_policy = keras.config.dtype_policy()  # --precision sets the global policy
    try:
        return _train(config, corpus, out, resume=resume, log=log, quiet=quiet,
                      stop_after_steps=stop_after_steps)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _train(config: TrainConfig, corpus: Corpus, out: Path, *, resume: bool, log, quiet: bool,
           stop_after_steps: int | None) -> Path:
    from tqdm import tqdm

    backend.set_random_seed(config.seed)
    placement = Placement(config.distribute, config.batch_size)
    chief = placement.is_chief  # only the chief writes checkpoints, metrics and samples

    # --- data: corpus → tokenizer → ids → train/val ------------------------------------------
    corpus_hash = corpus.sha256()
    if resume:
        saved = ckpt.read_config(out)
        if saved["corpus"]["sha256"] != corpus_hash:
            raise UserError(f"corpus {config.corpus} changed since {out} was trained (hash differs); "
                            "resume with the same text or start a new --out")
        tokenizer = load_tokenizer(out / ckpt.TOKENIZER)
    else:
        log(f"fitting {config.tokenizer} tokenizer on {corpus.name} …")
        tokenizer = fit_tokenizer(config.tokenizer, corpus, config.vocab_size)
    ids = encode_corpus(tokenizer, corpus, corpus_hash)
    train_ids, val_ids = _validation_ids(config, tokenizer, ids)
    batcher = make_batcher(config.batching, train_ids, config.batch_size, config.seq_len,
                           config.seed, config.state_reset_every)
    val_ids = np.asarray(val_ids[:config.eval_max_tokens])  # periodic validation reads a prefix
    val_chars = len(tokenizer.decode(val_ids)) if tokenizer.kind != "char" else len(val_ids)

    # --- model, optimizer, compiled steps -----------------------------------------------------
    spec = model_spec(config, tokenizer.vocab_size)
    set_precision(config.precision, log)
    with placement.scope():  # variables mirrored on every replica (none: a no-op)
        model = build_model(**spec)
        optimizer = keras.optimizers.AdamW(learning_rate=config.lr,
                                           weight_decay=config.weight_decay)
        optimizer.exclude_from_weight_decay(var_names=["bias", "embeddings"])
        train_step = TrainStep(model, optimizer, config.clip_norm, placement)
    nll_step = NllStep(model)
    if placement.replicas > 1:
        log(f"--distribute {config.distribute}: {placement.replicas} replicas, "
            f"{config.batch_size // placement.replicas} rows each")
    sample_text = progress_sampler(model, tokenizer)  # compiled once, at the first validation
    states = zero_states(model, config.batch_size)
    state = {"step": 0, "elapsed": 0.0, "best_bpc": None, "bad_evals": 0, "chars": 0,
             "lr_scale": 1.0, "nan_retries": 0}

    def restore_last():
        """model, optimizer, carried states, data cursor and counters ← last/."""
        nonlocal states
        saved_states, restored = ckpt.load_last(out, model, optimizer)
        batcher.load_state_dict(restored.pop("data"))
        restored.pop("config", None)
        state.clear()
        state.update({"lr_scale": 1.0, "nan_retries": 0, **restored})
        states = [keras.ops.convert_to_tensor(s) for s in saved_states]

    if resume:
        restore_last()
    elif chief:
        try:
            tokenizer.save(out / ckpt.TOKENIZER)
            ckpt.write_config(out, {
                "format": ckpt.FORMAT, "train": config.to_dict(), "model": spec,
                "tokenizer": {"kind": tokenizer.kind, "vocab_size": tokenizer.vocab_size},
                "corpus": {"name": corpus.name, "sha256": corpus_hash, "tokens": int(len(ids)),
                           "paths": [str(p) for p in corpus.paths]},
                "versions": ckpt.library_versions(), "created": datetime.now().isoformat()})
            ckpt.seal(out)
        except OSError as e:
            raise UserError(f"cannot write to the output folder {out} ({e.strerror or e}); free "
                            "space, fix its permissions, or choose another --out")
    if not resume:
        log(f"model: {model.count_params():,} parameters, vocab {tokenizer.vocab_size}, "
            f"{len(train_ids):,} training tokens → {out}")

    max_steps, max_seconds, max_epochs = config.budgets()

    def progress() -> float:
        fractions = [0.0]
        if max_steps:
            fractions.append(state["step"] / max_steps)
        if max_seconds:
            fractions.append(state["elapsed"] / max_seconds)
        if max_epochs:
            fractions.append(batcher.epochs_done / max_epochs)
        return max(fractions)

    def budget_reached() -> str | None:
        if max_steps and state["step"] >= max_steps:
            return f"reached --max-steps {max_steps}"
        if max_seconds and state["elapsed"] >= max_seconds:
            return f"reached the time budget of {max_seconds / 60:g} minutes"
        if max_epochs and batcher.epochs_done >= max_epochs:
            return f"reached --epochs {max_epochs:g}"
        return None

    if resume and budget_reached():  # a finished run: say so, train nothing
        log(f"{out} is complete ({budget_reached()} at step {state['step']}); nothing to train. "
            f"To train on, resume with a larger budget, e.g. --max-steps {state['step'] * 2}")
        return out
    if resume and chief:  # metrics logged after the checkpoint were lost with the work
        ckpt.truncate_metrics(out, state["step"])

    metrics_file = ckpt.open_metrics(out) if chief else open(os.devnull, "w")
    writer = _tensorboard_writer(ckpt.tensorboard_dir(out)) if chief else None

    def record(kind: str, **values):
        row = {"kind": kind, "step": state["step"], "epoch": round(batcher.epochs_done, 4),
               "elapsed": round(state["elapsed"], 2), **values}
        metrics_file.write(json.dumps(row) + "\n")
        metrics_file.flush()
        if writer is not None:
            with writer.as_default(step=state["step"]):
                import tensorflow as tf

                for k, v in values.items():
                    if isinstance(v, (int, float)):
                        tf.summary.scalar(f"{kind}/{k}", v)

    def written(what: str, write):
        """Run a checkpoint write; a failure (disk full, permissions) stops the run cleanly."""
        try:
            write()
        except OSError as e:
            raise TrainingFailed(
                f"could not write {what} in {out} at step {state['step']} ({e.strerror or e}); "
                "the previous checkpoint is intact; free space or fix permissions, then resume "
                f"with: charlm train --resume {out}")

    def save_last():
        if not chief:
            return state["step"]
        written("last/", lambda: ckpt.save_last(
            out, model, optimizer, [np.asarray(s) for s in states],
            {**state, "data": batcher.state_dict(), "config": config.to_dict()}))
        kill_point("after-checkpoint")
        return state["step"]

    pending = []  # (loss, grad norm) of the steps since the last NaN check, as tensors

    def all_finite() -> bool:
        values = [float(v) for pair in pending for v in pair]
        pending.clear()
        return all(math.isfinite(v) for v in values) and all(
            bool(np.isfinite(keras.ops.convert_to_numpy(v)).all())
            for v in model.trainable_variables)

    def roll_back():
        """The loss, a gradient or a weight is NaN/inf: back to last/, at half the lr. last/ was
        validated and saved, so the loop's counters restart from its step."""
        nonlocal validated_step, saved_step, start, window_loss, window_chars, window_start
        bad_step, retries = state["step"], state["nan_retries"] + 1
        if retries > NAN_RETRIES:
            record("fault", event="non-finite", gave_up=True)
            raise TrainingFailed(
                f"the loss turned NaN/inf again at step {bad_step}, after {NAN_RETRIES} rollbacks "
                f"at ever lower learning rates; the last good checkpoint is intact in {out}/last; "
                f"lower --lr (now {config.lr:g}) or --clip-norm, or check the data, then resume")
        scale = state["lr_scale"] / 2
        restore_last()
        state["nan_retries"], state["lr_scale"] = retries, scale
        record("fault", event="non-finite", at_step=bad_step, lr_scale=scale, retry=retries)
        log(f"step {bad_step}: the loss or the weights became NaN/inf; rolled back to step "
            f"{state['step']} (last/), learning rate ×{scale:g} (retry {retries} of "
            f"{NAN_RETRIES})")
        validated_step = saved_step = state["step"]
        window_loss, window_chars, window_start = [], 0, time.perf_counter()
        start = time.perf_counter() - state["elapsed"]
        bar.n = state["step"]

    def run_validation() -> dict:
        result = evaluate_ids(model, val_ids, prime_token(tokenizer), streams=_val_streams(val_ids),
                              nll_step=nll_step)
        summary = summarize(result["nats"], val_chars)
        kill_point("validation")
        improved = state["best_bpc"] is None or summary["bpc"] < state["best_bpc"]
        if improved:
            state["best_bpc"], state["bad_evals"] = summary["bpc"], 0
            if chief:
                written("best/", lambda: ckpt.save_best(
                    out, model, {"step": state["step"], "val_bpc": summary["bpc"]}))
        else:
            state["bad_evals"] += 1
        record("val", bpc=summary["bpc"], nats_per_char=summary["nats_per_char"])
        line = (f"step {state['step']}: val {summary['nats_per_char']:.4f} nats/char "
                f"= {summary['bpc']:.4f} bpc{' (best)' if improved else ''}")
        if config.sample_chars and chief:  # 0: no sample (and no sampling loop to compile)
            sample = sample_text(config.sample_chars, seed=state["step"])
            ckpt.append_sample(out, f"step {state['step']} val_bpc {summary['bpc']:.4f}", sample)
            line += "\n  sample: " + sample[:160].replace("\n", "\n          ")
        log(line)
        return summary

    saved_step = None if resume else save_last()  # step 0: from here on, any kill resumes
    # --- the loop -----------------------------------------------------------------------------
    bar = tqdm(total=max_steps, initial=state["step"], unit="step", dynamic_ncols=True,
               disable=quiet, desc="train")
    start = time.perf_counter() - state["elapsed"]
    window_loss, window_chars, window_start = [], 0, time.perf_counter()
    validated_step, early_stop, stop_reason = (state["step"] if resume else None), None, None
    try:
        with _StopFlag() as stop:
            while True:
                # Budgets are checked before a step, so a finished run never takes one more.
                if stop.signum is not None or (stop_after_steps
                                               and state["step"] >= stop_after_steps):
                    stop_reason = "interrupted"
                    if all_finite():  # never save a NaN state: last/ keeps the good one
                        saved_step = save_last()
                    break
                stop_reason = early_stop or budget_reached()
                if stop_reason:
                    if validated_step != state["step"]:  # the final validation
                        if not all_finite():
                            roll_back()
                            continue
                        run_validation()
                        validated_step = state["step"]
                    if saved_step != state["step"]:
                        saved_step = save_last()
                    break

                x, y, reset = batcher.next_batch()
                if reset.all():
                    states = zero_states(model, config.batch_size)
                elif reset.any():  # zero the state of some rows only: [B, H] * [B, 1]
                    keep = (~reset).astype(np.float32)[:, None]
                    states = [s * keep for s in states]
                lr = learning_rate(config, state["step"], progress()) * state["lr_scale"]
                loss, grad_norm, states = train_step(x, y, states, lr)
                pending.append((loss, grad_norm))
                state["step"] += 1
                state["chars"] += x.size
                window_loss.append(loss)
                window_chars += x.size
                state["elapsed"] = time.perf_counter() - start
                bar.update(1)
                kill_point("step")

                due_eval = state["step"] % config.eval_every == 0
                if state["step"] % LOG_EVERY == 0 or due_eval:
                    if not all_finite():
                        roll_back()
                        continue
                if state["step"] % LOG_EVERY == 0:
                    mean_loss = float(np.mean([float(v) for v in window_loss]))
                    speed = window_chars / max(time.perf_counter() - window_start, 1e-9)
                    record("train", loss=mean_loss, bpc=mean_loss / math.log(2), lr=lr,
                           grad_norm=float(grad_norm), chars_per_sec=speed)
                    bar.set_postfix(loss=f"{mean_loss:.3f}", bpc=f"{mean_loss / math.log(2):.3f}",
                                    chars_s=f"{speed:,.0f}", refresh=False)
                    window_loss, window_chars, window_start = [], 0, time.perf_counter()
                    if max_steps is None:  # time/epoch budget: show an ETA in steps
                        p = progress()
                        bar.total = int(state["step"] / p) if p > 0.01 else None
                if due_eval:
                    run_validation()
                    validated_step = state["step"]
                    saved_step = save_last()
                    if config.patience and state["bad_evals"] >= config.patience:
                        early_stop = (f"early stopping: no improvement in {config.patience} "
                                      "validations")
    finally:
        bar.close()
        metrics_file.close()
    kill_point("finished")
    placement.barrier()
    best = state["best_bpc"]
    log(f"stopped: {stop_reason} after {state['step']} steps ({state['elapsed']:.0f} s); "
        f"best val {best if best is None else round(best, 4)} bpc; checkpoint: {out}")
    if stop.signum is not None:
        name = signal.Signals(stop.signum).name
        raise Interrupted(f"interrupted by {name}: the checkpoint of step {saved_step} is written; "
                          f"resume with: charlm train --resume {out}", stop.signum)
    if stop_reason == "interrupted":
        log(f"resume with: python train.py --resume {out}")
    return out


def _val_streams(val_ids) -> int:
    # Periodic validation reads ~10k-token segments side by side: each starts from a zero state,
    # which costs a few characters of context, but keeps validation to seconds.
    return max(1, len(val_ids) // 10_000)


def _tensorboard_writer(folder: Path):
    if backend.name() != "tensorflow":
        return None
    import tensorflow as tf

    return tf.summary.create_file_writer(str(folder))
