"""Calibrate LLM judges against human labels: one pure function over two frames.

:func:`calibrate_frames` takes judgments (``item_id, judge, criterion, score, cluster,
group.<attr>...``) and human labels (``item_id, rater, criterion, score``) and returns a
:class:`CalibrationResult` of fixed-schema tables, for every criterion and judge (plus
the ``panel`` aggregate when a criterion has several judges). Every interval is a
cluster bootstrap over ``cluster`` (seeded), except the ``ppi`` and ``ppi_isotonic`` rows
(:func:`judge.stats.ppi.sampled_ppi_mean`: a t interval for a labelled sample of the judged
items) and the differential-bias rows (cluster-robust OLS).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from judge.calibration.io import Issue, read_judgments, read_labels, read_table, validate_inputs
from judge.calibration.scale import ScaleSpec
from judge.calibration.sections import (
    PANEL,
    attr_name,
    bias_section,
    classifier_section,
    correction_section,
    human_summary,
    inter_judge_section,
    judge_items,
)
from judge.errors import DataError
from judge.escape import csv_frame
from judge.stats import bias as sb
from judge.stats import ppi as sp
from judge.stats.agreement import agreement_table
from judge.stats.bootstrap import DEFAULT_B
from judge.stats.calibration_map import DEFAULT_MIN_LABELS
from judge.stats.reference import MISSING_LABELS, is_missing, missing_note

SECTIONS = ("agreement", "bias", "classifier", "correction", "inter_judge")
KEYS = ["criterion", "judge"]
ESTIMATE_COLUMNS = ["attribute", "group", "metric", "value", "ci_low", "ci_high", "n",
                    "n_clusters", "warning"]


@dataclass
class CalibrationResult:
    """All calibration tables; every table carries ``criterion`` and ``judge`` columns."""

    scales: dict[str, ScaleSpec]
    agreement: pd.DataFrame
    bias: pd.DataFrame
    differential_bias: pd.DataFrame
    joint_tests: pd.DataFrame
    confusion: pd.DataFrame
    error_rates: pd.DataFrame
    corrected: pd.DataFrame
    calibration_map: pd.DataFrame
    inter_judge: pd.DataFrame
    issues: list[Issue] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    TABLES = ("agreement", "bias", "differential_bias", "joint_tests", "confusion",
              "error_rates", "corrected", "calibration_map", "inter_judge")

    def to_json(self) -> dict:
        """A JSON-ready dict (NaN becomes null): ``calibration.json``."""
        return {
            "meta": self.meta,
            "scales": {c: s.model_dump(exclude_none=True) for c, s in self.scales.items()},
            "issues": [vars(i) for i in self.issues],
            **{t: _records(getattr(self, t)) for t in self.TABLES},
        }


def _records(df: pd.DataFrame) -> list[dict]:
    out = df.astype(object).where(df.notna(), None).to_dict(orient="records")
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
            for r in out]


def _frame(rows: Iterable[dict], cols: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=[*KEYS, *cols])


def _weights_column(items: pd.DataFrame, weights) -> pd.Series:
    """``1 / inclusion_prob`` for labelled items when ``weights`` is given, else NaN."""
    if weights is None:
        return pd.Series(math.nan, index=items.index)
    pi = (weights.set_index("item_id")["inclusion_prob"] if isinstance(weights, pd.DataFrame)
          else pd.Series(weights))
    pi.index = pi.index.astype(str)
    got = items["item_id"].map(pi)
    labelled = items["y"].notna() | items["h_major"].notna()
    missing = labelled & got.isna()
    if missing.any():
        raise ValueError(f"inclusion_prob missing for {int(missing.sum())} labelled item(s), "
                         f"e.g. {items.loc[missing, 'item_id'].head(3).tolist()}")
    if ((got <= 0) | (got > 1)).any():
        raise ValueError("inclusion_prob must be in (0, 1]")
    return (1.0 / got).where(labelled)


#: The tables whose per-group rows are fitted jointly across an attribute's groups: for an
#: attribute some items lack, they are fitted again on the items that have it.
JOINT_TABLES = ("bias", "differential_bias", "joint_tests", "corrected", "calibration_map")
JOINT_SECTIONS = ("bias", "correction")


def calibrate_frames(judgments: pd.DataFrame, labels: pd.DataFrame, *,
                     scale: ScaleSpec | Mapping[str, ScaleSpec] | None = None,
                     B: int = DEFAULT_B, seed: int = 0, weights=None,
                     reference: Mapping[str, str] | None = None, alpha: float = 0.05,
                     sections: Sequence[str] = SECTIONS, min_labels: int = DEFAULT_MIN_LABELS,
                     folds: int = 5) -> CalibrationResult:
    """Agreement, judge bias, differential bias and corrected group estimates.

    ``scale``: one :class:`ScaleSpec` or one per criterion (inferred when missing).
    ``weights``: inclusion probabilities of the labelled items (a Series indexed by
    ``item_id``, or a frame with ``item_id, inclusion_prob``); labelled items are then
    weighted by ``1 / inclusion_prob``. ``reference``: reference group per attribute
    (default: the first level in sorted order). Reproducible from ``seed``.

    A missing attribute value is never a group, level or reference. Items that lack an
    attribute (a scenario that does not vary it) are a different scenario mix, not a
    group: every item counts in the overall rows and in the per-group rows of the
    attributes it has (agreement, error rates, bias by group); the sections fitted jointly
    across groups (differential bias and its joint test, corrected gaps, calibration maps)
    are fitted again, per attribute some items lack, on the items that have it. The items
    left out per attribute are in ``meta["missing_attributes"]`` and ``meta["missing_note"]``.
    """
    kw = {"scale": scale, "B": B, "seed": seed, "weights": weights, "reference": reference,
          "alpha": alpha, "sections": sections, "min_labels": min_labels, "folds": folds}
    group_cols = sorted(c for c in judgments.columns if str(c).startswith("group."))
    incomplete = [c for c in group_cols if is_missing(judgments[c]).any()]
    res = _calibrate_all(judgments, labels, **kw,
                         joint_cols=[c for c in group_cols if c not in incomplete])
    counts: dict[str, int] = {}
    joint = tuple(s for s in JOINT_SECTIONS if s in sections)
    for col in incomplete:
        miss = is_missing(judgments[col])
        attr = attr_name(col)
        counts[attr] = int(judgments.loc[miss, "item_id"].nunique())
        keep = judgments.loc[~miss].drop(columns=[c for c in group_cols if c != col])
        sub = labels[labels["item_id"].astype(str).isin(set(keep["item_id"].astype(str)))]
        fresh = (_calibrate_all(keep, sub, **{**kw, "sections": joint})
                 if len(keep) and len(sub) and joint else None)
        for t in JOINT_TABLES if fresh is not None else ():
            df, f = getattr(res, t), getattr(fresh, t)
            f = f[f["attribute"] == attr]
            if len(f):
                setattr(res, t, pd.concat([df, f], ignore_index=True) if len(df) else
                        f.reset_index(drop=True))
    for t in CalibrationResult.TABLES:
        setattr(res, t, _without_missing_groups(getattr(res, t)))
    res.meta["missing_attributes"] = counts
    res.meta["missing_note"] = missing_note(counts, unit="items")
    return res


def _calibrate_all(judgments: pd.DataFrame, labels: pd.DataFrame, *,
                   scale: ScaleSpec | Mapping[str, ScaleSpec] | None, B: int, seed: int,
                   weights, reference: Mapping[str, str] | None, alpha: float,
                   sections: Sequence[str], min_labels: int, folds: int,
                   joint_cols: Sequence[str] | None = None) -> CalibrationResult:
    """Every section on every item (the arguments of :func:`calibrate_frames`); a missing
    group value is the group "(missing)", which :func:`calibrate_frames` removes.
    ``joint_cols``: the group columns the jointly fitted sections (bias, correction) are
    fitted for (default: all); the others get only their overall rows there."""
    j, h, scales, issues = validate_inputs(judgments, labels, scale)
    group_cols = sorted(c for c in j.columns if c.startswith("group."))
    reference = dict(reference or {})
    out: dict[str, list] = {t: [] for t in CalibrationResult.TABLES}
    for crit, sc in scales.items():
        jc, hc = j[j["criterion"] == crit], h[h["criterion"] == crit]
        hs = human_summary(hc, sc) if len(hc) else pd.DataFrame(
            columns=["n_raters", "h_major", "y"])
        per_judge = judge_items(jc, sc, group_cols)
        for name, items in per_judge.items():
            key = {"criterion": crit, "judge": name}
            items = items.join(hs, on="item_id")
            items["w"] = _weights_column(items, weights)
            _run_sections(out, key, items, hc, sc, group_cols, reference, B, seed, alpha,
                          sections, min_labels, folds,
                          group_cols if joint_cols is None else list(joint_cols))
        if "inter_judge" in sections and len(set(per_judge) - {PANEL}) > 1:
            out["inter_judge"] += inter_judge_section(crit, per_judge, sc, group_cols, B, seed,
                                                       alpha)
    return CalibrationResult(
        scales=scales,
        agreement=_frame(out["agreement"], ["attribute", "group", "metric", "value", "ci_low",
                                            "ci_high", "n", "n_clusters", "warning"]),
        bias=_frame(out["bias"], ESTIMATE_COLUMNS),
        differential_bias=_frame(out["differential_bias"], ["attribute", *sb.DIFF_BIAS_COLUMNS[1:]]),
        joint_tests=_frame(out["joint_tests"], ["attribute", "reference", "statistic", "df_num",
                                                "df_denom", "p_value", "warning"]),
        confusion=_frame(out["confusion"], ["attribute", "group", "judge_label", "human_label",
                                            "count"]),
        error_rates=_frame(out["error_rates"], [*ESTIMATE_COLUMNS, "label"]),
        corrected=_frame(out["corrected"], sp.PPI_COLUMNS),
        calibration_map=_frame(out["calibration_map"], ["attribute", "group", "score",
                                                        "calibrated", "n_labels", "fit"]),
        inter_judge=pd.DataFrame(out["inter_judge"],
                                 columns=["criterion", "judge", "other_judge", "attribute",
                                          "group", "metric", "value", "ci_low", "ci_high", "n",
                                          "n_clusters", "warning"]),
        issues=issues,
        meta={"B": B, "seed": seed, "alpha": alpha, "sections": list(sections),
              "min_labels": min_labels, "folds": folds, "weighted": weights is not None,
              "n_judgments": len(j), "n_labels": len(h), "group_attributes":
              [attr_name(c) for c in group_cols], "reference": reference},
    )


def _without_missing_groups(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` without rows whose group, level or reference is a missing-value label."""
    labels = MISSING_LABELS - {""}
    bad = pd.Series(False, index=df.index)
    for c in ("group", "reference", "level"):
        if c in df:
            bad |= df[c].map(lambda v: isinstance(v, str) and v.strip() in labels)
    return df[~bad].reset_index(drop=True) if bad.any() else df


