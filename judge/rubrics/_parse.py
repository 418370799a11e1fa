"""Read a judge's answer: the last JSON object, validated field by field; refusals detected.

Nothing is coerced: a value outside the scale or an unknown label makes the whole
answer a ``parse_failure`` (with the reason), which the score stage may repair by re-asking.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from judge.rubrics._model import Rubric
from judge.rubrics._schema import NONE_LABEL, OutputField, format_instructions, output_fields

ParseStatus = Literal["ok", "parse_failure", "refusal"]
Score = float | int | str | bool | None
MAX_SCAN_CHARS = 200_000

_REFUSAL_RE = re.compile(
    r"^\W*(?:(?:i'?m|i am)\s+(?:so\s+|very\s+|really\s+)?sorry|sorry|unfortunately|"
    r"i\s+apologi[sz]e)?[\s,.!:;-]*(?:but\s+)?"
    r"(?:i\s+(?:can\s*not|can'?t|cannot|won'?t|will\s+not|must\s+(?:decline|refuse)|"
    r"(?:am|'m)\s+(?:not\s+able|unable|not\s+comfortable)|"
    r"(?:do\s+not|don'?t)\s+feel\s+comfortable|refuse|decline)"
    r"|as\s+an\s+ai\b|this\s+(?:request|content)\s+(?:violates|is\s+against))",
    re.IGNORECASE)


class ParseResult(BaseModel):
    """The outcome of reading one judge answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: ParseStatus
    scores: dict[str, Score] = Field(default_factory=dict,
                                     description="Value per output field; empty unless ok.")
    explanation: str | None = None
    error: str | None = Field(None, description="Why the answer could not be used.")

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def is_refusal(text: str) -> bool:
    """True if the text opens like a refusal ("I can't help with that", "I'm sorry, but ...").

    >>> is_refusal("I'm sorry, but I cannot evaluate this."), is_refusal('{"score": 3}')
    (True, False)
    """
    return bool(_REFUSAL_RE.match(text.strip().replace("\u2019", "'")[:300]))


def json_objects(text: str) -> tuple[list[dict[str, Any]], str | None]:
    """Top-level JSON objects in the text, in order, and the last decode error seen."""
    dec = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    last_error = None
    i = text.find("{")
    while 0 <= i < min(len(text), MAX_SCAN_CHARS):
        try:
            obj, end = dec.raw_decode(text, i)
        except json.JSONDecodeError as err:
            last_error = f"{err.msg}, line {err.lineno} column {err.colno}"
            i = text.find("{", i + 1)
            continue
        if isinstance(obj, dict):
            found.append(obj)
        i = text.find("{", end)
    return found, last_error


def _check_value(f: OutputField, value: Any) -> tuple[Score, str | None]:
    if f.kind == "boolean":
        return (value, None) if isinstance(value, bool) else \
            (None, f"{f.id!r} must be true or false, got {json.dumps(value)}")
    if f.kind == "integer":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
            and float(value).is_integer() and int(value) in f.values
        return (int(value), None) if ok else \
            (None, f"{f.id!r} must be {f.allowed()}, got {json.dumps(value)}")
    if isinstance(value, str):
        for v in f.values:
            if value.strip().lower() == str(v).lower():
                return v, None
    return None, f"{f.id!r} must be {f.allowed()}, got {json.dumps(value)}"


def _consistency(scores: dict[str, Score]) -> str | None:
    if "differs_materially" not in scores:
        return None
    if scores["differs_materially"] is False and (scores["dimension"] != NONE_LABEL
                                                  or scores["worst"] != NONE_LABEL):
        return '"differs_materially" is false, so "dimension" and "worst" must be "none"'
    if scores["differs_materially"] is True and scores["dimension"] == NONE_LABEL:
        return '"differs_materially" is true, so "dimension" must not be "none"'
    return None


def validate_answer(fields: list[OutputField], obj: dict[str, Any]) -> ParseResult:
    """Check one decoded object against the output fields; every problem is listed."""
    scores: dict[str, Score] = {}
    problems = []
    for f in fields:
        if f.id not in obj:
            problems.append(f"missing {f.id!r}")
            continue
        value, err = _check_value(f, obj[f.id])
        if err:
            problems.append(err)
        else:
            scores[f.id] = value
    expl = obj.get("explanation")
    if expl is not None and not isinstance(expl, str):
        problems.append(f"'explanation' must be a string, got {json.dumps(expl)[:60]}")
    if not problems and (msg := _consistency(scores)):
        problems.append(msg)
    if problems:
        return ParseResult(status="parse_failure", error="; ".join(problems),
                           explanation=expl if isinstance(expl, str) else None)
    return ParseResult(status="ok", scores=scores, explanation=expl)


def parse_judge_output(rubric: Rubric, text: str | None, n_responses: int = 1) -> ParseResult:
    """Read a judge answer: the last JSON object holding any expected key, fully validated."""
    if text is None or not text.strip():
        return ParseResult(status="parse_failure", error="the output is empty")
    fields = output_fields(rubric, n_responses)
    keys = {f.id for f in fields} | {"explanation"}
    objects, decode_error = json_objects(text)
    relevant = [o for o in objects if keys & set(o)]
    if relevant:
        return validate_answer(fields, relevant[-1])
    if is_refusal(text):
        return ParseResult(status="refusal", error="the judge refused to answer")
    if objects:
        return ParseResult(status="parse_failure", error="the JSON object has none of the "
                           f"expected keys ({', '.join(f.id for f in fields)})")
    detail = f" (invalid JSON: {decode_error})" if decode_error else ""
    return ParseResult(status="parse_failure", error=f"no JSON object found{detail}")


def repair_messages(rubric: Rubric, previous_output: str, error: str,
                    n_responses: int = 1) -> list[dict[str, str]]:
    """The turns to append for a repair re-ask: the judge's answer, then what to fix."""
    shape = format_instructions(rubric, n_responses)
    return [
        {"role": "assistant", "content": previous_output},
        {"role": "user", "content": f"Your answer could not be used: {error}.\n"
                                    f"Answer again, judging the same response(s) the same way. "
                                    f"{shape}"},
    ]
