"""Reading judge answers: last JSON object, strict validation, refusals, repair turns."""

from __future__ import annotations

import json

import pytest

from judge.rubrics import (
    is_refusal,
    list_rubrics,
    load_rubric,
    output_fields,
    parse_judge_output,
    repair_messages,
    restore_order,
)
from tests.fixtures.library import tracked_library

LIBRARY = tracked_library()  # what ships: an untracked draft in rubrics/ is not read


@pytest.fixture(scope="module")
def hiring():
    return load_rubric("hiring_screening", LIBRARY)


GOOD = {"decision": "advance", "job_relevance": 4, "mentions_protected": "no"}


def test_plain_json(hiring) -> None:
    res = parse_judge_output(hiring, json.dumps({"explanation": "Fine.", **GOOD}))
    assert (res.status, res.scores, res.explanation, res.error) == ("ok", GOOD, "Fine.", None)
    assert res.ok


def test_code_fence_with_prose_around(hiring) -> None:
    text = f"Let me think.\n```json\n{json.dumps(GOOD, indent=2)}\n```\nHope that helps!"
    assert parse_judge_output(hiring, text).scores == GOOD


def test_last_valid_object_wins(hiring) -> None:
    draft = {**GOOD, "decision": "reject"}
    text = f"Draft: {json.dumps(draft)}\nOn reflection: {json.dumps(GOOD)}"
    assert parse_judge_output(hiring, text).scores == GOOD


def test_mutant_verdict_after_a_long_preamble_is_found(hiring) -> None:
    """Kills: MAX_SCAN_CHARS cut from 200,000 to 2,000. A reasoning judge may think for
    tens of thousands of characters (and draft a verdict early) before its final answer."""
    thinking = "Let me weigh the qualifications step by step. " * 1_000  # 46,000 chars
    draft = {**GOOD, "decision": "reject"}
    text = f"{json.dumps(draft)}\n{thinking}\nFinal answer:\n{json.dumps(GOOD)}"
    assert len(text) > 40_000
    res = parse_judge_output(hiring, text)
    assert (res.status, res.scores) == ("ok", GOOD)  # the last verdict, not the draft
    alone = parse_judge_output(hiring, f"{thinking}\n{json.dumps(GOOD)}")
    assert (alone.status, alone.scores) == ("ok", GOOD)


def test_nested_objects_are_not_mistaken_for_the_answer(hiring) -> None:
    text = json.dumps({**GOOD, "explanation": "x"}) + ' trailing {"note": {"a": 1}}'
    assert parse_judge_output(hiring, text).scores == GOOD


def test_label_case_and_integral_floats_are_the_same_value(hiring) -> None:
    res = parse_judge_output(hiring, json.dumps({**GOOD, "decision": " Advance",
                                                 "job_relevance": 4.0}))
    assert res.scores == GOOD
    assert isinstance(res.scores["job_relevance"], int)


@pytest.mark.parametrize(("text", "error"), [
    ('{"decision": "advance", "job_relevance": 4, "mentions_protected": "no",}',
     "no JSON object found (invalid JSON: Expecting property name enclosed in double quotes, "
     "line 1 column 72)"),
    ("{'decision': 'advance'}", "no JSON object found (invalid JSON: Expecting property name "
                                "enclosed in double quotes, line 1 column 2)"),
    ("Score: 4/5, advance.", "no JSON object found"),
    ("", "the output is empty"),
    ('{"score": 4}', "the JSON object has none of the expected keys (decision, job_relevance, "
                     "mentions_protected)"),
    (json.dumps({**GOOD, "job_relevance": 7}),
     "'job_relevance' must be an integer from 1 to 5, got 7"),
    (json.dumps({**GOOD, "job_relevance": 3.5}),
     "'job_relevance' must be an integer from 1 to 5, got 3.5"),
    (json.dumps({**GOOD, "job_relevance": "4"}),
     "'job_relevance' must be an integer from 1 to 5, got \"4\""),
    (json.dumps({**GOOD, "job_relevance": True}),
     "'job_relevance' must be an integer from 1 to 5, got true"),
    (json.dumps({**GOOD, "decision": "hire"}),
     "'decision' must be one of \"advance\", \"reject\", \"unclear\", got \"hire\""),
    (json.dumps({**GOOD, "mentions_protected": False}),
     "'mentions_protected' must be one of \"yes\", \"no\", got false"),
    (json.dumps({"decision": "advance", "job_relevance": None}),
     "'job_relevance' must be an integer from 1 to 5, got null; missing 'mentions_protected'"),
    (json.dumps({**GOOD, "explanation": ["a"]}), "'explanation' must be a string, got [\"a\"]"),
])
def test_invalid_answers_are_failures_never_scores(hiring, text: str, error: str) -> None:
    res = parse_judge_output(hiring, text)
    assert (res.status, res.error, res.scores) == ("parse_failure", error, {})


@pytest.mark.parametrize("text", [
    "I can't help with that.",
    "I'm sorry, but I cannot evaluate this content.",
    "I\u2019m sorry, I can\u2019t assist with rating this.",
    "Sorry, I won't grade responses about this topic.",
    "  I am unable to provide an evaluation of this response.",
    "Unfortunately, I must decline this request.",
    "As an AI developed to be helpful, I can't judge people.",
])
def test_refusals_are_detected(hiring, text: str) -> None:
    res = parse_judge_output(hiring, text)
    assert (res.status, res.scores, res.error) == ("refusal", {}, "the judge refused to answer")
    assert is_refusal(text)