def _run_sections(out, key, items, hc, sc, group_cols, reference, B, seed, alpha, sections,
                  min_labels, folds, joint_cols) -> None:
    labelled = items["n_raters"].notna()
    if "agreement" in sections and labelled.any():
        ji = items[labelled & items["score"].notna()]
        tab = agreement_table(ji, hc[hc["item_id"].isin(set(ji["item_id"]))],
                              labels=sc.label_set(), level=sc.level, group_cols=group_cols,
                              B=B, seed=seed, alpha=alpha)
        out["agreement"] += [{**key, **r} for r in tab.to_dict("records")]
    if "bias" in sections and sc.numeric:
        rows, drows, joint = bias_section(key, items, joint_cols, reference, B, seed, alpha)
        out["bias"] += rows
        out["differential_bias"] += drows
        out["joint_tests"] += joint
    if "classifier" in sections and sc.kind != "likert":
        conf, rates = classifier_section(key, items, sc, group_cols, B, seed, alpha)
        out["confusion"] += conf
        out["error_rates"] += rates
    if "correction" in sections and sc.numeric and labelled.any():
        rows, maps = correction_section(key, items, joint_cols, reference, B, seed, alpha,
                                         min_labels, folds)
        out["corrected"] += rows
        out["calibration_map"] += maps


