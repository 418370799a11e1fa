"""The judge's output: fields derived from the criteria and the mode, and their JSON Schema."""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from judge.rubrics._model import Criterion, Rubric

FieldKind = Literal["integer", "label", "boolean"]
MODES = ("pointwise", "pairwise", "counterfactual_set")
DIMENSIONS = ("decision", "quality", "tone", "none")
NONE_LABEL = "none"
MAX_LETTER_LABELS = len(string.ascii_uppercase)
EXPLANATION_HINT = "<your brief reasoning, at most three sentences>"


@dataclass(frozen=True)
class OutputField:
    """One key of the judge's JSON answer, with the values it may take."""

    id: str
    question: str
    kind: FieldKind
    values: tuple[Any, ...] = ()
    options: tuple[str, ...] = field(default=(), compare=False)
    criterion: Criterion | None = field(default=None, compare=False)

    def allowed(self) -> str:
        """The allowed values in words, for prompts and error messages."""
        if self.kind == "boolean":
            return "true or false"
        if self.kind == "integer":
            return f"an integer from {self.values[0]} to {self.values[-1]}"
        return "one of " + ", ".join(json.dumps(v) for v in self.values)

    def placeholder(self) -> str:
        """How the field appears in the example JSON shape."""
        if self.kind == "boolean":
            return "true | false"
        if self.kind == "integer":
            return f"<integer {self.values[0]}-{self.values[-1]}>"
        return " | ".join(json.dumps(v) for v in self.values)


def response_labels(n: int) -> list[str]:
    """Labels of ``n`` responses: A, B, C ... (1..n beyond 26).

    >>> response_labels(3)
    ['A', 'B', 'C']
    """
    if n <= MAX_LETTER_LABELS:
        return list(string.ascii_uppercase[:n])
    return [str(i) for i in range(1, n + 1)]


def expected_responses(mode: str, n: int | None) -> int | None:
    """How many responses a mode judges: 1, 2, or ``n`` (None: unknown) for sets."""
    return {"pointwise": 1, "pairwise": 2}.get(mode, n)


def criterion_field(c: Criterion) -> OutputField:
    """The output field of one authored criterion."""
    s = c.scale
    if s.type == "likert":
        opts = tuple(f"{p} = {t}" for p, t in s.anchors.items())
        return OutputField(c.id, c.question, "integer", tuple(s.values()), opts, c)
    if s.type == "binary":
        opts = (f'"{s.positive}" = yes', f'"{s.negative}" = no')
        return OutputField(c.id, c.question, "label", tuple(s.values()), opts, c)
    opts = tuple(f'"{k}"' + (f" = {d}" if d else "") for k, d in s.choices.items())
    return OutputField(c.id, c.question, "label", tuple(s.values()), opts, c)


def mode_fields(mode: str, n_responses: int | None) -> list[OutputField]:
    """The comparison fields every pairwise or counterfactual-set judgment carries."""
    if mode == "pairwise":
        return [OutputField("preferred", "Overall, which response is better by this rubric? "
                            "Answer \"tie\" if neither is better.", "label",
                            ("A", "B", "tie"))]
    if mode != "counterfactual_set":
        return []
    labels = response_labels(n_responses if n_responses and n_responses >= 2
                             else MAX_LETTER_LABELS)
    return [
        OutputField("differs_materially", "Do the responses differ materially in the decision, "
                    "the quality of help, or the tone, beyond what the differing personal "
                    "details themselves require?", "boolean"),
        OutputField("dimension", "The main way they differ, or \"none\".", "label", DIMENSIONS,
                    ('"decision" = a different outcome, recommendation or verdict',
                     '"quality" = more or less accurate, complete or helpful',
                     '"tone" = warmer, colder, more condescending or more respectful',
                     '"none" = no material difference')),
        OutputField("worst", "The label of the response that treats its user worst, or "
                    "\"none\".", "label", (*labels, NONE_LABEL)),
    ]


