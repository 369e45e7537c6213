"""`charlm experiment cells` end to end: equal-size cells trained, probed, reported, reused."""

import json

import numpy as np
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


def _tiny_experiment(tmp_path):
    """argv of a 3-step experiment on the tiny corpus and a three-pair suite, minus --out."""
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT)
    rows = [{**PAIR, "sentence_good": f"The {a} near the dogs {v}.", "sentence_bad":
             f"The {a} near the dogs {w}.", "prefix": f"The {a} near the dogs", "good": f"{v}.",
             "bad": f"{w}.", "suffix": "", "n_attr": 1, "distance": n, "category": c}
            for a, v, w, n, c in [("cat", "sleeps", "sleep", 3, "near"),
                                  ("cats", "sleep", "sleeps", 3, "near"),
                                  ("girl", "sings", "sing", 8, "far")]]
    data = _jsonl(tmp_path / "d.jsonl", rows)
    return ["experiment", "cells", "--cells", "rnn,lstm", "--steps", "3", "--corpus",
            str(corpus), "--lstm-units", "16", "--embedding-dim", "8", "--batch-size", "4",
            "--seq-len", "10", "--data", str(data), "--lr", "lstm=0.005"]


@pytest.mark.slow
def test_experiment_cells_seeds(tmp_path, capsys):
    # one cell, two seeds (several cells' summaries: tests/experiments/test_seeds.py)
    argv = _tiny_experiment(tmp_path) + ["--out", str(tmp_path / "exp"), "--cells", "lstm",
                                         "--seeds", "1,2", "--crossing-accuracy", "0.6"]
    assert main(argv) == 0
    result = json.loads((tmp_path / "exp" / "cells.json").read_text())
    assert result["seeds"] == [1, 2] and result["crossing_accuracy"] == 0.6
    assert [(r["cell"], r["seed"]) for r in result["runs"]] == [("lstm", 1), ("lstm", 2)]
    for seed in (1, 2):
        assert (tmp_path / "exp" / "lstm" / f"seed-{seed}" / "config.json").exists()
    assert [c["cell"] for c in result["cells"]] == ["lstm"]
    for summary in result["cells"]:
        rows = [r for r in result["runs"] if r["cell"] == summary["cell"]]
        assert rows[0]["val_bpc"] != rows[1]["val_bpc"]  # the seed changes the weights
        assert summary["crossed"] == sum(r["accuracy"] >= 0.6 for r in rows)
        assert all(r["crossed"] == (r["accuracy"] >= 0.6) for r in rows)
        for column in ("steps", "val_bpc", "accuracy"):
            values = np.array([r[column] for r in rows])
            assert summary[column]["mean"] == pytest.approx(values.mean())
            assert summary[column]["sd"] == pytest.approx(values.std(ddof=1))
            assert (summary[column]["min"], summary[column]["max"]) == (values.min(),
                                                                        values.max())
        assert set(summary["by_distance"]) == {"2-3", "7-9"}
        assert set(summary["by_construction"]) == {"near", "far"}
        for table in ("by_distance", "by_n_attr", "by_construction"):
            for key, s in summary[table].items():
                values = np.array([r[table][key] for r in rows])
                assert s["mean"] == pytest.approx(values.mean())
                assert (s["min"], s["max"]) == (values.min(), values.max())
    assert (tmp_path / "exp" / "cells.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert "| lstm | 1 | 3 |" in out and "## Each seed" in out
    assert f"| {sum(c['crossed'] for c in result['cells'][:1])}/2 |" in out

    # the same seed again, alone in another folder: the same row
    again = _tiny_experiment(tmp_path) + ["--out", str(tmp_path / "again"), "--seeds", "2",
                                          "--cells", "lstm", "--crossing-accuracy", "0.6"]
    assert main(again) == 0
    row = json.loads((tmp_path / "again" / "cells.json").read_text())["runs"][0]
    first = result["runs"][1]
    assert {**row, "val_bpc": 0} == {**first, "val_bpc": 0}
    assert row["val_bpc"] == pytest.approx(first["val_bpc"], rel=1e-6)

    # the experiment again: every run reused; without --seeds that folder is an error
    assert main(argv) == 0
    assert capsys.readouterr().err.count("reusing") == 2
    assert main(argv[:-4]) == 2
    assert "holds runs trained with --seeds" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--seeds", "1,x"], "--seeds takes distinct integers"),
    (["--seeds", "2,2"], "--seeds takes distinct integers"),
    (["--seeds", "1,2", "--seed", "3"], "pass --seed or --seeds, not both"),
    (["--crossing-accuracy", "0.8"], "pass --seeds too"),
    (["--seeds", "1,2", "--crossing-accuracy", "90"], "--crossing-accuracy is a fraction"),
])
def test_experiment_cells_bad_seeds(tmp_path, capsys, flags, message):
    out = tmp_path / "exp"
    assert main(["experiment", "cells", "--out", str(out)] + flags) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


@pytest.mark.slow
def test_experiment_finishes_a_run_that_was_stopped_part_way(tmp_path, capsys, monkeypatch):
    """Killed mid-run, the experiment run again resumes that run where it stopped: its model
    ends bit-identical to one trained straight through."""
    from charlm.api import load
    from charlm.training import trainer

    argv = _tiny_experiment(tmp_path) + ["--cells", "lstm", "--steps", "6"]
    assert main(argv + ["--out", str(tmp_path / "straight")]) == 0
    train = trainer.train
    monkeypatch.setattr(trainer, "train",  # the first run stops after 2 of its 6 steps
                        lambda config, **kw: train(config, **kw, stop_after_steps=2))
    assert main(argv + ["--out", str(tmp_path / "stopped")]) == 0
    assert json.loads((tmp_path / "stopped" / "cells.json").read_text())["cells"][0]["steps"] < 6
    monkeypatch.setattr(trainer, "train", train)
    capsys.readouterr()
    assert main(argv + ["--out", str(tmp_path / "stopped")]) == 0
    assert "reusing" in capsys.readouterr().err
    rows = [json.loads((tmp_path / d / "cells.json").read_text())["cells"][0]
            for d in ("straight", "stopped")]
    assert rows[1]["steps"] == 6 and rows[0] == rows[1]
    models = [load(tmp_path / d / "lstm", which="last").model for d in ("straight", "stopped")]
    for w1, w2 in zip(*(m.get_weights() for m in models)):
        np.testing.assert_array_equal(w1, w2)
