"""The one place that knows the Keras backend: a quiet first import, the device it computes on,
seeding, and compiling a function that reads a model's variables.

`charlm` itself imports no Keras (`import charlm` is cheap); the subpackages that compute
(`charlm.model`, `charlm.generate`, `charlm.training`) call `import_quietly()` first.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile

from charlm.errors import UserError

# charlm's CPU paths get their parallelism from independent chains: the LSTM kernel's batch halves
# (charlm/model/lstm_kernels.py) and the sampler's shards, run side by side by TensorFlow's
# inter-op pool or by threads. Splitting each of their small ops across cores as well costs more
# than it gains: on 2 cores, one intra-op thread instead of two trained 1.19-1.25x faster,
# generated 1.16-1.46x faster and probed 1.26x faster (benchmarks/RESULTS.md).
CPU_CHAINS = 2


def cpu_count() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def intra_op_threads() -> int:
    """TensorFlow threads per op: the cores shared out among CPU_CHAINS chains."""
    return max(1, cpu_count() // CPU_CHAINS)


def import_quietly() -> None:
    """Import Keras and its backend with C-level stderr parked in a temp file, and set
    TensorFlow's threads per op (`intra_op_threads`).

    TensorFlow's C++ start-up prints absl log lines (oneDNN notices, "no CUDA drivers") straight
    to file descriptor 2, ignoring TF_CPP_MIN_LOG_LEVEL; users should see one-line errors, not
    that. If the import fails, the captured text is replayed so nothing is hidden; if it fails
    because the package KERAS_BACKEND names is not installed, a UserError says how to install it.
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # Read when TensorFlow starts its runtime, so set before anything runs; a value the user set
    # wins. Threads change float rounding, so they are part of what makes a run reproducible.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(intra_op_threads()))
    if "keras" in sys.modules or os.environ.get("CHARLM_VERBOSE_IMPORT"):
        return
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (embedded interpreters)
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import keras

            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                tf.config.list_physical_devices()  # device discovery logs here, once
        except BaseException as e:
            os.dup2(saved, 2)
            missing = _backend_missing(e)
            if missing:  # KERAS_BACKEND=jax without JAX: the fix, not Keras' traceback
                raise UserError(missing) from None
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _backend_missing(error: BaseException) -> str | None:
    """The one-line fix when Keras failed because KERAS_BACKEND names a package that is not
    installed (JAX is an optional extra), else None."""
    chosen = os.environ["KERAS_BACKEND"]
    if not isinstance(error, ImportError) or (error.name or "").split(".")[0] != chosen:
        return None
    extra = " (pip install charlm[jax])" if chosen == "jax" else ""
    return (f"KERAS_BACKEND={chosen}, but {chosen} is not installed; install it{extra} or "
            "unset KERAS_BACKEND to use TensorFlow")


def name() -> str:
    """"tensorflow", "jax", "torch" or "numpy"."""
    import keras

    return keras.backend.backend()


@functools.lru_cache(maxsize=None)
def device() -> str:
    """Where the backend computes: "cpu", "gpu" or (JAX) "tpu"."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    if backend == "jax":
        import jax

        return jax.default_backend()
    if backend == "torch":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    return "cpu"


def on_cpu() -> bool:
    return device() == "cpu"


def set_random_seed(seed: int) -> None:
    """keras.utils.set_random_seed (Python, NumPy, Keras' global seed; TensorFlow's on the
    TensorFlow backend), without importing TensorFlow on other backends.

    Keras seeds TensorFlow whenever it is installed (for tf.data pipelines), so on JAX its
    function imports TensorFlow: 5–9 s of start-up here and C++ log lines on stderr, for a seed
    that nothing charlm runs on JAX reads.
    """
    import keras

    if name() == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    import random

    import numpy as np

    try:  # what keras.utils.set_random_seed sets besides the libraries' seeds
        from keras.src.backend.common import global_state
        from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR
        from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED
    except ImportError:  # a Keras that moved them: its own function, TensorFlow import and all
        keras.utils.set_random_seed(seed)
        return
    global_state.set_global_attribute(GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, None)  # rebuilt from the seed
    random.seed(seed)
    np.random.seed(seed)
    if name() == "torch":
        import torch

        torch.manual_seed(seed)


def compile_function(fn, variables, jit: bool = False, signature=None):
    """fn(*args), which reads `variables` (Keras variables), compiled once for the backend.

    TensorFlow: a tf.function (XLA when `jit`; otherwise one graph generalised to new shapes
    after the first, reduce_retracing). `signature`, a list with one (shape, dtype) — or a list
    of them — per argument, None for unknown sizes, fixes the traced shapes up front, so the
    first call already traces the general graph (no retrace on the second shape). JAX: jax.jit
    of a pure function that gets the variables' current values as an argument (StatelessScope),
    so updated weights are seen without recompiling; JAX compiles once per input shape, whatever
    `signature` says. Other backends: `fn` itself, eager (correct, slow).
    """
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        if signature is not None:
            spec = lambda s: [spec(x) for x in s] if isinstance(s, list) else tf.TensorSpec(*s)
            return tf.function(fn, jit_compile=jit, input_signature=[spec(s) for s in signature])
        return tf.function(fn, jit_compile=jit, reduce_retracing=not jit)
    if backend == "jax":
        import jax
        import keras

        variables = list(variables)

        def pure(values, *args):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn(*args)

        jitted = jax.jit(pure)
        return lambda *args: jitted([v.value for v in variables], *args)
    return fn
