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

from charlm.errors import UserError

CELLS = ("lstm", "gru", "rnn", "peephole", "cifg")  # peephole, cifg: LSTM variants
TOKENIZERS = ("char", "bpe", "unigram")
BATCHING = ("stream", "random")

# Used only when the user names no budget at all: the no-argument run must finish in 5 minutes.
DEFAULT_MINUTES = 3.5


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
    dropout: float = 0.1  # before the logits (and between layers): 0.1 won on Tiny Shakespeare
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
    # budgets (whichever comes first); all None means DEFAULT_MINUTES
    max_steps: Optional[int] = None
    max_minutes: Optional[float] = None
    epochs: Optional[float] = None
    # validation, early stopping, logging
    eval_every: int = 250  # steps between validations
    eval_max_tokens: int = 200_000  # periodic validation reads at most this many val tokens
    patience: int = 0  # validations without improvement before stopping; 0 = never stop early
    sample_chars: int = 200
    seed: int = 1234
    out: Optional[str] = None
    extra: dict = field(default_factory=dict)  # free-form notes carried into config.json

    def check(self) -> "TrainConfig":
        """Reject nonsense early, with a message that names the flag and the fix."""
        def need(cond, msg):
            if not cond:
                raise UserError(msg)

        need(self.cell in CELLS, f"--cell must be one of {', '.join(CELLS)}, not {self.cell!r}")
        need(self.tokenizer in TOKENIZERS,
             f"--tokenizer must be one of {', '.join(TOKENIZERS)}, not {self.tokenizer!r}")
        need(self.batching in BATCHING,
             f"--batching must be one of {', '.join(BATCHING)}, not {self.batching!r}")
        for name in ("layers", "units", "embedding_dim", "seq_len", "batch_size", "eval_every"):
            value = getattr(self, name)
            need(isinstance(value, int) and value >= 1,
                 f"--{name.replace('_', '-')} must be a positive integer, not {value!r}")
        need(0.0 <= self.dropout < 1.0, f"--dropout must be in [0, 1), not {self.dropout}")
        need(0.0 < self.val_fraction < 1.0 or self.val_corpus is not None,
             f"--val-fraction must be in (0, 1), not {self.val_fraction}")
        need(self.lr > 0, f"--lr must be positive, not {self.lr}")
        need(self.vocab_size >= 16 or self.tokenizer == "char",
             f"--vocab-size must be at least 16, not {self.vocab_size}")
        for name in ("max_steps", "max_minutes", "epochs"):
            value = getattr(self, name)
            need(value is None or value > 0,
                 f"--{name.replace('_', '-')} must be positive, not {value}")
        return self

    def budgets(self) -> tuple[Optional[int], Optional[float], Optional[float]]:
        """(max_steps, max_seconds, epochs), with the default time budget when none was given."""
        if self.max_steps is None and self.max_minutes is None and self.epochs is None:
            return None, DEFAULT_MINUTES * 60.0, None
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


# Old names still read from config files and checkpoints written before the layout redesign.
RENAMED = {"eval_max_chars": "eval_max_tokens"}

# Settings that define the model/tokenizer/data order: they cannot change on --resume.
FROZEN_ON_RESUME = ("corpus", "val_corpus", "val_fraction", "tokenizer", "vocab_size", "cell",
                    "layers", "units", "embedding_dim", "dropout", "batching", "seq_len",
                    "state_reset_every",
                    "batch_size", "seed")
