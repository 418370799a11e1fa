"""Score scales: what values a criterion takes and how they compare."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

ERR_SCALE_SPEC = ("scale {spec!r} not understood: use likert:MIN-MAX, binary, or "
                  "categorical:LABEL,LABEL,...")

_TRUE = {"1", "true", "yes", "y", "pass"}
_FALSE = {"0", "false", "no", "n", "fail"}


class ScaleSpec(BaseModel):
    """A criterion's scale: ordinal ``likert`` (integers ``min..max``), ``binary``
    (0/1; ``labels`` optionally names them, negative first) or ``categorical``
    (an explicit, unordered ``labels`` set)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["likert", "binary", "categorical"]
    min: int | None = None
    max: int | None = None
    labels: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _check(self) -> ScaleSpec:
        if self.kind == "likert" and (self.min is None or self.max is None or self.max <= self.min):
            raise ValueError("likert scale needs integer min < max")
        if self.kind == "categorical" and (not self.labels or len(set(self.labels)) < 2):
            raise ValueError("categorical scale needs at least two distinct labels")
        if self.kind == "binary" and self.labels is not None and len(self.labels) != 2:
            raise ValueError("binary scale labels must be two names, negative first")
        return self

    @classmethod
    def parse(cls, spec: str) -> ScaleSpec:
        """``likert:1-5``, ``binary``, ``binary:no,yes`` or ``categorical:a,b,c``."""
        kind, _, rest = spec.strip().partition(":")
        try:
            if kind == "likert":
                lo, _, hi = rest.partition("-")
                return cls(kind="likert", min=int(lo), max=int(hi))
            if kind in ("binary", "categorical"):
                labels = tuple(x.strip() for x in rest.split(",")) if rest else None
                return cls(kind=kind, labels=labels)
        except ValueError as err:
            raise ValueError(ERR_SCALE_SPEC.format(spec=spec)) from err
        raise ValueError(ERR_SCALE_SPEC.format(spec=spec))

    def label_set(self) -> list:
        """The explicit, ordered label set (canonical values)."""
        if self.kind == "likert":
            return list(range(self.min, self.max + 1))
        if self.kind == "binary":
            return [0, 1]
        return list(self.labels)

    @property
    def level(self) -> Literal["ordinal", "nominal"]:
        """Krippendorff measurement level (and kappa weighting: quadratic iff ordinal)."""
        return "ordinal" if self.kind == "likert" else "nominal"

    @property
    def numeric(self) -> bool:
        """Whether means and differences of scores make sense (likert, binary)."""
        return self.kind != "categorical"

    def normalize(self, value: Any) -> Any:
        """Canonical label for a raw score, or ``None`` if it is not on this scale."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if self.kind == "categorical":
            v = str(value).strip()
            return v if v in self.labels else None
        if self.kind == "binary":
            if isinstance(value, bool):
                return int(value)
            v = str(value).strip().lower()
            if self.labels is not None:
                names = [x.lower() for x in self.labels]
                if v in names:
                    return names.index(v)
            if v in _TRUE or v in ("1.0",):
                return 1
            if v in _FALSE or v in ("0.0",):
                return 0
            return None
        try:
            f = float(value)
        except (TypeError, ValueError):
            return None
        if not f.is_integer() or not self.min <= f <= self.max:
            return None
        return int(f)

    def describe(self) -> str:
        if self.kind == "likert":
            return f"likert:{self.min}-{self.max}"
        return self.kind + (":" + ",".join(self.labels) if self.labels else "")


#: Widest likert scale inferred from the data (0-10 has 11 points).
MAX_INFERRED_SPAN = 10
#: Share of values that must lie in the inferred likert range; the rest are out of scale.
INFER_COVER = 0.95


def _finite_number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def infer_scale(values: Iterable[Any]) -> ScaleSpec:
    """A scale that fits the observed values: binary for 0/1 or booleans, likert for
    integers, categorical otherwise (labels sorted).

    Robust to a stray value: ±Infinity and NaN are ignored (they are out of every scale);
    a likert range is at most 11 points and must hold 95% of the integer values, so one
    score of 99 among 1-5 scores leaves the scale 1-5 (and the 99 is reported out of scale).
    Callers report what was inferred (:func:`judge.calibration.io.scale_issues`).

    >>> infer_scale([1, 2, 5, 4, 3, 3, 2, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 2, 99]).describe()
    'likert:1-5'
    >>> infer_scale([0, 1, float("inf"), 1]).describe()
    'binary'
    """
    vals = [v for v in values if v is not None and not (isinstance(v, float) and not
                                                          math.isfinite(v))]
    if vals and all(isinstance(v, bool) or str(v).strip().lower() in _TRUE | _FALSE | {"0.0", "1.0"}
                    for v in vals):
        return ScaleSpec(kind="binary")
    nums = [_finite_number(v) for v in vals]
    ints = [int(x) for x in nums if x is not None and x.is_integer()]
    if ints and len(ints) >= INFER_COVER * len(vals):
        lo, hi = min(ints), max(ints)
        if hi - lo > MAX_INFERRED_SPAN:
            counts = sorted(set(ints))
            best = max(((a, sum(a <= x <= a + MAX_INFERRED_SPAN for x in ints)) for a in counts),
                       key=lambda t: (t[1], -t[0]))
            if best[1] >= INFER_COVER * len(ints):
                lo = best[0]
                hi = max(x for x in ints if x <= lo + MAX_INFERRED_SPAN)
        return ScaleSpec(kind="likert", min=lo, max=max(hi, lo + 1))
    return ScaleSpec(kind="categorical", labels=tuple(sorted({str(v).strip() for v in vals})))
