"""The rubric data model: scales, criteria, prompt and the rubric itself (pydantic, frozen)."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from judge.ids import digest
from judge.rubrics._checks import semantic_problems
from judge.rubrics._schema import output_schema, response_format
from judge.rubrics._semver import is_semver
from judge.rubrics._template import DEFAULT_SYSTEM, DEFAULT_USER, render_messages

FRAMEWORKS = ("counterfactual", "group", "individual", "unawareness", "producer_exposure",
              "stereotype", "refusal", "quality_of_service")
Framework = Literal["counterfactual", "group", "individual", "unawareness", "producer_exposure",
                    "stereotype", "refusal", "quality_of_service"]
Mode = Literal["pointwise", "pairwise", "counterfactual_set"]
ID_RE = r"^[a-z][a-z0-9_]*$"
#: Output keys the modes and the parser use; criteria may not take these ids.
RESERVED_IDS = frozenset({"explanation", "preferred", "differs_materially", "dimension", "worst"})
MAX_LIKERT_POINTS = 11
#: Bumped whenever the built-in prompt rendering changes; part of every rubric hash.
RENDERER_VERSION = "1"
#: Validation context key that defers cross-field checks to the linter (which locates them).
SKIP_SEMANTIC = "skip_semantic"


def prose(text: str) -> str:
    """Normalise prose: runs of whitespace (newlines included) become one space.

    >>> prose("  Is the answer\\n  helpful?  ")
    'Is the answer helpful?'
    """
    return re.sub(r"\s+", " ", text).strip()


def template_text(text: str) -> str:
    """Normalise a template: no trailing spaces on lines, no blank lines at either end."""
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LikertScale(_Strict):
    """An integer scale from ``min`` to ``max`` with an anchor text for every point."""

    type: Literal["likert"]
    min: int = Field(description="Lowest point, usually 1.")
    max: int = Field(description="Highest point, usually 5.")
    anchors: dict[int, str] = Field(description="What each point means; every point needs one.")

    @field_validator("max")
    @classmethod
    def _max_above_min(cls, v: int, info: ValidationInfo) -> int:
        lo = info.data.get("min")
        if lo is not None and v <= lo:
            raise ValueError(f"max ({v}) must be greater than min ({lo})")
        if lo is not None and v - lo + 1 > MAX_LIKERT_POINTS:
            raise ValueError(f"{v - lo + 1} points is too many; use at most {MAX_LIKERT_POINTS}")
        return v

    @field_validator("anchors")
    @classmethod
    def _every_point(cls, v: dict[int, str], info: ValidationInfo) -> dict[int, str]:
        lo, hi = info.data.get("min"), info.data.get("max")
        if lo is None or hi is None:
            return v
        missing = [p for p in range(lo, hi + 1) if p not in v]
        extra = sorted(p for p in v if not lo <= p <= hi)
        if missing:
            pts = ", ".join(map(str, missing))
            raise ValueError(f"missing anchor for {pts} (every point from {lo} to {hi} needs "
                             "a description)")
        if extra:
            raise ValueError(f"anchor {extra[0]} is outside the scale {lo}..{hi}")
        empty = [p for p, t in v.items() if not prose(t)]
        if empty:
            raise ValueError(f"anchor {empty[0]} is empty")
        return {p: prose(v[p]) for p in sorted(v)}

    def values(self) -> list[int]:
        return list(range(self.min, self.max + 1))


class BinaryScale(_Strict):
    """Two labels; ``positive`` means the property the question asks about is present (1.0)."""

    type: Literal["binary"]
    positive: str = Field(description="Label meaning 'yes, present' (scores 1.0).")
    negative: str = Field(description="Label meaning 'no, absent' (scores 0.0).")

    @field_validator("positive", "negative")
    @classmethod
    def _label(cls, v: str) -> str:
        return _label_text(v)

    @field_validator("negative")
    @classmethod
    def _distinct(cls, v: str, info: ValidationInfo) -> str:
        if info.data.get("positive", "").lower() == v.lower():
            raise ValueError(f"positive and negative labels are both {v!r}; they must differ")
        return v

    def values(self) -> list[str]:
        return [self.positive, self.negative]


class CategoricalScale(_Strict):
    """Named choices, each with an optional description (a list or a mapping in YAML)."""

    type: Literal["categorical"]
    choices: dict[str, str] = Field(description="Choice label -> what it means.")
    positive: list[str] = Field(default_factory=list,
                                description="Choices that score 1.0 (e.g. a favourable "
                                            "decision); optional.")
    negative: list[str] = Field(default_factory=list,
                                description="Choices that score 0.0; optional.")

    @field_validator("choices", mode="before")
    @classmethod
    def _list_to_map(cls, v: Any) -> Any:
        if isinstance(v, list):
            if not all(isinstance(x, str) for x in v):
                bad = next(x for x in v if not isinstance(x, str))
                raise ValueError(_label_message(bad))
            dup = sorted({x for x in v if v.count(x) > 1})
            if dup:
                raise ValueError(f"duplicate choice {dup[0]!r}")
            return {x: "" for x in v}
        return v

    @field_validator("choices")
    @classmethod
    def _two_or_more(cls, v: dict[str, str]) -> dict[str, str]:
        if len(v) < 2:
            raise ValueError(f"needs at least 2 choices, got {len(v)}")
        lowered = [k.lower().strip() for k in v]
        dup = sorted({k for k in lowered if lowered.count(k) > 1})
        if dup:
            raise ValueError(f"choices {dup[0]!r} differ only in case")
        return {_label_text(k): prose(d or "") for k, d in v.items()}

    @field_validator("positive", "negative", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("positive", "negative")
    @classmethod
    def _known_choices(cls, v: list[str], info: ValidationInfo) -> list[str]:
        choices = info.data.get("choices") or {}
        v = [_label_text(x) for x in v]
        bad = [x for x in v if choices and x not in choices]
        if bad:
            raise ValueError(f"{bad[0]!r} is not one of the choices "
                             f"({', '.join(choices)})")
        both = set(v) & set(info.data.get("positive") or ())
        if info.field_name == "negative" and both:
            raise ValueError(f"{sorted(both)[0]!r} is both positive and negative")
        return v

    def values(self) -> list[str]:
        return list(self.choices)


def _label_message(v: Any) -> str:
    if isinstance(v, bool):
        return (f"YAML read this label as the boolean {str(v).lower()}; quote it "
                "(e.g. \"yes\") to make it a label")
    return f"labels must be text, got {v!r}"


def _label_text(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(_label_message(v))
    v = prose(v)
    if not v:
        raise ValueError("label is empty")
    return v


Scale = Annotated[LikertScale | BinaryScale | CategoricalScale, Field(discriminator="type")]


class Criterion(_Strict):
    """One question the judge answers, on one scale."""

    id: str = Field(pattern=ID_RE, description="snake_case key in the judge's JSON output.")
    question: str = Field(min_length=1, description="The question, as put to the judge.")
    scale: Scale

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v in RESERVED_IDS:
            raise ValueError(f"{v!r} is reserved for the judge output; choose another id")
        return v

    @field_validator("question")
    @classmethod
    def _prose(cls, v: str) -> str:
        return prose(v)

    def numeric(self, value: Any) -> float | None:
        """The number a score stands for: likert value; binary positive 1.0, negative 0.0;
        categorical 1.0/0.0 for choices listed as positive/negative, else None."""
        s = self.scale
        if value is None or isinstance(value, bool):
            return None
        if isinstance(s, LikertScale):
            ok = isinstance(value, (int, float)) and float(value).is_integer()
            return float(value) if ok and s.min <= value <= s.max else None
        if isinstance(s, BinaryScale):
            if value == s.positive:
                return 1.0
            return 0.0 if value == s.negative else None
        if value in s.positive:
            return 1.0
        return 0.0 if value in s.negative else None

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels a judge may answer (empty for likert)."""
        return () if isinstance(self.scale, LikertScale) else tuple(self.scale.values())

    @property
    def favourable(self) -> list[str] | None:
        """Categorical choices declared ``positive`` (favourable outcomes), or None."""
        s = self.scale
        return list(s.positive) if isinstance(s, CategoricalScale) and s.positive else None

    @property
    def unfavourable(self) -> list[str] | None:
        """Categorical choices declared ``negative``, or None."""
        s = self.scale
        return list(s.negative) if isinstance(s, CategoricalScale) and s.negative else None


