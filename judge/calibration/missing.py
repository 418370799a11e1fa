"""Calibration without a "(missing)" group, as the calibrate stage writes it.

Items that lack an attribute (a scenario that does not vary it) are a different scenario
mix, not a group: they must be neither a level nor a reference of that attribute's
comparisons. :func:`judge.calibration.calibrate_frames` keeps every item in
the overall rows and in the per-group rows of the attributes it has, and re-fits the
sections fitted jointly across groups (differential bias and its joint test, corrected
gaps and the calibration maps) on the items that have the attribute. The number of items
left out per attribute is reported (``missing_attributes``, ``missing_note``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from judge.calibration.core import calibrate_frames


def calibrate_excluding_missing(judgments: pd.DataFrame, labels: pd.DataFrame,
                                **kw: Any) -> dict[str, Any]:
    """:func:`judge.calibration.calibrate_frames` (same arguments) as a
    JSON-ready dict with top-level ``missing_attributes`` and ``missing_note``."""
    res = calibrate_frames(judgments, labels, **kw)
    out = res.to_json()
    out["missing_attributes"] = res.meta.pop("missing_attributes")
    out["missing_note"] = res.meta.pop("missing_note")
    out["meta"] = res.meta
    return out
