"""Calibration without a "(missing)" group.

Items that lack an attribute (a scenario that does not vary it) are a different scenario
mix, not a group: they must be neither a level nor a reference of that attribute's
comparisons. :func:`calibrate_excluding_missing` runs :func:`calibrate_frames` once on all
items (every overall row, and per-group rows that do not depend on other groups), then,
for each attribute some items lack, re-runs the sections whose per-group rows are fitted
jointly across groups (differential bias and its joint test, corrected gaps and the
calibration maps) on the items that have it, and removes every remaining row whose group
is a missing value. The number of items left out per attribute is reported
(``missing_attributes``, ``missing_note``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from judge.calibration.core import calibrate_frames
from judge.stats.reference import MISSING_LABELS, is_missing, missing_note

JOINT_TABLES = ("bias", "differential_bias", "joint_tests", "corrected", "calibration_map")
JOINT_SECTIONS = ("bias", "correction")


def _is_missing_label(v: Any) -> bool:
    return isinstance(v, str) and v.strip() in MISSING_LABELS - {""}


def _clean_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if not any(_is_missing_label(r.get(c))
                                       for c in ("group", "reference", "level"))]


def calibrate_excluding_missing(judgments: pd.DataFrame, labels: pd.DataFrame,
                                **kw: Any) -> dict[str, Any]:
    """:func:`calibrate_frames` (same arguments) as a JSON-ready dict in which no row has a
    missing attribute value as its group or reference; see the module doc."""
    out = calibrate_frames(judgments, labels, **kw).to_json()
    group_cols = [c for c in judgments.columns if str(c).startswith("group.")]
    counts: dict[str, int] = {}
    for col in group_cols:
        attr = col.removeprefix("group.")
        miss = is_missing(judgments[col])
        if not miss.any():
            continue
        counts[attr] = int(judgments.loc[miss, "item_id"].nunique())
        keep = judgments.loc[~miss].drop(columns=[c for c in group_cols if c != col])
        fresh: dict[str, list] = {t: [] for t in JOINT_TABLES}
        if len(keep):
            sub_labels = labels[labels["item_id"].isin(set(keep["item_id"]))]
            sections = tuple(s for s in JOINT_SECTIONS if s in kw.get("sections", JOINT_SECTIONS))
            if len(sub_labels) and sections:
                res = calibrate_frames(keep, sub_labels, **{**kw, "sections": sections}
                                       ).to_json()
                fresh = {t: [r for r in res.get(t, []) if r.get("attribute") == attr]
                         for t in JOINT_TABLES}
        for t in JOINT_TABLES:
            out[t] = [r for r in out.get(t, []) if r.get("attribute") != attr] + fresh[t]
    for t, rows in list(out.items()):
        if isinstance(rows, list) and rows and isinstance(rows[0], dict):
            out[t] = _clean_rows(rows)
    out["missing_attributes"] = counts
    out["missing_note"] = missing_note(counts, unit="items")
    return out
