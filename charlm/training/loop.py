"""The training loop: corpus → tokenizer → ids → batches → model → checkpoints.

`Trainer` is one run: its constructor reads the data and builds the model, `run()` trains. What
the next step depends on (weights, optimizer moments, dropout seeds, data cursor / RNG, carried
LSTM state, the counters of `TrainState`, the run's settings) is saved in `last/`, so `--resume`
continues exactly where the run stopped. A fresh run writes last/ at step 0 before its first
step, so a run killed at any moment resumes.

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

import math
import signal
import time
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
from charlm.evaluate import NllStep, evaluate_ids, repeated_chunk_len, summarize  # noqa: E402
from charlm.faults import kill_point  # noqa: E402
from charlm.generate.generator import progress_sampler  # noqa: E402
from charlm.model.model import build_model, model_spec, zero_states  # noqa: E402
from charlm.training.distribute import Placement, set_precision  # noqa: E402
from charlm.training.record import LossWindow, Recorder  # noqa: E402
from charlm.training.schedule import learning_rate  # noqa: E402
from charlm.training.state import Budgets, StopFlag, TrainState  # noqa: E402
from charlm.training.step import TrainStep  # noqa: E402

LOG_EVERY = 10  # steps per metrics row, and per NaN check
NAN_RETRIES = 3  # rollbacks to last/ (each halving the learning rate) before the run stops


def run_training(config: TrainConfig, corpus: Corpus, out: Path, *, resume: bool, log,
                 quiet: bool, stop_after_steps: int | None = None) -> Path:
    """Train into `out` (locked by the caller): a fresh run, or the continuation of last/."""
    previous_policy = keras.config.dtype_policy()  # --precision sets the global policy
    try:
        return Trainer(config, corpus, out, resume=resume, log=log, quiet=quiet,
                       stop_after_steps=stop_after_steps).run()
    finally:
        keras.config.set_dtype_policy(previous_policy)


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


class Trainer:
    """One training run into the folder `out`: a fresh one, or (resume=True) the continuation of
    its last/. Only the chief (the one process, or worker 0 of --distribute multiworker) writes
    checkpoints, metrics and samples. `run()` trains until a budget, --patience, an interrupt or
    `stop_after_steps` stops it."""

    def __init__(self, config: TrainConfig, corpus: Corpus, out: Path, *, resume: bool, log,
                 quiet: bool, stop_after_steps: int | None = None):
        self.config, self.corpus, self.out, self.resume = config, corpus, out, resume
        self.log, self.quiet, self.stop_after_steps = log, quiet, stop_after_steps
        backend.set_random_seed(config.seed)
        self.placement = Placement(config.distribute, config.batch_size)
        self.chief = self.placement.is_chief
        self.budgets = Budgets.of(config)
        self.state = TrainState()
        self.pending = []  # (loss, grad norm) of the steps since the last NaN check, as tensors
        # The steps last checkpointed and validated (None: not yet), and why the run stops.
        self.saved_step = self.validated_step = None
        self.early_stop = self.stop_reason = None
        self._read_data()
        self._build_model()

    # --- setup ------------------------------------------------------------------------------------
    def _read_data(self) -> None:
        """corpus → tokenizer (fitted, or the run's own on resume) → ids → batcher, val ids."""
        config, corpus = self.config, self.corpus
        self.corpus_hash = corpus.sha256()
        if self.resume:
            saved = ckpt.read_config(self.out)
            if saved["corpus"]["sha256"] != self.corpus_hash:
                raise UserError(f"corpus {config.corpus} changed since {self.out} was trained "
                                "(hash differs); resume with the same text or start a new --out")
            self.tokenizer = load_tokenizer(self.out / ckpt.TOKENIZER)
        else:
            self.log(f"fitting {config.tokenizer} tokenizer on {corpus.name} …")
            self.tokenizer = fit_tokenizer(config.tokenizer, corpus, config.vocab_size)
        ids = encode_corpus(self.tokenizer, corpus, self.corpus_hash)
        self.corpus_tokens = len(ids)
        self.train_ids, val_ids = _validation_ids(config, self.tokenizer, ids)
        self.batcher = make_batcher(config.batching, self.train_ids, config.batch_size,
                                    config.seq_len, config.seed, config.state_reset_every)
        self.val_ids = np.asarray(val_ids[:config.eval_max_tokens])  # validation reads a prefix
        self.val_chars = (len(self.tokenizer.decode(self.val_ids))
                          if self.tokenizer.kind != "char" else len(self.val_ids))

    def _build_model(self) -> None:
        """Model, optimizer, the compiled train/validation steps, the zero carried state."""
        config, placement = self.config, self.placement
        self.spec = model_spec(config, self.tokenizer.vocab_size)
        set_precision(config.precision, self.log)
        with placement.scope():  # variables mirrored on every replica (none: a no-op)
            self.model = build_model(**self.spec)
            self.optimizer = keras.optimizers.AdamW(learning_rate=config.lr,
                                                    weight_decay=config.weight_decay)
            self.optimizer.exclude_from_weight_decay(var_names=["bias", "embeddings"])
            self.train_step = TrainStep(self.model, self.optimizer, config.clip_norm, placement)
        self.nll_step = NllStep(self.model)
        if placement.replicas > 1:
            self.log(f"--distribute {config.distribute}: {placement.replicas} replicas, "
                     f"{config.batch_size // placement.replicas} rows each")
        self.sample_text = progress_sampler(self.model, self.tokenizer)  # compiled when first used
        self.carried_states = zero_states(self.model, config.batch_size)  # [B, H] per state

    def _write_run_files(self) -> None:
        """A fresh run's tokenizer/, config.json and manifest, before anything else."""
        try:
            self.tokenizer.save(self.out / ckpt.TOKENIZER)
            ckpt.write_run_config(self.out, self.config, self.spec, self.tokenizer, self.corpus,
                                  self.corpus_hash, self.corpus_tokens)
            ckpt.seal(self.out)
        except OSError as e:
            raise UserError(f"cannot write to the output folder {self.out} ({e.strerror or e}); "
                            "free space, fix its permissions, or choose another --out")

    def restore_last(self) -> None:
        """model, optimizer, carried states, data cursor and counters ← last/."""
        saved_states, restored = ckpt.load_last(self.out, self.model, self.optimizer)
        self.batcher.load_state_dict(restored["data"])
        self.state = TrainState.from_saved(restored)
        self.carried_states = [keras.ops.convert_to_tensor(s) for s in saved_states]

    # --- the run ----------------------------------------------------------------------------------
    def run(self) -> Path:
        """Start (write the run's files, or restore last/), train, report → the run folder."""
        if self.resume:
            self.restore_last()
        elif self.chief:
            self._write_run_files()
        if not self.resume:
            self.log(f"model: {self.model.count_params():,} parameters, vocab "
                     f"{self.tokenizer.vocab_size}, {len(self.train_ids):,} training tokens → "
                     f"{self.out}")
        if self.resume and self.budget_reached():  # a finished run: say so, train nothing
            step = self.state.step
            self.log(f"{self.out} is complete ({self.budget_reached()} at step {step}); nothing "
                     f"to train. To train on, resume with a larger budget, e.g. --max-steps "
                     f"{step * 2}")
            return self.out
        if self.resume and self.chief:  # metrics logged after the checkpoint were lost with it
            ckpt.truncate_metrics(self.out, self.state.step)
        self.recorder = Recorder(self.out, self.chief)
        try:  # closes metrics.jsonl however the run ends, a failed first checkpoint included
            self.saved_step = None if self.resume else self.save_last()  # step 0: any kill resumes
            self.validated_step = self.state.step if self.resume else None
            self.recorder.start_bar(self.budgets.max_steps, self.state.step, self.quiet)
            self._start_clock()
            with StopFlag() as stop:
                self._loop(stop)
        finally:
            self.recorder.close()
        return self._finish(stop)

    def _start_clock(self) -> None:
        """Elapsed time goes on from the state's; a new loss window opens."""
        self.start = time.perf_counter() - self.state.elapsed
        self.window = LossWindow()

    def _loop(self, stop: StopFlag) -> None:
        """Train until something stops the run; its last state is checkpointed (or, interrupted
        with a NaN pending, the previous good checkpoint stays)."""
        while True:
            # Budgets are checked before a step, so a finished run never takes one more.
            if stop.signum is not None or (self.stop_after_steps
                                           and self.state.step >= self.stop_after_steps):
                self.stop_reason = "interrupted"
                if self.all_finite():  # never save a NaN state: last/ keeps the good one
                    self.saved_step = self.save_last()
                return
            self.stop_reason = self.early_stop or self.budget_reached()
            if self.stop_reason:
                if self.validated_step != self.state.step:  # the final validation
                    if not self.all_finite():
                        self.roll_back()
                        continue
                    self.validate()
                if self.saved_step != self.state.step:
                    self.saved_step = self.save_last()
                return
            lr, grad_norm = self._take_step()
            self._after_step(lr, grad_norm)

    def _take_step(self) -> tuple:
        """One batch: zero the carried state of rows that restart, train, count. → (lr, norm)."""
        x, y, reset = self.batcher.next_batch()
        if reset.all():
            self.carried_states = zero_states(self.model, self.config.batch_size)
        elif reset.any():  # zero the state of some rows only: [B, H] * [B, 1]
            keep = (~reset).astype(np.float32)[:, None]
            self.carried_states = [s * keep for s in self.carried_states]
        state = self.state
        lr = learning_rate(self.config, state.step, self.progress()) * state.lr_scale
        loss, grad_norm, self.carried_states = self.train_step(x, y, self.carried_states, lr)
        self.pending.append((loss, grad_norm))
        state.step += 1
        state.chars += x.size
        self.window.add(loss, x.size)
        state.elapsed = time.perf_counter() - self.start
        self.recorder.bar.update(1)
        kill_point("step")
        return lr, grad_norm

    def _after_step(self, lr: float, grad_norm) -> None:
        """Every LOG_EVERY steps a metrics row, every --eval-every a validation and a checkpoint;
        a NaN check before either (on a NaN: roll back, nothing else)."""
        step = self.state.step
        due_eval = step % self.config.eval_every == 0
        if (step % LOG_EVERY == 0 or due_eval) and not self.all_finite():
            self.roll_back()
            return
        if step % LOG_EVERY == 0:
            self._record_window(lr, grad_norm)
        if due_eval:
            self.validate()
            self.saved_step = self.save_last()
            self.early_stop = self.budgets.out_of_patience(self.state)

    def _record_window(self, lr: float, grad_norm) -> None:
        """The "train" metrics row and the progress bar's loss; a new window opens."""
        mean_loss, speed = self.window.mean_loss(), self.window.speed()
        self.record("train", loss=mean_loss, bpc=mean_loss / math.log(2), lr=lr,
                    grad_norm=float(grad_norm), chars_per_sec=speed)
        self.recorder.show(mean_loss, speed)
        self.window = LossWindow()
        if self.budgets.max_steps is None:  # time/epoch budget: show an ETA in steps
            p = self.progress()
            self.recorder.bar.total = int(self.state.step / p) if p > 0.01 else None

    def _finish(self, stop: StopFlag) -> Path:
        """Report why the run stopped; an interrupt by a signal raises Interrupted."""
        kill_point("finished")
        self.placement.barrier()
        state, out = self.state, self.out
        best = state.best_bpc
        self.log(f"stopped: {self.stop_reason} after {state.step} steps ({state.elapsed:.0f} s); "
                 f"best val {best if best is None else round(best, 4)} bpc; checkpoint: {out}")
        if stop.signum is not None:
            name = signal.Signals(stop.signum).name
            raise Interrupted(f"interrupted by {name}: the checkpoint of step {self.saved_step} "
                              f"is written; resume with: {ckpt.resume_command(out)}", stop.signum)
        if self.stop_reason == "interrupted":
            self.log(f"resume with: {ckpt.resume_command(out)}")
        return out

    # --- budgets, records, checkpoints, validation, rollback --------------------------------------
    def progress(self) -> float:
        return self.budgets.progress(self.state, self.batcher.epochs_done)

    def budget_reached(self) -> str | None:
        return self.budgets.reached(self.state, self.batcher.epochs_done)

    def record(self, kind: str, **values) -> None:
        """A metrics row of this kind ("train", "val", "fault") at the current step."""
        self.recorder.row(kind, self.state.step, self.batcher.epochs_done, self.state.elapsed,
                          **values)

    def _written(self, what: str, write) -> None:
        """Run a checkpoint write; a failure (disk full, permissions) stops the run cleanly."""
        try:
            write()
        except OSError as e:
            raise TrainingFailed(
                f"could not write {what} in {self.out} at step {self.state.step} "
                f"({e.strerror or e}); the previous checkpoint is intact; free space or fix "
                f"permissions, then resume with: {ckpt.resume_command(self.out)}")

    def save_last(self) -> int:
        """last/ ← the full training state (chief only); → the step saved."""
        if not self.chief:
            return self.state.step
        trainer_state = self.state.to_saved(self.batcher.state_dict(), self.config.to_dict())
        self._written("last/", lambda: ckpt.save_last(
            self.out, self.model, self.optimizer, [np.asarray(s) for s in self.carried_states],
            trainer_state))
        kill_point("after-checkpoint")
        return self.state.step

    def all_finite(self) -> bool:
        """The losses and gradient norms since the last check, and every weight, are finite."""
        values = [float(v) for pair in self.pending for v in pair]
        self.pending.clear()
        return all(math.isfinite(v) for v in values) and all(
            bool(np.isfinite(keras.ops.convert_to_numpy(v)).all())
            for v in self.model.trainable_variables)

    def roll_back(self) -> None:
        """The loss, a gradient or a weight is NaN/inf: back to last/, at half the lr. last/ was
        validated and saved, so the loop's counters restart from its step."""
        bad_step, retries = self.state.step, self.state.nan_retries + 1
        if retries > NAN_RETRIES:
            self.record("fault", event="non-finite", gave_up=True)
            raise TrainingFailed(
                f"the loss turned NaN/inf again at step {bad_step}, after {NAN_RETRIES} rollbacks "
                f"at ever lower learning rates; the last good checkpoint is intact in "
                f"{self.out}/last; lower --lr (now {self.config.lr:g}) or --clip-norm, or check "
                "the data, then resume")
        scale = self.state.lr_scale / 2
        self.restore_last()
        self.state.nan_retries, self.state.lr_scale = retries, scale
        self.record("fault", event="non-finite", at_step=bad_step, lr_scale=scale, retry=retries)
        self.log(f"step {bad_step}: the loss or the weights became NaN/inf; rolled back to step "
                 f"{self.state.step} (last/), learning rate ×{scale:g} (retry {retries} of "
                 f"{NAN_RETRIES})")
        self.validated_step = self.saved_step = self.state.step
        self._start_clock()
        self.recorder.bar.n = self.state.step

    def validate(self) -> dict:
        """Validation bpc on the val ids; a better one is saved in best/. Logs it (with a sample
        unless --sample-chars 0) and records a "val" row. → the summary."""
        config, state = self.config, self.state
        streams = _val_streams(self.val_ids)
        result = evaluate_ids(self.model, self.val_ids, self.tokenizer.prime_id(), streams=streams,
                              chunk_len=repeated_chunk_len(len(self.val_ids) // streams),
                              nll_step=self.nll_step)
        summary = summarize(result["nats"], self.val_chars)
        kill_point("validation")
        improved = state.best_bpc is None or summary["bpc"] < state.best_bpc
        if improved:
            state.best_bpc, state.bad_evals = summary["bpc"], 0
            if self.chief:
                self._written("best/", lambda: ckpt.save_best(
                    self.out, self.model, {"step": state.step, "val_bpc": summary["bpc"]}))
        else:
            state.bad_evals += 1
        self.record("val", bpc=summary["bpc"], nats_per_char=summary["nats_per_char"])
        line = (f"step {state.step}: val {summary['nats_per_char']:.4f} nats/char "
                f"= {summary['bpc']:.4f} bpc{' (best)' if improved else ''}")
        if config.sample_chars and self.chief:  # 0: no sample (and no sampling loop to compile)
            sample = self.sample_text(config.sample_chars, seed=state.step)
            ckpt.append_sample(self.out, f"step {state.step} val_bpc {summary['bpc']:.4f}", sample)
            line += "\n  sample: " + sample[:160].replace("\n", "\n          ")
        self.log(line)
        self.validated_step = state.step
        return summary


def _val_streams(val_ids) -> int:
    # Periodic validation reads ~10k-token segments side by side: each starts from a zero state,
    # which costs a few characters of context, but keeps validation to seconds.
    return max(1, len(val_ids) // 10_000)
