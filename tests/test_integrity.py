"""Every file of a checkpoint is checked before use (charlm.integrity), loading never runs code
from the folder, and `charlm doctor` says what still works and how to recover."""

import json
import shutil

import numpy as np
import pytest

from charlm import checkpoint, integrity
from charlm.cli import main
from charlm.errors import UserError
from charlm.training.trainer import prepare_resume, train
from tests.helpers import TINY_TEXT, assert_same_arrays, h5_arrays, logits_of

pytestmark = pytest.mark.slow


def _copy(run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    return folder


def _flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


# file → how a user meets it: load (generate/eval/probe read best/) or resume (reads last/)
FILES = [("config.json", "load"), ("tokenizer/vocab.json", "load"),
         ("best/model.weights.h5", "load"), ("last/model.weights.h5", "resume"),
         ("last/variables.npz", "resume"), ("last/optimizer.npz", "resume"),
         ("last/states.npz", "resume"), ("last/trainer.json", "resume")]


@pytest.mark.parametrize("name,use", FILES)
def test_a_flipped_byte_in_any_file_is_reported_as_corrupt(trained_checkpoint, tmp_path, capsys,
                                                           name, use):
    folder = _copy(trained_checkpoint, tmp_path)
    _flip_a_byte(folder / name)
    if use == "load":
        argv = ["generate", "--checkpoint", str(folder), "--length", "5"]
    else:
        argv = ["train", "--resume", str(folder), "--max-steps", "200"]
    before = (folder / name).read_bytes()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"corrupt: {folder / name} (its sha256 differs from" in err, err
    assert f"charlm doctor {folder}" in err
    assert (folder / name).read_bytes() == before  # nothing was rewritten


def test_a_missing_file_is_reported_as_corrupt(trained_checkpoint, tmp_path):
    folder = _copy(trained_checkpoint, tmp_path)
    (folder / "last" / "states.npz").unlink()
    with pytest.raises(UserError, match=r"corrupt: .*last/states.npz is missing"):
        checkpoint.load_last(folder, None, None)


def test_manifests_list_every_file_of_each_unit(trained_checkpoint, exported):
    assert set(integrity.read_manifest(trained_checkpoint)) == {"config.json",
                                                               "tokenizer/vocab.json"}
    assert set(integrity.read_manifest(trained_checkpoint / "last")) == {
        "model.weights.h5", "variables.npz", "optimizer.npz", "states.npz", "trainer.json"}
    assert set(integrity.read_manifest(trained_checkpoint / "best")) == {"model.weights.h5",
                                                                        "info.json"}
    listed = set(integrity.read_manifest(exported))
    assert {"config.json", "model.keras", "tokenizer/vocab.json",
            "saved_model/saved_model.pb"} <= listed
    assert not integrity.problems(trained_checkpoint) and not integrity.problems(exported)


# --- nothing executes on load -----------------------------------------------------------------
class _Payload:
    """Unpickling this runs code: it writes the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def test_a_pickle_payload_in_an_npz_is_refused_and_never_runs(trained_checkpoint, tmp_path):
    folder = _copy(trained_checkpoint, tmp_path)
    marker = tmp_path / "payload-ran"
    np.savez(folder / "last" / "variables.npz", v0000=np.array([_Payload(marker)], dtype=object))
    integrity.write_manifest(folder / "last")  # a crafted folder has a matching manifest
    with pytest.raises(UserError, match="corrupt .*it cannot be resumed"):
        train(prepare_resume(str(folder), {"max_steps": 200}), resume=True, quiet=True)
    assert not marker.exists()


def test_a_lambda_layer_in_an_export_is_refused_and_never_runs(exported, tmp_path):
    import keras

    folder = tmp_path / "export"
    shutil.copytree(exported, folder)
    marker = tmp_path / "lambda-ran"
    path = str(marker)
    inputs = keras.Input((None,), dtype="int32")
    outputs = keras.layers.Lambda(
        lambda x: (open(path, "w").write("ran"), x)[1])(inputs)  # runs when called
    keras.Model(inputs, outputs).save(folder / "model.keras")
    marker.unlink()  # building the model above called it once, here
    integrity.write_manifest(folder)
    with pytest.raises(UserError, match=r"could not load .*model.keras .*Lambda"):
        checkpoint.load(folder)
    assert not marker.exists()


def test_a_config_naming_an_unknown_class_is_refused_and_its_module_never_imported(
        exported, tmp_path, monkeypatch):
    import zipfile

    folder = tmp_path / "export"
    shutil.copytree(exported, folder)
    marker = tmp_path / "module-ran"
    (tmp_path / "payload_module.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n"
                                                "class Evil: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # importable, if anything tried
    with zipfile.ZipFile(exported / "model.keras") as source:
        parts = {name: source.read(name) for name in source.namelist()}
    config = json.loads(parts["config.json"])
    config["config"]["layers"][1].update(module="payload_module", class_name="Evil",
                                         registered_name="payload_module>Evil")
    parts["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(folder / "model.keras", "w") as target:
        for name, data in parts.items():
            target.writestr(name, data)
    integrity.write_manifest(folder)
    with pytest.raises(UserError, match=r"could not load .*model.keras"):
        checkpoint.load(folder)
    assert not marker.exists()


# --- charlm doctor ----------------------------------------------------------------------------
def _doctor(capsys, folder):
    code = main(["doctor", str(folder), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_doctor_passes_a_whole_run_and_an_export(trained_checkpoint, exported, capsys):
    code, report = _doctor(capsys, trained_checkpoint)
    assert code == 0 and report["can_generate"] and report["can_resume"]
    assert not [f for f in report["findings"] if f["status"] == "problem"]
    code, report = _doctor(capsys, exported)
    assert code == 0 and report["kind"] == "export" and report["can_generate"]


def test_doctor_on_a_damaged_last_says_best_still_works(trained_checkpoint, tmp_path, capsys):
    folder = _copy(trained_checkpoint, tmp_path)
    _flip_a_byte(folder / "last" / "optimizer.npz")
    (folder / ".last.x1y2").mkdir()  # and a leftover of a killed write
    code, report = _doctor(capsys, folder)
    assert code == 1 and report["can_generate"] and not report["can_resume"]
    texts = [f["what"] + " " + f["fix"] for f in report["findings"]]
    assert any(f"corrupt: {folder}/last/optimizer.npz" in t for t in texts), texts
    assert any("last/ is damaged; best/ is fine" in t and "generate, eval and probe read best/"
               in t for t in texts), texts
    assert any(".last.x1y2 was left by an interrupted write" in t for t in texts), texts
    assert main(["doctor", str(folder)]) == 1  # the text report
    assert "usable for: generate/eval/probe\n" in capsys.readouterr().out


def test_doctor_on_a_damaged_best_gives_a_recovery_that_works(trained_checkpoint, tmp_path,
                                                              capsys):
    folder = _copy(trained_checkpoint, tmp_path)
    _flip_a_byte(folder / "best" / "model.weights.h5")
    code, report = _doctor(capsys, folder)
    assert code == 1 and report["can_generate"] and report["can_resume"]
    (advice,) = [f for f in report["findings"] if f["what"] == "best/ is damaged; last/ is fine"]
    assert f"rm -r {folder}/best" in advice["fix"]
    shutil.rmtree(folder / "best")  # follow the advice: everything works again
    assert _doctor(capsys, folder)[0] == 0
    loaded = checkpoint.load(folder)  # no best/: the weights of last/
    assert_same_arrays(loaded.model.get_weights(), h5_arrays(folder / "last" / checkpoint.WEIGHTS))
    undamaged = checkpoint.load(trained_checkpoint, which="last")
    text = TINY_TEXT[:60]
    np.testing.assert_array_equal(logits_of(loaded.model, text, loaded.tokenizer),
                                  logits_of(undamaged.model, text, undamaged.tokenizer))


def _without_manifests(folder):
    """A folder as an older charlm wrote it: damage past the manifests reaches the checks that
    charlm doctor shares with checkpoint.load and load_last."""
    for path in folder.rglob(integrity.MANIFEST):
        path.unlink()


def _wrong_shapes(path):
    arrays = checkpoint.load_arrays(path)
    np.savez(path, **{f"v{i:04d}": np.zeros(a.shape[:-1] + (a.shape[-1] + 1,) if a.ndim else 1)
                      for i, a in enumerate(arrays)})


# damage → (the problem doctor reports, can generate, can resume, what load/resume say)
DAMAGE = [
    (lambda f: (f / "last" / "optimizer.npz").unlink(),
     "last/ cannot be loaded", True, False, "optimizer.npz missing"),
    (lambda f: _wrong_shapes(f / "last" / "variables.npz"),
     "last/ cannot be loaded", True, False, "does not fit"),
    (lambda f: (f / "last" / "trainer.json").write_text("{"),
     "last/ cannot be loaded", True, False, "is corrupt"),
    (lambda f: (f / "config.json").write_text(json.dumps(
        {**json.loads((f / "config.json").read_text()), "model": None})),
     "config.json or tokenizer/ cannot be read", False, False, "has no model section"),
    (lambda f: (f / "tokenizer" / "vocab.json").write_text('{"kind": "char", "chars": ["a"]}'),
     "config.json or tokenizer/ cannot be read", False, False, "the checkpoint is inconsistent"),
]


@pytest.mark.parametrize("damage,problem,generate,resume,message", DAMAGE,
                         ids=["no-optimizer", "wrong-shapes", "bad-trainer-json", "no-model",
                              "vocab-mismatch"])
def test_doctor_finds_what_load_and_resume_refuse(trained_checkpoint, tmp_path, capsys, damage,
                                                  problem, generate, resume, message):
    folder = _copy(trained_checkpoint, tmp_path)
    _without_manifests(folder)
    damage(folder)
    code, report = _doctor(capsys, folder)
    problems = [f["what"] for f in report["findings"] if f["status"] == "problem"]
    assert code == 1 and any(p.startswith(problem) and message in p for p in problems), problems
    assert (report["can_generate"], report["can_resume"]) == (generate, resume)
    # the same check refuses the same folder where a user meets it
    with pytest.raises(UserError, match=message):
        if generate:
            model = checkpoint.load(folder).model
            checkpoint.read_training_state(folder / "last", model)
        else:
            checkpoint.load(folder)
