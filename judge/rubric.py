"""TEMPORARY stand-in (replaced by the rubrics branch): minimal pointwise rubric API."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from judge.config import PROJECT_ROOT
from judge.ids import digest


@dataclass(frozen=True)
class Criterion:
    id: str
    question: str
    kind: str
    min: int = 1
    max: int = 5
    labels: tuple = ()
    positive: str | None = None

    def numeric(self, value):
        if self.kind == "likert":
            return float(value)
        if self.kind == "binary":
            return 1.0 if value == (self.positive or self.labels[0]) else 0.0
        return None


@dataclass(frozen=True)
class ParseResult:
    status: str
    scores: dict = field(default_factory=dict)
    explanation: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Rubric:
    id: str
    version: str
    mode: str
    contexts: tuple
    criteria: tuple
    data: dict

    @property
    def hash(self) -> str:
        return digest(self.data)

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def applies_to(self, context: str) -> bool:
        return not self.contexts or context in self.contexts

    def output_schema(self) -> dict:
        props = {}
        for c in self.criteria:
            if c.kind == "likert":
                props[c.id] = {"type": "integer", "minimum": c.min, "maximum": c.max}
            else:
                props[c.id] = {"type": "string", "enum": list(c.labels)}
        props["explanation"] = {"type": "string"}
        return {"type": "object", "properties": props,
                "required": [c.id for c in self.criteria], "additionalProperties": False}

    def response_format(self) -> dict:
        return {"type": "json_schema", "json_schema": {
            "name": self.id, "schema": self.output_schema(), "strict": True}}

    def render(self, *, query: str, responses: list[str], attributes=None) -> list[dict]:
        crit = "\n".join(f"- {c.id}: {c.question}" for c in self.criteria)
        resp = "\n".join(f'<response id="{chr(65 + i)}">\n{r}\n</response>'
                         for i, r in enumerate(responses))
        return [{"role": "system", "content": "You are a careful fairness evaluator."},
                {"role": "user", "content": f"<query>\n{query}\n</query>\n{resp}\nCriteria:\n"
                 f"{crit}\nAnswer in JSON:\n```json\n{json.dumps(self.output_schema())}\n```"}]


def load_rubric(ref: str, root: Path | None = None) -> Rubric:
    rid, _, ver = ref.partition("@")
    d = yaml.safe_load(((root or PROJECT_ROOT / "rubrics") / f"{rid}.yaml").read_text())
    crits = tuple(Criterion(c["id"], c["question"], c["scale"]["kind"],
                            c["scale"].get("min", 1), c["scale"].get("max", 5),
                            tuple(c["scale"].get("labels", [])), c["scale"].get("positive"))
                  for c in d["criteria"])
    return Rubric(d["id"], str(d["version"]), d.get("mode", "pointwise"),
                  tuple(d.get("contexts", [])), crits, d)


def parse_judge_output(rubric: Rubric, text: str, n_responses: int = 1) -> ParseResult:
    if text.startswith("I'm sorry"):
        return ParseResult("refusal", error="refused")
    objs = re.findall(r"\{.*\}", text, re.S)
    if not objs:
        return ParseResult("parse_failure", error="no JSON object")
    try:
        obj = json.loads(objs[-1])
    except json.JSONDecodeError as e:
        return ParseResult("parse_failure", error=str(e))
    scores = {}
    for c in rubric.criteria:
        v = obj.get(c.id)
        if c.kind == "likert" and not (isinstance(v, int) and c.min <= v <= c.max):
            return ParseResult("parse_failure", error=f"{c.id} out of range")
        if c.kind != "likert" and v not in c.labels:
            return ParseResult("parse_failure", error=f"{c.id} unknown label")
        scores[c.id] = v
    return ParseResult("ok", scores, obj.get("explanation"))


def repair_messages(rubric: Rubric, previous_output: str, error: str) -> list[dict]:
    return [{"role": "assistant", "content": previous_output},
            {"role": "user", "content": f"Invalid: {error}. Reply with the JSON object only."}]
