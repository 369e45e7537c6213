"""The training loop: corpus → tokenizer → ids → batches → model → checkpoints.

One straight flow in `train()`. Everything the next step depends on (weights, optimizer moments,
dropout seeds, data cursor / RNG, carried LSTM state, step, elapsed time, best bpc) is saved in
`last/`, so `--resume` continues exactly where the run stopped. Ctrl-C (or SIGTERM) asks the loop
to stop after the current step; it then writes a checkpoint and exits. Determinism: the same seed
and config give the same weights for step or epoch budgets; with --max-minutes the learning-rate
schedule follows the wall clock, so the final step (and weights) depend on the machine's speed.
"""

from __future__ import annotations

import json
import math
import signal
import time
from datetime import datetime
from pathlib import Path

import keras
import numpy as np

from charlm import backend
from charlm import checkpoint as ckpt
from charlm.data.batching import make_batcher, split_tail
from charlm.data.corpus import resolve_corpus
from charlm.data.id_cache import encode_corpus
from charlm.data.tokenizers import fit_tokenizer, load_tokenizer
from charlm.errors import UserError
from charlm.evaluate import NllStep, evaluate_ids, prime_token, summarize
from charlm.generate.generator import sample_text
from charlm.model.model import build_model, model_spec, zero_states
from charlm.config import FROZEN_ON_RESUME, TrainConfig
from charlm.training.step import TrainStep

LOG_EVERY = 10


def learning_rate(config: TrainConfig, step: int, progress: float) -> float:
    """Linear warm-up, then cosine decay from lr to lr·min_lr_ratio as progress goes 0 → 1."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return config.lr * (config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine)


class _StopFlag:
    """First Ctrl-C / SIGTERM: finish the step, checkpoint, exit. Second Ctrl-C: stop now."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for s, handler in self._old.items():
            signal.signal(s, handler)


def _default_out(corpus_name: str) -> Path:
    return Path("checkpoints") / f"{corpus_name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def prepare_resume(folder: str, overrides: dict) -> TrainConfig:
    saved = ckpt.read_config(Path(folder))
    config = TrainConfig.from_dict(saved["train"])
    for key, value in overrides.items():
        if key in FROZEN_ON_RESUME and value != getattr(config, key):
            raise UserError(f"--{key.replace('_', '-')} cannot change when resuming (the run used "
                            f"{getattr(config, key)!r}); drop the flag or start a new --out")
        setattr(config, key, value)
    config.out = str(folder)
    return config.check()


