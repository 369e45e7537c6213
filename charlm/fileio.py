"""Atomic writes: a reader (or a resumed run after a crash) sees the old file or the new one, never
half of one. Files go to a temporary name in the same folder, are fsynced, then renamed; folders are
swapped with two renames and recovered on read (`recover_dir`)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from charlm.faults import kill_point


def atomic_write(path: Path, data: bytes | str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def swap_in_dir(staged: Path, final: Path) -> None:
    """Replace folder `final` by the fully written folder `staged`.

    A crash between the two renames leaves `final.old` (complete) and no `final`;
    `recover_dir` puts it back. `staged` must be complete and fsynced before this is called.
    """
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
        kill_point("checkpoint-swap")
    os.replace(staged, final)
    shutil.rmtree(old, ignore_errors=True)


def recover_dir(final: Path) -> Path:
    old = final.with_name(final.name + ".old")
    if not final.exists() and old.exists():
        os.replace(old, final)
    return final


def fsync_tree(folder: Path) -> None:
    for path in Path(folder).rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())


def readable_dir(final: Path) -> Path:
    """The folder a reader should use: `final`, or `final.old` while a writer is between its two
    renames. Readers never rename anything (only the process holding the run's lock does)."""
    old = final.with_name(final.name + ".old")
    return old if not final.exists() and old.is_dir() else final


def leftovers(folder: Path) -> list[Path]:
    """What a write killed half-way leaves in `folder`: staging folders (`.NAME.XXXX`), `NAME.old`
    beside a complete NAME, and temporary files of `atomic_write` (`.NAME.PID.tmp`)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        name = path.name
        if name.startswith(".") and (name.endswith(".tmp") or path.is_dir()):
            found.append(path)
        elif name.endswith(".old") and path.with_name(name[:-4]).exists():
            found.append(path)
    for sub in folder.iterdir():  # atomic_write temp files one level down (tokenizer/, best/)
        if sub.is_dir() and not sub.name.startswith("."):
            found += [p for p in sub.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]
    return sorted(found)


def remove_leftovers(folder: Path) -> list[str]:
    """Finish or undo what killed writes left (call it only while holding the folder's lock):
    put back a `NAME.old` whose NAME is missing, delete the rest. → the names removed."""
    folder = Path(folder)
    if folder.is_dir():
        for old in folder.glob("*.old"):
            recover_dir(old.with_name(old.name[:-4]))
    removed = []
    for path in leftovers(folder):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(str(path.relative_to(folder)))
    return removed


class FolderLock:
    """An exclusive OS lock on `folder/.lock` (flock), held while a process writes the folder.

    The kernel releases it when the process exits or is killed, so a SIGKILL leaves no stale lock.
    The file itself stays (deleting it would let two processes lock two different files).
    `FolderLock(folder).acquire()` returns False when another process holds it.
    """

    NAME = ".lock"

    def __init__(self, folder: Path):
        self.path = Path(folder) / self.NAME
        self._file = None

    def acquire(self) -> bool:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock (documented in docs/training.md)
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            file.close()
            return False
        file.seek(0)
        file.truncate()
        file.write(f"{os.getpid()}\n")
        file.flush()
        self._file = file
        return True

    def holder(self) -> str:
        """The pid written by the process holding the lock ('?' if unknown)."""
        try:
            return self.path.read_text(encoding="utf-8").strip() or "?"
        except OSError:
            return "?"

    def is_held_elsewhere(self) -> bool:
        if self._file is not None or not self.path.exists():
            return False
        probe = FolderLock(self.path.parent)
        if probe.acquire():
            probe.release()
            return False
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file releases the flock
            self._file = None
