"""Checkpoint and export folders: every file name, atomic writes, and the one `load()`.

A training run (`charlm train --out DIR`):

    DIR/config.json            every setting, model spec, tokenizer, corpus hash, library versions
    DIR/tokenizer/             tokenizer assets (vocab.json, tokenizer.model for sentencepiece)
    DIR/best/model.weights.h5  weights with the best validation bpc (what generate/eval use)
    DIR/last/                  full training state for --resume:
        model.weights.h5       weights (Keras format, for other tools)
        variables.npz          every model variable, dropout seed states included
        optimizer.npz          every optimizer variable (step count, lr, Adam moments)
        states.npz             the recurrent state carried into the next window
        trainer.json           step, elapsed time, data cursor / RNG state, best bpc, patience
    DIR/metrics.jsonl          one JSON object per log line; DIR/samples.txt; DIR/tb/ TensorBoard

An export (`charlm export --out OUT`): OUT/config.json (with an "export" section), OUT/tokenizer/,
OUT/model.keras (stock Keras layers for lstm/gru/rnn: plain `keras.saving.load_model` reads
it; peephole/cifg need `import charlm.model.cells` first) and
OUT/saved_model/ (a TensorFlow SavedModel that generates).

`load(folder)` reads either kind. `best/` and `last/` are staged in a temporary folder and swapped
in with renames, so a crash at any moment leaves the previous complete checkpoint. Weights are
HDF5 or `.keras`, loaded with safe_mode, and arrays are .npz read with allow_pickle=False:
loading never runs code from the folder.
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from charlm import integrity
from charlm.errors import UserError
from charlm.faults import kill_point
from charlm.fileio import atomic_write, atomic_write_json, fsync_tree, readable_dir, swap_in_dir

CONFIG = "config.json"
TOKENIZER = "tokenizer"
BEST, LAST = "best", "last"
WEIGHTS = "model.weights.h5"
METRICS = "metrics.jsonl"
SAMPLES = "samples.txt"
TENSORBOARD = "tb"
EXPORT_MODEL = "model.keras"
SAVED_MODEL = "saved_model"
FORMAT = "charlm-checkpoint/1"
MANIFEST = integrity.MANIFEST
TRAINER_STATE = "trainer.json"
LAST_FILES = (WEIGHTS, "variables.npz", "optimizer.npz", "states.npz", TRAINER_STATE)


def resume_command(folder) -> str:
    """The command that continues the run in `folder` (every hint that says how to resume)."""
    return f"charlm train --resume {folder}"


def library_versions() -> dict:
    """Versions for config.json. A library not imported yet is read from its installed metadata,
    not imported: importing TensorFlow on JAX (or JAX on TensorFlow) costs seconds."""
    from importlib import metadata

    import keras

    versions = {"python": platform.python_version(), "keras": keras.__version__,
                "numpy": np.__version__, "backend": keras.backend.backend()}
    for name in ("tensorflow", "sentencepiece", "jax"):
        if name in sys.modules:
            versions[name] = sys.modules[name].__version__
            continue
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def read_config(folder: Path, verify: bool = True) -> dict:
    """DIR/config.json, after checking it and tokenizer/ against DIR/manifest.json (`verify`;
    charlm doctor checks the manifest itself, to report every bad file)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"checkpoint folder {folder} does not exist; pass the --out folder of a "
                        "training run")
    if verify:
        integrity.verify(folder)
    try:
        return json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{folder} has no {CONFIG}, so it is not a charlm checkpoint; pass the "
                        "--out folder of a training run")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{folder}/{CONFIG} is corrupt ({e}); restore it or retrain")


def write_config(folder: Path, config: dict) -> None:
    atomic_write_json(Path(folder) / CONFIG, config)


def write_run_config(folder: Path, train, model: dict, tokenizer, corpus, corpus_sha256: str,
                     tokens: int) -> None:
    """A fresh run's config.json: its settings (a TrainConfig), the model spec, the tokenizer's
    kind and size, the corpus (name, hash, token count, files), library versions and the time.
    A resume compares the corpus hash; `load` builds the model from the spec."""
    write_config(folder, {
        "format": FORMAT, "train": train.to_dict(), "model": model,
        "tokenizer": {"kind": tokenizer.kind, "vocab_size": tokenizer.vocab_size},
        "corpus": {"name": corpus.name, "sha256": corpus_sha256, "tokens": int(tokens),
                   "paths": [str(p) for p in corpus.paths]},
        "versions": library_versions(), "created": datetime.now().isoformat()})


def seal(folder: Path) -> None:
    """Write DIR/manifest.json for config.json and tokenizer/ (after both are written)."""
    integrity.write_manifest(folder, [CONFIG, TOKENIZER])


