"""What the training loop carries from step to step, and what ends it. Imports nothing heavy.

  * `TrainState`: the counters saved in last/trainer.json (beside the data cursor and the run's
    settings), so a resumed run goes on exactly where it stopped.
  * `Budgets`: --max-steps, --max-minutes, --epochs and --patience; how far the run is (which
    drives the learning-rate schedule) and why it stops.
  * `StopFlag`: Ctrl-C / SIGTERM asks the loop to stop after the current step.
"""

from __future__ import annotations

import signal
from dataclasses import asdict, dataclass, fields


@dataclass
class TrainState:
    """The loop's counters; `to_saved` is the content of last/trainer.json."""

    step: int = 0  # training steps taken
    elapsed: float = 0.0  # seconds of training, summed over resumes
    best_bpc: float | None = None  # the best validation bpc so far (None: no validation yet)
    bad_evals: int = 0  # validations since the best one, for --patience
    chars: int = 0  # tokens trained on (characters, for the char tokenizer)
    lr_scale: float = 1.0  # halved by each NaN rollback
    nan_retries: int = 0  # NaN rollbacks so far

    @classmethod
    def from_saved(cls, saved: dict) -> TrainState:
        """From trainer.json (its "data" and "config" are read by their owners; a key an older
        checkpoint lacks keeps its default)."""
        names = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in saved.items() if key in names})

    def to_saved(self, data: dict, settings: dict) -> dict:
        """trainer.json: these counters, the batcher's cursor/RNG state and the run's settings."""
        return {**asdict(self), "data": data, "config": settings}


@dataclass(frozen=True)
class Budgets:
    """When a run stops: the first budget reached, or --patience validations without a better
    one. None (or patience 0): no such limit."""

    max_steps: int | None
    max_seconds: float | None
    max_epochs: float | None
    patience: int = 0

    @classmethod
    def of(cls, config) -> Budgets:
        """The budgets of a TrainConfig (the default step budget when it names none)."""
        return cls(*config.budgets(), patience=config.patience)

    def progress(self, state: TrainState, epochs_done: float) -> float:
        """How far the run is, 0..1: the furthest of its budgets (the schedule follows it)."""
        fractions = [0.0]
        if self.max_steps:
            fractions.append(state.step / self.max_steps)
        if self.max_seconds:
            fractions.append(state.elapsed / self.max_seconds)
        if self.max_epochs:
            fractions.append(epochs_done / self.max_epochs)
        return max(fractions)

    def reached(self, state: TrainState, epochs_done: float) -> str | None:
        """Why the run is complete ("reached --max-steps 60"), None while it is not."""
        if self.max_steps and state.step >= self.max_steps:
            return f"reached --max-steps {self.max_steps}"
        if self.max_seconds and state.elapsed >= self.max_seconds:
            return f"reached the time budget of {self.max_seconds / 60:g} minutes"
        if self.max_epochs and epochs_done >= self.max_epochs:
            return f"reached --epochs {self.max_epochs:g}"
        return None

    def out_of_patience(self, state: TrainState) -> str | None:
        """Why the run stops early (after a validation), None while it has patience left."""
        if self.patience and state.bad_evals >= self.patience:
            return f"early stopping: no improvement in {self.patience} validations"
        return None


class StopFlag:
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
