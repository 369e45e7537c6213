"""Ablation (charlm.inspect.ablation) really removes a unit: once ablated, the logits do not depend
on anything the unit computes, for every cell and for a lower and the top layer; and the model's
own weights come back unchanged."""

import numpy as np
import pytest

from charlm.inspect.ablation import ablated, ablated_copy, outgoing_variables, resolve_layer
from charlm.inspect.trace import recurrent_layers
from tests.helpers import tiny_model

TOKENS = np.random.default_rng(5).integers(0, 11, (3, 17)).astype(np.int32)  # [B, T]
UNIT = 2
CELLS = ["lstm", "gru", "rnn", "peephole", "cifg"]


def _random_model(cell, units=6):
    model = tiny_model(cell=cell, layers=2, units=units)
    rng = np.random.default_rng(3)  # not the initial weights: peephole vectors start at 0
    model.set_weights([rng.normal(0, 0.6, w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model


def _logits(model):
    zeros = [np.zeros((len(TOKENS), inp.shape[-1]), np.float32) for inp in model.inputs[1:]]
    return np.asarray(model([TOKENS, *zeros])[0])


def _perturb_incoming(model, layer_index, unit, seed=11):
    """Randomise everything that feeds unit `unit`: its column in every gate block of the kernel
    and the recurrent kernel, its bias entries (every block, both GRU bias rows) and, for a
    peephole cell, its peephole weights."""
    layer = recurrent_layers(model)[layer_index]
    units = layer.cell.units
    rng = np.random.default_rng(seed)
    for variable in layer.cell.weights:
        value = np.array(variable.numpy(), copy=True)
        blocks = value.shape[-1] // units
        columns = [b * units + unit for b in range(blocks)]
        value[..., columns] += rng.normal(0, 2.0, value[..., columns].shape)
        variable.assign(value)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layer", [0, 1])  # 1: the top layer, read by the logits
def test_ablated_unit_has_no_influence_on_the_logits(cell, layer):
    model = _random_model(cell)
    intact = _logits(model)
    with ablated(model, layer, [UNIT]):
        cut = _logits(model)
    assert np.abs(cut - intact).max() > 1e-4  # the unit mattered before

    _perturb_incoming(model, layer, UNIT)
    perturbed = _logits(model)
    assert np.abs(perturbed - intact).max() > 1e-3  # the perturbation reaches the logits...
    with ablated(model, layer, [UNIT]):
        cut_perturbed = _logits(model)
    np.testing.assert_array_equal(cut_perturbed, cut)  # ...but not once the unit is ablated


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_other_units_still_matter(cell):
    """Ablating unit 2 does not ablate unit 3: perturbing unit 3 still changes the logits."""
    model = _random_model(cell)
    with ablated(model, 1, [UNIT]):
        before = _logits(model)
    _perturb_incoming(model, 1, UNIT + 1)
    with ablated(model, 1, [UNIT]):
        after = _logits(model)
    assert np.abs(after - before).max() > 1e-3


def test_weights_restored_exactly_even_after_an_error():
    model = _random_model("lstm")
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(RuntimeError):
        with ablated(model, "lstm_1", [0, UNIT, 5]):
            changed = model.get_weights()
            assert any(not np.array_equal(a, b) for a, b in zip(before, changed))
            raise RuntimeError("boom")
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("layer", [0, 1])
def test_zeroes_exactly_the_outgoing_rows(layer):
    model = _random_model("lstm")
    names = [v.path for v in outgoing_variables(model, layer)]
    assert names[0].endswith(f"lstm_{layer}/lstm_cell/recurrent_kernel") or \
        names[0].split("/")[-1] == "recurrent_kernel"
    assert names[1].split("/")[-1] == "kernel"
    assert ("logits" in names[1]) == (layer == 1)
    before = [np.array(v.numpy()) for v in outgoing_variables(model, layer)]
    with ablated(model, layer, [1, 4]):
        for old, variable in zip(before, outgoing_variables(model, layer)):
            new = np.array(variable.numpy())
            assert not new[[1, 4]].any()  # every gate block of rows 1 and 4
            keep = [r for r in range(6) if r not in (1, 4)]
            np.testing.assert_array_equal(new[keep], old[keep])


@pytest.mark.parametrize("cell", ["lstm", "gru", "peephole"])
def test_copy_leaves_the_model_alone(cell):
    model = _random_model(cell)
    before = [w.copy() for w in model.get_weights()]
    copy = ablated_copy(model, 1, [UNIT])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with ablated(model, 1, [UNIT]):
        expected = _logits(model)
    np.testing.assert_allclose(_logits(copy), expected, atol=1e-6)


def test_bad_arguments():
    model = _random_model("lstm")
    with pytest.raises(ValueError, match="no recurrent layer named"):
        resolve_layer(model, "gru_0")
    with pytest.raises(ValueError, match="does not exist"):
        resolve_layer(model, 2)
    with pytest.raises(ValueError, match="unit indices"):
        with ablated(model, 0, [6]):
            pass
