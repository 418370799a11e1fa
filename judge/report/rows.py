"""Read the metric table and calibration sections into frames the report can draw.

The report renders from the fixed metric-table schema, never from the code that made
it: rows are classified by their shape and metric name, so new metrics land in the
right section without changes here. Calibration sections are normalised column by
column (``group`` or ``level``, ``n`` or ``n_labels`` ...), so the report reads both the
brief's names and the calibration module's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

METRIC_COLUMNS = ["metric", "attribute", "level", "reference", "value", "ci_low", "ci_high",
                  "n", "n_clusters", "p_value", "p_adj", "warning", "method"]
OPTIONAL_COLUMNS = ["generator", "judge", "rubric_id", "criterion", "scale", "estimate_kind",
                    "planted", "rate_level", "rate_reference"]
OPTIONAL_TEXT = ["generator", "judge", "rubric_id", "criterion", "scale", "estimate_kind"]
NUMERIC = ["value", "ci_low", "ci_high", "n", "n_clusters", "p_value", "p_adj", "planted",
           "rate_level", "rate_reference"]
ALL_LEVEL_MARKERS = {"*", "(all)", "all", ""}
INTERSECTION_SEP = re.compile(r"\s*[×|]\s*")
DEFAULT_MIN_CELL = 30

#: The metrics a reader needs first (the report's headline table; the comparison page's
#: forest plots of metric-table differences), in that order.
HEADLINE = ("selection_rate_diff", "four_fifths_flag", "cf_flip_rate", "cf_decision_diff",
            "quality_diff", "tpr_gap", "fpr_gap", "unawareness_rate_diff", "refusal_rate_diff",
            "parse_failure_rate_diff", "cfset_differs_share", "lipschitz_violation_share",
            "exposure_share_minus_relevance", "exposure_gini", "no_producer_share")

FAILURE_PREFIXES = ("parse_failure", "refusal")
EXPOSURE_PREFIXES = ("exposure", "gini", "no_producer", "producer")
CF_PREFIXES = ("cf_", "cfset_", "cf-set")


def metric_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The metric table as a DataFrame with every schema column present (NaN/None if absent)."""
    df = pd.DataFrame(list(rows))
    for c in METRIC_COLUMNS + OPTIONAL_COLUMNS:
        if c not in df:
            df[c] = None
    for c in NUMERIC:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    for c in ("metric", "attribute", "level", "reference", "warning", "method", *OPTIONAL_TEXT):
        if c in df:
            s = df[c].map(lambda v: None if _missing(v) else str(v)).astype(object)
            df[c] = s.where(s.notna(), None)
    return df


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def parts(label: Any) -> list[str]:
    """``"Black×female"`` or ``"Black|female"`` -> ``["Black", "female"]``."""
    return [p for p in INTERSECTION_SEP.split(str(label))] if not _missing(label) else []


def is_intersection(attribute: Any) -> bool:
    return len(parts(attribute)) > 1


def is_all_level(level: Any) -> bool:
    return _missing(level) or str(level) in ALL_LEVEL_MARKERS


def kind_of(metric: str) -> str:
    """Section of a metric by name: ``failures``, ``exposure``, ``counterfactual`` or ``group``."""
    m = metric.lower()
    if m.startswith(FAILURE_PREFIXES):
        return "failures"
    if m.startswith(EXPOSURE_PREFIXES) or "exposure" in m:
        return "exposure"
    if m.startswith(CF_PREFIXES):
        return "counterfactual"
    return "group"


