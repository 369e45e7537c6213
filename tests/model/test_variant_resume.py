"""Training a peephole or cifg model is deterministic: a run stopped and resumed ends with
bit-identical weights and validation figures to one that ran through (the pattern of
tests/training/test_trainer.py's LSTM resume test, on a tinier model). The variants train in
their fused kernel by default (charlm.model.variant_kernels). Before its peephole backward stopped
using LSTMBlockCellGrad's in-place peephole gradients, about one peephole run in two here differed
in the last bits (a race between the kernel's two batch chains)."""

import json

import numpy as np
import pytest

from charlm.api import load
from charlm.training.trainer import prepare_resume, train
from tests.helpers import tiny_config


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["peephole", "cifg"])
def test_interrupted_and_resumed_equals_uninterrupted(cell, tiny_corpus, tmp_path, monkeypatch):
    calls = []
    from charlm.model import model as model_module

    kernel = model_module.VARIANT_KERNELS[cell]
    monkeypatch.setitem(model_module.VARIANT_KERNELS, cell,
                        lambda *args: calls.append(cell) or kernel(*args))
    settings = dict(cell=cell, units=8, batching="stream", seed=1, max_steps=8, eval_every=4)
    whole = train(tiny_config(tiny_corpus, tmp_path / "whole", **settings), quiet=True)
    assert calls  # the default: the fused kernel
    part = train(tiny_config(tiny_corpus, tmp_path / "part", **settings), quiet=True,
                 stop_after_steps=5)
    assert json.loads((part / "last" / "trainer.json").read_text())["step"] == 5
    train(prepare_resume(str(part), {}), resume=True, quiet=True)
    models = [load(run, which="last").model for run in (whole, part)]
    for v, w1, w2 in zip(models[0].weights, *(m.get_weights() for m in models)):
        np.testing.assert_array_equal(w1, w2, err_msg=v.path)
    logs = [[json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
            for run in (whole, part)]
    val = [[(r["step"], r["bpc"]) for r in log if r["kind"] == "val"] for log in logs]
    assert val[0] == val[1] and len(val[0]) == 2
