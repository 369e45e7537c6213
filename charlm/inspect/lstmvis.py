"""A trace in the files LSTMVis (Strobelt et al., github.com/HendrikStrobelt/LSTMVis) reads, so
its match view can search charlm's states.

LSTMVis takes three files, tied together by an `lstm.yml` config in a project folder:

    states file   HDF5, one float32 table [tokens, cells] per layer and kind of state
    word ids      HDF5, one integer table [tokens]: the token read at each step
    dictionary    text, one "token id" pair per line (split on whitespace)

`write_lstmvis(trace, vocab, path)` writes one HDF5 file holding both the states and the ids:

    /word_ids                     int32 [T]     the token id read at step t
    /<layer>_<quantity>           float32 [T, H] e.g. lstm_0_forget_gate, lstm_1_hidden: the
                                  values after reading token t (charlm's JSON contract, as tables)
    /dictionary                   UTF-8 strings [V]: the token of each id (for other readers)

plus, beside it, PATH.dict (the dictionary as LSTMVis reads it: whitespace and empty tokens are
spelled as visible symbols, "␣" for a space, "⏎" for a line break, so each line splits into
exactly two fields) and PATH.lstm.yml, a config for the three: put the three files in a folder
of LSTMVis' data directory and rename the config to lstm.yml. In the config, gates are declared
unsigned and shown as they are (transform: none), the hidden state and the candidate too
(already in [-1, 1]), and the cell state goes through LSTMVis' default tanh.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from charlm.fileio import atomic_write

GATES = {"input_gate", "forget_gate", "output_gate", "update_gate", "reset_gate"}
BOUNDED = {"hidden", "candidate"}  # tanh outputs: already in [-1, 1]
TYPES = {"cell": "state", "hidden": "output"}  # LSTMVis' own names for these two
VISIBLE = {" ": "\u2423", "\n": "\u23ce", "\t": "\u21e5", "\r": "\u240d"}


def dataset_name(layer_name: str, quantity: str) -> str:
    return f"{layer_name}_{quantity}"


def dict_token(token: str) -> str:
    """A token as one whitespace-free field of a .dict line."""
    if token == "":
        return "\u2205"
    return "".join(VISIBLE.get(c, f"U+{ord(c):04X}" if c.isspace() else c) for c in token)


def dict_text(vocab: list) -> str:
    return "".join(f"{dict_token(token)} {i}\n" for i, token in enumerate(vocab))


def config_text(trace, h5_name: str, dict_name: str, name: str) -> str:
    q = json.dumps  # a JSON string is a YAML string: names with ":" or "#" stay names
    description = f"charlm {' + '.join(layer.name for layer in trace.layers)}, " \
                  f"{len(trace.ids)} tokens"
    lines = ["# LSTMVis project config written by charlm inspect --h5: rename to lstm.yml",
             f"name: {q(name)}",
             f"description: {q(description)}",
             "files:",
             f"  states: {q(h5_name)}",
             f"  train: {q(h5_name)}",
             f"  words: {q(dict_name)}",
             "word_sequence:",
             "  file: train",
             "  path: word_ids",
             "  dict_file: words",
             "states:",
             "  file: states",
             "  types: ["]
    types = []
    for n, layer in enumerate(trace.layers, start=1):
        for quantity in layer.quantities:
            extra = (", unsigned: true, transform: none" if quantity in GATES else
                     ", transform: none" if quantity in BOUNDED else "")
            types.append(f"    {{type: {TYPES.get(quantity, quantity)}, layer: {n}, "
                         f"path: {dataset_name(layer.name, quantity)}{extra}}}")
    return "\n".join(lines + [",\n".join(types), "  ]", ""])


def write_lstmvis(trace, vocab: list, path) -> list[Path]:
    """Write PATH (HDF5), PATH.dict and PATH.lstm.yml (see the module docstring) → the paths."""
    import h5py

    path = Path(path)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_dataset("word_ids", data=np.asarray(trace.ids, np.int32))
        for layer in trace.layers:
            for quantity in layer.quantities:
                f.create_dataset(dataset_name(layer.name, quantity),
                                 data=np.asarray(layer.values[quantity], np.float32))
        f.create_dataset("dictionary", data=np.array(list(vocab), dtype=object),
                         dtype=h5py.string_dtype("utf-8"))
        f.attrs["text_chars"] = len(trace.text)
        f.attrs["layers"] = [layer.name for layer in trace.layers]
        f.attrs["cells"] = [layer.cell for layer in trace.layers]
    stem = path.name[:-len(path.suffix)] if path.suffix else path.name
    dict_path = path.with_name(f"{stem}.dict")
    config_path = path.with_name(f"{stem}.lstm.yml")
    atomic_write(path, buffer.getvalue())
    atomic_write(dict_path, dict_text(vocab))
    atomic_write(config_path, config_text(trace, path.name, dict_path.name, stem))
    return [path, dict_path, config_path]
