"""Faults in one process: a finished run resumed, a run stopped before its first checkpoint, a
second writer, NaN losses, a full disk, leftovers of killed writes. (Real kills and signals, in
subprocesses: tests/training/test_kills.py.)"""

import errno
import json
import shutil

import numpy as np
import pytest

from charlm import checkpoint
from charlm.cli import main
from charlm.fileio import FolderLock
from charlm.training import loop
from charlm.training.record import Recorder
from charlm.training.trainer import prepare_resume, train
from tests.helpers import tiny_config

pytestmark = pytest.mark.slow


def _state(run):
    return json.loads((run / "last" / "trainer.json").read_text())


def _weights(run, which):
    return checkpoint.load(run, which=which).model.get_weights()


def _argv(corpus, out, *extra):
    """`charlm train` with tiny_config's settings."""
    return ["train", "--corpus", str(corpus), "--out", str(out), "--units", "32", "--embedding-dim",
            "8", "--seq-len", "10", "--batch-size", "8", "--eval-every", "6", "--sample-chars", "0",
            "--eval-max-tokens", "1000", "--warmup-steps", "2", "--lr", "0.01", "--dropout", "0",
            *map(str, extra)]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """tiny_config's run (12 steps, checkpoints at 0, 6 and 12), trained once; tests copy it."""
    from tests.helpers import TINY_TEXT

    folder = tmp_path_factory.mktemp("finished")
    corpus = folder / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    return train(tiny_config(corpus, folder / "run"), quiet=True)


def _copy(run, tmp_path):
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


def test_resuming_a_finished_run_trains_nothing(finished_run, tmp_path, capsys):
    run = _copy(finished_run, tmp_path)
    before = [(p, p.read_bytes()) for p in sorted((run / "last").iterdir())]
    assert main(["train", "--resume", str(run)]) == 0
    out = capsys.readouterr().out
    assert "is complete (reached --max-steps 12 at step 12); nothing to train" in out
    assert [(p, p.read_bytes()) for p in sorted((run / "last").iterdir())] == before
    assert _state(run)["step"] == 12


def test_a_larger_budget_on_resume_is_kept_by_the_next_resume(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    train(prepare_resume(str(run), {"max_steps": 16}), resume=True, quiet=True, stop_after_steps=14)
    assert _state(run)["step"] == 14
    config = prepare_resume(str(run), {})  # no flag: the run's budget is now 16, not 12
    assert config.max_steps == 16
    train(config, resume=True, quiet=True)
    assert _state(run)["step"] == 16


class _Killed(BaseException):
    """Stands for a kill: nothing after it runs (not an Exception, so nothing catches it)."""


def test_a_run_stopped_before_its_first_checkpoint_resumes_or_restarts(finished_run, tiny_corpus,
                                                                       tmp_path, monkeypatch):
    reference = finished_run
    run = tmp_path / "run"

    def killed(*args, **kwargs):
        raise _Killed

    recorders = []
    with monkeypatch.context() as m:
        m.setattr(checkpoint, "save_last", killed)
        m.setattr(loop, "Recorder", lambda *a: recorders.append(Recorder(*a)) or recorders[-1])
        with pytest.raises(_Killed):
            train(tiny_config(tiny_corpus, run), quiet=True)
    assert (run / "config.json").is_file() and not (run / "last").exists()
    assert recorders[0].metrics.closed  # not left for the garbage collector (a ResourceWarning)

    # --resume starts it again from step 0 with its saved settings: the same run as uninterrupted
    train(prepare_resume(str(run), {}), resume=True, quiet=True)
    for got, want in zip(_weights(run, "last"), _weights(reference, "last")):
        np.testing.assert_array_equal(got, want)

    # training again with the same --out also starts over (nothing trained was in the folder)
    again = tmp_path / "again"
    with monkeypatch.context() as m:
        m.setattr(checkpoint, "save_last", killed)
        with pytest.raises(_Killed):
            train(tiny_config(tiny_corpus, again, units=16), quiet=True)
    train(tiny_config(tiny_corpus, again), quiet=True)
    assert json.loads((again / "config.json").read_text())["model"]["units"] == 32


def test_a_second_writer_is_refused_at_once_and_readers_still_read(trained_checkpoint, tiny_corpus,
                                                                   capsys):
    lock = FolderLock(trained_checkpoint)  # as a running trainer holds it
    assert lock.acquire()
    try:
        before = _state(trained_checkpoint)
        for argv in (["train", "--resume", str(trained_checkpoint)],
                     _argv(tiny_corpus, trained_checkpoint, "--max-steps", 5)):
            assert main(argv) == 2
            err = capsys.readouterr().err.strip()
            assert len(err.splitlines()) == 1 and "Traceback" not in err
            assert f"{trained_checkpoint} is being trained by another process (pid " in err
        assert _state(trained_checkpoint) == before
        assert main(["generate", "--checkpoint", str(trained_checkpoint), "--length", "5",
                     "--prompt", "The"]) == 0  # readers are never locked out
        assert capsys.readouterr().out.startswith("The")
    finally:
        lock.release()


def test_leftovers_of_killed_writes_are_removed_by_the_next_run(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    (run / ".last.k1d9x").mkdir()  # a staging folder of a write killed half-way
    (run / ".last.k1d9x" / "variables.npz").write_bytes(b"half")
    shutil.copytree(run / "best", run / "best.old")  # a swap killed after its second rename
    (run / ".config.json.4242.tmp").write_text("{")  # an atomic_write killed before its rename
    (run / "tokenizer" / ".vocab.json.4242.tmp").write_text("{")
    config = prepare_resume(str(run), {"max_steps": 14})
    train(config, resume=True, quiet=True)
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".") or
                  p.name.endswith(".old")) == [".lock"]
    assert not list((run / "tokenizer").glob(".*"))


