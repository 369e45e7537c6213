"""Ablate units of a recurrent layer: cut every weight through which a unit's output reaches the
rest of the network, as Lakretz et al. (2019) did.

Unit u of recurrent layer l is read by the network only through its hidden output h_u (an LSTM's
cell state c_u feeds nothing but h_u itself). h_u is read by

    its own layer's recurrent_kernel, row u   [H, kH]: every gate block (i, f, c, o / z, r, h / —)
    the next recurrent layer's kernel, row u  [H, kH'], or, for the top layer,
    the Dense "logits" kernel, row u          [H, V]

Zeroing those rows makes the logits independent of the unit's activity (the unit still computes
its own state, from the input and its own bias, but nothing reads it). Its incoming weights and
bias are left alone, as in the paper. Only weights named `kernel` / `recurrent_kernel` are touched,
so Keras' LSTM, GRU and SimpleRNN and charlm's own cells (which keep those names) all work; a
Dropout between layers has no weights and changes nothing.

    with ablated(model, 0, [17, 42]):   # weights modified in place, restored on exit
        ...                             # (compiled functions that read the model see the change)
    copy = ablated_copy(model, "lstm_0", [17])   # an independent model; `model` is untouched
"""

from __future__ import annotations

import contextlib

import numpy as np

from charlm.inspect.trace import recurrent_layers


def resolve_layer(model, layer) -> tuple[int, object]:
    """(index among the recurrent layers, the layer) from an index or a layer name."""
    layers = recurrent_layers(model)
    if isinstance(layer, str):
        for i, found in enumerate(layers):
            if found.name == layer:
                return i, found
        raise ValueError(f"no recurrent layer named {layer!r} (there are "
                         f"{', '.join(x.name for x in layers)})")
    index = int(layer)
    if not -len(layers) <= index < len(layers):
        raise ValueError(f"recurrent layer {layer} does not exist (the model has {len(layers)})")
    index %= len(layers)
    return index, layers[index]


def _cell_variable(layer, name: str):
    for variable in layer.cell.weights:
        if variable.path.split("/")[-1] == name:
            return variable
    raise ValueError(f"layer {layer.name} has no weight named {name!r}")


def outgoing_variables(model, layer) -> list:
    """The variables whose row u carries unit u of `layer` onward: its own recurrent_kernel, then
    the next recurrent layer's kernel or the Dense "logits" kernel."""
    index, found = resolve_layer(model, layer)
    layers = recurrent_layers(model)
    onward = (_cell_variable(layers[index + 1], "kernel") if index + 1 < len(layers)
              else model.get_layer("logits").kernel)
    variables = [_cell_variable(found, "recurrent_kernel"), onward]
    units = found.cell.units
    for variable in variables:
        if variable.shape[0] != units:
            raise ValueError(f"{variable.path} has {variable.shape[0]} rows, not the "
                             f"{units} units of {found.name}")
    return variables


def unit_indices(units, count: int) -> np.ndarray:
    """`units` (an index or a list) as an int64 array, checked against the layer's `count`."""
    units = np.atleast_1d(np.asarray(units, dtype=np.int64))
    if units.size and (units.min() < 0 or units.max() >= count):
        raise ValueError(f"unit indices must be in [0, {count}), got {units.tolist()}")
    return units


@contextlib.contextmanager
def ablated(model, layer, units):
    """Within the block, `units` of recurrent `layer` (index or name) are ablated in `model`'s own
    weights; on exit (an exception included) the original values are put back exactly."""
    _, found = resolve_layer(model, layer)
    rows = unit_indices(units, found.cell.units)
    variables = outgoing_variables(model, layer)
    saved = [np.array(v.numpy(), copy=True) for v in variables]
    try:
        _zero_rows(variables, rows)
        yield model
    finally:
        for variable, value in zip(variables, saved):
            variable.assign(value)


def _zero_rows(variables, rows: np.ndarray) -> None:
    for variable in variables:
        value = np.array(variable.numpy(), copy=True)
        value[rows] = 0.0
        variable.assign(value)


def ablated_copy(model, layer, units):
    """A new model with the same weights as `model` and `units` of `layer` (index or name)
    ablated; `model` is not modified."""
    import keras

    index, found = resolve_layer(model, layer)
    rows = unit_indices(units, found.cell.units)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    _zero_rows(outgoing_variables(copy, index), rows)
    return copy
