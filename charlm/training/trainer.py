"""`train()`: check everything cheap first, take the run folder's lock, then run the loop.

The order matters to users: a bad flag, a bad corpus or a second writer on the same folder is
refused in a fraction of a second, before Keras loads (charlm/training/loop.py imports it).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from charlm.config import TrainConfig
from charlm.data.corpus import resolve_corpus
from charlm.errors import UserError
from charlm.training.runs import open_run, prepare_resume  # noqa: F401  (re-exported)
from charlm.training.schedule import learning_rate  # noqa: F401  (re-exported)


def _default_out(corpus_name: str) -> Path:
    return Path("checkpoints") / f"{corpus_name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def train(config: TrainConfig, resume: bool = False, quiet: bool = False,
          stop_after_steps: int | None = None) -> Path:
    """Train (or resume) a run → its folder. `stop_after_steps` stops as an interrupt would
    (for tests and fault harnesses). Raises UserError (bad input), TrainingFailed (the run could
    not go on; its last checkpoint is intact) or Interrupted (Ctrl-C/SIGTERM, after a checkpoint).
    """
    from tqdm import tqdm

    config.check()
    log = (lambda *a: None) if quiet else (lambda *a: tqdm.write(" ".join(map(str, a))))
    corpus = resolve_corpus(config.corpus).check_head()
    if config.val_corpus:
        resolve_corpus(config.val_corpus).check_head()
    out = Path(config.out) if config.out else _default_out(corpus.name)
    if config.distribute == "multiworker":
        from charlm.training.distribute import is_chief_worker

        if not config.out:
            raise UserError("--distribute multiworker needs --out: every worker must name the "
                            "chief's run folder")
        if not is_chief_worker():  # not the chief: it writes nothing, so it takes no lock
            from charlm.training.loop import run_training

            return run_training(config, corpus, out, resume=resume, log=log, quiet=True,
                                stop_after_steps=stop_after_steps)
    with open_run(out, resume) as run:
        for name in run.removed:
            log(f"removed {out / name}, left by a checkpoint write that was interrupted")
        if run.start == "restart":
            log(f"{out} stopped before its first checkpoint; starting it again from step 0"
                + (" with its saved settings" if resume else ""))
        from charlm.training.loop import run_training  # imports Keras

        return run_training(config, corpus, out, resume=run.start == "continue", log=log,
                            quiet=quiet, stop_after_steps=stop_after_steps)