def seal_export(folder: Path) -> None:
    """An export folder's manifest lists every file in it."""
    integrity.write_manifest(folder)


def has_training_state(folder: Path) -> bool:
    return (readable_dir(Path(folder) / LAST) / TRAINER_STATE).is_file()


def read_metrics(folder: Path) -> list[dict]:
    """Every row of metrics.jsonl (kind "train" or "val"); [] when there is none yet."""
    path = Path(folder) / METRICS
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def truncate_metrics(folder: Path, step: int) -> None:
    """Keep the rows up to `step` (a resumed run replays the steps after its checkpoint)."""
    path = Path(folder) / METRICS
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = []
    for line in lines:
        try:
            if json.loads(line)["step"] > step:
                continue
        except (ValueError, KeyError, TypeError):  # a line cut by a kill: drop it
            continue
        kept.append(line)
    if len(kept) != len(lines):
        atomic_write(path, "".join(kept))


def open_metrics(folder: Path):
    """metrics.jsonl for appending (a resumed run adds to it)."""
    return open(Path(folder) / METRICS, "a", encoding="utf-8")


def append_sample(folder: Path, header: str, text: str) -> None:
    with open(Path(folder) / SAMPLES, "a", encoding="utf-8") as f:
        f.write(f"--- {header}\n{text}\n")


def tensorboard_dir(folder: Path) -> Path:
    return Path(folder) / TENSORBOARD


def has_weights(folder: Path, which: str = "best") -> bool:
    return (readable_dir(Path(folder) / which) / WEIGHTS).is_file()


def is_export(folder) -> bool:
    """A folder written by `charlm export` (model.keras, no best/ or last/)."""
    folder = Path(folder)
    return (folder / EXPORT_MODEL).is_file() and not (folder / BEST).exists() \
        and not (folder / LAST).exists()


def weights_path(folder: Path, which: str = BEST) -> Path:
    """best/ if it exists (or which='last'), else last/; checked against its manifest. A folder
    being swapped in by the trainer right now is read from its complete previous version."""
    folder = Path(folder)
    order = [BEST, LAST] if which == BEST else [LAST]
    for name in order:
        path = readable_dir(folder / name) / WEIGHTS
        if path.is_file():
            integrity.verify(path.parent)
            return path
    raise UserError(f"{folder} has no saved weights yet ({'/'.join(order)}/{WEIGHTS}); "
                    "train longer or pass another checkpoint")