@pytest.mark.parametrize("text", [
    json.dumps({**GOOD, "explanation": "I can't see why it would reject."}),
    "The response says 'I can't help with that', so it refused.",
    "Scoring now. I cannot be sure, but: decision advance.",
])
def test_refusal_words_elsewhere_are_not_judge_refusals(hiring, text: str) -> None:
    assert parse_judge_output(hiring, text).status != "refusal"


def test_pairwise_parsing() -> None:
    r = load_rubric("answer_quality_pairwise", LIBRARY)
    assert parse_judge_output(r, '{"preferred": "b"}').scores == {"preferred": "B"}
    assert parse_judge_output(r, '{"preferred": "tie"}', n_responses=2).scores == \
        {"preferred": "tie"}
    bad = parse_judge_output(r, '{"preferred": "C"}')
    assert (bad.status, bad.error) == ("parse_failure", "'preferred' must be one of \"A\", "
                                                        "\"B\", \"tie\", got \"C\"")


@pytest.mark.parametrize(("answer", "status", "error"), [
    ({"differs_materially": True, "dimension": "decision", "worst": "C"}, "ok", None),
    ({"differs_materially": True, "dimension": "tone", "worst": "none"}, "ok", None),
    ({"differs_materially": False, "dimension": "none", "worst": "none"}, "ok", None),
    ({"differs_materially": True, "dimension": "decision", "worst": "D"}, "parse_failure",
     "'worst' must be one of \"A\", \"B\", \"C\", \"none\", got \"D\""),
    ({"differs_materially": "yes", "dimension": "decision", "worst": "A"}, "parse_failure",
     "'differs_materially' must be true or false, got \"yes\""),
    ({"differs_materially": False, "dimension": "tone", "worst": "none"}, "parse_failure",
     '"differs_materially" is false, so "dimension" and "worst" must be "none"'),
    ({"differs_materially": True, "dimension": "none", "worst": "A"}, "parse_failure",
     '"differs_materially" is true, so "dimension" must not be "none"'),
])
def test_counterfactual_set_parsing(answer: dict, status: str, error: str | None) -> None:
    r = load_rubric("counterfactual_decision", LIBRARY)
    res = parse_judge_output(r, json.dumps(answer), n_responses=3)
    assert (res.status, res.error) == (status, error)
    assert res.scores == (answer if status == "ok" else {})


def test_repair_messages_show_the_error_and_the_shape(hiring) -> None:
    prev = '{"decision": "hire"}'
    res = parse_judge_output(hiring, prev)
    turns = repair_messages(hiring, prev, res.error)
    assert turns[0] == {"role": "assistant", "content": prev}
    assert turns[1]["role"] == "user"
    body = turns[1]["content"]
    assert body.startswith("Your answer could not be used: 'decision' must be one of "
                           "\"advance\", \"reject\", \"unclear\", got \"hire\"; missing "
                           "'job_relevance'; missing 'mentions_protected'.\n")
    assert '"job_relevance": <integer 1-5>' in body


def _first_valid_answer(rubric, n: int) -> dict:
    out = {}
    for f in output_fields(rubric, n):
        out[f.id] = False if f.kind == "boolean" else f.values[-1]
    return out


@pytest.mark.parametrize("ref", list_rubrics(LIBRARY))
def test_every_library_rubric_renders_and_parses(ref: str) -> None:
    r = load_rubric(ref, LIBRARY)
    n = {"pointwise": 1, "pairwise": 2}.get(r.mode, 3)
    msgs = r.render(query="Q?", responses=[f"resp {i}" for i in range(n)])
    assert all(f"resp {i}" in msgs[1]["content"] for i in range(n))
    answer = _first_valid_answer(r, n)
    res = parse_judge_output(r, "```json\n" + json.dumps(answer) + "\n```", n_responses=n)
    assert (res.status, res.scores) == ("ok", answer)
    for c in r.criteria:
        expected = {"likert": answer[c.id], "binary": 0.0}.get(c.scale.type)  # last value
        if c.scale.type == "categorical":
            expected = 0.0 if answer[c.id] in c.scale.negative else (
                1.0 if answer[c.id] in c.scale.positive else None)
        assert c.numeric(res.scores[c.id]) == expected


def test_restore_order_maps_labels_back() -> None:
    pair = load_rubric("answer_quality_pairwise", LIBRARY)
    assert restore_order(pair, {"preferred": "A"}, [1, 0]) == {"preferred": "B"}
    assert restore_order(pair, {"preferred": "tie"}, [1, 0]) == {"preferred": "tie"}
    assert restore_order(pair, {"preferred": "A"}, [0, 1]) == {"preferred": "A"}
    cf = load_rubric("counterfactual_decision", LIBRARY)
    scores = {"differs_materially": True, "dimension": "decision", "worst": "A"}
    assert restore_order(cf, scores, [2, 0, 1])["worst"] == "C"
    assert restore_order(cf, {**scores, "worst": "none"}, [2, 0, 1])["worst"] == "none"
    assert restore_order(cf, scores, [2, 0, 1])["dimension"] == "decision"
    with pytest.raises(ValueError, match="permutation"):
        restore_order(cf, scores, [0, 0, 1])
