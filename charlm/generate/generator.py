"""Text generation from a prompt: the host side (`Generator`), behind `charlm generate`,
`LanguageModel.generate` and the trainer's samples (`sample_text`).

    prompt ─ encode (unknown characters: error, or <unk> with a warning; "" reads as a line break)
           → Decoder.start: the prompt read once on the device, tiled to B rows
           → Decoder.advance, chunk after chunk: tokens [B, chunk] to the host
           → decoded per row, cut at the first stop string or at `length` characters, and the
             new text handed to the caller (streaming) as each chunk arrives

Seeds: `seed=s, num_samples=n` gives row b the random stream (s, b); a list of seeds gives row b
(seeds[b], 0). Rows never interact, so a batch reproduces the single runs row by row.
"""

from __future__ import annotations

import secrets
import warnings
from dataclasses import dataclass, field

import numpy as np

from charlm import defaults
from charlm.data.tokenizers import check_unknown_policy
from charlm.errors import UserError
from charlm.generate.decoding import Decoder, decoder_for
from charlm.generate.samplers import MAX_SEED, Sampler, make_sampler, row_keys


def encode_prompt(tokenizer, prompt: str, unknown: str = "error") -> tuple[np.ndarray, int]:
    """Prompt → ids [P] following the tokenizer's policy; an empty prompt reads as a line break.

    unknown="error" raises the tokenizer's one-line UserError listing the characters;
    "replace" maps them to <unk> and returns how many there were (the caller warns).
    """
    check_unknown_policy(unknown)
    if not prompt:  # as if the text followed a line break (<unk> if the corpus had none)
        return np.array([tokenizer.prime_id()], np.int32), 0
    ids = tokenizer.encode(prompt, unknown=unknown)
    return np.asarray(ids, np.int32), tokenizer.count_unknown(prompt) if unknown == "replace" else 0


@dataclass
class Sample:
    text: str  # the continuation (the prompt is not repeated)
    seed: int
    stream: int  # row b of `--seed s --num-samples n` is (s, b); explicit seeds use stream 0
    finish_reason: str = "length"  # "length" or "stop" (a stop string was generated; cut off)
    tokens: int = 0


@dataclass
class _Row:
    """Host-side text of one row: decoded tokens, cut at the first stop string or at length."""

    ids: list = field(default_factory=list)
    text: str = ""
    emitted: int = 0
    done: bool = False
    reason: str = "length"


class _Rows:
    def __init__(self, tokenizer, count: int, length: int, stop: list[str]):
        self.tokenizer, self.length, self.stop = tokenizer, length, [s for s in stop if s]
        self.char_level = getattr(tokenizer, "kind", "") == "char"
        self.hold = max((len(s) for s in self.stop), default=1) - 1  # could be a stop's prefix
        self.rows = [_Row(done=length == 0) for _ in range(count)]

    @property
    def done(self) -> bool:
        return all(row.done for row in self.rows)

    def add(self, tokens: np.ndarray) -> list[str]:
        """tokens [B, steps] → the new text of each row that is safe to show now."""
        deltas = []
        for row, new in zip(self.rows, tokens):
            if row.done:
                deltas.append("")
                continue
            row.ids.extend(int(t) for t in new)
            row.text = (row.text + self.tokenizer.decode(new)) if self.char_level \
                else self.tokenizer.decode(row.ids)
            self._check(row)
            safe = len(row.text) if row.done else max(row.emitted, len(row.text) - self.hold)
            if not self.char_level and not row.done:
                while safe > row.emitted and row.text[safe - 1] == "\ufffd":  # half a byte run
                    safe -= 1
            deltas.append(row.text[row.emitted:safe])
            row.emitted = max(row.emitted, safe)
        return deltas

    def _check(self, row: _Row) -> None:
        head = row.text[:self.length]
        cuts = [i for i in (head.find(s) for s in self.stop) if i >= 0]
        if cuts:
            row.text, row.done, row.reason = head[:min(cuts)], True, "stop"
        elif len(row.text) >= self.length:
            row.text, row.done, row.reason = head, True, "length"

    def finish(self) -> list[str]:
        deltas = []
        for row in self.rows:
            row.done = True
            deltas.append(row.text[row.emitted:])
            row.emitted = len(row.text)
        return deltas


