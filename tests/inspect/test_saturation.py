"""Gate saturation (charlm.inspect.saturation): exact fractions on hand-set weights, for LSTM and
GRU gates; a simple RNN has none and says so; the JSON and the PNG are written."""

import json

import numpy as np
import pytest

from charlm.data.tokenizers import CharTokenizer
from charlm.inspect.saturation import fractions, gate_names, saturation_report
from charlm.model.model import build_model

TOKENIZER = CharTokenizer(list("\nabcde"))  # ids: 0 <unk>, 1 "\n", 2 "a", ...
TEXT = "abcab\nedaa\nbba?"  # 15 characters, 5 "a", one unknown "?"
BIG = 30.0  # sigmoid(±30) is 1 or ~1e-13: saturated at every step whatever the input


def _hand_set(cell: str, bias_blocks: dict, a_unit: tuple | None = None):
    """A 1-layer model with 3 units and all kernels zero, so each gate is sigmoid(its bias) at
    every step. bias_blocks: {block: [3 biases]}; a_unit (block, unit): that gate is driven by
    the input instead, right-saturated after reading "a" and left-saturated otherwise."""
    model = build_model(TOKENIZER.vocab_size, 4, cell, 1, 3)
    layer = model.get_layer(f"{cell}_0")
    embedding = np.zeros((TOKENIZER.vocab_size, 4), np.float32)
    embedding[TOKENIZER.token_id("a"), 0] = 1.0  # only "a" has a non-zero embedding
    model.get_layer("embedding").embeddings.assign(embedding)
    kernel = np.zeros(layer.cell.kernel.shape, np.float32)
    layer.cell.recurrent_kernel.assign(np.zeros(layer.cell.recurrent_kernel.shape, np.float32))
    bias = np.zeros(layer.cell.bias.shape, np.float32)  # GRU: [2, 3H]; the input row is used
    flat = bias.reshape(-1, bias.shape[-1])[0]
    for block, values in bias_blocks.items():
        flat[3 * block:3 * block + 3] = values
    if a_unit is not None:
        block, unit = a_unit
        flat[3 * block + unit] = -BIG
        kernel[0, 3 * block + unit] = 2 * BIG  # "a": -30 + 60 = +30
    layer.cell.kernel.assign(kernel)
    layer.cell.bias.assign(bias)
    return model


def test_lstm_fractions_are_exact(tmp_path):
    # blocks i, f, c, o: input gate high / low / 0.5; forget gate low / (driven by "a") / high
    model = _hand_set("lstm", {0: [BIG, -BIG, 0.0], 1: [-BIG, 0.0, BIG], 3: [0.0, BIG, -BIG]},
                      a_unit=(1, 1))
    report = saturation_report(model, TOKENIZER, TEXT, tmp_path)
    assert report["steps"] == len(TEXT)
    (layer,) = report["layers"]
    assert layer["cell"] == "lstm" and list(layer["gates"]) == ["input_gate", "forget_gate",
                                                                "output_gate"]
    gates = layer["gates"]
    assert gates["input_gate"]["left"] == [0.0, 1.0, 0.0]
    assert gates["input_gate"]["right"] == [1.0, 0.0, 0.0]
    share_a = round(TEXT.count("a") / len(TEXT), 6)
    assert gates["forget_gate"]["left"] == [1.0, round(1 - share_a, 6), 0.0]
    assert gates["forget_gate"]["right"] == [0.0, share_a, 1.0]
    assert gates["output_gate"]["left"] == [0.0, 0.0, 1.0]
    assert gates["output_gate"]["right"] == [0.0, 1.0, 0.0]
    summary = gates["input_gate"]["summary"]
    assert (summary["always_left"], summary["always_right"], summary["never_saturated"]) == \
        (1, 1, 1)
    assert report["summary"]["forget_gate"]["mostly_left"] == 2  # units 0 and 1 (1/3 are "a")

    on_disk = json.loads((tmp_path / "saturation.json").read_text())
    assert on_disk["layers"][0]["gates"] == json.loads(json.dumps(gates))
    png = (tmp_path / "saturation.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_gru_gates(tmp_path):
    # blocks z, r, h: update gate high / low / 0.5, reset gate driven by "a" for unit 2
    model = _hand_set("gru", {0: [BIG, -BIG, 0.0], 1: [0.0, 0.0, 0.0]}, a_unit=(1, 2))
    report = saturation_report(model, TOKENIZER, TEXT, tmp_path)
    gates = report["layers"][0]["gates"]
    assert list(gates) == ["update_gate", "reset_gate"]
    assert gates["update_gate"]["left"] == [0.0, 1.0, 0.0]
    assert gates["update_gate"]["right"] == [1.0, 0.0, 0.0]
    share_a = round(TEXT.count("a") / len(TEXT), 6)
    assert gates["reset_gate"]["right"] == [0.0, 0.0, share_a]
    assert gates["reset_gate"]["left"] == [0.0, 0.0, round(1 - share_a, 6)]


def test_rnn_has_no_gates(tmp_path):
    model = build_model(TOKENIZER.vocab_size, 4, "rnn", 2, 3)
    report = saturation_report(model, TOKENIZER, TEXT, tmp_path)
    assert [layer["gates"] for layer in report["layers"]] == [{}, {}]
    assert all("no gates" in layer["note"] for layer in report["layers"])
    assert report["summary"] == {}
    assert (tmp_path / "saturation.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "peephole", "cifg"])
def test_gate_names(cell):
    expected = {"lstm": ["input_gate", "forget_gate", "output_gate"],
                "peephole": ["input_gate", "forget_gate", "output_gate"],
                "gru": ["update_gate", "reset_gate"], "rnn": []}
    names = gate_names(cell)
    assert all(n.endswith("_gate") for n in names)
    if cell in expected:
        assert names == expected[cell]
    else:
        assert names  # cifg: its own gates


def test_thresholds_are_strict():
    values = np.array([[0.1, 0.9], [0.0999, 0.9001], [0.5, 1.0]], np.float32)
    left, right = fractions(values)
    np.testing.assert_array_equal(left, [1 / 3, 0.0])
    np.testing.assert_array_equal(right, [0.0, 2 / 3])
