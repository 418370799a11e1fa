"""Fixtures for the report tests: schema-valid metric tables and calibration sections.

The data is small, literal and fake, so that every section and figure kind can be drawn
(a tiny run does not produce them all); some metric names and the v1 calibration shape
here are not what the pipeline writes today. What the pipeline does write is checked in
test_report_run.py, which reads a real run of a tiny sim config.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def row(metric, attribute, level, value, lo, hi, n=120, reference=None, **extra) -> dict:
    """One metric-table row (all contract columns present)."""
    return {"metric": metric, "attribute": attribute, "level": level, "reference": reference,
            "value": value, "ci_low": lo, "ci_high": hi, "n": n, "n_clusters": 15,
            "p_value": extra.pop("p_value", None), "p_adj": extra.pop("p_adj", None),
            "warning": extra.pop("warning", None), "method": "cluster_bootstrap", **extra}


def metric_rows() -> list[dict]:
    g = {"generator": "sim/generator"}
    small = "small cell: n=12 < min_cell=30"
    return [
        row("demographic_parity_difference", "race", "Black", -0.11, -0.23, 0.02, 117, "White",
            planted=-0.12, **g),
        row("demographic_parity_difference", "race", "Asian", 0.04, -0.20, 0.31, 12, "White",
            warning=small, **g),
        row("demographic_parity_difference", "gender", "female", -0.15, -0.29, 0.00, 117,
            "male", planted=-0.05, **g),
        row("demographic_parity_ratio", "race", "Black", 0.80, 0.62, 1.03, 117, "White", **g),
        row("four_fifths_flag", "race", "*", 1.0, None, None, 117, "dp_ratio < 0.8", **g),
        row("equalized_odds_tpr_gap", "race", "Black", -0.08, -0.2, 0.05, 60, "White", **g),
        row("accuracy_gap", "gender", "female", 0.01, -0.05, 0.07, 60, "male", **g),
        row("score_gap:decision_dev.quality", "race", "Black", -0.48, -0.9, -0.12, 120, "White",
            estimate_kind="raw", judge="sim/judge", **g),
        row("score_gap:decision_dev.quality", "race", "Black", -0.20, -0.6, 0.15, 120, "White",
            estimate_kind="corrected", judge="sim/judge", **g),
        row("selection_rate", "race", "Black", 0.46, 0.38, 0.55, 117, **g),
        row("selection_rate", "race", "White", 0.57, 0.49, 0.65, 117, **g),
        row("unawareness_rate", "race", "Black", 0.10, 0.04, 0.18, 60, "White", **g),
        row("qos_spread", "race", "*", 0.3, 0.1, 0.6, 240, **g),
        row("cf_flip_rate", "race", "Black", 0.21, 0.12, 0.30, 60, "White", **g),
        row("cf_flip_rate", "gender", "female", 0.12, 0.05, 0.20, 60, "male", **g),
        row("cf_flip_rate", "race×gender", "Black×female", 0.30, 0.10, 0.52, 14,
            "White×male", warning=small, **g),
        row("cf_mean_signed_diff", "race", "Black", -0.35, -0.6, -0.1, 60, "White",
            p_value=0.004, method="cluster_bootstrap; p: wilcoxon", **g),
        row("cf_mean_abs_diff", "race", "Black", 0.55, 0.4, 0.7, 60, "White", **g),
        row("cfset_differs_share", "race", "*", 0.25, 0.1, 0.4, 20, **g),
        *[row("demographic_parity_difference", "race×gender", f"{r}×{s}", v, v - 0.2, v + 0.2,
              n, "White×male", p_value=0.04, p_adj=0.12,
              warning=small if n < 30 else None, **g)
          for r, s, v, n in (("Black", "female", -0.2, 50), ("Black", "male", -0.1, 45),
                             ("White", "female", -0.05, 48), ("Asian", "female", 0.1, 12),
                             ("Asian", "male", 0.02, 14))],
        *[row(m, "race|gender", lv, v, v - 0.1, v + 0.1, n, warning=small if n < 30 else None,
              method="count" if m == "cell_n" else "cluster_bootstrap")
          for m in ("cell_n", "cell_mean")
          for lv, v, n in (("Black|female", 3.1, 40), ("White|male", 3.6, 9))],
        row("exposure_share", "producer", "Acme Bank", 0.45, 0.35, 0.55, 200),
        row("exposure_share", "producer", "Credit Union", 0.20, 0.12, 0.28, 200),
        row("exposure_share_vs_uniform", "producer_group", "minority-owned", -0.12, -0.2,
            -0.04, 200, reference="uniform"),
        row("exposure_gini", "producer", "*", 0.41, 0.33, 0.49, 200),
        row("no_producer_share", "response", "*", 0.18, 0.12, 0.25, 200),
        row("parse_failure_rate", "race", "Black", 0.02, 0.0, 0.05, 120, **g),
        row("refusal_rate", "race", "Black", 0.05, 0.01, 0.09, 120, **g),
    ]


def calibration_sections() -> dict:
    j = {"judge": "sim/judge", "rubric_id": "decision_dev", "criterion": "quality"}
    groups = ("Black", "White")
    agreement = [{**j, "attribute": "race", "group": g, "metric": m, "value": v,
                  "ci_low": v - 0.1, "ci_high": v + 0.1, "n": 60, "n_clusters": 15,
                  "warning": None}
                 for g in groups
                 for m, v in (("exact_agreement", 0.55), ("cohen_kappa", 0.41),
                              ("krippendorff_alpha", 0.44), ("spearman", 0.6),
                              ("kendall_tau_b", 0.5), ("ba_bias", -0.3 if g == "Black" else 0.0),
                              ("ba_loa_low", -1.5), ("ba_loa_high", 1.2))]
    curve = [{**j, "attribute": "race", "group": g, "judge_score": s,
              "human_mean": s + (0.4 if g == "Black" else 0.0) - 0.1 * (s - 3), "n": 12}
             for g in groups for s in (1, 2, 3, 4, 5)]
    corrected = [{**j, "attribute": "race", "group": g, "reference": None, "quantity": "mean",
                  "estimator": e, "value": v, "ci_low": v - w, "ci_high": v + w,
                  "n_labelled": 30, "n_unlabelled": 60, "n_clusters": 15, "lam": None,
                  "warning": None}
                 for g, base in (("Black", 3.0), ("White", 3.5))
                 for e, v, w in (("judge_only", base, 0.15), ("ppi", base + 0.3, 0.3))]
    corrected += [{**j, "attribute": "race", "group": "Black", "reference": "White",
                   "quantity": "gap", "estimator": e, "value": v, "ci_low": v - 0.3,
                   "ci_high": v + 0.3, "n_labelled": 60, "n_unlabelled": 120, "n_clusters": 15,
                   "lam": 0.8, "warning": None}
                  for e, v in (("judge_only", -0.5), ("ppi", -0.2))]
    probes = [{"probe": p, "judge": "sim/judge", "criterion": "quality", "value": v,
               "ci_low": v - 0.1, "ci_high": v + 0.1, "n": 80}
              for p, v in (("attribute_swap", 0.12), ("position_swap", 0.3),
                           ("verbosity", 0.45))]
    bias = [{**j, "attribute": a, "level": lv, "value": v, "ci_low": v - 0.15,
             "ci_high": v + 0.15, "n": 60, "n_clusters": 15, "method": "cluster_bootstrap",
             "warning": None, "planted": p}
            for a, lv, v, p in (("(all)", "(all)", -0.29, -0.16), ("race", "Black", -0.49, -0.32),
                                ("race", "White", -0.08, 0.0))]
    return {"schema_version": 1, "n_labels": 720, "n_items": 120, "note": None,
            "judge_bias": bias, "agreement": agreement, "calibration_curve": curve,
            "corrected": corrected, "probes": probes}


def calibration_v2() -> dict:
    """The shape the calibrate stage writes (judge.calibration): ``group`` columns, bias
    rows with ``metric``, differential bias, calibration map, error rates, probes."""
    j = {"judge": "sim/judge", "criterion": "answer_quality.accuracy"}
    est = {"ci_low": -0.3, "ci_high": 0.1, "n": 60, "n_clusters": 15, "warning": None}
    return {
        "schema_version": 2, "n_labels": 240, "n_items_labelled": 120, "note": None,
        "agreement": [{**j, "attribute": "all", "group": "all", "metric": m, "value": v, **est}
                      for m, v in (("exact_agreement", 0.45), ("cohen_kappa", 0.69),
                                   ("ba_bias", -0.2), ("ba_loa_low", -1.7),
                                   ("ba_loa_high", 1.3))],
        "bias": [{**j, "attribute": a, "group": g, "metric": "mean_bias", "value": v,
                  "planted": p, **est}
                 for a, g, v, p in (("all", "all", -0.2, -0.16), ("race", "Black", -0.45, -0.32),
                                    ("race", "White", 0.06, 0.0))],
        "differential_bias": [{**j, "attribute": "race", "group": "Black", "reference": "White",
                               "estimate": -0.52, "se": 0.16, "ci_low": -0.83,
                               "ci_high": -0.2, "p_value": 0.004, "p_holm": 0.008, "n": 120,
                               "n_clusters": 15, "planted": -0.32, "warning": None}],
        "joint_tests": [{**j, "attribute": "race", "reference": "White", "statistic": 12.16,
                         "df_num": 1.0, "df_denom": 14.0, "p_value": 0.004, "warning": None}],
        "calibration_map": [{**j, "attribute": "race", "group": g, "score": s,
                             "calibrated": s + d, "n_labels": 30, "fit": "group"}
                            for g, d in (("Black", 0.4), ("White", 0.0)) for s in (1, 3, 5)],
        "error_rates": [{"judge": "sim/judge", "criterion": "lending_decision.decision",
                         "attribute": "race", "group": "Black", "label": "approve",
                         "metric": "tpr", "value": 0.97, "ci_low": 0.9, "ci_high": 1.0,
                         "n": 31, "n_clusters": 15, "warning": None}],
        "corrected": [],
        "probes": [{"probe": "attribute_swap", "judge": "sim/judge", "rubric_id": "lending",
                    "criterion": "accuracy", "metric": "mean_score_change",
                    "attribute": "race", "level": "Black", "reference": "White",
                    "value": -0.36, "ci_low": -0.6, "ci_high": -0.1, "n": 42,
                    "n_clusters": 15, "warning": None},
                   {"probe": "position_swap", "judge": "sim/judge", "rubric_id": "pairwise",
                    "criterion": "preferred", "metric": "consistency_rate",
                    "attribute": "(all)", "level": "(all)", "reference": None, "value": 0.68,
                    "ci_low": 0.55, "ci_high": 0.8, "n": 90, "n_clusters": 15,
                    "warning": None}],
        "self_preference": [{"judge": "openai/gpt-4o", "generator": "openai/gpt-4o-mini",
                             "family": "openai"}],
        "issues": [{"kind": "missing_score", "count": 3, "message": "rows without a score"}],
    }


def manifest_dict(name: str = "fixture") -> dict:
    return {
        "name": name, "status": "ok", "generators": ["sim/generator"], "judges": ["sim/judge"],
        "rubrics": {"decision_dev@1.0.0": "61ec1514472c14bb98179a39f8d81b79bc454d0e"},
        "counts": {"queries": 60, "generations": 120, "judgments": 120,
                   "judgments_by_status": {"ok": 118, "parse_failure": 2}},
        "tokens": {"prompt": 29727, "completion": 11164},
        "cost": {"total_usd": 0.0, "calls_with_unknown_cost": 0}, "errors": 0,
        "git": {"commit": "64545bd52cdbaa30e77df71afec3f5dab85e3bc4", "dirty": True},
        "versions": {"judge": "0.1.0", "python": "3.11"},
        "config": {"seed": 7, "report": {"min_cell": 30}},
        "calls_last_invocation": {"sim/judge": {"calls": 120, "ok": 120, "errors": 0}},
    }


@pytest.fixture
def metrics() -> dict:
    return {"schema_version": 1, "run": "fixture", "metrics": metric_rows()}


@pytest.fixture
def calibration() -> dict:
    return calibration_sections()


@pytest.fixture
def manifest() -> dict:
    return manifest_dict()


@pytest.fixture
def calibration_stage() -> dict:
    return calibration_v2()


@pytest.fixture(scope="session")
def fixture_report(tmp_path_factory) -> Path:
    """report.html of the fixture data (every section), built once per session."""
    from judge.report import write_html_report

    run_dir = tmp_path_factory.mktemp("fixture-run")
    return write_html_report(run_dir, {"schema_version": 1, "run": "fixture",
                                       "metrics": metric_rows()},
                             calibration_sections(), manifest_dict())
