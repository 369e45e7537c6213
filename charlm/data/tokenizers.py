"""Tokenizers: one interface (`encode`, `decode`, `vocab_size`, `save`, `load`), two kinds.

- `CharTokenizer`: one id per Unicode code point, case kept, id 0 is `<unk>`.
  Policy for characters never seen when the vocabulary was built: `encode(text)` raises a
  `UserError` listing them (the default everywhere a user types text: prompts, probes);
  `encode(text, unknown="replace")` maps them to `<unk>` (what `eval` does, reporting the count).
  The model never sees `<unk>` in training, so it gives it little probability: replaced
  characters cost many bits, which is the honest price of a character the model cannot spell.
- `SentencePieceTokenizer` (`bpe` or `unigram`): identity normalisation, no dummy prefix,
  newline as its own piece and byte fallback, so every text round-trips exactly and nothing is
  unknown.

Encoding is vectorised: text → UTF-32 code points (NumPy) → a lookup table, chunk by chunk, so a
90M-character corpus is encoded in seconds with bounded memory (`charlm.data.id_cache` keeps the
ids of whole corpora on disk).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from charlm.errors import UserError
from charlm.fileio import atomic_write

UNK = "<unk>"
# What to do with characters outside the vocabulary: raise the one-line error listing them, or
# read them as <unk>. Every command with --unknown offers these (probe adds "skip").
UNKNOWN_POLICIES = ("error", "replace")
UNK_ID = 0  # both kinds: CharTokenizer puts <unk> first, sentencepiece is built with unk_id=0
PRIME = "\n"  # every reading starts as if the text followed a line break (see prime_id)


def prime_id(tokenizer) -> int:
    """The id a model reads before any text (eval, score, probe, generate, export, inspect):
    the line break, so the first character is predicted as the start of a line; <unk> when the
    vocabulary has no line break (a corpus of one line)."""
    found = tokenizer.token_id(PRIME)
    return UNK_ID if found is None else found


def unknown_characters_error(chars, fix: str, where: dict | None = None) -> UserError:
    """The one message for text with characters outside the vocabulary: how many, which (with
    where each first appears, if known), and `fix`, what the user can do about it."""
    chars = list(chars)
    limit = 8 if where else 20
    shown = [f"{c!r} ({where[c]})" if where else repr(c) for c in chars[:limit]]
    more = " …" if len(chars) > limit else ""
    return UserError(f"{len(chars)} character(s) not in the model's vocabulary: "
                     f"{(', ' if where else ' ').join(shown)}{more}; {fix}")


def check_unknown_policy(unknown: str, allowed: tuple = UNKNOWN_POLICIES) -> None:
    if unknown not in allowed:
        raise UserError(f"--unknown must be {', '.join(allowed[:-1])} or {allowed[-1]}, "
                        f"not {unknown!r}")


def ids_dtype(vocab_size: int):
    """Smallest unsigned dtype holding every id: memory and cache size scale with it."""
    return np.uint8 if vocab_size <= 256 else np.uint16 if vocab_size <= 65536 else np.int32


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


class CharTokenizer:
    kind = "char"

    def __init__(self, chars: list[str]):
        self.chars = list(chars)  # id i+1 is chars[i]; id 0 is <unk>
        self.vocab = [UNK] + self.chars
        points = np.array([ord(c) for c in self.chars], dtype=np.int64)
        # Dense code point → id table; -1 marks unknown. Its size is the largest code point seen.
        self._lut = np.full(int(points.max(initial=0)) + 1, -1, dtype=np.int32)
        self._lut[points] = np.arange(1, len(self.chars) + 1, dtype=np.int32)
        self._decode_table = np.array(["\ufffd"] + self.chars, dtype=object)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @classmethod
    def fit(cls, chunks) -> "CharTokenizer":
        seen: set[int] = set()
        for chunk in chunks:
            seen.update(np.unique(_codepoints(chunk)).tolist())
        return cls([chr(p) for p in sorted(seen)])

    def prime_id(self) -> int:
        return prime_id(self)

    def token_id(self, char: str) -> int | None:
        p = ord(char)
        i = int(self._lut[p]) if p < len(self._lut) else -1
        return i if i > 0 else None

    def _lookup(self, points: np.ndarray) -> np.ndarray:
        """Code points → ids, -1 for a character outside the vocabulary."""
        ids = np.full(points.shape, -1, dtype=np.int32)
        inside = points < len(self._lut)
        ids[inside] = self._lut[points[inside]]
        return ids

    def encode(self, text: str, unknown: str = "error") -> np.ndarray:
        ids = self._lookup(_codepoints(text))
        missing = ids < 0
        if missing.any():
            if unknown != "replace":
                raise unknown_characters_error(
                    sorted(self.unknown_characters(text)),
                    "remove them or pass --unknown replace to map them to <unk>")
            ids[missing] = UNK_ID
        return ids

    def count_unknown(self, text: str) -> int:
        return int((self._lookup(_codepoints(text)) < 0).sum())

    def unknown_characters(self, text: str) -> set[str]:
        points = _codepoints(text)
        return {chr(p) for p in np.unique(points[self._lookup(points) < 0]).tolist()}

    def decode(self, ids) -> str:
        return "".join(self._decode_table[np.asarray(ids, dtype=np.int64)])

    def save(self, folder: Path) -> None:
        atomic_write(Path(folder) / "vocab.json",
                      json.dumps({"kind": self.kind, "chars": self.chars}, ensure_ascii=False))

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.chars).encode()).hexdigest()


class SentencePieceTokenizer:
    def __init__(self, model_proto: bytes, kind: str):
        import sentencepiece as spm

        self.kind = kind
        self.model_proto = model_proto
        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    @classmethod
    def fit(cls, chunks, kind: str, vocab_size: int, max_chars: int = 20_000_000):
        import sentencepiece as spm

        def lines():
            taken = 0
            for chunk in chunks:
                for line in chunk.splitlines(keepends=True):
                    yield line
                taken += len(chunk)
                if taken >= max_chars:  # enough to learn pieces; keeps fitting time bounded
                    return

        proto = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=lines(), model_writer=proto, vocab_size=vocab_size,
                model_type=kind, normalization_rule_name="identity",
                remove_extra_whitespaces=False, add_dummy_prefix=False, byte_fallback=True,
                user_defined_symbols=["\n"], character_coverage=1.0, max_sentence_length=1 << 20,
                unk_id=UNK_ID, bos_id=-1, eos_id=-1, pad_id=-1, minloglevel=2, num_threads=2,
                hard_vocab_limit=False)
        except RuntimeError as e:
            reason = str(e).splitlines()[0].split("] ")[-1]
            raise UserError(f"sentencepiece could not build a {vocab_size}-piece vocabulary "
                            f"({reason}); byte fallback needs 256 pieces plus one per distinct "
                            "character: raise --vocab-size, or give it more text")
        return cls(proto.getvalue(), kind)

    def prime_id(self) -> int:
        return prime_id(self)

    def token_id(self, char: str) -> int | None:
        i = self.sp.piece_to_id(char)
        return None if i == self.sp.unk_id() else i

    def encode(self, text: str, unknown: str = "error") -> np.ndarray:
        return np.asarray(self.sp.encode(text), dtype=np.int32)  # byte fallback: never unknown

    def count_unknown(self, text: str) -> int:
        return 0

    def unknown_characters(self, text: str) -> set[str]:
        return set()

    def decode(self, ids) -> str:
        return self.sp.decode([int(i) for i in ids])

    def save(self, folder: Path) -> None:
        atomic_write(Path(folder) / "tokenizer.model", self.model_proto)
        atomic_write(Path(folder) / "vocab.json", json.dumps({"kind": self.kind}))

    def fingerprint(self) -> str:
        return hashlib.sha256(self.model_proto).hexdigest()


def fit_tokenizer(kind: str, corpus, vocab_size: int):
    """A new tokenizer of `kind` fitted on a `charlm.data.corpus.Corpus`."""
    if kind == "char":
        return CharTokenizer.fit(corpus.iter_chunks())
    return SentencePieceTokenizer.fit(corpus.iter_chunks(), kind, vocab_size)


def unknown_in_corpus(tokenizer, corpus) -> list[str]:
    """The characters of a `Corpus` outside the tokenizer's vocabulary, sorted; read chunk by
    chunk, so a held-out text never has to fit in memory either."""
    found: set[str] = set()
    for chunk in corpus.iter_chunks():
        found |= tokenizer.unknown_characters(chunk)
    return sorted(found)


def load_tokenizer(folder: Path):
    folder = Path(folder)
    try:
        meta = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        if meta["kind"] == "char":
            return CharTokenizer(meta["chars"])
        return SentencePieceTokenizer((folder / "tokenizer.model").read_bytes(), meta["kind"])
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
        raise UserError(f"tokenizer files in {folder} are missing or corrupt ({type(e).__name__}); "
                        "use a complete checkpoint folder written by charlm train")
