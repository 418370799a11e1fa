"""Records of a blind labelling study: what raters see, the key they never see, answers.

A *sheet row* is everything a rater may see: an opaque ``row_id``, the rubric's criteria
(question, scale, anchors), the query and the response. A *key row* (never given to raters)
maps the ``row_id`` back to the item, its stratum, inclusion probability, weight and groups.
An *answer* is one line of the labels JSONL: one rater's scores for one row, or a skip.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
Value = int | float | str | bool


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CriterionSpec(_Frozen):
    """One question on one scale, as shown to raters."""

    id: str = Field(description="Criterion id; the key of the answer in ``scores``.")
    question: str = Field("", description="The question, as put to the judge.")
    kind: Literal["likert", "binary", "categorical"]
    min: int | None = Field(None, description="Likert: lowest point.")
    max: int | None = Field(None, description="Likert: highest point.")
    labels: tuple[Value, ...] = Field((), description="Binary/categorical: the choices.")
    anchors: dict[str, str] = Field(default_factory=dict,
                                    description="Scale value (as text) -> what it means.")

    def values(self) -> list[Value]:
        """Every valid answer, in display order."""
        if self.kind == "likert":
            return list(range(int(self.min), int(self.max) + 1))
        return list(self.labels)

    def parse(self, raw: Any) -> Value:
        """``raw`` (a form value, a CSV cell, a Label Studio choice) as a scale value.

        >>> CriterionSpec(id="q", kind="likert", min=1, max=5).parse("4")
        4
        """
        for v in self.values():
            if raw == v and type(raw) is type(v):
                return v
        text = str(raw).strip()
        for v in self.values():
            if text == str(v) or (isinstance(v, bool) and text.lower() == str(v).lower()):
                return v
        try:
            f = float(text)
        except ValueError:
            f = None
        if f is not None and f.is_integer() and int(f) in self.values() and self.kind == "likert":
            return int(f)
        shown = ", ".join(map(str, self.values()))
        raise ValueError(f"{self.id}: {raw!r} is not on the scale (valid: {shown})")


class SheetRow(_Frozen):
    """One item as a rater sees it: no judge score, rationale, stratum, weight or group."""

    schema_version: int = SCHEMA_VERSION
    row_id: str = Field(description="Opaque id; the key file maps it to the item.")
    position: int = Field(description="1-based position in this rater's copy.")
    rater: str = Field(description="The rater this copy was shuffled for.")
    rubric: str = Field(description="Rubric id (its criteria are in ``criteria``).")
    instructions: str = ""
    criteria: tuple[CriterionSpec, ...]
    query: str
    response: str


class KeyRow(_Frozen):
    """What a row id stands for (kept away from raters)."""

    schema_version: int = SCHEMA_VERSION
    row_id: str
    item_id: str = Field(description="Generation / judged item id.")
    rubric_id: str | None = None
    rubric_version: str | None = None
    criteria: tuple[str, ...]
    stratum: str = ""
    inclusion_prob: float | None = None
    weight: float | None = None
    cluster: str | None = None
    groups: dict[str, str] = Field(default_factory=dict)
    raters: tuple[str, ...] = Field(description="The raters whose copy holds this row.")


class Answer(_Frozen):
    """One line of a labels JSONL: a rater's answer to one row (the last one per rater and
    row counts, so going back and answering again appends, never rewrites)."""

    schema_version: int = SCHEMA_VERSION
    row_id: str
    rater: str
    scores: dict[str, Value] = Field(default_factory=dict)
    skipped: bool = False
    skip_reason: str | None = None
    shown_at: str | None = Field(None, description="When the item was shown (UTC ISO).")
    answered_at: str = Field(description="When the answer was recorded (UTC ISO).")
    seconds: float | None = Field(None, description="Time spent on the item.")
    source: Literal["page", "sheet", "sim", "label_studio"] = "page"
    sheet: str | None = Field(None, description="Id of the sheet (manifest) answered.")


class SheetManifest(_Frozen):
    """How a set of sheets was made (``sheet.json``), so a study can be replayed."""

    schema_version: int = SCHEMA_VERSION
    sheet_id: str
    seed: int
    raters: tuple[str, ...]
    overlap: float
    raters_per_overlap_item: int
    n_items: int
    files: dict[str, str]
    created_at: str
    meta: dict[str, Any] = Field(default_factory=dict)
