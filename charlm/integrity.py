"""Manifests: the sha256 of every file charlm writes as one unit, checked before the files are used.

A run folder has three units, each with its own `manifest.json`: the run's description (config.json
and tokenizer/, listed in DIR/manifest.json), best/ and last/. An export has one. A flipped byte, a
truncated file or a missing one is then reported as "corrupt: FILE" before any library parses it.
Folders written before manifests existed have none and are read without the check.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from charlm.errors import UserError
from charlm.fileio import atomic_write_json

MANIFEST = "manifest.json"


def hash_file(digest, path: Path) -> None:
    """Feed the file's bytes to `digest` (a hashlib object) 1 MB at a time: memory stays flat
    for a corpus of any size."""
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    hash_file(digest, path)
    return digest.hexdigest()


def write_manifest(folder: Path, names: list[str] | None = None) -> None:
    """List `names` (paths relative to `folder`; a folder stands for every file in it) or, by
    default, every file under `folder`, with their sha256, in folder/manifest.json."""
    folder = Path(folder)
    paths = []
    for name in names if names is not None else ["."]:
        path = folder / name
        paths += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    files = {str(p.relative_to(folder)): file_sha256(p) for p in paths
             if p.name != MANIFEST and not p.name.startswith(".")}
    atomic_write_json(folder / MANIFEST, {"sha256": files})


def read_manifest(folder: Path) -> dict | None:
    """{relative path: sha256}, or None when the folder has no manifest (an older charlm)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["sha256"]
        if not isinstance(files, dict):
            raise TypeError
        return files
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise UserError(f"corrupt: {path} (not a charlm manifest); run charlm doctor "
                        f"{_run_folder(folder)} to see what still works")


def problems(folder: Path) -> list[str]:
    """What does not match folder/manifest.json: one text per bad file ([] if all match or there
    is no manifest)."""
    folder = Path(folder)
    files = read_manifest(folder)
    found = []
    for name, expected in (files or {}).items():
        path = folder / name
        if not path.is_file():
            found.append(f"{path} is missing")
        elif file_sha256(path) != expected:
            found.append(f"{path} (its sha256 differs from {folder / MANIFEST})")
    return found


def verify(folder: Path) -> bool:
    """Raise "corrupt: FILE" when a file listed in folder/manifest.json is missing or changed.
    → whether a manifest was there to check."""
    bad = problems(folder)
    if bad:
        raise UserError(f"corrupt: {bad[0]}; run charlm doctor {_run_folder(folder)} to see what "
                        "still works and how to recover")
    return (Path(folder) / MANIFEST).is_file()


def _run_folder(folder: Path) -> Path:
    folder = Path(folder)
    return folder.parent if folder.name in ("best", "last", "best.old", "last.old") else folder
