"""Judge prompts for the three modes, the output schema, and the template sandbox."""

from __future__ import annotations

import re

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from judge.errors import ConfigError
from judge.rubrics import Rubric, load_rubric, response_labels
from judge.rubrics._model import SKIP_SEMANTIC
from tests.fixtures.library import tracked_library

LIBRARY = tracked_library()  # what ships: an untracked draft in rubrics/ is not read

BASE = yaml.safe_load("""
id: demo
version: 1.0.0
title: Demo rubric
description: A demo.
changelog: {1.0.0: First release.}
frameworks: [group]
criteria:
  - id: helpfulness
    question: How helpful is it?
    scale: {type: likert, min: 1, max: 3, anchors: {1: Not helpful., 2: Partly., 3: Fully.}}
  - id: decision
    question: What is decided?
    scale: {type: categorical, choices: {advance: Moves on., reject: Stops.}}
""")


def _rubric(**changes) -> Rubric:
    return Rubric.model_validate({**BASE, **changes})


def test_pointwise_prompt_shows_everything_the_judge_needs() -> None:
    msgs = _rubric().render(query="Should we hire Ana?", responses=["Yes, interview her."])
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    for needle in ("Should we hire Ana?", "<response>\nYes, interview her.\n</response>",
                   '"helpfulness": How helpful is it?', "Answer with an integer from 1 to 3.",
                   "1 = Not helpful.", "3 = Fully.", '"advance" = Moves on.',
                   '"helpfulness": <integer 1-3>,', '"decision": "advance" | "reject"',
                   '"explanation": "<your brief reasoning'):
        assert needle in user, needle
    assert "JSON" in msgs[0]["content"]


def test_pairwise_prompt_labels_both_responses() -> None:
    r = load_rubric("answer_quality_pairwise", LIBRARY)
    user = r.render(query="Q", responses=["first", "second"])[1]["content"]
    assert '<response label="A">\nfirst\n</response>' in user
    assert '<response label="B">\nsecond\n</response>' in user
    assert user.index("first") < user.index("second")
    assert '"preferred": "A" | "B" | "tie"' in user


def test_counterfactual_set_prompt_labels_every_member() -> None:
    r = load_rubric("counterfactual_decision", LIBRARY)
    user = r.render(query="Q", responses=["r1", "r2", "r3", "r4"])[1]["content"]
    assert "Below are 4 responses" in user
    assert all(f'<response label="{lab}">\nr{i}\n' in user for i, lab in enumerate("ABCD", 1))
    assert '"worst": "A" | "B" | "C" | "D" | "none"' in user
    assert '"differs_materially": true | false' in user
    assert '"dimension": "decision" | "quality" | "tone" | "none"' in user


def test_response_labels_switch_to_numbers_past_26() -> None:
    assert response_labels(2) == ["A", "B"]
    assert response_labels(27)[:2] == ["1", "2"] and response_labels(27)[-1] == "27"


@pytest.mark.parametrize(("ref", "n", "message"), [
    ("answer_quality", 2, "answer_quality@1.1.0 is pointwise: it judges 1 response(s), got 2"),
    ("answer_quality_pairwise", 3, "is pairwise: it judges 2 response(s), got 3"),
    ("counterfactual_decision", 1, "counterfactual_set: it needs at least 2 responses, got 1"),
])
def test_wrong_number_of_responses(ref: str, n: int, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        load_rubric(ref, LIBRARY).render(query="q", responses=["r"] * n)


def test_custom_template_with_vars_and_attributes() -> None:
    r = _rubric(prompt={"system": "You judge {{ audience }} answers.",
                        "user": "Q: {{ query }}\nA: {{ response }}\n"
                                "{% for k, v in attributes|dictsort %}{{ k }}={{ v }};{% endfor %}"
                                "\n{{ output_format }}",
                        "vars": {"audience": "hiring"}})
    msgs = r.render(query="q?", responses=["a!"], attributes={"race": "Black", "age": "60"})
    assert msgs[0]["content"] == "You judge hiring answers."
    # trim_blocks: the newline right after a block tag such as {% endfor %} is dropped.
    assert msgs[1]["content"].startswith("Q: q?\nA: a!\nage=60;race=Black;Reply with")


ESCAPES = ["{{ ''.__class__.__mro__ }}", "{{ cycler.__init__.__globals__ }}",
           "{{ ''|attr('__class__') }}", "{{ query['__class__'] }}"]


@pytest.mark.parametrize("expr", ESCAPES)
def test_template_reaching_python_internals_is_refused_at_load(expr: str) -> None:
    with pytest.raises(ValidationError, match="template reaches Python internals"):
        _rubric(prompt=f"{{{{ response }}}} {{{{ output_format }}}} {expr}")


@pytest.mark.parametrize("expr", ESCAPES)
def test_sandbox_refuses_at_render_even_if_lint_was_skipped(expr: str) -> None:
    r = Rubric.model_validate({**BASE, "prompt": f"{{{{ response }}}} {{{{ output_format }}}} "
                                                 f"{expr}"}, context={SKIP_SEMANTIC: True})
    with pytest.raises(ConfigError, match="user prompt template refused: access to attribute "
                                          "'__.*' of '.*' object is unsafe"):
        r.render(query="q", responses=["r"])


def test_output_schema_requires_every_criterion() -> None:
    schema = _rubric().output_schema()
    assert schema["required"] == ["helpfulness", "decision"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["helpfulness"] == {
        "type": "integer", "minimum": 1, "maximum": 3, "description": "How helpful is it?"}
    assert schema["properties"]["decision"]["enum"] == ["advance", "reject"]
    assert schema["properties"]["explanation"]["type"] == "string"
    ok = {"helpfulness": 2, "decision": "reject"}
    jsonschema.validate(ok, schema)
    for bad in ({"helpfulness": 4, "decision": "reject"}, {"helpfulness": 2},
                {"helpfulness": 2, "decision": "maybe"}, {**ok, "extra": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_response_format_is_strict_json_schema() -> None:
    rf = load_rubric("counterfactual_decision", LIBRARY).response_format(n_responses=3)
    assert rf["type"] == "json_schema"
    js = rf["json_schema"]
    assert (js["name"], js["strict"]) == ("counterfactual_decision_v1_0_0", True)
    schema = js["schema"]
    assert set(schema["required"]) == set(schema["properties"])
    assert schema["properties"]["explanation"]["type"] == ["string", "null"]
    assert schema["properties"]["worst"]["enum"] == ["A", "B", "C", "none"]
    jsonschema.validate({"explanation": None, "differs_materially": True,
                         "dimension": "tone", "worst": "B"}, schema)


def test_pairwise_schema_has_preferred() -> None:
    schema = load_rubric("answer_quality_pairwise", LIBRARY).output_schema()
    assert schema["required"] == ["preferred"]
    assert schema["properties"]["preferred"]["enum"] == ["A", "B", "tie"]
