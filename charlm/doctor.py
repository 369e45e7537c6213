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

    if FolderLock(folder).is_held_elsewhere():
        found.append(Finding("note", f"being trained now (pid {FolderLock(folder).holder()}); "
                             "checkpoints may change while this runs"))
    stale = [p for unit in (".", ckpt.BEST, ckpt.LAST, ckpt.TOKENIZER)
             for p in leftovers(folder / unit)]
    for path in stale:
        found.append(Finding("note", f"{path} was left by an interrupted write",
                             f"harmless: the next charlm train --resume {folder} removes it "
                             "(or delete it)"))

    # --- the description: config.json, tokenizer/ (one manifest) -----------------------------
    described = _check_unit(found, folder, "config.json and tokenizer/" if not export else
                            "the export's files",
                            "restore the damaged file from a backup or from an export of this "
                            "run; without a good config.json and tokenizer nothing can load")
    try:
        config = json.loads((folder / ckpt.CONFIG).read_text(encoding="utf-8"))
        from charlm.model.model import build_model, spec_from_saved

        spec = spec_from_saved(config["model"])
        from charlm.data.tokenizers import load_tokenizer

        tokenizer = load_tokenizer(folder / ckpt.TOKENIZER)
        if tokenizer.vocab_size != spec.get("vocab_size"):
            raise UserError(f"the tokenizer has {tokenizer.vocab_size} tokens, the model "
                            f"{spec.get('vocab_size')}")
        model = build_model(**spec)
        found.append(Finding("ok", f"config.json: {spec['cell']} {spec['layers']}×"
                             f"{spec['units']}, {tokenizer.kind} tokenizer with "
                             f"{tokenizer.vocab_size} tokens"))
    except Exception as e:  # any way the description can be unreadable
        found.append(Finding("problem", f"config.json or tokenizer/ cannot be read "
                             f"({_first_line(e)})", "restore them from a backup; nothing can "
                             "load without them"))
        return report

    if export:
        try:
            ckpt.load_exported_weights(model, folder / ckpt.EXPORT_MODEL)
            found.append(Finding("ok", f"{ckpt.EXPORT_MODEL} loads (Keras safe mode)"))
            report["can_generate"] = described
        except UserError as e:
            found.append(Finding("problem", str(e), "export the checkpoint again"))
        return report

    # --- best/ and last/ ------------------------------------------------------------------------
    units = {}
    for unit in (ckpt.BEST, ckpt.LAST):
        path = readable_dir(folder / unit)
        if not (path / ckpt.WEIGHTS).is_file():
            units[unit] = None
            found.append(Finding("note", f"{unit}/ has no weights yet"))
            continue
        ok = _check_unit(found, path, f"{unit}/", "")
        if ok:
            try:
                ckpt.load_weights(model, path / ckpt.WEIGHTS)
                if unit == ckpt.LAST:
                    _check_training_state(path, model)
            except (UserError, ValueError, OSError, KeyError) as e:
                found.append(Finding("problem", f"{unit}/ cannot be loaded ({_first_line(e)})"))
                ok = False
        if ok:
            found.append(Finding("ok", f"{unit}/ loads{_describe(path, unit)}"))
        units[unit] = ok
    best, last = units[ckpt.BEST], units[ckpt.LAST]
    report["can_generate"] = described and bool(best or last)
    report["can_resume"] = described and bool(last)
    _advise(found, folder, best, last)
    return report


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


def _check_training_state(last: Path, model) -> None:
    """last/ has everything --resume needs, and its arrays fit the model."""
    missing = [n for n in ckpt.LAST_FILES if not (last / n).is_file()]
    if missing:
        raise UserError(f"missing {', '.join(missing)}")
    json.loads((last / ckpt.TRAINER_STATE).read_text(encoding="utf-8"))
    arrays = ckpt.load_arrays(last / "variables.npz")
    if len(arrays) != len(model.variables) or any(
            tuple(v.shape) != a.shape for v, a in zip(model.variables, arrays)):
        raise UserError("variables.npz does not fit the model in config.json")
    for name in ("optimizer.npz", "states.npz"):
        ckpt.load_arrays(last / name)


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
                             f"read last/, and charlm train --resume {folder} writes a new best/ "
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
