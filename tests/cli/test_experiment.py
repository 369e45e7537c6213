"""`charlm experiment cells` end to end: equal-size cells trained, probed, reported, reused."""

import json

import pytest

from charlm.cli import main
from charlm.experiments.cells import DEFAULT_LRS
from tests.helpers import TINY_TEXT
from tests.probes.examples import PAIR, write_jsonl as _jsonl


@pytest.mark.slow
def test_experiment_cells_end_to_end(tmp_path, capsys):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT)
    rows = [{**PAIR, "sentence_good": f"The {a} near the dogs {v}.", "sentence_bad":
             f"The {a} near the dogs {w}.", "prefix": f"The {a} near the dogs", "good": f"{v}.",
             "bad": f"{w}.", "suffix": "", "n_attr": 1, "distance": n}
            for a, v, w, n in [("cat", "sleeps", "sleep", 3), ("cats", "sleep", "sleeps", 3),
                               ("girl", "sings", "sing", 8)]]
    data = _jsonl(tmp_path / "d.jsonl", rows)
    argv = ["experiment", "cells", "--cells", "rnn,lstm", "--steps", "3", "--corpus",
            str(corpus), "--lstm-units", "16", "--embedding-dim", "8", "--batch-size", "4",
            "--seq-len", "10", "--data", str(data), "--out", str(tmp_path / "exp"),
            "--lr", "lstm=0.005"]
    assert main(argv) == 0
    result = json.loads((tmp_path / "exp" / "cells.json").read_text())
    assert [c["cell"] for c in result["cells"]] == ["rnn", "lstm"]
    rnn, lstm = result["cells"]
    assert abs(rnn["params"] - lstm["params"]) / lstm["params"] < 0.02 and rnn["units"] > 16
    assert (rnn["lr"], lstm["lr"]) == (DEFAULT_LRS["rnn"], 0.005)  # --lr names lstm only
    assert rnn["steps"] == lstm["steps"] == 3 and result["budget_per_cell"] == "3 steps"
    assert set(result["summaries"]["rnn"]["by_distance"]) == {"2-3", "7-9"}
    assert (tmp_path / "exp" / "cells.png").stat().st_size > 1000
    assert "| rnn |" in capsys.readouterr().out
    assert main(argv) == 0  # trained cells are reused, not retrained
    assert "reusing" in capsys.readouterr().err
    before = (tmp_path / "exp" / "rnn" / "config.json").read_bytes()
    assert main(argv[:5] + ["4"] + argv[6:]) == 2  # --steps 4: not the run the folder holds
    assert "steps 3 → 4" in capsys.readouterr().err
    assert (tmp_path / "exp" / "rnn" / "config.json").read_bytes() == before