@pytest.mark.parametrize("signame,code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_ctrl_c_and_sigterm_write_a_checkpoint_and_exit_cleanly(finished_run, tmp_path,
                                                              monkeypatch, capsys, signame, code):
    """The real signal, sent to this process at the 3rd step (charlm.faults), reaches the real
    handler: the step finishes, last/ is written (step 15, between checkpoints), exit 128+N."""
    run = _copy(finished_run, tmp_path)
    monkeypatch.setenv("CHARLM_KILL_AT", f"step:3:{signame}")
    assert main(["train", "--resume", str(run), "--max-steps", "24", "--quiet"]) == code
    err = capsys.readouterr().err.strip()
    assert err == (f"charlm: interrupted by {signame}: the checkpoint of step 15 is written; "
                   f"resume with: charlm train --resume {run}")
    assert _state(run)["step"] == 15 and checkpoint.load(run, which="last")
    assert not [p for p in run.iterdir() if p.name.startswith(".last")]


# --- numeric faults ---------------------------------------------------------------------------
class _NaNAt:
    """Wraps TrainStep: from call `first` on (`times` calls), the weights and the loss turn NaN,
    as an overflow would make them."""

    def __init__(self, first, times=1):
        self.first, self.times, self.calls = first, times, 0

    def __call__(self, cls):
        injector = self

        class Poisoned(cls):
            def __call__(self, x, y, states, lr):
                loss, norm, states = super().__call__(x, y, states, lr)
                injector.calls += 1
                if injector.first <= injector.calls < injector.first + injector.times:
                    variable = self.model.trainable_variables[0]
                    variable.assign(np.full(variable.shape, np.nan, dtype="float32"))
                    return np.float32("nan"), np.float32("nan"), states
                return loss, norm, states

        return Poisoned


def _all_finite(run, which):
    return all(np.isfinite(w).all() for w in _weights(run, which))


# NaN at step `first`; found (at_step) at the validation of step 8, at the log of step 10, or at
# the final check of step 14; rolled back to the last checkpoint before it (good)
@pytest.mark.parametrize("first,eval_every,at_step,good", [(7, 4, 8, 4), (7, 5, 10, 5),
                                                            (13, 6, 14, 12)])
def test_a_nan_rolls_back_and_never_reaches_a_checkpoint(tiny_corpus, tmp_path, monkeypatch,
                                                         first, eval_every, at_step, good):
    monkeypatch.setattr(loop, "TrainStep", _NaNAt(first=first)(loop.TrainStep))
    run = train(tiny_config(tiny_corpus, tmp_path / "run", max_steps=14, eval_every=eval_every),
                quiet=True)
    state = _state(run)
    assert state["step"] == 14 and state["nan_retries"] == 1 and state["lr_scale"] == 0.5
    assert _all_finite(run, "best") and _all_finite(run, "last")
    (fault,) = [r for r in checkpoint.read_metrics(run) if r["kind"] == "fault"]
    assert (fault["at_step"], fault["step"], fault["lr_scale"]) == (at_step, good, 0.5)
    val_steps = [r["step"] for r in checkpoint.read_metrics(run) if r["kind"] == "val"]
    assert val_steps[-1] == 14  # the run still ends with its final validation


def test_a_nan_every_time_stops_with_a_report_and_the_last_good_checkpoint(tiny_corpus, tmp_path,
                                                                          monkeypatch, capsys):
    monkeypatch.setattr(loop, "TrainStep", _NaNAt(first=3, times=10**6)(loop.TrainStep))
    run = tmp_path / "run"
    assert main(_argv(tiny_corpus, run, "--max-steps", 14, "--quiet")) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "after 3 rollbacks" in err and f"the last good checkpoint is intact in {run}/last" in err
    assert _state(run)["step"] == 0 and _all_finite(run, "last")  # step 0: the only good one
    assert not (run / "best").exists()  # no validation ever saw finite weights
    faults = [r for r in checkpoint.read_metrics(run) if r["kind"] == "fault"]
    assert [r.get("lr_scale") for r in faults] == [0.5, 0.25, 0.125, None]


# --- disk full, unwritable output -------------------------------------------------------------
def test_disk_full_during_a_checkpoint_write_keeps_the_previous_one(tiny_corpus, tmp_path,
                                                                    monkeypatch, capsys):
    real_savez, calls = np.savez, []

    def savez(path, **arrays):
        calls.append(path)
        if len(calls) > 3 * 2:  # last/ writes 3 .npz: step 0 and step 6 succeed, step 12 fails
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_savez(path, **arrays)

    monkeypatch.setattr(checkpoint.np, "savez", savez)
    run = tmp_path / "run"
    assert main(_argv(tiny_corpus, run, "--max-steps", 14, "--quiet")) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "could not write last/" in err and "No space left on device" in err
    assert "the previous checkpoint is intact" in err and f"--resume {run}" in err
    assert _state(run)["step"] == 6 and checkpoint.load(run, which="last")
    assert not [p for p in run.iterdir() if p.name.startswith(".last")]  # staging removed
    monkeypatch.setattr(checkpoint.np, "savez", real_savez)  # space freed: the run goes on
    assert main(["train", "--resume", str(run), "--quiet"]) == 0 and _state(run)["step"] == 14


def test_an_unwritable_output_folder_is_one_line(tiny_corpus, tmp_path, monkeypatch, capsys):
    from charlm.data import tokenizers

    def denied(self, folder):
        raise PermissionError(errno.EACCES, "Permission denied", str(folder))

    monkeypatch.setattr(tokenizers.CharTokenizer, "save", denied)
    assert main(_argv(tiny_corpus, tmp_path / "run", "--max-steps", 5)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "cannot write to the output folder" in err and "Permission denied" in err