def split_sections(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Rows by report section. ``headline``: level-vs-reference rows of group metrics;
    ``intersection``: rows whose attribute is an intersection (any kind); the rest by kind."""
    if df.empty:
        return {k: df for k in ("headline", "group", "counterfactual", "exposure", "failures",
                                "intersection")}
    kind = df["metric"].map(lambda m: kind_of(m or ""))
    inter = df["attribute"].map(is_intersection)
    has_ref = df["reference"].notna() & (df["reference"] != "rest")
    out = {k: df[(kind == k) & ~inter] for k in ("group", "counterfactual", "exposure",
                                                   "failures")}
    out["headline"] = df[(kind == "group") & ~inter & has_ref]
    out["intersection"] = df[inter]
    return out


def null_value(metric: str) -> float:
    """The no-disparity value of a metric: 1 for ratios, 0 otherwise."""
    return 1.0 if "ratio" in metric.lower() else 0.0


def small_cell(row: Mapping[str, Any], min_cell: int) -> bool:
    """A cell to flag: n below ``min_cell`` or a warning that says so."""
    n = row.get("n")
    w = str(row.get("warning") or "").lower()
    return (n is not None and not _missing(n) and float(n) < min_cell) or "small cell" in w \
        or "< min_cell" in w or re.search(r"\bn\s*=\s*\d+\s*<", w) is not None


def row_label(row: Mapping[str, Any], show: Sequence[str] = ()) -> str:
    """A short y-axis label: ``attribute: level vs reference`` plus the varying keys."""
    lvl = row.get("level")
    ref = row.get("reference")
    attr = row.get("attribute") or ""
    if is_all_level(lvl):
        core = "all groups" if is_all_level(attr) else f"{attr} (all levels)"
    else:
        core = f"{attr}: {lvl}"
    if not _missing(ref):
        core += f" vs {ref}"
    extra = [str(row[k]) for k in show if not _missing(row.get(k))]
    return core + (f" [{', '.join(extra)}]" if extra else "")


def varying(df: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    """The keys among ``keys`` that take more than one value in ``df``."""
    return [k for k in keys if k in df and df[k].dropna().astype(str).nunique() > 1]


# ---------------------------------------------------------------- calibration sections

ALIASES: dict[str, tuple[str, ...]] = {
    "level": ("level", "group"),
    "value": ("value", "estimate"),
    "x": ("judge_score", "score", "bin_mid", "bin", "x", "judge_mean"),
    "y": ("human_mean", "calibrated", "y", "mean_human"),
    "n": ("n", "n_labels", "n_labelled"),
    "kind": ("estimate_kind", "estimator", "kind"),
    "probe": ("probe", "metric", "effect"),
}


def section_frame(rows: Any, need: Sequence[str] = ()) -> pd.DataFrame:
    """A calibration section as a DataFrame with canonical columns added (``level``, ``n`` ...).

    Returns an empty frame if ``rows`` is not a non-empty list of dicts or a canonical
    column in ``need`` cannot be found.
    """
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    for canon, names in ALIASES.items():
        present = [c for c in names if c in df.columns]
        if not present:
            continue
        merged = df[present[0]]
        for c in present[1:]:
            merged = merged.where(merged.notna(), df[c])
        df[canon] = merged
    if any(c not in df.columns for c in need):
        return pd.DataFrame()
    for c in ("value", "ci_low", "ci_high", "n", "x", "y", "planted"):
        if c in df:
            df[c] = pd.to_numeric(df[c], errors="coerce")
    return df


def bland_altman_frame(calibration: Mapping[str, Any]) -> pd.DataFrame:
    """Per-group Bland–Altman summary: ``bias, ci_low, ci_high, loa_low, loa_high, n``.

    From a ``bland_altman`` section (summary rows, or rows already in that shape) or from
    agreement rows with metrics ``ba_bias``/``ba_loa_low``/``ba_loa_high``.
    """
    ba = section_frame(calibration.get("bland_altman"))
    if not ba.empty and {"bias", "loa_low", "loa_high"} <= set(ba.columns):
        return ba
    src = ba if not ba.empty and "metric" in ba else section_frame(calibration.get("agreement"))
    if src.empty or "metric" not in src or "level" not in src:
        return pd.DataFrame()
    src = src[src["metric"].astype(str).str.startswith("ba_")]
    if src.empty:
        return pd.DataFrame()
    keys = [k for k in ("judge", "criterion", "attribute", "level") if k in src]
    src = src.assign(**{k: src[k].fillna("(all)").astype(str) for k in keys})
    wide = src.pivot_table(index=keys, columns="metric", values="value", aggfunc="first")
    out = wide.rename(columns={"ba_bias": "bias", "ba_loa_low": "loa_low",
                               "ba_loa_high": "loa_high"}).reset_index()
    bias_rows = src[src["metric"] == "ba_bias"].set_index(keys)
    for c in ("ci_low", "ci_high", "n"):
        out[c] = bias_rows[c].reindex(pd.MultiIndex.from_frame(out[keys])).to_numpy() \
            if c in bias_rows else np.nan
    need = {"bias", "loa_low", "loa_high"}
    return out if need <= set(out.columns) else pd.DataFrame()


def bland_altman_points(calibration: Mapping[str, Any]) -> pd.DataFrame:
    """Per-item Bland–Altman points (``mean``, ``diff``, ``level``) if the section has them."""
    ba = section_frame(calibration.get("bland_altman"))
    if ba.empty or not {"mean", "diff", "level"} <= set(ba.columns):
        return pd.DataFrame()
    return ba.assign(mean=pd.to_numeric(ba["mean"], errors="coerce"),
                     diff=pd.to_numeric(ba["diff"], errors="coerce"))


def corrected_frame(metrics: pd.DataFrame, calibration: Mapping[str, Any] | None
                    ) -> pd.DataFrame:
    """Raw vs corrected estimates side by side: ``kind`` (raw/judge_only/ppi ...) per row.

    Taken from the calibration ``corrected`` section, else from metric rows carrying
    ``estimate_kind`` when both raw and corrected rows exist.
    """
    cal = section_frame((calibration or {}).get("corrected"), need=("level", "kind", "value"))
    if not cal.empty:
        if {"n_labelled", "n_unlabelled"} <= set(cal.columns):
            cal["n"] = pd.to_numeric(cal["n_labelled"], errors="coerce").fillna(0) + \
                pd.to_numeric(cal["n_unlabelled"], errors="coerce").fillna(0)
        return cal
    m = metrics[metrics["estimate_kind"].notna()] if "estimate_kind" in metrics else metrics[:0]
    if m.empty or m["estimate_kind"].nunique() < 2:
        return pd.DataFrame()
    return m.assign(kind=m["estimate_kind"], quantity=m["metric"])
