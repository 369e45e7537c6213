"""Every setting of a training run, in one dataclass saved beside the weights.

`TrainConfig` is the single source of truth: the CLI builds one from flags (optionally on top of a
`--config FILE` JSON), the trainer reads it, and the checkpoint stores it as `config.json` so a run
folder describes itself.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from charlm.cell_types import CELLS
from charlm.errors import UserError

TOKENIZERS = ("char", "bpe", "unigram")
BATCHING = ("stream", "random")
PRECISIONS = ("float32", "mixed")  # see charlm/training/distribute.py
DISTRIBUTE = ("none", "mirrored", "multiworker")

# Used only when the user names no budget at all. A step count, not minutes, so that the same
# command gives the same weights on every run (a clock budget stops at a different step each time).
# 2,400 steps train in 190 s on a quiet 2-core Zen 5 (3 min 21 s wall for `python train.py`), and
# each of the four seeds measured carries the subject's number past attractors by then; at 1,600
# and 2,000 steps some construction stayed just under 90% for one seed there
# (benchmarks/RESULTS.md, "What the default model learns").
DEFAULT_STEPS = 2400


@dataclass
class TrainConfig:
    # data
    corpus: str = "agreement"  # a file, a .gz, a directory of .txt, or a registry name
    val_corpus: Optional[str] = None  # separate validation text; else the tail of `corpus`
    val_fraction: float = 0.1
    tokenizer: str = "char"
    vocab_size: int = 2000  # sentencepiece only; the char vocabulary is whatever the corpus has
    # model
    cell: str = "lstm"
    layers: int = 1
    units: int = 384
    embedding_dim: int = 64
    dropout: float = 0.2  # before the logits (and between layers): on Tiny Shakespeare in 3.5 min
    # (2,300-2,600 steps on a quiet 2-core Zen 5) 0.2 gave 1.447 nats/char, 0.1 1.466, 0.3 1.447
    # batches: `stream` = truncated BPTT over `batch_size` parallel streams with the state carried
    # from one window to the next; `random` = independent random windows from a zero state.
    batching: str = "stream"
    # 128 × 32: truncated BPTT cuts every gradient at a window edge, so a subject and its verb
    # ~45 characters apart share a 64-character window less than a third of the time. In 3.5
    # minutes 128 learned agreement across attractors in some runs (2 of 4) and 64 did not; on
    # Tiny Shakespeare they are equal. Above lstm_kernels.MAX_UNROLL (200) the CPU kernel is
    # not used.
    seq_len: int = 128
    state_reset_every: int = 16  # stream batching: each row restarts from zero every N windows
    # Same characters per step as 64 × 64. Batch 16 (1.6× the updates) learned agreement in no
    # more runs and cost Tiny Shakespeare 0.012 nats/char.
    batch_size: int = 32
    # optimisation
    lr: float = 1.2e-2
    min_lr_ratio: float = 0.05  # cosine decay ends at lr * min_lr_ratio
    warmup_steps: int = 50
    weight_decay: float = 0.0
    clip_norm: float = 1.0
    # budgets (whichever comes first); all None means DEFAULT_STEPS
    max_steps: Optional[int] = None
    max_minutes: Optional[float] = None
    epochs: Optional[float] = None
    # validation, early stopping, logging
    eval_every: int = 250  # steps between validations
    eval_max_tokens: int = 200_000  # periodic validation reads at most this many val tokens
    patience: int = 0  # validations without improvement before stopping; 0 = never stop early
    sample_chars: int = 200
    seed: int = 1234
    # devices (charlm/training/distribute.py): --batch-size stays the global batch
    precision: str = "float32"
    distribute: str = "none"
    out: Optional[str] = None
    extra: dict = field(default_factory=dict)  # free-form notes carried into config.json

    def check(self) -> "TrainConfig":
        """Reject nonsense early (before any import of Keras), with a message that names the flag
        and the fix. Every setting has one rule in RULES below."""
        for name, (kind, allowed, rule) in RULES.items():
            value = getattr(self, name)
            if (value is None and name in OPTIONAL) or (name == "val_fraction" and self.val_corpus):
                continue  # no such budget; a --val-corpus makes the fraction irrelevant
            flag = "--" + name.replace("_", "-")
            if kind is str:
                if value not in allowed:
                    raise UserError(f"{flag} must be one of {', '.join(allowed)}, not {value!r}")
                continue
            # bool is an int to Python, and "0.1" from a JSON file is not a number
            if isinstance(value, bool) or not isinstance(value, kind):
                kind_name = rule if "integer" in rule else "an integer" if kind is int else "a number"
                raise UserError(f"{flag} must be {kind_name}, not {value!r}; fix it in the flag "
                                "or the --config file")
            if not allowed(value):
                raise UserError(f"{flag} must be {rule}, not {value!r}")
        if self.tokenizer != "char" and self.vocab_size < 16:
            raise UserError(f"--vocab-size must be at least 16, not {self.vocab_size}")
        for name in ("corpus", "val_corpus", "out"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise UserError(f"--{name.replace('_', '-')} must be a path or a name (a string), "
                                f"not {value!r}")
        if (self.distribute == "multiworker" and self.max_minutes is not None
                and self.max_steps is None and self.epochs is None):  # none: DEFAULT_STEPS
            raise UserError("--distribute multiworker needs --max-steps or --epochs beside "
                            "--max-minutes: the workers must agree on when to stop, and their "
                            "clocks do not")
        if not isinstance(self.extra, dict):
            raise UserError(f"extra must be a JSON object, not {self.extra!r}")
        return self

    def budgets(self) -> tuple[Optional[int], Optional[float], Optional[float]]:
        """(max_steps, max_seconds, epochs), with the default step budget when none was given."""
        if self.max_steps is None and self.max_minutes is None and self.epochs is None:
            return DEFAULT_STEPS, None, None
        seconds = None if self.max_minutes is None else self.max_minutes * 60.0
        return self.max_steps, seconds, self.epochs

    # --- (de)serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        data = {RENAMED.get(k, k): v for k, v in data.items()}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"unknown config keys {unknown}; remove them or check the spelling")
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | Path) -> "TrainConfig":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"config file {path} does not exist; pass an existing JSON file")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UserError(f"config file {path} is not valid JSON ({e}); fix or remove it")
        if not isinstance(data, dict):
            raise UserError(f"config file {path} must hold a JSON object of settings")
        data = data.get("train", data)  # accept a checkpoint's config.json as well
        return cls.from_dict(data)


NUMBER = (int, float)
POSITIVE = (lambda v: v >= 1, "a positive integer")
# setting → (type, allowed values or a test, the rule in words for the error message)
RULES = {
    "tokenizer": (str, TOKENIZERS, ""),
    "cell": (str, CELLS, ""),
    "batching": (str, BATCHING, ""),
    "precision": (str, PRECISIONS, ""),
    "distribute": (str, DISTRIBUTE, ""),
    "val_fraction": (NUMBER, lambda v: 0.0 < v < 1.0, "in (0, 1)"),
    "vocab_size": (int, lambda v: v >= 1, "a positive integer"),
    "layers": (int, *POSITIVE),
    "units": (int, *POSITIVE),
    "embedding_dim": (int, *POSITIVE),
    "dropout": (NUMBER, lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
    "seq_len": (int, *POSITIVE),
    "state_reset_every": (int, *POSITIVE),
    "batch_size": (int, *POSITIVE),
    "lr": (NUMBER, lambda v: v > 0.0, "positive"),
    "min_lr_ratio": (NUMBER, lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
    "warmup_steps": (int, lambda v: v >= 0, "0 or more"),
    "weight_decay": (NUMBER, lambda v: v >= 0.0, "0 or more"),
    "clip_norm": (NUMBER, lambda v: v > 0.0, "positive"),
    "max_steps": (int, lambda v: v >= 1, "positive"),
    "max_minutes": (NUMBER, lambda v: v > 0.0, "positive"),
    "epochs": (NUMBER, lambda v: v > 0.0, "positive"),
    "eval_every": (int, *POSITIVE),
    "eval_max_tokens": (int, lambda v: v >= 2, "at least 2"),
    "patience": (int, lambda v: v >= 0, "0 or more (0: never stop early)"),
    "sample_chars": (int, lambda v: v >= 0, "0 or more"),
    "seed": (int, lambda v: 0 <= v < 2**32, "in [0, 2**32)"),
}
OPTIONAL = ("max_steps", "max_minutes", "epochs")  # None: no such budget

# Old names still read from config files and checkpoints written before the layout redesign.
RENAMED = {"eval_max_chars": "eval_max_tokens"}

# Settings that define the model/tokenizer/data order: they cannot change on --resume.
FROZEN_ON_RESUME = ("corpus", "val_corpus", "val_fraction", "tokenizer", "vocab_size", "cell",
                    "layers", "units", "embedding_dim", "dropout", "batching", "seq_len",
                    "state_reset_every",
                    "batch_size", "seed")
