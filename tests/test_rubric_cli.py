"""``judge rubrics`` commands, through the shipped ``judge`` app."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from judge.cli import app
from tests.fixtures.library import tracked_library

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def invoke(args: list[str]):
    return runner.invoke(app, ["rubrics", *args])


def test_lint_exit_codes() -> None:
    ok = invoke(["lint", str(tracked_library())])  # the library as committed
    assert (ok.exit_code, ok.output) == (0, "")
    case = ROOT / "tests" / "rubric_cases" / "many_errors.yaml"
    bad = invoke(["lint", str(case)])
    assert bad.exit_code == 2
    lines = bad.stdout.splitlines()
    assert len(lines) == 5 and all(ln.startswith(f"{case}:") for ln in lines)


def test_diff_shows_what_changed() -> None:
    res = invoke(["diff", "answer_quality", "1.0.0", "1.1.0"])
    assert res.exit_code == 0
    out = res.stdout
    assert out.startswith("--- answer_quality@1.0.0\n+++ answer_quality@1.1.0\n")
    assert "+- id: accuracy\n" in out and "-version: 1.0.0\n" in out
    same = invoke(["diff", "answer_quality", "1.0.0", "1.0.0"])
    assert same.stdout.strip() == "answer_quality@1.0.0 and answer_quality@1.0.0 are identical"
    missing = invoke(["diff", "answer_quality", "1.0.0", "3.0.0"])
    assert missing.exit_code == 2
    assert "rubric 'answer_quality' has no version '3.0.0'" in missing.output


def test_lock_and_show(tmp_path: Path) -> None:
    root = tmp_path / "rubrics"
    shutil.copytree(ROOT / "rubrics" / "stereotyping", root / "stereotyping")
    first = invoke(["lock", "--root", str(root)])
    assert first.exit_code == 0 and first.stdout.startswith("locked stereotyping@1.0.0 ")
    again = invoke(["lock", "--root", str(root)])
    assert again.stdout.strip() == "rubrics.lock is up to date (1 version(s))"
    path = root / "stereotyping" / "1.0.0.yaml"
    path.write_text(path.read_text().replace("mocking", "mocking, sneering"))
    refused = invoke(["lock", "--root", str(root)])
    assert refused.exit_code == 2 and "released rubric versions were edited" in refused.output
    show = invoke(["show", "stereotyping", "--root", str(root)])
    assert show.exit_code == 0 and show.stdout.startswith("hash: ")
