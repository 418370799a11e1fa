"""The layers hold: import-linter's contracts (pyproject.toml) pass, and they can fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True,
                          text=True, timeout=300, env={"PYTHONPATH": str(root),
                                                       "PATH": "/usr/bin:/bin"})


def test_contracts_are_kept():
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "0 broken" in res.stdout


@pytest.mark.parametrize("module,line,broken", [
    ("judge/stages/analyze.py", "import judge.sim.oracle  # noqa", "judge.sim"),
    ("judge/stats/reference.py", "import judge.store  # noqa", "judge.store"),
    ("judge/records.py", "import judge.tasks  # noqa", "judge.tasks"),
])
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, line, broken):
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copytree(ROOT / "judge", copy / "judge",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    target = copy / module
    target.write_text(target.read_text() + f"\n{line}\n")
    res = _lint(copy)
    assert res.returncode != 0
    assert broken in res.stdout and "BROKEN" in res.stdout