def load_weights(model, path: Path) -> None:
    """model ← the weights file at path, or one UserError line. Keras warns while it reads a
    mismatched file (e.g. "Skipping nested container ...") before it raises; when the load fails,
    those warnings are part of that failure, not lines to print above it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(str(path))
        except Exception as e:  # h5py/Keras raise many types for truncated or mismatched files
            raise UserError(f"could not load weights from {path} ({type(e).__name__}: "
                            f"{str(e).splitlines()[0][:120]}); the checkpoint is corrupt or "
                            "from another model") from None
    for w in caught:  # a load that worked: its warnings as they were
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _stage(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{name}.", dir=folder))


def _arrays(values) -> dict:
    return {f"v{i:04d}": np.asarray(v) for i, v in enumerate(values)}


def save_best(folder: Path, model, info: dict) -> None:
    staged = _stage(folder, "best")
    try:
        model.save_weights(str(staged / WEIGHTS))
        atomic_write_json(staged / "info.json", info)
        integrity.write_manifest(staged)
        fsync_tree(staged)
        swap_in_dir(staged, folder / BEST)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def save_last(folder: Path, model, optimizer, states, trainer_state: dict) -> None:
    staged = _stage(folder, "last")
    try:
        model.save_weights(str(staged / WEIGHTS))
        kill_point("checkpoint-write")
        np.savez(staged / "variables.npz", **_arrays(v.numpy() for v in model.variables))
        np.savez(staged / "optimizer.npz", **_arrays(v.numpy() for v in optimizer.variables))
        np.savez(staged / "states.npz", **_arrays(np.asarray(s) for s in states))
        atomic_write_json(staged / TRAINER_STATE, trainer_state)
        integrity.write_manifest(staged)
        fsync_tree(staged)
        swap_in_dir(staged, folder / LAST)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def load_arrays(path: Path) -> list[np.ndarray]:
    """The arrays of a checkpoint .npz in saved order, never unpickling anything."""
    with np.load(path, allow_pickle=False) as data:
        return [data[k] for k in sorted(data.files)]


def load_last(folder: Path, model, optimizer) -> tuple[list, dict]:
    """Restore model + optimizer variables; return (carried states, trainer state)."""
    last = readable_dir(Path(folder) / LAST)
    integrity.verify(last)
    state = read_training_state(last, model, optimizer)
    for group, arrays in ((model.variables, state.variables),
                          (optimizer.variables, state.optimizer)):
        for variable, value in zip(group, arrays):
            variable.assign(value)
    return state.states, state.trainer


@dataclass
class TrainingState:
    """What last/ holds besides the weights file, read and checked against the model."""

    variables: list  # one array per model variable, in model.variables order
    optimizer: list  # one per optimizer variable
    states: list  # the recurrent state carried into the next window
    trainer: dict  # trainer.json


def read_training_state(last: Path, model, optimizer=None) -> TrainingState:
    """Read last/ (the folder itself, not the run) and check every file --resume needs is there
    and that the arrays fit `model` (and `optimizer`, when given); assigns nothing. A missing or
    unreadable file, or an array of the wrong shape, is one UserError (load_last and charlm
    doctor both check with this)."""
    last = Path(last)
    # model.weights.h5 is for other tools: variables.npz holds every variable
    missing = [name for name in LAST_FILES if name != WEIGHTS and not (last / name).is_file()]
    if missing:
        raise UserError(f"{last.parent} has no complete training state to resume "
                        f"({', '.join(missing)} missing); train it again or resume another folder")
    try:
        state = TrainingState(load_arrays(last / "variables.npz"),
                              load_arrays(last / "optimizer.npz"),
                              load_arrays(last / "states.npz"),
                              json.loads((last / TRAINER_STATE).read_text(encoding="utf-8")))
        _check_fit(model.variables, state.variables, "variables.npz")
        if optimizer is not None:
            _check_fit(optimizer.variables, state.optimizer, "optimizer.npz")
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise UserError(f"the training state in {last} is corrupt ({e}); it cannot be resumed")
    return state


def _check_fit(variables, arrays, name: str) -> None:
    if len(variables) != len(arrays):
        raise ValueError(f"{name} has {len(arrays)} saved arrays for {len(variables)} variables")
    for variable, value in zip(variables, arrays):
        if tuple(variable.shape) != value.shape:
            raise ValueError(f"{name}: shape {value.shape} does not fit {variable.path}")


# --- loading a trained model -----------------------------------------------------------------
@dataclass
class Checkpoint:
    """What `load` returns: the Keras model, its tokenizer, the folder's config.json, the folder."""

    model: object
    tokenizer: object
    config: dict
    path: Path


def load(path, which: str = BEST) -> Checkpoint:
    """A training run's folder (weights from best/, or last/ with which="last") or a folder written
    by `charlm export` (its model.keras) → model, tokenizer and config. The model is always
    charlm's own build (the CPU LSTM kernel where it applies), whatever wrote the folder."""
    path = Path(path)
    config = read_config(path)
    model, tokenizer, _ = build_described(path, config)
    if is_export(path):  # read_config checked all its files: an export has one manifest
        load_exported_weights(model, path / EXPORT_MODEL)
    else:
        load_weights(model, weights_path(path, which))
    return Checkpoint(model, tokenizer, config, path)


def build_described(path: Path, config: dict) -> tuple:
    """The model config.json describes, built with fresh weights, and path/tokenizer, checked to
    fit each other → (model, tokenizer, model spec). (load and charlm doctor both use it.)"""
    from charlm.data.tokenizers import load_tokenizer
    from charlm.model.model import build_model, spec_from_saved

    path = Path(path)
    try:
        spec = spec_from_saved(config["model"])
    except (KeyError, TypeError):
        raise UserError(f"{path}/{CONFIG} has no model section; it is not a charlm checkpoint")
    tokenizer = load_tokenizer(path / TOKENIZER)
    if tokenizer.vocab_size != spec.get("vocab_size"):
        raise UserError(f"{path}: tokenizer has {tokenizer.vocab_size} tokens but the model "
                        f"expects {spec.get('vocab_size')}; the checkpoint is inconsistent")
    try:
        model = build_model(**spec)
    except (TypeError, ValueError, KeyError) as e:
        raise UserError(f"{path}/{CONFIG} describes an invalid model ({e})")
    return model, tokenizer, spec


def load_exported_weights(model, path: Path) -> None:
    import keras


    try:
        saved = keras.saving.load_model(path, compile=False, safe_mode=True)
        model.set_weights(saved.get_weights())
    except Exception as e:  # zip/HDF5/config/shape errors come in many types
        raise UserError(f"could not load {path} ({type(e).__name__}: "
                        f"{str(e).splitlines()[0][:120]}); export the checkpoint again")
