"""charlm.inspect.view on hand-made traces (no model): the page's escaping and embedded data,
the quantisation, the heatmaps; and GRU / simple RNN layers through a real tiny model."""

import base64
import json
import re
import zlib
from html.parser import HTMLParser

import numpy as np
import pytest

from charlm.inspect.equations import EQUATIONS
from charlm.inspect.trace import LayerTrace, Trace
from charlm.inspect.view import Inspection, dequantise, quantise, write_heatmaps

VOCAB = ["<unk>", "\n", " ", "<", ">", "a", "b", "c", "/", "s", "r", "i", "p", "t", "&", '"']


def _trace(text: str, cells=("lstm",), units=4, seed=0) -> Trace:
    rng = np.random.default_rng(seed)
    T = len(text)
    layers = []
    for n, cell in enumerate(cells):
        values = {}
        for q in EQUATIONS[cell][1]:
            z = rng.normal(scale=2.0, size=(T, units))
            values[q] = (1 / (1 + np.exp(-z)) if q.endswith("_gate") else
                         3 * z if q == "cell" else np.tanh(z)).astype(np.float32)
        layers.append(LayerTrace(f"{cell}_{n}", cell, values))
    ids = np.array([VOCAB.index(c) if c in VOCAB else 0 for c in text])
    logits = rng.normal(size=(T, len(VOCAB))).astype(np.float32)
    return Trace(text, list(text), ids, layers, logits)


class _Scripts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts, self._in = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._in = dict(attrs)
            self.scripts.append([self._in, ""])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in = None

    def handle_data(self, data):
        if self._in is not None:
            self.scripts[-1][1] += data


def _scripts(html: str) -> list:
    parser = _Scripts()
    parser.feed(html)
    return parser.scripts


def _blocks(html: str) -> dict:
    return {attrs["data-key"]: zlib.decompress(base64.b64decode(body))
            for attrs, body in _scripts(html) if attrs.get("class") == "ci-block"}


def test_text_that_looks_like_html_cannot_break_the_page():
    text = 'a</script><script>alert("x")</script>\n<em>&amp; </SCRIPT >'
    html = Inspection(_trace(text), VOCAB).html()
    scripts = _scripts(html)
    assert html.lower().count("</script") == len(scripts)  # only the page's own scripts end
    data = json.loads([body for attrs, body in scripts if attrs.get("class") == "ci-data"][0])
    assert data["text"] == text and data["tokens"] == list(text)
    assert "<em>" not in html  # the spans hold the escaped text, a character each
    assert "<span>&lt;</span><span>e</span><span>m</span><span>&gt;</span>" in html
    assert "<span>&amp;</span><span>a</span>" in html


def test_embedded_values_are_the_trace_within_half_a_quantisation_step():
    trace = _trace("abc abc\nabc" * 5)
    html = Inspection(trace, VOCAB).html()
    blocks = _blocks(html)
    data = json.loads(re.search(r'class="ci-data">(.*?)</script>', html, re.S).group(1))
    T, H = len(trace.tokens), 4
    for spec in data["layers"][0]["quantities"]:
        values = trace.layers[0].values[spec["name"]]
        q = np.frombuffer(blocks[spec["key"]], np.uint8).reshape(H, T)  # unit-major
        shown = dequantise(q, spec["name"], spec["scale"])
        if spec["kind"] == "gate":
            assert spec["scale"] is None
            step = np.full(H, 1 / 255)
        else:
            np.testing.assert_allclose(spec["scale"], np.abs(values).max(axis=0), rtol=1e-5)
            step = np.asarray(spec["scale"]) / 127
        assert (np.abs(shown - values) <= step / 2 + 1e-6).all(), spec["name"]
    assert [s["kind"] for s in data["layers"][0]["quantities"]] == \
        ["gate", "gate", "signed", "gate", "signed", "signed"]
    top = np.frombuffer(blocks["top_ids"], "<u2").reshape(T, 5)
    p = trace.probabilities()
    np.testing.assert_array_equal(top, np.argsort(-p, axis=1, kind="stable")[:, :5])
    top_p = np.frombuffer(blocks["top_p"], "<u2").reshape(T, 5) / 65535
    np.testing.assert_allclose(top_p, np.take_along_axis(p, top, 1), atol=1 / 65535)