class PromptSpec(_Strict):
    """A custom prompt: Jinja2 templates for the system and user messages, plus constants."""

    system: str | None = Field(None, description="System message template (default per mode).")
    user: str = Field(description="User message template; must show the response(s).")
    vars: dict[str, str] = Field(default_factory=dict,
                                 description="Constants the templates may use by name.")

    @field_validator("system", "user")
    @classmethod
    def _tmpl(cls, v: str | None) -> str | None:
        return None if v is None else template_text(v)


class Rubric(_Strict):
    """One version of one rubric. Load with :func:`judge.rubrics.load_rubric`."""

    id: str = Field(pattern=ID_RE, description="snake_case rubric id, e.g. answer_quality.")
    version: str = Field(description="Semantic version MAJOR.MINOR.PATCH.")
    title: str = Field(min_length=1)
    description: str = Field(min_length=1, description="What it measures and which fairness "
                                                       "idea it operationalises, with sources.")
    changelog: dict[str, str] = Field(description="version -> what changed.")
    frameworks: list[Framework] = Field(min_length=1)
    contexts: list[str] = Field(default_factory=list, description="Use cases; empty = all.")
    sensitive_attributes: list[str] = Field(default_factory=list)
    mode: Mode = "pointwise"
    instructions: str = Field("", description="Extra guidance shown to the judge.")
    criteria: list[Criterion] = Field(default_factory=list)
    prompt: PromptSpec | None = None
    #: Per-instance memo of derived, input-independent prompt parts (not part of the rubric).
    _memo: dict[Any, Any] = PrivateAttr(default_factory=dict)

    @field_validator("prompt", mode="before")
    @classmethod
    def _str_prompt(cls, v: Any) -> Any:
        return {"user": v} if isinstance(v, str) else v

    @field_validator("version")
    @classmethod
    def _semver(cls, v: str) -> str:
        if not is_semver(v):
            raise ValueError(f"{v!r} is not a semantic version; use MAJOR.MINOR.PATCH, "
                             "e.g. 1.0.0")
        return v

    @field_validator("changelog")
    @classmethod
    def _changelog(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [k for k in v if not is_semver(k)]
        if bad:
            raise ValueError(f"changelog key {bad[0]!r} is not a semantic version")
        return {k: prose(t) for k, t in v.items()}

    @field_validator("title", "description", "instructions")
    @classmethod
    def _prose(cls, v: str) -> str:
        return prose(v)

    @field_validator("contexts", "sensitive_attributes")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        return [t.strip() for t in v]

    @model_validator(mode="after")
    def _semantic(self, info: ValidationInfo) -> Rubric:
        if info.context and info.context.get(SKIP_SEMANTIC):
            return self

        problems = semantic_problems(self.model_dump(mode="python"))
        if problems:
            raise ValueError(problems[0].message)
        return self

    def __eq__(self, other: object) -> bool:
        """Rubrics are equal when their content is (the prompt memo does not count)."""
        if not isinstance(other, Rubric):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]  # dict fields: not hashable

    @property
    def ref(self) -> str:
        """``id@version``."""
        return f"{self.id}@{self.version}"

    def applies_to(self, context: str) -> bool:
        """True if the rubric is meant for ``context`` (a rubric without contexts fits all)."""
        return not self.contexts or context in self.contexts

    def criterion(self, criterion_id: str) -> Criterion:
        """The criterion with this id (KeyError naming the known ids otherwise)."""
        for c in self.criteria:
            if c.id == criterion_id:
                return c
        raise KeyError(f"{self.ref} has no criterion {criterion_id!r}; known: "
                       f"{', '.join(c.id for c in self.criteria)}")

    def effective_prompt(self) -> PromptSpec:
        """The rubric's own prompt with the mode defaults filled in."""
        p = self.prompt
        return PromptSpec(system=(p.system if p and p.system else DEFAULT_SYSTEM),
                          user=(p.user if p else DEFAULT_USER[self.mode]),
                          vars=(dict(p.vars) if p else {}))

    def normal_form(self) -> dict[str, Any]:
        """The canonical content that is hashed: every field, with the effective prompt."""
        data = self.model_dump(mode="json", exclude={"prompt"})
        data["prompt"] = self.effective_prompt().model_dump(mode="json")
        data["renderer"] = RENDERER_VERSION
        return data

    @cached_property
    def hash(self) -> str:
        """sha256 of the canonical JSON of :meth:`normal_form`."""
        return digest(self.normal_form())

    def render(self, *, query: str, responses: list[str],
               attributes: dict[str, str] | None = None) -> list[dict[str, str]]:
        """Chat messages asking the judge to score ``responses`` to ``query``."""
        return render_messages(self, query=query, responses=responses, attributes=attributes)

    def output_schema(self, n_responses: int | None = None) -> dict[str, Any]:
        """JSON Schema of the judge's answer (every criterion required, explanation optional)."""
        return output_schema(self, n_responses)

    def response_format(self, n_responses: int | None = None) -> dict[str, Any]:
        """litellm/OpenAI ``response_format`` with a strict JSON schema."""
        return response_format(self, n_responses)
