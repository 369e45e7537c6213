"""A real kill, in a subprocess: benchmarks/kill_harness.py's chain, short.

The run (2 layers, 12 steps, checkpoints every 5) is killed with SIGKILL between the two renames
of a checkpoint swap (the moment that leaves the most behind: a staged folder, and best/ moved to
best.old/), then resumed with `charlm train --resume DIR` (through the CLI's entry point, in this
process: a second interpreter would only import TensorFlow again). The killed folder is readable,
nothing is left over at the end, and the final variables equal those of the same command run
without interruption (exactly: resume restores every variable, the data cursor and the RNG
state). The full harness (20 kills at every kind of point, and random moments, every resume in a
subprocess): python benchmarks/kill_harness.py --kills 20. SIGINT/SIGTERM, and resuming a
finished run: test_faults.py.
"""

import importlib.util

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow


def _harness():
    spec = importlib.util.spec_from_file_location("kill_harness",
                                                  ROOT / "benchmarks" / "kill_harness.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_killed_runs_resume_to_the_uninterrupted_result(tmp_path):
    # swaps: last/ at 5 (the 1st), best/ at 10 (the 2nd: killed between its renames)
    events = [("checkpoint-swap", 2)]
    result = _harness().kill_chain(events, tmp_path, steps=12, log=lambda *a: None,
                                   finish_in_process=True)
    rows, summary = result["rows"], result["summary"]
    assert [(r["exit"], r["step"]) for r in rows] == [(-9, 5)], rows
    assert all(r["ok"] for r in rows), rows
    assert rows[0]["leftovers"], "a swap killed half-way leaves its staged folder"
    assert summary["final_exit"] == 0 and summary["final_step"] == 12
    assert summary["leftovers_at_end"] == [] and summary["unreadable"] == 0
    assert summary["max_abs_diff"] == 0.0 and summary["same_shapes"]