def resolve_seeds(seed, num_samples: int | None) -> tuple[list[int], list[int]]:
    """(seeds, streams) per row. seed: int, list of ints (one per row) or None (random)."""
    if isinstance(seed, (list, tuple, np.ndarray)):
        seeds = [int(s) for s in seed]
        if num_samples is not None and num_samples != len(seeds):
            raise UserError(f"{len(seeds)} seeds given for {num_samples} samples; give one per "
                            "sample or a single seed")
        streams = [0] * len(seeds)
    else:
        n = 1 if num_samples is None else int(num_samples)
        if n < 1:
            raise UserError(f"--num-samples must be at least 1, not {n}")
        base = secrets.randbelow(2**31) if seed is None else int(seed)
        seeds, streams = [base] * n, list(range(n))
    for s in seeds:
        if not 0 <= s < MAX_SEED:
            raise UserError(f"--seed must be in [0, 2^32), not {s}")
    return seeds, streams


class Generator:
    """Host side of generation for one model and tokenizer (device work goes to its Decoder)."""

    def __init__(self, model, tokenizer, decoder: Decoder | None = None):
        self.model, self.tokenizer = model, tokenizer
        self.decoder = decoder or decoder_for(model)

    def stream(self, prompt: str, length: int, sampler: Sampler, seeds: list[int],
               streams: list[int], stop=(), unknown: str = "error", rows: _Rows | None = None):
        """Yield, after every compiled chunk, each row's new text (a list of B strings)."""
        if length < 0:
            raise UserError(f"--length must be 0 or more, not {length}")
        ids, unknown_count = encode_prompt(self.tokenizer, prompt, unknown)
        if unknown_count:
            warnings.warn(f"{unknown_count} prompt character(s) not in the vocabulary were "
                          "replaced by <unk>", stacklevel=2)
        batch = len(seeds)
        rows = rows or _Rows(self.tokenizer, batch, length, list(stop or ()))
        if rows.done:
            return
        chunk = self.decoder.chunk_size
        # Characters = tokens for char tokenizers; subword tokens give ≥ 1 char each except byte
        # pieces (≤ 4 per char), so 4·length + chunk steps always suffice.
        budget = length if rows.char_level else 4 * length + chunk
        rng = row_keys(np.asarray(seeds, np.uint32), np.asarray(streams, np.uint32))
        shards = self.decoder.start(ids, rng)
        taken = 0
        while not rows.done and taken < budget:
            steps = min(chunk, budget - taken)
            tokens, shards = self.decoder.advance(sampler, shards, steps)  # [B, steps]
            taken += steps
            yield rows.add(tokens)
        yield rows.finish()

    def run(self, prompt: str = "\n", length: int = defaults.LENGTH, sampler: Sampler | None = None,
            seed=0, num_samples: int | None = None, stop=(), unknown: str = "error",
            on_text=None) -> list[Sample]:
        """Generate every row to the end; on_text(deltas) is called per chunk (streaming)."""
        sampler = sampler or make_sampler(defaults.TEMPERATURE)
        seeds, streams = resolve_seeds(seed, num_samples)
        rows = _Rows(self.tokenizer, len(seeds), length, list(stop or ()))
        for deltas in self.stream(prompt, length, sampler, seeds, streams, stop, unknown, rows):
            if on_text is not None and any(deltas):
                on_text(deltas)
        return [Sample(row.text, s, b, row.reason, len(row.ids))
                for row, s, b in zip(rows.rows, seeds, streams)]

    def generate(self, prompt: str = "\n", length: int = defaults.LENGTH,
                 temperature: float = defaults.TEMPERATURE, *,
                 top_k: int | None = None, top_p: float | None = None, stop=None, seed=0,
                 num_samples: int | None = None, unknown: str = "error"):
        """Continuation of `prompt`: a str, or a list of str when num_samples or a list of seeds
        is given (rows of one batch; row b of seed s equals the single run (s, b))."""
        if isinstance(stop, str):
            stop = [stop]
        samples = self.run(prompt, length, make_sampler(temperature, top_k, top_p), seed,
                           num_samples, stop or (), unknown)
        texts = [s.text for s in samples]
        single = num_samples is None and not isinstance(seed, (list, tuple, np.ndarray))
        return texts[0] if single else texts


def progress_sampler(model, tokenizer):
    """→ sample(length, seed=0, prompt="\n"): samples at the default temperature, characters
    outside the vocabulary as <unk>. The sampling loop is compiled once and reads the model's
    current weights at each call (the trainer samples at every validation)."""
    generator = Generator(model, tokenizer)

    def sample(length: int, seed: int = 0, prompt: str = "\n") -> str:
        return generator.generate(prompt, length=length, temperature=defaults.TEMPERATURE,
                                  seed=seed, unknown="replace")

    return sample


def sample_text(model, tokenizer, length: int, seed: int = 0, prompt: str = "\n") -> str:
    """One sample of `length` characters after `prompt` (see progress_sampler)."""
    return progress_sampler(model, tokenizer)(length, seed, prompt)
