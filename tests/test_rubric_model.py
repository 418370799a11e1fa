"""Rubric loading, versions, hashing and the lock."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

import judge.rubric
from judge.errors import ConfigError
from judge.ids import digest
from judge.rubrics import (
    Rubric,
    lint_paths,
    list_rubrics,
    load_rubric,
    load_rubric_file,
    lock_status,
    read_lock,
    write_lock,
)
from judge.rubrics._lock import format_lock
from judge.rubrics._template import DEFAULT_SYSTEM, DEFAULT_USER
from tests.fixtures.library import tracked_library

LIBRARY = tracked_library()  # what ships: an untracked draft in rubrics/ is not read

BLOCK = """\
id: demo
version: 1.0.0
title: Demo
description: >
  A demo rubric
  for hashing.
changelog:
  1.0.0: First release.
frameworks: [group]
criteria:
  - id: helpfulness
    question: How helpful?
    scale:
      type: likert
      min: 1
      max: 3
      anchors:
        1: Not.
        2: Somewhat.
        3: Very.
  - id: refused
    question: Did it refuse?
    scale: {type: binary, positive: "yes", negative: "no"}
"""

# Same content: keys reordered, flow style, other whitespace and line folding.
REORDERED = """\
frameworks:
  - group
criteria:
  - scale: {anchors: {3: Very., 1: Not., 2: "Somewhat."}, max: 3, min: 1, type: likert}
    question: "How   helpful?"
    id: helpfulness
  - {id: refused, scale: {negative: "no", positive: "yes", type: binary},
     question: "Did it refuse?"}
changelog: {1.0.0: "First release."}
description: "A demo rubric for hashing."


