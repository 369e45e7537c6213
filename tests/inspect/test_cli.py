"""`charlm inspect` (view) on the tiny trained checkpoint: the page, --json, --text-file, --h5,
bad input; and LanguageModel.inspect. The page is checked for structure only (what a browser
shows was looked at by hand, docs/inspect-view.png)."""

import json
import re

import numpy as np
import pytest

from tests.helpers import assert_one_line_error, run_cli

TEXT = "The keys to the cabinet are on the table."
LSTM = ["input_gate", "forget_gate", "candidate", "output_gate", "cell", "hidden"]


def _view(capsys, *argv):
    return run_cli(capsys, ["inspect", *map(str, argv)])


def _json(capsys, checkpoint, *argv) -> dict:
    code, out, err = _view(capsys, "--checkpoint", checkpoint, "--json", *argv)
    assert code == 0, err
    return json.loads(out)  # stdout holds the JSON and nothing else


def test_page_is_self_contained_and_embeds_text_and_data(trained_checkpoint, tmp_path, capsys):
    page = tmp_path / "out" / "view.html"
    code, out, err = _view(capsys, "--checkpoint", trained_checkpoint, "--text", TEXT,
                           "--out", page)
    assert code == 0, err
    html = page.read_text(encoding="utf-8")
    assert TEXT in html
    for remote in ("http://", "https://", "src=", "<link", "@import", "url(", "//cdn"):
        assert remote not in html, remote
    data = json.loads(re.search(r'<script type="application/json" class="ci-data">(.*?)'
                                r"</script>", html, re.S).group(1))
    assert data["text"] == TEXT and data["tokens"] == list(TEXT)
    assert [q["name"] for q in data["layers"][0]["quantities"]] == LSTM
    blocks = re.findall(r'class="ci-block" data-key="([^"]+)"', html)
    assert {f"0/{q}" for q in LSTM} | {"top_ids", "top_p", "next_p"} == set(blocks)
    assert html.count("<span") >= len(TEXT)  # the text, one span per character
    # the heatmaps, one per quantity, beside the page; every path written is printed
    pngs = [page.with_name(f"view-lstm_0-{q}.png") for q in LSTM]
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.split() == [w for p in [page, *pngs] for w in ("wrote", str(p))]


def _copy(checkpoint, tmp_path):
    """The shared checkpoint, copied: tests that write into a checkpoint get their own."""
    import shutil

    return shutil.copytree(checkpoint, tmp_path / "ckpt", ignore=shutil.ignore_patterns("insp*"))


def test_page_goes_into_the_checkpoint_by_default(trained_checkpoint, tmp_path, capsys):
    checkpoint = _copy(trained_checkpoint, tmp_path)
    code, out, err = _view(capsys, "view", "--checkpoint", checkpoint, "--text", "The cat")
    assert code == 0, err
    assert (checkpoint / "inspect" / "view.html").is_file()
    assert (checkpoint / "inspect" / "view-lstm_0-hidden.png").is_file()


def test_json_layout_and_values_match_the_keras_model(trained_checkpoint, capsys):
    import keras

    import charlm
    from charlm.model.model import zero_states

    code, out, err = _view(capsys, "--checkpoint", trained_checkpoint, "--json", "--text", TEXT)
    assert code == 0, err
    got = json.loads(out)
    assert list(got) == ["text", "tokens", "layers"]
    assert got["text"] == TEXT and got["tokens"] == list(TEXT)
    assert len(got["layers"]) == 1
    layer = got["layers"][0]
    # "cell_type", not "cell": the LSTM's cell state is the quantity "cell"
    assert list(layer) == ["cell_type", "name", *LSTM]
    assert layer["cell_type"] == "lstm" and layer["name"] == "lstm_0"
    for quantity in LSTM:
        values = np.asarray(layer[quantity])
        assert values.shape == (len(TEXT), 64), quantity
    gates = np.asarray([layer[q] for q in ("input_gate", "forget_gate", "output_gate")])
    assert gates.min() >= 0 and gates.max() <= 1
    # the last step's hidden and cell states are the Keras model's final states for the text
    lm = charlm.load(trained_checkpoint)
    ids = lm.tokenizer.encode(TEXT)[None, :]
    logits, h, c = lm.model([keras.ops.convert_to_tensor(ids), *zero_states(lm.model, 1)])
    np.testing.assert_allclose(layer["hidden"][-1], np.asarray(h)[0], atol=2e-5)
    np.testing.assert_allclose(layer["cell"][-1], np.asarray(c)[0], atol=2e-5)
    # and every step's hidden state is what the Keras layer returns for that step
    seq = keras.Model(lm.model.inputs, lm.model.get_layer("lstm_0").output[0])
    hidden = np.asarray(seq([keras.ops.convert_to_tensor(ids), *zero_states(lm.model, 1)]))[0]
    np.testing.assert_allclose(np.asarray(layer["hidden"]), hidden, atol=2e-5)


def test_text_file_in_chunks_equals_text_in_one_pass(trained_checkpoint, tmp_path, capsys,
                                                     monkeypatch):
    from charlm.inspect import trace

    text = (TEXT + "\n") * 3
    one_pass = _json(capsys, trained_checkpoint, "--text", text)
    path = tmp_path / "text.txt"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(trace, "CHUNK", 7)  # 124 characters: 18 chunks, the state carried
    used, trace_ids = [], trace.trace_ids
    monkeypatch.setattr(trace, "trace_ids", lambda model, ids, chunk, progress=None: (
        used.append(chunk) or trace_ids(model, ids, chunk, progress)))
    chunked = _json(capsys, trained_checkpoint, "--text-file", path)
    assert used == [7]
    assert chunked["text"] == one_pass["text"] == text
    assert chunked["tokens"] == one_pass["tokens"]
    for quantity in LSTM:
        np.testing.assert_allclose(chunked["layers"][0][quantity],
                                   one_pass["layers"][0][quantity], atol=2e-5)