def train(config: TrainConfig, resume: bool = False, quiet: bool = False,
          stop_after_steps: int | None = None) -> Path:
    """Train (or resume) a run; `stop_after_steps` simulates an interrupt (for fault harnesses)."""
    from tqdm import tqdm

    config.check()
    log = (lambda *a: None) if quiet else (lambda *a: tqdm.write(" ".join(map(str, a))))
    keras.utils.set_random_seed(config.seed)

    # --- data: corpus → tokenizer → ids → train/val ------------------------------------------
    corpus = resolve_corpus(config.corpus)
    out = Path(config.out) if config.out else _default_out(corpus.name)
    corpus_hash = corpus.sha256()
    if resume:
        saved = ckpt.read_config(out)
        if saved["corpus"]["sha256"] != corpus_hash:
            raise UserError(f"corpus {config.corpus} changed since {out} was trained (hash differs); "
                            "resume with the same text or start a new --out")
        tokenizer = load_tokenizer(out / ckpt.TOKENIZER)
    else:
        if out.exists() and any(out.iterdir()):
            raise UserError(f"output folder {out} already exists and is not empty; pass --resume "
                            f"{out} to continue that run, or choose another --out")
        log(f"fitting {config.tokenizer} tokenizer on {corpus.name} …")
        tokenizer = fit_tokenizer(config.tokenizer, corpus, config.vocab_size)
    ids = encode_corpus(tokenizer, corpus, corpus_hash)
    if config.val_corpus:
        train_ids = ids
        val_ids = tokenizer.encode(resolve_corpus(config.val_corpus).read_text(), "replace")
    else:
        train_ids, val_ids = split_tail(ids, config.val_fraction)
    batcher = make_batcher(config.batching, train_ids, config.batch_size, config.seq_len,
                           config.seed, config.state_reset_every)
    val_ids = np.asarray(val_ids[:config.eval_max_tokens])  # periodic validation reads a prefix
    val_chars = len(tokenizer.decode(val_ids)) if tokenizer.kind != "char" else len(val_ids)

    # --- model, optimizer, compiled steps -----------------------------------------------------
    spec = model_spec(config, tokenizer.vocab_size)
    model = build_model(**spec)
    optimizer = keras.optimizers.AdamW(learning_rate=config.lr, weight_decay=config.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=["bias", "embeddings"])
    train_step, nll_step = TrainStep(model, optimizer, config.clip_norm), NllStep(model)
    states = zero_states(model, config.batch_size)
    state = {"step": 0, "elapsed": 0.0, "best_bpc": None, "bad_evals": 0, "chars": 0}
    if resume:
        saved_states, state = ckpt.load_last(out, model, optimizer)
        batcher.load_state_dict(state.pop("data"))
        states = [keras.ops.convert_to_tensor(s) for s in saved_states]
    else:
        out.mkdir(parents=True, exist_ok=True)
        tokenizer.save(out / ckpt.TOKENIZER)
        ckpt.write_config(out, {
            "format": ckpt.FORMAT, "train": config.to_dict(), "model": spec,
            "tokenizer": {"kind": tokenizer.kind, "vocab_size": tokenizer.vocab_size},
            "corpus": {"name": corpus.name, "sha256": corpus_hash, "tokens": int(len(ids)),
                       "paths": [str(p) for p in corpus.paths]},
            "versions": ckpt.library_versions(), "created": datetime.now().isoformat()})
        log(f"model: {model.count_params():,} parameters, vocab {tokenizer.vocab_size}, "
            f"{len(train_ids):,} training tokens → {out}")

    max_steps, max_seconds, max_epochs = config.budgets()
    metrics_file = ckpt.open_metrics(out)
    writer = _tensorboard_writer(ckpt.tensorboard_dir(out))

    def progress() -> float:
        fractions = [0.0]
        if max_steps:
            fractions.append(state["step"] / max_steps)
        if max_seconds:
            fractions.append(state["elapsed"] / max_seconds)
        if max_epochs:
            fractions.append(batcher.epochs_done / max_epochs)
        return max(fractions)

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

    def run_validation() -> dict:
        result = evaluate_ids(model, val_ids, prime_token(tokenizer), streams=_val_streams(val_ids),
                              nll_step=nll_step)
        summary = summarize(result["nats"], val_chars)
        improved = state["best_bpc"] is None or summary["bpc"] < state["best_bpc"]
        if improved:
            state["best_bpc"], state["bad_evals"] = summary["bpc"], 0
            ckpt.save_best(out, model, {"step": state["step"], "val_bpc": summary["bpc"]})
        else:
            state["bad_evals"] += 1
        sample = sample_text(model, tokenizer, config.sample_chars, seed=state["step"])
        ckpt.append_sample(out, f"step {state['step']} val_bpc {summary['bpc']:.4f}", sample)
        record("val", bpc=summary["bpc"], nats_per_char=summary["nats_per_char"])
        log(f"step {state['step']}: val {summary['nats_per_char']:.4f} nats/char "
            f"= {summary['bpc']:.4f} bpc{' (best)' if improved else ''}\n  sample: "
            + sample[:160].replace("\n", "\n          "))
        return summary

    def save_last():
        ckpt.save_last(out, model, optimizer, [np.asarray(s) for s in states],
                       {**state, "data": batcher.state_dict()})

    # --- the loop -----------------------------------------------------------------------------
    bar = tqdm(total=max_steps, initial=state["step"], unit="step", dynamic_ncols=True,
               disable=quiet, desc="train")
    start = time.perf_counter() - state["elapsed"]
    window_loss, window_chars, window_start, last_eval_step = [], 0, time.perf_counter(), None
    stop_reason = None
    with _StopFlag() as stop:
        while stop_reason is None:
            x, y, reset = batcher.next_batch()
            if reset.all():
                states = zero_states(model, config.batch_size)
            elif reset.any():  # zero the state of some rows only: [B, H] * [B, 1]
                keep = (~reset).astype(np.float32)[:, None]
                states = [s * keep for s in states]
            lr = learning_rate(config, state["step"], progress())
            loss, grad_norm, states = train_step(x, y, states, lr)
            state["step"] += 1
            state["chars"] += x.size
            window_loss.append(loss)
            window_chars += x.size
            state["elapsed"] = time.perf_counter() - start
            if state["step"] % LOG_EVERY == 0:
                mean_loss = float(np.mean([float(v) for v in window_loss]))
                speed = window_chars / max(time.perf_counter() - window_start, 1e-9)
                record("train", loss=mean_loss, bpc=mean_loss / math.log(2), lr=lr,
                       grad_norm=float(grad_norm), chars_per_sec=speed)
                if not math.isfinite(mean_loss):
                    stop_reason = "the loss became NaN/inf (lower --lr or --clip-norm)"
                bar.set_postfix(loss=f"{mean_loss:.3f}", bpc=f"{mean_loss / math.log(2):.3f}",
                                chars_s=f"{speed:,.0f}", refresh=False)
                window_loss, window_chars, window_start = [], 0, time.perf_counter()
                if max_steps is None:  # time/epoch budget: show an ETA in steps
                    p = progress()
                    bar.total = int(state["step"] / p) if p > 0.01 else None
            bar.update(1)
            if state["step"] % config.eval_every == 0:
                run_validation()
                last_eval_step = state["step"]
                save_last()
                if config.patience and state["bad_evals"] >= config.patience:
                    stop_reason = f"early stopping: no improvement in {config.patience} validations"
            if stop.requested or (stop_after_steps and state["step"] >= stop_after_steps):
                stop_reason = "interrupted"
            elif max_steps and state["step"] >= max_steps:
                stop_reason = f"reached --max-steps {max_steps}"
            elif max_seconds and state["elapsed"] >= max_seconds:
                stop_reason = f"reached the time budget of {max_seconds / 60:g} minutes"
            elif max_epochs and batcher.epochs_done >= max_epochs:
                stop_reason = f"reached --epochs {max_epochs:g}"
        bar.close()
        if last_eval_step != state["step"] and stop_reason != "interrupted":
            run_validation()
        save_last()
    metrics_file.close()
    log(f"stopped: {stop_reason} after {state['step']} steps ({state['elapsed']:.0f} s); "
        f"best val {state['best_bpc'] if state['best_bpc'] is None else round(state['best_bpc'], 4)}"
        f" bpc; checkpoint: {out}")
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