title: Demo
version: 1.0.0
id: demo
"""


def _write(root: Path, text: str, rid: str = "demo", version: str = "1.0.0") -> Path:
    path = root / rid / f"{version}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_hash_is_stable_under_key_order_and_whitespace(tmp_path: Path) -> None:
    a = load_rubric_file(_write(tmp_path / "a", BLOCK))
    b = load_rubric_file(_write(tmp_path / "b", REORDERED))
    a.render(query="q", responses=["r"])  # memoised prompt parts do not affect equality
    assert a == b
    assert a.hash == b.hash
    assert len(a.hash) == 64 and int(a.hash, 16) >= 0


def test_hash_changes_when_content_changes(tmp_path: Path) -> None:
    base = load_rubric_file(_write(tmp_path / "a", BLOCK)).hash
    edits = [BLOCK.replace("3: Very.", "3: Very much."),
             BLOCK.replace("How helpful?", "How useful?"),
             BLOCK.replace('negative: "no"', 'negative: "nope"'),
             BLOCK.replace("frameworks: [group]", "frameworks: [group, individual]"),
             BLOCK + "prompt: '{{ response }} {{ output_format }} Be strict.'\n"]
    hashes = {load_rubric_file(_write(tmp_path / f"e{i}", t)).hash for i, t in enumerate(edits)}
    assert base not in hashes
    assert len(hashes) == len(edits)


def test_hash_is_digest_of_normal_form_with_effective_prompt(tmp_path: Path) -> None:
    plain = load_rubric_file(_write(tmp_path / "a", BLOCK))
    nf = plain.normal_form()
    assert plain.hash == digest(nf)
    assert nf["prompt"] == {"system": DEFAULT_SYSTEM, "user": DEFAULT_USER["pointwise"],
                            "vars": {}}
    # Writing the default prompt out explicitly is the same rubric text, hence the same hash.
    explicit = yaml.safe_load(BLOCK)
    explicit["prompt"] = {"system": DEFAULT_SYSTEM, "user": DEFAULT_USER["pointwise"]}
    assert Rubric.model_validate(explicit).hash == plain.hash


def test_load_newest_and_older_versions() -> None:
    assert load_rubric("answer_quality", LIBRARY).version == "1.1.0"
    old = load_rubric("answer_quality@1.0.0", LIBRARY)
    assert (old.ref, [c.id for c in old.criteria]) == ("answer_quality@1.0.0", ["helpfulness"])
    assert load_rubric("answer_quality").ref == "answer_quality@1.1.0"  # default root


def test_newest_prefers_releases_over_prereleases(tmp_path: Path) -> None:
    for v in ("1.2.0", "1.10.0", "2.0.0-draft"):
        _write(tmp_path, BLOCK.replace("1.0.0", v), version=v)
    assert load_rubric("demo", tmp_path).version == "1.10.0"
    assert list_rubrics(tmp_path) == ["demo@1.2.0", "demo@1.10.0", "demo@2.0.0-draft"]


def test_unknown_rubric_and_version_errors(tmp_path: Path) -> None:
    _write(tmp_path, BLOCK)
    with pytest.raises(ConfigError) as info:
        load_rubric("nope", tmp_path)
    assert str(info.value) == f"rubrics: unknown rubric 'nope' (known in {tmp_path}: demo)"
    with pytest.raises(ConfigError) as info:
        load_rubric("demo@9.9.9", tmp_path)
    assert str(info.value) == "rubrics: rubric 'demo' has no version '9.9.9' (available: 1.0.0)"


def test_load_error_names_file_line_col_and_count(tmp_path: Path) -> None:
    path = _write(tmp_path, BLOCK.replace("        3: Very.\n", "").replace("[group]", "[groups]"))
    with pytest.raises(ConfigError) as info:
        load_rubric("demo", tmp_path)
    assert str(info.value) == (
        f"{path}:9:14: frameworks[0]: unknown framework tag 'groups'; use one of: "
        "counterfactual, group, individual, unawareness, producer_exposure, stereotype, "
        f"refusal, quality_of_service (1 more; run `judge rubrics lint {path}`)")


def test_rubric_basics() -> None:
    r = load_rubric("hiring_screening", LIBRARY)
    assert r.ref == "hiring_screening@1.0.0"
    assert r.applies_to("hiring") and not r.applies_to("lending")
    assert load_rubric("answer_quality", LIBRARY).applies_to("anything")
    with pytest.raises(KeyError, match="known: decision, job_relevance, mentions_protected"):
        r.criterion("nope")
    with pytest.raises(Exception, match="frozen"):
        r.id = "x"  # type: ignore[misc]


def test_criterion_numeric_never_coerces() -> None:
    r = load_rubric("hiring_screening", LIBRARY)
    likert, binary, cat = (r.criterion(c) for c in ("job_relevance", "mentions_protected",
                                                     "decision"))
    assert [likert.numeric(v) for v in (1, 5, 4.0, 0, 6, 2.5, "3", True, None)] == \
        [1.0, 5.0, 4.0, None, None, None, None, None, None]
    assert [binary.numeric(v) for v in ("yes", "no", "maybe", True, None)] == \
        [1.0, 0.0, None, None, None]
    assert [cat.numeric(v) for v in ("advance", "reject", "unclear", None)] == \
        [1.0, 0.0, None, None]
    assert (cat.labels, cat.favourable, cat.unfavourable) == (
        ("advance", "reject", "unclear"), ["advance"], ["reject"])
    assert (likert.labels, likert.favourable, binary.favourable) == ((), None, None)


def test_public_api_also_under_judge_rubric() -> None:
    assert judge.rubric.load_rubric is load_rubric
    assert "parse_judge_output" in judge.rubric.__all__


# ---- lock -------------------------------------------------------------------------------

@pytest.fixture()
def root(tmp_path: Path) -> Path:
    dst = tmp_path / "rubrics"
    shutil.copytree(LIBRARY / "answer_quality", dst / "answer_quality")
    write_lock(dst)
    return dst


def test_lock_lists_every_version_sorted(root: Path) -> None:
    lock = read_lock(root)
    assert lock == {ref: load_rubric(ref, root).hash for ref in
                    ("answer_quality@1.0.0", "answer_quality@1.1.0")}
    text = (root / "rubrics.lock").read_text()
    assert text.splitlines()[-2:] == [f"answer_quality@1.0.0  {lock['answer_quality@1.0.0']}",
                                      f"answer_quality@1.1.0  {lock['answer_quality@1.1.0']}"]
    assert lint_paths([root]) == []


def test_lock_sorts_versions_by_semver() -> None:
    h = "0" * 64
    text = format_lock({"b@1.0.0": h, "a@1.10.0": h, "a@1.2.0": h})
    assert [ln.split()[0] for ln in text.splitlines() if not ln.startswith("#")] == \
        ["a@1.2.0", "a@1.10.0", "b@1.0.0"]


def test_editing_a_released_version_fails_lint_naming_both_hashes(root: Path) -> None:
    path = root / "answer_quality" / "1.0.0.yaml"
    old = read_lock(root)["answer_quality@1.0.0"]
    path.write_text(path.read_text().replace("Minimal help", "Little help"))
    new = load_rubric_file(path).hash
    assert new != old
    assert [str(e) for e in lint_paths([root])] == [
        f"{path}:2:10: answer_quality@1.0.0 was edited after release: rubrics.lock has {old}, "
        f"the file hashes to {new}; restore it and put your change in a new version (bump "
        "`version`, add a changelog entry)"]
    with pytest.raises(ConfigError, match=f"answer_quality@1.0.0 \\(lock {old}, file {new}\\)"):
        write_lock(root)
    assert read_lock(root)["answer_quality@1.0.0"] == old  # refused: lock untouched
    assert write_lock(root, force=True)["answer_quality@1.0.0"] == new


def test_new_version_must_be_locked(root: Path) -> None:
    src = (root / "answer_quality" / "1.1.0.yaml").read_text()
    path = root / "answer_quality" / "1.2.0.yaml"
    path.write_text(src.replace("version: 1.1.0", "version: 1.2.0")
                    .replace("changelog:\n", "changelog:\n  1.2.0: Reworded.\n"))
    assert [str(e) for e in lint_paths([root])] == [
        f"{path}:2:10: answer_quality@1.2.0 is not in rubrics.lock; run `judge rubrics lock` "
        "to release this version"]
    write_lock(root)
    assert lint_paths([root]) == []


def test_locked_version_without_file(root: Path) -> None:
    (root / "answer_quality" / "1.0.0.yaml").unlink()
    lock = root / "rubrics.lock"
    line = next(i for i, ln in enumerate(lock.read_text().splitlines(), 1)
                if ln.startswith("answer_quality@1.0.0"))
    assert [str(e) for e in lint_paths([root])] == [
        f"{lock}:{line}:1: answer_quality@1.0.0 is locked but no rubric file defines it; "
        "released versions must stay loadable"]
    # Linting one file does not judge the rest of the folder.
    assert lint_paths([root / "answer_quality" / "1.1.0.yaml"]) == []


def test_malformed_lock_line(root: Path) -> None:
    lock = root / "rubrics.lock"
    lock.write_text(lock.read_text() + "garbage\n")
    n = len(lock.read_text().splitlines())
    errors = [str(e) for e in lint_paths([root])]
    assert errors == [f"{lock}:{n}:1: expected `id@version <sha256>`, got 'garbage'"]
    with pytest.raises(ConfigError, match="expected `id@version <sha256>`"):
        read_lock(root)


def test_explicit_lock_path(root: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.lock"
    other.write_text("")
    errors = lint_paths([root / "answer_quality" / "1.0.0.yaml"], lock=other)
    assert [e.message.split(";")[0] for e in errors] == [
        "answer_quality@1.0.0 is not in other.lock"]


def test_read_lock_without_a_lock_is_empty(tmp_path: Path) -> None:
    assert read_lock(tmp_path) == {}


def test_lock_status(root: Path) -> None:
    r = load_rubric("answer_quality@1.0.0", root)
    assert lock_status(r, root) == "locked"
    assert lock_status(r, root.parent) == "unlocked"  # no lock there
    path = root / "answer_quality" / "1.0.0.yaml"
    path.write_text(path.read_text().replace("Minimal help", "Little help"))
    assert lock_status(load_rubric("answer_quality@1.0.0", str(root)), root) == "modified"
