"""A run folder's life: one writer at a time, what a killed run left behind, and where to start.

Imports nothing heavy, so `charlm train` refuses a second writer, a bad flag or a bad corpus in a
fraction of a second, before Keras loads.

    fresh     the --out folder is new (or empty)
    restart   the run stopped before its first checkpoint (only config.json, tokenizer/, logs):
              it starts again from step 0, with its saved settings when resumed
    continue  --resume of a run with a checkpoint in last/
"""

from __future__ import annotations

import contextlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from charlm import checkpoint as ckpt
from charlm import integrity
from charlm.config import FROZEN_ON_RESUME, TrainConfig
from charlm.errors import UserError
from charlm.fileio import FolderLock, readable_dir, remove_leftovers

# What a run writes before its first checkpoint: a folder holding only these can start over.
BEFORE_FIRST_CHECKPOINT = (ckpt.CONFIG, ckpt.MANIFEST, ckpt.TOKENIZER, ckpt.METRICS, ckpt.SAMPLES,
                           ckpt.TENSORBOARD)


def read_trainer_state(folder: Path) -> dict | None:
    """last/trainer.json (step, data cursor, the run's settings), None when there is none."""
    path = readable_dir(Path(folder) / ckpt.LAST) / ckpt.TRAINER_STATE
    if path.is_file():
        integrity.verify(path.parent)  # "corrupt: FILE", like every other file of the run
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError):
        raise UserError(f"corrupt: {path}; run charlm doctor {folder} to see what still works")


def prepare_resume(folder: str, overrides: dict) -> TrainConfig:
    """The settings a resumed run continues with: those of its last checkpoint (which include
    flags changed by earlier resumes, e.g. a larger --max-steps), then `overrides`."""
    saved = ckpt.read_config(Path(folder))
    state = read_trainer_state(folder) or {}
    config = TrainConfig.from_dict(state.get("config") or saved["train"])
    for key, value in overrides.items():
        if key in FROZEN_ON_RESUME and value != getattr(config, key):
            raise UserError(f"--{key.replace('_', '-')} cannot change when resuming (the run used "
                            f"{getattr(config, key)!r}); drop the flag or start a new --out")
        setattr(config, key, value)
    config.out = str(folder)
    return config.check()


@dataclass
class RunFolder:
    """What `open_run` found and did: where to start, and what killed writes left (removed)."""

    path: Path
    start: str  # "fresh", "restart" or "continue"
    removed: list[str] = field(default_factory=list)
    created: bool = False  # the folder did not exist before this run


def _entries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name != FolderLock.NAME] if folder.is_dir() else []


def _decide(folder: Path, resume: bool) -> str:
    has_state = ckpt.has_training_state(folder)
    has_best = ckpt.has_weights(folder, ckpt.BEST)
    if resume:
        if has_state:
            return "continue"
        if has_best:
            raise UserError(f"{folder} has weights in best/ but no training state in last/, so it "
                            "cannot be resumed (generate, eval and probe still work); start a new "
                            f"--out to train again, or see charlm doctor {folder}")
        return "restart"
    entries = _entries(folder)
    if not entries:
        return "fresh"
    if not has_state and not has_best and all(p.name in BEFORE_FIRST_CHECKPOINT for p in entries):
        return "restart"
    raise UserError(f"output folder {folder} already exists and is not empty; pass --resume "
                    f"{folder} to continue that run, or choose another --out")


@contextlib.contextmanager
def open_run(folder: Path, resume: bool):
    """Hold the folder's lock for the whole run (refusing a second writer at once), finish or
    remove what killed writes left, and decide where to start. Yields a RunFolder."""
    folder = Path(folder)
    if not resume and _entries(folder) and not (folder / ckpt.CONFIG).exists():
        _decide(folder, resume)  # someone else's folder: refuse before writing a lock file in it
    created = not folder.exists()
    lock = FolderLock(folder)
    if not lock.acquire():
        raise UserError(f"{folder} is being trained by another process (pid {lock.holder()}); wait "
                        f"for it to finish, or stop it and then resume with --resume {folder}")
    try:
        removed = remove_leftovers(folder)
        for unit in (ckpt.BEST, ckpt.LAST, ckpt.TOKENIZER):
            removed += [f"{unit}/{name}" for name in remove_leftovers(folder / unit)]
        start = _decide(folder, resume)
        if start == "restart":
            for name in BEFORE_FIRST_CHECKPOINT:
                path = folder / name
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
        run = RunFolder(folder, start, removed, created)
        try:
            yield run
        except BaseException:
            if run.created and not _entries(folder):  # failed before writing anything: no trace
                (folder / FolderLock.NAME).unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise
    finally:
        lock.release()
