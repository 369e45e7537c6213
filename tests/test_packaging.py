"""Packaging: the wheel holds every subpackage and the shipped data, and an installed charlm trains
on the embedded corpus and probes the shipped suite from anywhere; `import charlm` stays cheap.

The wheel is built from a copy of the checkout (what `git clone` would give, plus untracked files
that are not ignored), so no build/ or *.egg-info is left here. It is installed with --no-deps
--no-index into a fresh virtual environment that sees the packages of the environment running the
tests (TensorFlow, Keras, pip: not installed again, nothing downloaded) through a .pth file naming
that environment's site-packages folders. Not a venv that shares the system site-packages: that
would show the system Python's packages, not those of the venv a user runs the tests in.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("keras", "tensorflow")
SUITE_FILES = sorted((ROOT / "corpora" / "agreement").rglob("*.jsonl"))
SYNTAXGYM_SUITES = sorted((ROOT / "corpora" / "suites").glob("*.json"))


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def _run(args, cwd, env, timeout=300) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, (f"{' '.join(map(str, args))} exited {result.returncode}\n"
                                    f"stdout:\n{result.stdout[-3000:]}\nstderr:\n"
                                    f"{result.stderr[-3000:]}")
    return result


def _copy_checkout(dest: Path) -> None:
    """The files git would clone (and untracked ones it does not ignore); links stay links."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], cwd=ROOT, capture_output=True,
                                check=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"needs a git checkout to copy from ({e})")
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if not source.exists() and not source.is_symlink():  # deleted, not yet committed
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)


def _site_folders() -> list[str]:
    """The site-packages folders of the interpreter running the tests, in sys.path order: a venv's
    own, plus the system's when that venv shares them."""
    import site

    folders = [*site.getsitepackages(), *([site.getusersitepackages()]
                                          if site.ENABLE_USER_SITE else [])]
    return [f for f in folders if Path(f).is_dir()]


def _see_this_environment(venv_python: Path) -> None:
    """Make the packages the tests run with importable in the venv of `venv_python`. The folders
    are listed in a .pth file as plain paths: the venv's own site-packages stays first on sys.path
    (so the installed charlm wins), and .pth files in those folders are not run (an editable
    install of this checkout there would otherwise shadow the wheel)."""
    target = _run([venv_python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                  cwd=venv_python.parent, env=_env()).stdout.strip()
    (Path(target) / "outer_environment.pth").write_text("".join(f + "\n" for f in _site_folders()))


def _suite_pairs() -> int:
    return sum(1 for f in SUITE_FILES for line in f.read_text(encoding="utf-8").splitlines()
               if line.strip())


@pytest.mark.slow
def test_wheel_installs_trains_on_embedded_corpus_and_probes_shipped_suite(tmp_path):
    import charlm

    assert SUITE_FILES, "the shipped suite corpora/agreement/**/*.jsonl is missing"
    source, dist, venv, elsewhere = (tmp_path / d for d in ("src", "dist", "venv", "elsewhere"))
    elsewhere.mkdir()
    env = _env(CHARLM_CACHE_DIR=str(tmp_path / "cache"))

    # Build, from a copy: setuptools writes build/ and charlm.egg-info/ beside the sources.
    _copy_checkout(source)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--no-index", "-w", dist, source], cwd=tmp_path, env=env)
    (wheel,) = dist.glob("charlm-*.whl")
    assert wheel.name.startswith(f"charlm-{charlm.__version__}-")  # version from __version__
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "charlm").rglob("__init__.py")}
    packages.add("charlm/corpora")  # the link to corpora/ (rglob may not follow it)
    for package in packages:
        assert f"{package}/__init__.py" in names, f"{package} is not in the wheel"
    assert SYNTAXGYM_SUITES, "the shipped SyntaxGym suites corpora/suites/*.json are missing"
    shipped = ["README.md", "agreement.txt", "grammar.py", "make_agreement_corpus.py",
               "make_suites.py",
               *(str(f.relative_to(ROOT / "corpora")) for f in SUITE_FILES + SYNTAXGYM_SUITES)]
    for name in shipped:
        assert f"charlm/corpora/{name}" in names, f"corpora/{name} is not in the wheel"
    for name in ("view_controls.html", "view.css", "view.js", "view_match.js"):  # the page
        assert f"charlm/inspect/{name}" in names, f"inspect/{name} is not in the wheel"
    stray = [n for n in names if "__pycache__" in n or "/downloads/" in n or n.endswith(".pyc")]
    assert not stray, f"the wheel holds files it should not: {stray}"

    # Install into a fresh venv that sees this environment's packages (pip among them).
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path, env=env)
    python, cli = venv / "bin" / "python", venv / "bin" / "charlm"
    _see_this_environment(python)
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", wheel], cwd=elsewhere,
         env=env)
    where = json.loads(_run([python, "-c", "import charlm, json, importlib.metadata as m, "
                             "importlib.resources as r; print(json.dumps([charlm.__file__, "
                             "str(r.files('charlm.corpora')), m.version('charlm')]))"],
                            cwd=elsewhere, env=env).stdout)
    venv_dir = venv.resolve()
    for path in where[:2]:
        assert Path(path).resolve().is_relative_to(venv_dir), f"{path} is not the installed one"
    assert where[2] == charlm.__version__

    # Train on the default corpus (`agreement`, embedded in the package), then probe.
    run = tmp_path / "run"
    # (short windows: tracing the default 128-step window would take most of this test's time;
    # no progress samples: compiling the sampling loop would too)
    _run([cli, "train", "--max-steps", 5, "--units", 16, "--embedding-dim", 8, "--eval-every", 5,
          "--seq-len", 10, "--batch-size", 8, "--sample-chars", 0, "--eval-max-tokens", 2000,
          "--out", run, "--quiet"],
         cwd=elsewhere, env=env)
    assert (run / "config.json").is_file()
    assert (run / "best" / "model.weights.h5").is_file()
    assert json.loads((run / "config.json").read_text())["train"]["corpus"] == "agreement"
    probe = _run([cli, "probe", "--checkpoint", run, "--json"], cwd=elsewhere, env=env)
    summary = json.loads(probe.stdout.strip().splitlines()[-1])
    assert summary["n_pairs"] == _suite_pairs()
    assert len(summary["data"]) == len(SUITE_FILES)
    for path in summary["data"]:  # the suite was read from the installed package
        assert Path(path).resolve().is_relative_to(venv_dir), path


def _heavy_modules_after(code: str) -> list:
    """Run `code` in a fresh interpreter (this checkout's charlm) → heavy modules it imported."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(m for m in sys.modules " \
            f"if m.split('.')[0] in {HEAVY!r})))"
    result = _run([sys.executable, "-c", probe], cwd=ROOT, env=_env(PYTHONPATH=str(ROOT)),
                  timeout=120)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_charlm_imports_neither_keras_nor_tensorflow():
    assert _heavy_modules_after("import charlm") == []


def test_cli_parser_imports_neither_keras_nor_tensorflow():
    # What `python -m charlm --help` does before it prints: build every command's parser.
    assert _heavy_modules_after("import charlm.cli\ncharlm.cli.build_parser()") == []


def test_python_m_charlm_help_imports_neither_keras_nor_tensorflow():
    # -X importtime lists every module the real command imported (on stderr).
    result = _run([sys.executable, "-X", "importtime", "-m", "charlm", "--help"], cwd=ROOT,
                  env=_env(PYTHONPATH=str(ROOT)), timeout=120)
    assert "train" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "charlm.cli" in imported
    assert not {m for m in imported if m.split(".")[0] in HEAVY}
