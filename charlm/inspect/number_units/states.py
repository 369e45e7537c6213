"""Number units, running the model: the recurrent state each layer holds right before the verb,
for many id sequences at once, and a progress bar per phase of the work."""

from __future__ import annotations

import sys
from collections import defaultdict

import numpy as np

from charlm.cell_types import LSTM_LIKE
from charlm.inspect.equations import cell_kind
from charlm.inspect.trace import recurrent_layers
from charlm.model.model import zero_states


def phase_bar(progress, total: int, desc: str, unit: str = "unit"):
    """A context manager giving an object with update(n), or None, for one phase of the work.

    progress None: a tqdm bar on stderr per phase (hidden when stderr is not a terminal);
    False: none; a bar object (has `update`, e.g. a tqdm bar, as `charlm inspect` passes):
    reset to the phase's total and description, then updated; another callable:
    progress(total, desc) → a bar (e.g. charlm.cli.common.progress_bar)."""
    import contextlib

    if progress is False or total == 0:
        return contextlib.nullcontext(None)
    if hasattr(progress, "update"):
        if hasattr(progress, "reset"):
            progress.reset(total=total)
        if hasattr(progress, "set_description"):
            progress.set_description(desc)
        return contextlib.nullcontext(progress)
    if callable(progress):
        return progress(total, desc)
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=None, leave=False, file=sys.stderr)


def state_index(model) -> list[int]:
    """Per recurrent layer: the index (among the model's state outputs) of the state the
    classifier reads: c for LSTM-like cells, h otherwise."""
    layers = recurrent_layers(model)
    per_layer = (len(model.outputs) - 1) // len(layers)
    return [i * per_layer + (1 if cell_kind(layer) in LSTM_LIKE and per_layer > 1 else 0)
            for i, layer in enumerate(layers)]


def verb_states(model, contexts: list[np.ndarray], batch_size: int = 256,
                progress=None) -> list[np.ndarray]:
    """Per recurrent layer, [N, H]: the state after reading each id sequence from a zero state.
    Sequences of one length run side by side (padding would run the state past the end)."""
    from charlm import backend

    fn = backend.compile_function(
        lambda x, states: model([x, *states], training=False)[1:], model.variables)
    pick = state_index(model)
    units = [layer.cell.units for layer in recurrent_layers(model)]
    out = [np.zeros((len(contexts), h), np.float32) for h in units]
    by_length = defaultdict(list)
    for i, ids in enumerate(contexts):
        by_length[len(ids)].append(i)
    with phase_bar(progress, len(contexts), "states", "pair") as bar:
        for length in sorted(by_length):
            members = by_length[length]
            for start in range(0, len(members), batch_size):
                chunk = members[start:start + batch_size]
                x = np.stack([contexts[i] for i in chunk]).astype(np.int32)
                states = fn(x, zero_states(model, len(chunk)))
                for layer, index in enumerate(pick):
                    out[layer][chunk] = np.asarray(states[index])
                if bar is not None:
                    bar.update(len(chunk))
    return out
