"""The Python API, for notebooks and scripts, beside the CLI (`charlm.train`, `charlm.load`).

    run = charlm.train(corpus="my_text.txt", max_steps=500, out="checkpoints/mine")
    lm = charlm.load(run)                  # a training run's folder or an exported folder
    lm.generate("ROMEO:", length=200)      # str; num_samples=4 gives a list
    lm.eval("held-out text")               # {"bpc", "nats_per_char", "chars", ...}
    lm.score(["The keys are here.", "The keys is here."])   # log-probability of each line
    lm.token_scores("The keys", surprisal=True)   # per character, as minicons' token_score
    lm.sequence_score(texts), lm.conditional_score(prefixes, continuations)   # docs/scoring.md
    lm.probe("corpora/suites/agreement_across_pp.json")   # a SyntaxGym suite: docs/syntaxgym.md
    lm.match("ROMEO:\nO", (7, 8), Path("corpus.txt"))  # a unit pattern's matches in a corpus
    lm.model, lm.tokenizer, lm.config      # the Keras model, the tokenizer, config.json

Loading reads JSON, HDF5 weights or a `.keras` file with safe_mode, and tokenizer files: it never
executes code from the folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from charlm import defaults


@dataclass
class LanguageModel:
    model: object  # keras.Model: (tokens [B, T], states) → (logits [B, T, V], states)
    tokenizer: object
    config: dict
    path: Path
    _char_scorers: dict = field(default_factory=dict, repr=False, compare=False)

    def generate(self, prompt: str = "\n", length: int = defaults.LENGTH,
                 temperature: float = defaults.TEMPERATURE, *, top_k: int | None = None,
                 top_p: float | None = None, stop=None, seed=0, num_samples: int | None = None,
                 unknown: str = "error"):
        """`length` characters after `prompt` (see charlm.generate.generator.Generator.generate):
        a str, or a list of str when num_samples or a list of per-row seeds is given."""
        from charlm.generate.generator import Generator

        return Generator(self.model, self.tokenizer).generate(
            prompt, length=length, temperature=temperature, top_k=top_k, top_p=top_p, stop=stop,
            seed=seed, num_samples=num_samples, unknown=unknown)

    def eval(self, text: str, streams: int = 1) -> dict:
        """Bits per character of `text`, read in order from a line break, as `charlm eval` does."""
        from charlm.evaluate import evaluate_text

        return evaluate_text(self.model, self.tokenizer, text, streams=streams)

    def score(self, lines, unknown: str = "error") -> list[dict]:
        """Each line's log-probability in nats as a line of its own (its line break counted as
        the end marker), as `charlm score` does: [{"line", "logprob", "chars"}, ...]."""
        from charlm.probes.scoring import ModelScorer, score_lines

        if isinstance(lines, str):
            lines = [lines]
        return score_lines(ModelScorer(self.model, self.tokenizer, unknown=unknown), list(lines))

    def _chars(self, unknown: str):
        """The per-character scorer (charlm.probes.charscores), compiled once per `unknown`."""
        if unknown not in self._char_scorers:
            from charlm.probes.charscores import CharScorer
            from charlm.probes.scoring import ModelScorer

            self._char_scorers[unknown] = CharScorer(
                ModelScorer(self.model, self.tokenizer, unknown=unknown))
        return self._char_scorers[unknown]

    def token_scores(self, texts, surprisal: bool = False, base_two: bool = False,
                     rank: bool = False, unknown: str = "error") -> list[list[tuple]]:
        """For each text, [(character, value)] or with `rank` [(character, value, rank)], as
        minicons' token_score: value = log p (nats; bits with `base_two`), or surprisal −log p.
        rank 1 = the character the model found most likely. Every character is scored, the
        first one too: the model reads a line break before the text (minicons leaves the first
        token unscored). Sum over `line + "\n"` = `charlm score`'s logprob (docs/scoring.md)."""
        from charlm.probes.charscores import token_scores

        return token_scores(self._chars(unknown), texts, surprisal, base_two, rank)

    def sequence_score(self, texts, reduction=None, base_two: bool = False,
                       unknown: str = "error") -> list[float]:
        """One float per text: reduction(log-probabilities of its characters, a float64 NumPy
        array [len(text)]), by default their mean, as minicons' sequence_score;
        e.g. reduction=np.sum gives the text's log-probability."""
        from charlm.probes.charscores import mean_logprob, sequence_scores

        return sequence_scores(self._chars(unknown), texts, reduction or mean_logprob, base_two)

    def conditional_score(self, prefixes, continuations, reduction=None, separator: str = " ",
                          base_two: bool = False, unknown: str = "error") -> list[float]:
        """One float per pair: reduction(log-probabilities of separator + continuation given the
        line break and the prefix), by default their mean, as minicons' conditional_score; the
        separator is scored with the continuation."""
        from charlm.probes.charscores import conditional_scores, mean_logprob

        return conditional_scores(self._chars(unknown), prefixes, continuations,
                                  reduction or mean_logprob, separator, base_two)

    def probe(self, suite, unknown: str = "error") -> dict:
        """A SyntaxGym test suite (a path or the suite as a dict): per prediction its accuracy
        with a Wilson 95% interval and each item's verdict, and the mean surprisal in bits per
        condition and region, as `charlm probe --data suite.json --json` (without writing)."""
        from charlm.probes import syntaxgym

        parsed = syntaxgym.load_suite(suite)
        surprisals = syntaxgym.region_surprisals(self._chars(unknown), parsed)
        return syntaxgym.summarize_suite(parsed, syntaxgym.evaluate(parsed, surprisals),
                                         surprisals)

    def inspect(self, text: str, unknown: str = "error"):
        """Every gate and state of every layer for each character of `text`, read from a zero
        state, as `charlm inspect` shows them: a charlm.inspect.view.Inspection with the arrays
        as NumPy (`ins["lstm_0", "forget_gate"]` → [T, H]), `.top_next()`, `.ranking`,
        `.to_json()`, `.save("view.html")`; in a notebook it displays the page inline."""
        from charlm.inspect.view import inspect_text

        return inspect_text(self.model, self.tokenizer, text, unknown=unknown,
                            title=str(self.path))

    def match(self, text: str, span, corpus, **options):
        """Select the units on over text[span] (token positions (b0, b1), read from a zero state)
        and off just before it, and rank the spans of `corpus` (the text, or a Path to a UTF-8
        file) where they are on together, as `charlm inspect match` does: a
        charlm.inspect.match_report.MatchReport (.selected, .result.matches, .context(m),
        .to_dict(), .lines()). Options: threshold=0.3, layer=0, quantity="cell", right=False,
        phrase_length=None, top=50, streams=None, unknown="error"."""
        from charlm.inspect.match_report import find_matches

        if isinstance(corpus, Path):
            corpus = corpus.read_text(encoding="utf-8")
        return find_matches(self.model, self.tokenizer, text, span, corpus, **options)


def load(path, which: str = "best") -> LanguageModel:
    from charlm import checkpoint

    loaded = checkpoint.load(path, which)
    return LanguageModel(loaded.model, loaded.tokenizer, loaded.config, loaded.path)


def train(corpus: str = "agreement", *, resume: str | None = None, quiet: bool = True,
          **settings) -> Path:
    """Train on `corpus` with `charlm train`'s settings as keywords (max_steps=500, units=256,
    out="checkpoints/mine", ...; see charlm.config.TrainConfig) → the checkpoint folder.
    `resume=DIR` continues that run (budgets may change, the model and data may not)."""
    from charlm.errors import UserError
    from charlm.config import TrainConfig
    from charlm.training.trainer import prepare_resume
    from charlm.training.trainer import train as run_training

    if resume is not None:
        return run_training(prepare_resume(resume, settings), resume=True, quiet=quiet)
    try:
        config = TrainConfig.from_dict({"corpus": str(corpus), **settings})
    except TypeError as e:
        raise UserError(f"invalid training settings ({e})")
    return run_training(config, quiet=quiet)