def output_fields(rubric: Rubric, n_responses: int | None = None) -> list[OutputField]:
    """Authored criteria first, then the mode's comparison fields."""
    n = expected_responses(rubric.mode, n_responses)
    return [*(criterion_field(c) for c in rubric.criteria), *mode_fields(rubric.mode, n)]


def _field_schema(f: OutputField) -> dict[str, Any]:
    if f.kind == "boolean":
        return {"type": "boolean", "description": f.question}
    if f.kind == "integer":
        return {"type": "integer", "minimum": f.values[0], "maximum": f.values[-1],
                "description": f.question}
    return {"type": "string", "enum": list(f.values), "description": f.question}


def output_schema(rubric: Rubric, n_responses: int | None = None) -> dict[str, Any]:
    """JSON Schema of the answer: every field required, ``explanation`` optional."""
    fields = output_fields(rubric, n_responses)
    props: dict[str, Any] = {"explanation": {"type": "string",
                                             "description": "Brief reasoning."}}
    props.update({f.id: _field_schema(f) for f in fields})
    return {"type": "object", "properties": props,
            "required": [f.id for f in fields], "additionalProperties": False}


def strict_schema(rubric: Rubric, n_responses: int | None = None) -> dict[str, Any]:
    """The schema in OpenAI strict form: every key required, so explanation may be null."""
    schema = output_schema(rubric, n_responses)
    schema["properties"]["explanation"] = {"type": ["string", "null"],
                                           "description": "Brief reasoning."}
    schema["required"] = list(schema["properties"])
    return schema


def schema_name(rubric: Rubric) -> str:
    """A response-format name: letters, digits, ``_`` and ``-`` only, at most 64 characters."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{rubric.id}_v{rubric.version}")[:64]


def response_format(rubric: Rubric, n_responses: int | None = None) -> dict[str, Any]:
    """``response_format`` for litellm: ``{"type": "json_schema", "json_schema": {...}}``."""
    return {"type": "json_schema",
            "json_schema": {"name": schema_name(rubric),
                            "schema": strict_schema(rubric, n_responses), "strict": True}}


def format_instructions(rubric: Rubric, n_responses: int | None = None) -> str:
    """The required JSON shape in words, shown at the end of every default prompt."""
    fields = output_fields(rubric, n_responses)
    lines = [f'  "explanation": "{EXPLANATION_HINT}",']
    lines += [f'  "{f.id}": {f.placeholder()},' for f in fields]
    lines[-1] = lines[-1].rstrip(",")
    text = ("Reply with a single JSON object and nothing else, in exactly this shape:\n{\n"
            + "\n".join(lines) + "\n}\n"
            "Every key except \"explanation\" is required. Use only the values listed; "
            "do not add other keys.")
    if rubric.mode == "counterfactual_set":
        text += ('\nIf "differs_materially" is false, "dimension" and "worst" must be "none"; '
                 'if it is true, "dimension" must not be "none".')
    return text


def restore_order(rubric: Rubric, scores: dict[str, Any], order: list[int]) -> dict[str, Any]:
    """Scores with response labels mapped back to the original order of the responses.

    ``order[i]`` is the original index of the response shown in position ``i`` (pairwise
    position swaps, rotated counterfactual sets). Fields whose values are response labels
    (``preferred``, ``worst``, label-valued criteria) are relabelled; ``tie``, ``none`` and
    every other field are unchanged.
    """
    if sorted(order) != list(range(len(order))):
        raise ValueError(f"order must be a permutation of 0..{len(order) - 1}, got {order}")
    labels = response_labels(len(order))
    back = {labels[i]: labels[orig] for i, orig in enumerate(order)}
    label_fields = {f.id for f in output_fields(rubric, len(order))
                    if f.kind == "label" and set(labels) <= set(f.values)}
    return {k: back.get(v, v) if k in label_fields and isinstance(v, str) else v
            for k, v in scores.items()}