def test_h5_has_the_lstmvis_layout(trained_checkpoint, tmp_path, capsys):
    import h5py

    import charlm

    h5 = tmp_path / "states.h5"
    code, out, err = _view(capsys, "--checkpoint", trained_checkpoint, "--text", TEXT,
                           "--h5", h5)
    assert code == 0, err
    written = [tmp_path / "states.h5", tmp_path / "states.dict", tmp_path / "states.lstm.yml"]
    assert out.split() == [w for p in written for w in ("wrote", str(p))]
    lm = charlm.load(trained_checkpoint)
    expected = lm.inspect(TEXT)
    with h5py.File(h5, "r") as f:
        assert f["word_ids"].shape == (len(TEXT),)
        np.testing.assert_array_equal(f["word_ids"][:], lm.tokenizer.encode(TEXT))
        for quantity in LSTM:
            table = f[f"lstm_0_{quantity}"]
            assert table.shape == (len(TEXT), 64) and table.dtype == np.float32
            np.testing.assert_allclose(table[:], expected["lstm_0", quantity], atol=1e-6)
        assert [s.decode() for s in f["dictionary"][:]] == lm.tokenizer.vocab
    lines = (tmp_path / "states.dict").read_text(encoding="utf-8").splitlines()
    assert len(lines) == lm.tokenizer.vocab_size
    assert [int(line.split()[1]) for line in lines] == list(range(len(lines)))
    assert all(len(line.split()) == 2 for line in lines)  # LSTMVis: `k, v = line.split()`
    config = (tmp_path / "states.lstm.yml").read_text(encoding="utf-8")
    for quantity in LSTM:
        assert f"path: lstm_0_{quantity}" in config
    assert "path: word_ids" in config and '"states.dict"' in config


def test_json_and_h5_write_no_page_unless_asked(trained_checkpoint, tmp_path, capsys):
    checkpoint = _copy(trained_checkpoint, tmp_path)
    code, out, err = _view(capsys, "--checkpoint", checkpoint, "--text", "The cat", "--json",
                           "--h5", tmp_path / "s.hdf5")
    assert code == 0, err
    assert len(json.loads(out)["tokens"]) == 7
    assert f"wrote {tmp_path / 's.hdf5'}" in err  # with --json, the paths go to stderr
    assert not (checkpoint / "inspect").exists()


@pytest.mark.parametrize("argv,pattern", [
    (["--text", "The cat", "--text-file", "x.txt"], "exactly one of --text"),
    ([], "exactly one of --text"),
    (["--text", "Zebra!"], "not in the model's vocabulary"),
    (["--text-file", "/nonexistent/text.txt"], "does not exist"),
    (["--text", "The cat", "--h5", "states.txt"], "should end with .h5"),
    (["--text", "The cat", "--out", "view.png"], "a .html file"),
    (["--text", ""], "the text is empty"),
    (["--text", "The cat", "--draws", "3"], "--draws cannot be used with charlm inspect view"),
    (["bogus", "--text", "The cat"], "invalid choice"),
])
def test_bad_input_is_one_line(trained_checkpoint, tmp_path, capsys, argv, pattern):
    assert_one_line_error(capsys, ["inspect", "--checkpoint", str(trained_checkpoint), *argv],
                          pattern)


def test_missing_checkpoint_is_one_line(tmp_path, capsys):
    assert_one_line_error(capsys, ["inspect", "--checkpoint", str(tmp_path / "nope"), "--text",
                                   "The cat"], "does not exist")


def test_unknown_replace_reads_them_as_unk(trained_checkpoint, capsys):
    code, out, err = _view(capsys, "--checkpoint", trained_checkpoint, "--json", "--text",
                           "Zebra", "--unknown", "replace")
    assert code == 0, err
    got = json.loads(out)
    assert got["tokens"] == list("Zebra") and len(got["layers"][0]["hidden"]) == 5
    assert "1 character(s) outside the vocabulary read as <unk>" in err  # the Z


def test_language_model_inspect(trained_lm):
    ins = trained_lm.inspect(TEXT)
    assert ins["lstm_0", "forget_gate"].shape == (len(TEXT), 64)
    assert ins[0, "hidden"] is ins.layers[0].values["hidden"]
    assert isinstance(ins["lstm_0"]["cell"], np.ndarray)
    assert ins.to_json()["tokens"] == list(TEXT)
    top = ins.top_next()
    assert len(top) == len(TEXT) and all(len(row) == 5 for row in top)
    assert all(row[0][1] >= row[-1][1] for row in top)
    assert top[TEXT.index("cabine")][0][0] in set(TEXT)  # a character of the vocabulary
    html = ins._repr_html_()
    assert TEXT in html and "<html" not in html
    ids = re.findall(r'<div class="charlm-inspect" id="([^"]+)"', html + ins._repr_html_())
    assert len(ids) == 2 and ids[0] != ids[1]  # two views on one notebook page don't clash
    with pytest.raises(KeyError, match="no layer"):
        ins["gru_7", "hidden"]
