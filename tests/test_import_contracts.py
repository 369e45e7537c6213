"""The architecture contracts in pyproject.toml ([tool.importlinter]) hold: `lint-imports` passes.

Layers (cli → api → experiments → training | inspect → probes → generate | evaluate | doctor →
checkpoint → model → data → corpora → integrity → core), only charlm.__main__ imports
charlm.cli, and charlm.corpora stands alone.
Imports inside functions count, so a lazy import that crosses a layer breaks the build too.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# `lint-imports` run by this interpreter, whichever bin folder holds the script.
LINT_IMPORTS = ("import sys; from importlinter.cli import lint_imports_command; "
                "sys.argv[0] = 'lint-imports'; sys.exit(lint_imports_command())")


@pytest.mark.skipif(importlib.util.find_spec("importlinter") is None,
                    reason="import-linter is not installed (pip install -r requirements.txt)")
def test_lint_imports_keeps_every_contract():
    # --no-cache: no .import_linter_cache/ left in the checkout.
    result = subprocess.run([sys.executable, "-c", LINT_IMPORTS, "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    report = result.stdout + result.stderr
    assert result.returncode == 0, f"lint-imports failed:\n{report}"
    assert "0 broken" in report, report
