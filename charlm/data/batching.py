"""Token ids → teacher-forced batches: inputs x[b, t] and targets y[b, t] = x[b, t + 1].

Two ways to cut windows from the (memory-mapped) id array:

- `StreamBatcher` (truncated BPTT, the char-rnn/torch-rnn way): the training ids are split into
  `batch_size` contiguous streams; step k reads window k of every stream, so row b of one batch
  continues row b of the previous one and the trainer carries the LSTM state across windows.
  Every character is seen once per epoch and the model learns context longer than `seq_len`.
- `RandomWindowBatcher`: independent windows at random offsets; the state starts from zero.

Both read only the windows they need (`_windows`), so corpora larger than memory stream from
disk and memory stays flat as the corpus grows, and both have a small `state_dict()` (the data
cursor / RNG state) saved in checkpoints for exact resume.
"""

from __future__ import annotations

import numpy as np

from charlm.data.id_cache import release_pages
from charlm.errors import UserError


def split_tail(ids: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Train = the leading (1 - val_fraction) of the ids, validation = the contiguous tail."""
    n_train = int(len(ids) * (1.0 - val_fraction))
    return ids[:n_train], ids[n_train:]


def _windows(ids: np.ndarray, offsets, length: int, release: bool) -> np.ndarray:
    """[len(offsets), length] int32: ids[o:o + length] for each offset, copied out of `ids`.
    With `release`, the pages of a memory-mapped `ids` are then handed back (`release_pages`):
    a batcher holds the pages of its last few batches, never all it has read so far."""
    window = np.stack([ids[o:o + length] for o in offsets]).astype(np.int32)
    if release:
        release_pages(ids)
    return window


class StreamBatcher:
    kind = "stream"
    carries_state = True
    # Each row reads on where it stopped, so 64 windows add only a few KB per row; handing
    # pages back after every batch would make every row fault its page in again each step.
    release_every = 64

    def __init__(self, ids: np.ndarray, batch_size: int, seq_len: int, seed: int = 0,
                 reset_every: int = 0):
        self.ids, self.batch_size, self.seq_len = ids, batch_size, seq_len
        # Rows start from a zero state every `reset_every` windows, staggered across rows, so the
        # model also learns to read from a fresh state (as eval and generation do); without it
        # the carried cell state drifts into a regime a fresh state never reaches.
        self.reset_every = reset_every
        # Each stream needs seq_len + 1 ids per window (inputs plus the shifted targets).
        self.stream_len = (len(ids) - 1) // batch_size
        self.steps_per_epoch = self.stream_len // seq_len
        if self.steps_per_epoch < 1:
            raise UserError(
                f"the training text has {len(ids)} tokens, too short for {batch_size} streams of "
                f"--seq-len {seq_len}; use a longer text or lower --batch-size / --seq-len")
        self.starts = np.arange(batch_size, dtype=np.int64) * self.stream_len
        self.epoch, self.position = 0, 0

    def next_batch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x [B, T] int32, y [B, T] int32, reset [B] bool): rows to start from a zero state."""
        rows = np.arange(self.batch_size)
        reset = np.full(self.batch_size, self.position == 0)  # a new epoch restarts every stream
        if self.reset_every:
            reset |= (self.position + rows) % self.reset_every == 0
        offsets = self.starts + self.position * self.seq_len
        window = _windows(self.ids, offsets, self.seq_len + 1,
                          release=self.position % self.release_every == 0)
        self.position += 1
        if self.position == self.steps_per_epoch:
            self.epoch, self.position = self.epoch + 1, 0
        return window[:, :-1], window[:, 1:], reset

    @property
    def epochs_done(self) -> float:
        return self.epoch + self.position / self.steps_per_epoch

    def state_dict(self) -> dict:
        return {"kind": self.kind, "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])


class RandomWindowBatcher:
    kind = "random"
    carries_state = False

    def __init__(self, ids: np.ndarray, batch_size: int, seq_len: int, seed: int = 0):
        self.ids, self.batch_size, self.seq_len = ids, batch_size, seq_len
        if len(ids) < seq_len + 1:
            raise UserError(f"the training text has {len(ids)} tokens, fewer than one sequence "
                            f"(--seq-len {seq_len} + 1); use a longer text or a smaller --seq-len")
        self.steps_per_epoch = max(1, (len(ids) - 1) // (batch_size * seq_len))
        self.rng = np.random.default_rng(seed)
        self.steps = 0

    def next_batch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        offsets = self.rng.integers(0, len(self.ids) - self.seq_len, size=self.batch_size)
        # Every window lands on pages of its own: hand them back after each batch.
        window = _windows(self.ids, offsets, self.seq_len + 1, release=True)
        self.steps += 1
        return window[:, :-1], window[:, 1:], np.ones(self.batch_size, bool)

    @property
    def epochs_done(self) -> float:
        return self.steps / self.steps_per_epoch

    def state_dict(self) -> dict:
        return {"kind": self.kind, "steps": self.steps, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["steps"])
        self.rng.bit_generator.state = state["rng"]


def make_batcher(kind: str, ids: np.ndarray, batch_size: int, seq_len: int, seed: int,
                 reset_every: int = 0):
    if kind == "stream":
        return StreamBatcher(ids, batch_size, seq_len, seed, reset_every)
    return RandomWindowBatcher(ids, batch_size, seq_len, seed)