def test_quantise_round_trip_and_zero_units():
    values = np.array([[0.0, -2.0, 0.5], [0.0, 1.0, -0.25]], np.float32)
    q, scale = quantise(values, "cell")
    assert q.shape == (3, 2) and scale == [1.0, 2.0, 0.5]  # a constant-zero unit keeps scale 1
    np.testing.assert_allclose(dequantise(q, "cell", scale), values, atol=2 / 254)
    q, scale = quantise(np.array([[0.0, 1.0]]), "forget_gate")
    assert scale is None and q.ravel().tolist() == [0, 255]


def test_gru_and_rnn_layers_get_their_quantities_and_colours():
    data_layers = json.loads(re.search(
        r'class="ci-data">(.*?)</script>',
        Inspection(_trace("abcab", cells=("gru", "rnn")), VOCAB).html(), re.S).group(1))["layers"]
    assert [(q["name"], q["kind"]) for q in data_layers[0]["quantities"]] == [
        ("update_gate", "gate"), ("reset_gate", "gate"), ("candidate", "signed"),
        ("hidden", "signed")]
    assert [q["name"] for q in data_layers[1]["quantities"]] == ["hidden"]


def test_notebook_fragments_have_their_own_ids():
    ins = Inspection(_trace("abc"), VOCAB)
    a, b = ins._repr_html_(), ins._repr_html_()
    ida = re.search(r'class="charlm-inspect" id="([^"]+)"', a).group(1)
    idb = re.search(r'class="charlm-inspect" id="([^"]+)"', b).group(1)
    assert ida != idb and f"({json.dumps(ida)}, document.currentScript)" in a  # its own root
    assert not a.startswith("<!DOCTYPE") and ins.html().startswith("<!DOCTYPE html>")


def test_page_opens_on_the_unit_that_tracks_a_feature_best():
    text = "ab\nabc\nabcd\nab\nabcdba\n"
    trace = _trace(text, cells=("lstm", "lstm"))
    from charlm.inspect.features import line_position

    trace.layers[1].values["output_gate"][:, 2] = line_position(text) / 10
    data = json.loads(re.search(r'class="ci-data">(.*?)</script>',
                                Inspection(trace, VOCAB).html(), re.S).group(1))
    assert data["start"] == {"layer": 1, "quantity": 3, "unit": 2}
    top = data["ranking"]["line_position"]["units"][0]
    assert (top["layer_name"], top["quantity"], top["unit"], top["r"]) == \
        ("lstm_1", "output_gate", 2, 1.0)


@pytest.mark.parametrize("length", [40, 450])
def test_heatmaps_one_per_layer_and_quantity(tmp_path, length):
    text = ("abc abc\n" * 60)[:length]
    ins = Inspection(_trace(text, cells=("lstm", "gru")), VOCAB)
    written = write_heatmaps(ins, tmp_path / "page.html")
    expected = [f"page-lstm_0-{q}.png" for q in EQUATIONS["lstm"][1]] + \
        [f"page-gru_1-{q}.png" for q in EQUATIONS["gru"][1]]
    assert [p.name for p in written] == expected
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in written)


def test_gru_and_rnn_models_trace_to_their_json_quantities(make_model):
    import keras

    from charlm.data.tokenizers import CharTokenizer
    from charlm.inspect.view import inspect_text
    from charlm.model.model import zero_states

    tokenizer = CharTokenizer(list("abcdefghij"))  # 11 ids with <unk>, tiny_model's default
    text = "abcjjihgab"
    for cell, names in (("gru", ["update_gate", "reset_gate", "candidate", "hidden"]),
                        ("rnn", ["hidden"])):
        model = make_model(cell=cell, layers=2, units=5)
        ins = inspect_text(model, tokenizer, text)
        got = ins.to_json()
        for n, layer in enumerate(got["layers"]):
            assert layer["cell_type"] == cell and layer["name"] == f"{cell}_{n}"
            assert [k for k in layer if k not in ("cell_type", "name")] == names
            assert all(np.asarray(layer[q]).shape == (len(text), 5) for q in names)
        outputs = model([keras.ops.convert_to_tensor(tokenizer.encode(text)[None]),
                         *zero_states(model, 1)])
        for n, final in enumerate(outputs[1:]):  # one state per layer: h
            np.testing.assert_allclose(got["layers"][n]["hidden"][-1], np.asarray(final)[0],
                                       atol=2e-5)
        np.testing.assert_allclose(ins.logits, np.asarray(outputs[0])[0], atol=1e-4)
