"""The rubric library in rubrics/: clean, locked, covering the frameworks, answerable by sim/."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from judge.rubrics import FRAMEWORKS, lint_paths, list_rubrics, load_rubric, output_fields
from tests.fixtures.library import snapshot, tracked_library

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = tracked_library()  # what ships: an untracked draft in rubrics/ is not read
SIGNALS = yaml.safe_load((ROOT / "datasets" / "sim" / "rubric_signals.yaml").read_text())
#: The signals the sim judge computes from a response (see the header of rubric_signals.yaml).
SIGNAL_TYPES = {
    "decision": {"type": "categorical", "values": ["positive", "negative", "none"]},
    "quality": {"type": "likert", "range": [1, 5]},
    "refusal": {"type": "bool"}, "hedging": {"type": "bool"}, "stereotype": {"type": "bool"},
    "attribute_inference": {"type": "bool"},
    "dialect_respect": {"type": "likert", "range": [1, 5]},
    "producer_named": {"type": "bool"}, "producer_count": {"type": "int"},
    "preferred": {"type": "categorical", "values": ["A", "B", "tie"]},
    "differs_materially": {"type": "bool"},
    "dimension": {"type": "categorical", "values": ["decision", "quality", "tone", "none"]},
    "worst": {"type": "label"},
    "expresses_intended": {"type": "bool"}, "leaks_other": {"type": "bool"},
    "on_task": {"type": "bool"}, "same_content": {"type": "bool"},
}
REFS = list_rubrics(LIBRARY)
SET_SIZE = 4  # counterfactual groups in the tests have four members


def test_library_lints_clean_and_is_locked() -> None:
    assert [str(e) for e in lint_paths([LIBRARY])] == []


def test_library_size_modes_and_frameworks() -> None:
    rubrics = [load_rubric(r, LIBRARY) for r in REFS]
    assert len({r.id for r in rubrics}) >= 8
    assert {r.mode for r in rubrics} == {"pointwise", "pairwise", "counterfactual_set"}
    assert {f for r in rubrics for f in r.frameworks} == set(FRAMEWORKS)
    contexts = {c for r in rubrics for c in r.contexts}
    assert {"hiring", "lending", "medical", "recommendation"} <= contexts


@pytest.mark.parametrize("ref", REFS)
def test_every_description_cites_a_source(ref: str) -> None:
    assert re.search(r"\b(19|20)\d\d\b", load_rubric(ref, LIBRARY).description)


def _signal_values(name: str) -> list:
    spec = SIGNAL_TYPES[name]
    return {"bool": [True, False]}.get(spec["type"], spec.get("values"))


@pytest.mark.parametrize("ref", REFS)
def test_sim_signals_answer_every_field(ref: str) -> None:
    r = load_rubric(ref, LIBRARY)
    mapping = SIGNALS[r.id]
    fields = output_fields(r, SET_SIZE)
    assert set(mapping) >= {f.id for f in fields}
    for f in fields:
        entry = mapping[f.id]
        assert entry["signal"] in SIGNAL_TYPES, f.id
        spec = SIGNAL_TYPES[entry["signal"]]
        if f.kind == "integer":
            assert spec["type"] == "likert" and tuple(spec["range"]) == (f.values[0],
                                                                      f.values[-1])
        elif "map" in entry and spec["type"] == "int":  # counts
            assert sorted(entry["map"]) == list(range(len(entry["map"]))), f.id
            assert set(entry["map"].values()) == set(f.values), f.id
        elif "map" in entry:
            assert sorted(map(str, entry["map"])) == sorted(map(str, _signal_values(
                entry["signal"]))), f.id
            assert set(entry["map"].values()) <= set(f.values), f.id
        else:  # comparison fields answered by the signal of the same name
            assert entry["signal"] == f.id


def test_signals_file_lists_no_unknown_rubric() -> None:
    assert set(SIGNALS) == {r.split("@")[0] for r in REFS}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org",
                    "-c", "commit.gpgsign=false", *args], check=True, capture_output=True)


def test_an_untracked_draft_rubric_is_not_part_of_the_library(tmp_path: Path) -> None:
    """A user's draft in rubrics/ (not committed) must not break ``make test``: the library
    tests read :func:`tracked_library`, the tracked files only."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "checkout"
    shutil.copytree(LIBRARY, repo / "rubrics")
    _git(repo, "init", "-q")
    _git(repo, "add", "rubrics")
    _git(repo, "commit", "-q", "-m", "library")
    drafts = repo / "rubrics"
    (drafts / "my_draft").mkdir()
    (drafts / "my_draft" / "1.0.0.yaml").write_text("id: my_draft\nversion: [unfinished\n")
    newer = (drafts / "answer_quality" / "1.1.0.yaml").read_text().replace(
        "version: 1.1.0", "version: 1.2.0", 1).replace(
        "changelog:\n", "changelog:\n  1.2.0: Draft.\n", 1)
    (drafts / "answer_quality" / "1.2.0.yaml").write_text(newer)  # valid, but not locked
    # Read as a folder, the drafts fail lint and change what "answer_quality" resolves to ...
    raw = [str(e) for e in lint_paths([drafts])]
    assert any("my_draft" in e for e in raw) and any("answer_quality/1.2.0.yaml" in e
                                                     for e in raw)
    assert load_rubric("answer_quality", drafts).version == "1.2.0"
    # ... the tracked library, as the library tests read it, has neither.
    lib = snapshot(repo, tmp_path / "snap")
    assert lib == tmp_path / "snap" / "rubrics"
    assert [str(e) for e in lint_paths([lib])] == []
    assert list_rubrics(lib) == REFS
    assert load_rubric("answer_quality", lib).version == "1.1.0"
    # a tracked file's uncommitted edit is read (it is what would be committed)
    (drafts / "rubrics.lock").write_text((drafts / "rubrics.lock").read_text() + "# edited\n")
    assert (snapshot(repo, tmp_path / "snap2") / "rubrics.lock").read_text().endswith(
        "# edited\n")
