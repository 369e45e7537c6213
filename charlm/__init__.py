"""charlm: character-level LSTM language models on Keras 3 — train, generate, evaluate, probe.

`import charlm` is cheap: it imports neither Keras nor TensorFlow. The backend loads when a
command or `charlm.load` / `charlm.train` needs it.

    import charlm
    run = charlm.train(corpus="my_text.txt", max_steps=500)   # → the checkpoint folder
    lm = charlm.load(run)                                      # model, tokenizer, config
    lm.generate("ROMEO:", length=200)
    lm.eval("some held-out text")["bpc"]
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"


def load(path, which: str = "best"):
    """A training run's folder or an exported folder → `charlm.api.LanguageModel`."""
    from charlm.api import load as _load

    return _load(path, which)


def train(corpus: str = "agreement", **settings):
    """Train a model (settings are `train`'s flags, e.g. max_steps=500) → the checkpoint folder."""
    from charlm.api import train as _train

    return _train(corpus, **settings)
