"""From rubrics and judged-item frames to :class:`LabelItem` (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from judge.labelling._model import CriterionSpec
from judge.labelling._sheet import LabelItem

GROUP_PREFIX = "group."


def criterion_spec(criterion: Any) -> CriterionSpec | None:
    """A rubric criterion as raters see it (None for a scale raters cannot answer)."""
    sc = criterion.scale
    kind = getattr(sc, "type", None)
    if kind == "likert":
        return CriterionSpec(id=criterion.id, question=criterion.question, kind="likert",
                             min=sc.min, max=sc.max,
                             anchors={str(k): v for k, v in sc.anchors.items()})
    if kind == "binary":
        return CriterionSpec(id=criterion.id, question=criterion.question, kind="binary",
                             labels=(sc.positive, sc.negative))
    if kind == "categorical":
        return CriterionSpec(id=criterion.id, question=criterion.question, kind="categorical",
                             labels=tuple(sc.choices),
                             anchors={k: v for k, v in sc.choices.items() if v})
    return None


def rubric_specs(rubric: Any, only: Sequence[str] | None = None) -> list[CriterionSpec]:
    """The answerable criteria of a rubric (restricted to ``only`` when given)."""
    out = []
    for c in rubric.criteria:
        if only is not None and c.id not in only:
            continue
        spec = criterion_spec(c)
        if spec is not None:
            out.append(spec)
    return out


def inferred_spec(criterion: str, scores: Sequence[Any]) -> CriterionSpec:
    """A scale guessed from judge scores when no rubric is known: integers -> likert over
    ``min(1, lowest) .. max(5, highest)``, anything else -> the sorted labels."""
    vals = [s for s in scores if s is not None and s == s]
    nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if vals and len(nums) == len(vals) and all(float(v).is_integer() for v in nums):
        return CriterionSpec(id=criterion, kind="likert", min=min(1, int(min(nums))),
                             max=max(5, int(max(nums))))
    labels = tuple(sorted({str(v) for v in vals}))
    return CriterionSpec(id=criterion, kind="binary" if len(labels) == 2 else "categorical",
                         labels=labels)


def items_from_frame(df: Any, criteria: Sequence[CriterionSpec], *, rubric_id: str = "",
                     rubric_version: str | None = None, instructions: str = ""
                     ) -> list[LabelItem]:
    """LabelItems from a sampled frame: ``item_id``, ``query``/``response`` (or ``text``),
    ``stratum``, ``inclusion_prob``, optional ``cluster`` and ``group.<attr>`` columns."""
    groups = [c for c in df.columns if c.startswith(GROUP_PREFIX)]
    out = []
    for rec in df.to_dict("records"):
        query = rec.get("query")
        response = rec.get("response")
        if response is None or response != response:
            query, response = "", rec.get("text")
        out.append(LabelItem(
            item_id=str(rec["item_id"]), query=_text(query), response=_text(response),
            criteria=tuple(criteria), rubric_id=rubric_id, rubric_version=rubric_version,
            instructions=instructions, stratum=str(rec.get("stratum", "")),
            inclusion_prob=_num(rec.get("inclusion_prob")),
            cluster=None if _missing(rec.get("cluster")) else str(rec.get("cluster")),
            groups={g.removeprefix(GROUP_PREFIX): str(rec[g]) for g in groups
                    if not _missing(rec[g]) and rec[g] != ""}))
    return out


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def _text(v: Any) -> str:
    return "" if _missing(v) else str(v)


def _num(v: Any) -> float | None:
    return None if _missing(v) else float(v)
