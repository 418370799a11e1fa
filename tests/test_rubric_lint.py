"""Lint: a catalogue of broken rubrics (tests/rubric_cases/), one test per defect.

Each case asserts the exact ``file:line:col: message`` lines, so a changed position or
wording fails here first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from judge.errors import ConfigError
from judge.rubrics import lint_paths, load_rubric_file

CASES_DIR = Path(__file__).parent / "rubric_cases"

CASES: dict[str, list[str]] = {
    'anchor_out_of_range.yaml': [
        '15:16: criteria[0].scale.anchors: anchor 4 is outside the scale 1..3',
    ],
    'bad_id.yaml': [
        "2:5: id: 'Hiring-Screen' is not a valid id; use snake_case (lowercase letters, digits and _, starting with a letter)",
    ],
    'bad_semver.yaml': [
        "3:10: version: '1.0' is not a semantic version; use MAJOR.MINOR.PATCH, e.g. 1.0.0",
    ],
    'changelog_missing_version.yaml': [
        '7:3: changelog: no entry for version 1.1.0; say what changed in this version',
    ],
    'changelog_newer_than_version.yaml': [
        "8:10: changelog.1.1.0: entry 1.1.0 is newer than the rubric's version 1.0.0",
    ],
    'duplicate_criterion.yaml': [
        "12:9: criteria[1].id: duplicate criterion id 'helpful' (first used by criteria[0]); criterion ids must be unique",
    ],
    'duplicate_yaml_key.yaml': [
        "5:1: duplicate key 'title' (first at line 4); YAML would silently keep only the last",
    ],
    'layout/other_name/1.0.0.yaml': [
        "2:5: id: 'case' lives in folder 'other_name'; put it under case/",
        '3:10: version: file is named 1.0.0.yaml but holds version 1.0.1; name the file 1.0.1.yaml',
    ],
    'many_errors.yaml': [
        "2:1: missing required key 'title'",
        "6:21: frameworks[1]: unknown framework tag 'equity'; use one of: counterfactual, group, individual, unawareness, producer_exposure, stereotype, refusal, quality_of_service",
        '10:52: criteria[0].scale.anchors: missing anchor for 2 (every point from 1 to 3 needs a description)',
        "11:9: criteria[1].id: duplicate criterion id 'helpfulness' (first used by criteria[0]); criterion ids must be unique",
        "14:5: criteria[2]: missing required key 'question'",
    ],
    'missing_anchor.yaml': [
        '16:9: criteria[0].scale.anchors: missing anchor for 3, 4 (every point from 1 to 5 needs a description)',
    ],
    'missing_key.yaml': [
        "2:1: missing required key 'title'",
    ],
    'no_criteria.yaml': [
        '9:11: criteria: a pointwise rubric needs at least one criterion',
    ],
    'not_mapping.yaml': [
        '1:1: a rubric file must be a YAML mapping with id, version, title, ... (see rubrics/README.md)',
    ],
    'number_version.yaml': [
        '3:10: version: expected text, got the number 1.0; quote it (e.g. "1.0")',
    ],
    'one_choice.yaml': [
        '13:16: criteria[0].scale.choices: needs at least 2 choices, got 1',
    ],
    'prompt_without_format.yaml': [
        '12:9: prompt: the prompt never shows the criteria or the output format; add {{ output_format }} (and usually {{ criteria }})',
    ],
    'prompt_without_response.yaml': [
        '13:9: prompt.user: the prompt never shows the response; add {{ response }}',
    ],
    'reserved_id.yaml': [
        "10:9: criteria[0].id: 'preferred' is reserved for the judge output; choose another id",
    ],
    'same_labels.yaml': [
        "11:54: criteria[0].scale.negative: positive and negative labels are both 'yes'; they must differ",
    ],
    'sandbox_escape.yaml': [
        "16:11: prompt.user: template reaches Python internals ('__class__'); only the documented variables may be used",
        "16:21: prompt.user: template reaches Python internals ('__mro__'); only the documented variables may be used",
    ],
    'shadowed_variable.yaml': [
        "15:5: prompt.vars.query: prompt.vars entry 'query' clashes with the built-in template variable of that name; rename it",
    ],
    'template_syntax.yaml': [
        "16:5: prompt.user: template syntax error: Unexpected end of template. Jinja was looking for the following tags: 'endfor' or 'else'. The innermost block that needs to be closed is 'for'.",
    ],
    'undefined_variable.yaml': [
        "16:11: prompt.user: template variable 'strictness' is undefined; available: attributes, criteria, instructions, labels, n, output_format, query, response, responses, rubric",
    ],
    'unknown_framework.yaml': [
        "7:21: frameworks[1]: unknown framework tag 'fairness'; use one of: counterfactual, group, individual, unawareness, producer_exposure, stereotype, refusal, quality_of_service",
    ],
    'unknown_key.yaml': [
        "9:5: criteria[0]: missing required key 'question'",
        "10:5: criteria[0]: unknown key 'qestion' (did you mean 'question'?)",
    ],
    'unknown_mode.yaml': [
        "8:7: mode: 'listwise' is not allowed; expected 'pointwise', 'pairwise' or 'counterfactual_set'",
    ],
    'unknown_positive_choice.yaml': [
        "14:17: criteria[0].scale.positive: 'hire' is not one of the choices (advance, reject, unclear)",
    ],
    'unknown_scale_type.yaml': [
        "11:12: criteria[0].scale: unknown scale type 'stars'; use likert, binary or categorical",
    ],
    'unused_variable.yaml': [
        "18:5: prompt.vars.audience: template variable 'audience' is defined in prompt.vars but never used",
    ],
    'yaml_bool_label.yaml': [
        '11:37: criteria[0].scale.positive: YAML read this as the boolean true; quote it to make it text',
    ],
    'yaml_syntax.yaml': [
        "5:9: invalid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence started at line 4)",
    ],
}


def _lint(rel: str) -> list[str]:
    path = CASES_DIR / rel
    return [str(e).replace(f"{path}:", "", 1) for e in lint_paths([path])]


@pytest.mark.parametrize("rel", sorted(CASES))
def test_lint_case(rel: str) -> None:
    assert _lint(rel) == CASES[rel]


def test_every_case_file_is_in_the_catalogue() -> None:
    files = {p.relative_to(CASES_DIR).as_posix() for p in CASES_DIR.rglob("*.yaml")
             if p.parent.name != "duplicate_ref"}
    assert files == set(CASES)


def test_lint_error_str_is_file_line_col_message() -> None:
    path = CASES_DIR / "missing_key.yaml"
    (err,) = lint_paths([path])
    assert (err.path, err.line, err.col) == (str(path), 2, 1)
    assert str(err) == f"{path}:2:1: missing required key 'title'"


def test_duplicate_rubric_ref_across_files() -> None:
    d = CASES_DIR / "duplicate_ref"
    assert [str(e) for e in lint_paths([d])] == [
        f"{d / 'b.yaml'}:3:10: duplicate rubric case@1.0.0 (also defined in {d / 'a.yaml'})"]


def test_missing_path_is_an_error() -> None:
    assert [str(e) for e in lint_paths([CASES_DIR / "nope.yaml"])] == [
        f"{CASES_DIR / 'nope.yaml'}:1:1: no such file or directory"]


def test_lint_reports_every_file_of_a_folder() -> None:
    errors = lint_paths([CASES_DIR])
    assert {Path(e.path).name for e in errors} >= {"bad_id.yaml", "yaml_syntax.yaml",
                                                   "sandbox_escape.yaml", "b.yaml"}
    assert len(errors) == sum(len(v) for v in CASES.values()) + 1


@pytest.mark.parametrize("rel", ["sandbox_escape.yaml", "missing_anchor.yaml", "yaml_syntax.yaml"])
def test_load_refuses_a_broken_file_with_its_first_lint_error(rel: str) -> None:
    path = CASES_DIR / rel
    with pytest.raises(ConfigError) as info:
        load_rubric_file(path)
    first = CASES[rel][0]
    line, col, message = first.split(":", 2)
    err = info.value
    assert (err.line, err.col, err.message) == (int(line), int(col), message.strip())
    assert str(err).startswith(f"{path}:{first}")


def test_mutant_changelog_newer_than_version_is_an_error() -> None:
    """Kills: the changelog-newer-than-version check removed. A changelog entry for 1.1.0 in
    a file still at 1.0.0 means the version was not bumped: the lock would not see a change."""
    assert _lint("changelog_newer_than_version.yaml") == CASES["changelog_newer_than_version.yaml"]
