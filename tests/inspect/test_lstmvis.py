"""charlm.inspect.lstmvis: the dictionary LSTMVis can split, and the files on a hand-made trace."""

import numpy as np

from charlm.inspect.lstmvis import dict_text, dict_token, write_lstmvis
from charlm.inspect.trace import LayerTrace, Trace


def test_dictionary_tokens_have_no_whitespace():
    assert [dict_token(t) for t in [" ", "\n", "", "a b", "\u00a0", "é"]] == \
        ["\u2423", "\u23ce", "\u2205", "a\u2423b", "U+00A0", "é"]
    lines = dict_text(["<unk>", " ", "\n", "x"]).splitlines()
    assert lines == ["<unk> 0", "\u2423 1", "\u23ce 2", "x 3"]


def test_files_and_tables(tmp_path):
    import h5py

    values = {q: np.full((3, 2), i, np.float32) for i, q in enumerate(["update_gate",
                                                                          "reset_gate",
                                                                          "candidate", "hidden"])}
    trace = Trace("ab ", list("ab "), np.array([1, 2, 3]), [LayerTrace("gru_0", "gru", values)],
                  np.zeros((3, 4), np.float32))
    paths = write_lstmvis(trace, ["<unk>", "a", "b", " "], tmp_path / "run.hdf5")
    assert [p.name for p in paths] == ["run.hdf5", "run.dict", "run.lstm.yml"]
    with h5py.File(paths[0], "r") as f:
        assert sorted(f) == ["dictionary", "gru_0_candidate", "gru_0_hidden", "gru_0_reset_gate",
                             "gru_0_update_gate", "word_ids"]
        assert f["word_ids"][:].tolist() == [1, 2, 3]
        assert f["gru_0_hidden"][:].tolist() == [[3, 3]] * 3
    config = paths[2].read_text(encoding="utf-8")
    assert "{type: update_gate, layer: 1, path: gru_0_update_gate, unsigned: true, " \
           "transform: none}" in config
    assert "{type: output, layer: 1, path: gru_0_hidden, transform: none}" in config
    assert 'states: "run.hdf5"' in config and 'words: "run.dict"' in config