def write_result(result: CalibrationResult, out_dir: str | Path) -> list[Path]:
    """Write ``calibration.json`` and one CSV per non-empty table under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "calibration.json"
    path.write_text(json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n",
                    encoding="utf-8")
    written = [path]
    for name in result.TABLES:
        df = getattr(result, name)
        if len(df):
            p = out / f"{name}.csv"
            csv_frame(df).to_csv(p, index=False)  # no cell a spreadsheet would evaluate
            written.append(p)
    return written


def calibrate_files(judgments_path: str | Path, labels_path: str | Path, out_dir: str | Path,
                    *, scale: ScaleSpec | Mapping[str, ScaleSpec] | None = None,
                    judgments_columns: Mapping[str, str] | None = None,
                    labels_columns: Mapping[str, str] | None = None,
                    weights_path: str | Path | None = None, **kwargs) -> CalibrationResult:
    """Standalone calibration: read two files, calibrate, write ``out_dir``.

    ``weights_path``: a JSONL/CSV with ``item_id, inclusion_prob`` (the sample sheet has
    them). Other keyword arguments go to :func:`calibrate_frames`.
    """
    judgments = read_judgments(judgments_path, judgments_columns)
    labels = read_labels(labels_path, labels_columns)
    weights = None
    if weights_path is not None:
        wt = read_table(weights_path)
        if not {"item_id", "inclusion_prob"} <= set(wt.columns):
            raise DataError("weights file needs item_id and inclusion_prob columns",
                            path=weights_path)
        weights = wt.drop_duplicates("item_id").set_index("item_id")["inclusion_prob"].astype(float)
    result = calibrate_frames(judgments, labels, scale=scale, weights=weights, **kwargs)
    result.meta["inputs"] = {"judgments": str(judgments_path), "labels": str(labels_path),
                             "weights": None if weights_path is None else str(weights_path)}
    write_result(result, out_dir)
    return result
