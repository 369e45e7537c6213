"""Data the probe tests share: pair records in each input format, and a model whose scores can be
computed by hand (with a checkpoint folder built from it)."""

import json
import math

import numpy as np

BLIMP = {"sentence_good": "Boys that aren't disturbing Natalie suffer.",
         "sentence_bad": "Boys that aren't disturbing Natalie suffers.",
         "one_prefix_prefix": "Boys that aren't disturbing Natalie", "one_prefix_word_good":
         "suffer", "one_prefix_word_bad": "suffers", "UID": "distractor_agreement_relative_clause",
         "simple_LM_method": True, "one_prefix_method": True, "two_prefix_method": False,
         "dependency_length": 4, "pairID": "7"}
BLIMP_TWO = {"sentence_good": "The students perform.", "sentence_bad": "The student perform.",
             "two_prefix_prefix_good": "The students", "two_prefix_prefix_bad": "The student",
             "two_prefix_word": "perform", "UID": "regular_plural_subject_verb_agreement_2",
             "one_prefix_method": False, "two_prefix_method": True, "pairID": "0"}
PAIR = {"id": "p1", "source": "mine", "category": "across_pp", "condition": "singular_subject",
        "n_attr": 1, "distance": 3, "sentence_good": "The key to the doors is old.",
        "sentence_bad": "The key to the doors are old.", "method": "one_prefix",
        "prefix": "The key to the doors", "good": "is", "bad": "are", "suffix": "old."}


def write_jsonl(path, rows):
    """rows (dicts, or strings written as they are) → one line each in `path`."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


CHARS = ["\n", " ", ".", "a", "d", "e", "i", "m", "r", "s"]  # ids 1..10; id 0 is <unk>
BIAS = np.array([-9.0, 0.5, 1.0, -0.5, 2.0, 0.0, 1.5, 0.3, -1.0, 0.7, 1.2], np.float32)


def unigram_model(tokenizer):
    """An LSTM whose output ignores its input: logits = BIAS at every step, so
    log p(c) = BIAS[c] - log Σ exp(BIAS), the same after any history: computable by hand."""
    from charlm.model.model import build_model

    model = build_model(tokenizer.vocab_size, 4, "lstm", 1, 8)
    dense = model.get_layer("logits")
    dense.set_weights([np.zeros_like(dense.get_weights()[0]), BIAS])
    return model


def hand_logprob(tokenizer, text):
    log_z = math.log(sum(math.exp(b) for b in BIAS.tolist()))
    return sum(float(BIAS[tokenizer.token_id(c)]) - log_z for c in text)


def hand_checkpoint(folder, tok):
    """A checkpoint folder holding unigram_model(tok), written without training."""
    from charlm import checkpoint as ckpt

    model = unigram_model(tok)
    tok.save(folder / "tokenizer")
    spec = {"vocab_size": tok.vocab_size, "embedding_dim": 4, "cell": "lstm", "layers_count": 1,
            "units": 8, "dropout": 0.0}
    (folder / "config.json").write_text(json.dumps({"model": spec, "corpus": {"name": "hand"}}))
    ckpt.save_best(folder, model, {"step": 0})
    return folder
