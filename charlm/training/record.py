"""Where a run reports: metrics.jsonl and TensorBoard (the chief only), and the progress bar."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np

from charlm import backend
from charlm import checkpoint as ckpt


class Recorder:
    """One metrics row per call, in metrics.jsonl and TensorBoard; the tqdm progress bar. A
    worker that is not the chief writes its rows to /dev/null."""

    def __init__(self, out: Path, chief: bool):
        self.metrics = ckpt.open_metrics(out) if chief else open(os.devnull, "w")
        self.writer = _tensorboard_writer(ckpt.tensorboard_dir(out)) if chief else None
        self.bar = None

    def start_bar(self, total: int | None, step: int, quiet: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=step, unit="step", dynamic_ncols=True,
                        disable=quiet, desc="train")

    def row(self, kind: str, step: int, epoch: float, elapsed: float, **values) -> None:
        """{"kind", "step", "epoch", "elapsed", **values}; the numbers also go to TensorBoard
        as KIND/NAME."""
        row = {"kind": kind, "step": step, "epoch": round(epoch, 4), "elapsed": round(elapsed, 2),
               **values}
        self.metrics.write(json.dumps(row) + "\n")
        self.metrics.flush()
        if self.writer is not None:
            with self.writer.as_default(step=step):
                import tensorflow as tf

                for k, v in values.items():
                    if isinstance(v, (int, float)):
                        tf.summary.scalar(f"{kind}/{k}", v)

    def show(self, mean_loss: float, speed: float) -> None:
        self.bar.set_postfix(loss=f"{mean_loss:.3f}", bpc=f"{mean_loss / math.log(2):.3f}",
                             chars_s=f"{speed:,.0f}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.metrics.close()
        if self.writer is not None:
            self.writer.close()


class LossWindow:
    """The steps since the last "train" row: their losses (tensors, read once per row, so a step
    never waits for the previous one) and how many tokens they trained on."""

    def __init__(self):
        self.losses, self.chars, self.start = [], 0, time.perf_counter()

    def add(self, loss, chars: int) -> None:
        self.losses.append(loss)
        self.chars += chars

    def mean_loss(self) -> float:
        return float(np.mean([float(v) for v in self.losses]))

    def speed(self) -> float:
        """Tokens per second since the window opened."""
        return self.chars / max(time.perf_counter() - self.start, 1e-9)


def _tensorboard_writer(folder: Path):
    if backend.name() != "tensorflow":
        return None
    import tensorflow as tf

    return tf.summary.create_file_writer(str(folder))
