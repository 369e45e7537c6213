"""`charlm doctor DIR`: is this checkpoint (or export) whole, what still works, how to recover.

Every check reads; nothing is changed. A finding is ("ok" | "note" | "problem", what, fix). The
verdict says which uses still work: generate/eval/probe (a loadable best/ or last/ with a good
config and tokenizer) and --resume (a loadable last/).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from charlm import checkpoint as ckpt
from charlm import integrity
from charlm.errors import UserError
from charlm.fileio import FolderLock, leftovers, readable_dir


@dataclass
class Finding:
    status: str  # "ok", "note" or "problem"
    what: str
    fix: str = ""


def _first_line(e: Exception) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text[:160]}" if not isinstance(e, UserError) else text


def examine(folder) -> dict:
    """→ {"folder", "kind" (run/export), "findings": [Finding], "can_generate", "can_resume"}."""
    folder = Path(folder)
    found: list[Finding] = []
    report = {"folder": str(folder), "kind": None, "findings": found, "can_generate": False,
              "can_resume": False}
    if not folder.is_dir():
        found.append(Finding("problem", f"{folder} does not exist",
                             "pass the --out folder of a training run or an export"))
        return report
    export = ckpt.is_export(folder)
    report["kind"] = "export" if export else "run"
    _check_activity(found, folder)
    described, model = _check_description(found, folder, export)
    if model is None:
        return report
    if export:
        report["can_generate"] = described and _check_export(found, folder, model)
        return report
    best, last = (_check_saved(found, folder, unit, model) for unit in (ckpt.BEST, ckpt.LAST))
    report["can_generate"] = described and bool(best or last)
    report["can_resume"] = described and bool(last)
    _advise(found, folder, best, last)
    return report


def _check_activity(found: list, folder: Path) -> None:
    """A trainer holding the folder now, and what interrupted writes left behind."""
    if FolderLock(folder).is_held_elsewhere():
        found.append(Finding("note", f"being trained now (pid {FolderLock(folder).holder()}); "
                             "checkpoints may change while this runs"))
    stale = [p for unit in (".", ckpt.BEST, ckpt.LAST, ckpt.TOKENIZER)
             for p in leftovers(folder / unit)]
    for path in stale:
        found.append(Finding("note", f"{path} was left by an interrupted write",
                             f"harmless: the next {ckpt.resume_command(folder)} removes it "
                             "(or delete it)"))


def _check_description(found: list, folder: Path, export: bool) -> tuple:
    """config.json and tokenizer/ (one manifest) → (manifest intact, the described model or None
    when nothing can load), with the same checks as checkpoint.load."""
    described = _check_unit(found, folder, "config.json and tokenizer/" if not export else
                            "the export's files",
                            "restore the damaged file from a backup or from an export of this "
                            "run; without a good config.json and tokenizer nothing can load")
    try:
        config = ckpt.read_config(folder, verify=False)  # _check_unit reported the manifest
        model, tokenizer, spec = ckpt.build_described(folder, config)
    except Exception as e:  # any way the description can be unreadable
        found.append(Finding("problem", f"config.json or tokenizer/ cannot be read "
                             f"({_first_line(e)})", "restore them from a backup; nothing can "
                             "load without them"))
        return described, None
    found.append(Finding("ok", f"config.json: {spec['cell']} {spec['layers']}×"
                         f"{spec['units']}, {tokenizer.kind} tokenizer with "
                         f"{tokenizer.vocab_size} tokens"))
    return described, model


def _check_export(found: list, folder: Path, model) -> bool:
    try:
        ckpt.load_exported_weights(model, folder / ckpt.EXPORT_MODEL)
    except UserError as e:
        found.append(Finding("problem", str(e), "export the checkpoint again"))
        return False
    found.append(Finding("ok", f"{ckpt.EXPORT_MODEL} loads (Keras safe mode)"))
    return True


def _check_saved(found: list, folder: Path, unit: str, model):
    """best/ or last/ → None (no weights yet), False (damaged) or True (loads; for last/, with
    everything --resume needs)."""
    path = readable_dir(folder / unit)
    if not (path / ckpt.WEIGHTS).is_file():
        found.append(Finding("note", f"{unit}/ has no weights yet"))
        return None
    if not _check_unit(found, path, f"{unit}/", ""):
        return False
    try:
        ckpt.load_weights(model, path / ckpt.WEIGHTS)
        if unit == ckpt.LAST:
            ckpt.read_training_state(path, model)
    except UserError as e:
        found.append(Finding("problem", f"{unit}/ cannot be loaded ({_first_line(e)})"))
        return False
    found.append(Finding("ok", f"{unit}/ loads{_describe(path, unit)}"))
    return True


def _check_unit(found: list, path: Path, name: str, fix: str) -> bool:
    """The unit's manifest: every listed file present and unchanged."""
    try:
        bad = integrity.problems(path)
    except UserError as e:
        found.append(Finding("problem", str(e).split(";")[0], fix))
        return False
    for text in bad:
        found.append(Finding("problem", f"corrupt: {text}", fix))
    if not bad and integrity.read_manifest(path) is None:
        found.append(Finding("note", f"{name}: no manifest (written by an older charlm), so its "
                             "files cannot be checked against their sha256"))
    return not bad


def _describe(path: Path, unit: str) -> str:
    try:
        if unit == ckpt.LAST:
            state = json.loads((path / ckpt.TRAINER_STATE).read_text(encoding="utf-8"))
            return f" (step {state['step']}, resumable)"
        info = json.loads((path / "info.json").read_text(encoding="utf-8"))
        return f" (step {info['step']}, val {info['val_bpc']:.4f} bpc)"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def _advise(found: list, folder: Path, best, last) -> None:
    if best is False and last:
        found.append(Finding("problem", "best/ is damaged; last/ is fine",
                             f"remove best/ (rm -r {folder}/best): generate, eval and probe then "
                             f"read last/, and {ckpt.resume_command(folder)} writes a new best/ "
                             "at its next validation"))
    elif last is False and best:
        found.append(Finding("problem", "last/ is damaged; best/ is fine",
                             "generate, eval and probe read best/ and still work; training cannot "
                             f"resume from last/: restore {folder}/last from a backup, or train a "
                             "new run with --out"))
    elif best is False and last is False:
        found.append(Finding("problem", "both best/ and last/ are damaged",
                             "restore them from a backup or train again"))


def render(report: dict) -> str:
    lines = [f"{report['folder']} ({report['kind'] or 'missing'})"]
    for f in report["findings"]:
        lines.append(f"  {f.status:<8}{f.what}")
        if f.fix:
            lines.append(f"  {'':<8}→ {f.fix}")
    uses = [u for u, ok in (("generate/eval/probe", report["can_generate"]),
                            ("--resume", report["can_resume"] and report["kind"] == "run")) if ok]
    lines.append(f"usable for: {', '.join(uses) if uses else 'nothing until repaired'}")
    return "\n".join(lines)


def to_json(report: dict) -> str:
    return json.dumps({**report, "findings": [asdict(f) for f in report["findings"]]})
