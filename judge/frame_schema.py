"""The columns of the result frames: ``metrics`` (metrics.json rows, metrics.csv) and the
``calibration`` tables of ``judge.load(run_dir)``, each with a dtype and a meaning.

One source of truth: the report stage writes metrics.csv in :data:`METRICS_COLUMNS`'
order, ``judge schema metrics`` / ``judge schema calibration`` print these lists, and a
test checks them against what a real run writes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: dtype names of :class:`Column`.
DTYPES = ("string", "float", "int", "bool", "list", "object")


@dataclass(frozen=True)
class Column:
    """One documented column: name, dtype (one of :data:`DTYPES`) and meaning. ``tables``:
    the calibration tables that have it (empty for the metrics frame)."""

    name: str
    dtype: str
    meaning: str
    tables: tuple[str, ...] = ()


_EST = ("agreement", "bias", "error_rates", "inter_judge", "probes")
_ALL = ("agreement", "bias", "calibration_map", "confusion", "corrected", "differential_bias",
        "error_rates", "inter_judge", "joint_tests", "probes")

METRICS_COLUMNS: tuple[Column, ...] = (
    Column("metric", "string", "metric name, e.g. selection_rate_diff (docs/METRICS.md)"),
    Column("attribute", "string", "attribute, intersection (race|gender), or producer / "
                                  "response / a producer group column"),
    Column("level", "string", "a level of the attribute; * for a statistic over all levels"),
    Column("reference", "string", "what the level is compared with: a reference level, rest, "
                                  "uniform, a target; empty when nothing is compared"),
    Column("value", "float", "point estimate; empty (NaN) when undefined, the reason in warning"),
    Column("ci_low", "float", "lower end of the interval (95% by default)"),
    Column("ci_high", "float", "upper end of the interval"),
    Column("n", "int", "rows (or pairs, or responses) behind the value"),
    Column("n_clusters", "int", "clusters behind the value (the smallest of the levels compared)"),
    Column("p_value", "float", "test p-value, where a test applies"),
    Column("p_adj", "float", "p-value adjusted over the report's one findings family"),
    Column("warning", "string", "'; '-joined warnings (small cell, fewer than 2 clusters, ...)"),
    Column("method", "string", "how the value, interval and p-value were computed"),
    Column("generator", "string", "generator model label"),
    Column("judge", "string", "judge model label; empty for metrics read from the responses' "
                              "text (individual fairness, exposure)"),
    Column("rubric_id", "string", "rubric the outcome was read from; empty for parse-failure "
                                  "and refusal rates (across rubrics), individual fairness "
                                  "and exposure"),
    Column("criterion", "string", "criterion of rubric_id the outcome was read from (a "
                                  "counterfactual-set field for cfset_ metrics); empty "
                                  "when rubric_id is"),
    Column("scale", "string", "scale of the criterion behind the row: min-max of a likert "
                              "criterion (1-5: score metrics are points on it), 0-1 for "
                              "proportions from binary or categorical criteria; empty when "
                              "rubric_id is"),
    Column("p_adj_method", "string", "the correction behind p_adj (report.multiplicity), or "
                                     "why the row is not a finding"),
    Column("family_size", "int", "number of tests in the findings family"),
    Column("planted", "float", "the value planted by a simulated world (sim plugin runs only)"),
)

CALIBRATION_COLUMNS: tuple[Column, ...] = (
    Column("criterion", "string", "the calibrated criterion as <rubric>.<criterion> (probes: "
                                  "the criterion of rubric_id)", _ALL),
    Column("judge", "string", "judge model label", (*_ALL, "self_preference")),
    Column("attribute", "string", "attribute the rows are split by ((all) for all items)",
           _ALL),
    Column("group", "string", "level of the attribute",
           ("agreement", "bias", "calibration_map", "confusion", "corrected",
            "differential_bias", "error_rates", "inter_judge")),
    Column("reference", "string", "reference level of a comparison",
           ("corrected", "differential_bias", "joint_tests", "probes")),
    Column("level", "string", "level shown to the judge by a probe", ("probes",)),
    Column("metric", "string", "statistic name (e.g. kappa, mean_bias, mean_score_change)",
           _EST),
    Column("value", "float", "point estimate", (*_EST, "corrected")),
    Column("ci_low", "float", "lower end of the interval",
           (*_EST, "corrected", "differential_bias")),
    Column("ci_high", "float", "upper end of the interval",
           (*_EST, "corrected", "differential_bias")),
    Column("n", "int", "items (or labels) behind the value; in confusion the items with "
                       "this (judge_label, human_label); in issues the rows with the issue",
           (*_EST, "confusion", "differential_bias", "issues")),
    Column("n_clusters", "int", "clusters behind the value",
           (*_EST, "corrected", "differential_bias")),
    Column("warning", "string", "'; '-joined warnings",
           (*_EST, "corrected", "differential_bias", "joint_tests")),
    Column("planted", "float", "the value planted by a simulated world (sim plugin runs only)",
           ("bias", "corrected", "differential_bias")),
    Column("estimate", "float", "differential judge bias vs the reference (cluster-robust OLS)",
           ("differential_bias",)),
    Column("se", "float", "cluster-robust standard error of estimate", ("differential_bias",)),
    Column("p_value", "float", "test p-value", ("differential_bias", "joint_tests")),
    Column("p_holm", "float", "Holm-adjusted p-value within the criterion and judge",
           ("differential_bias",)),
    Column("statistic", "float", "joint Wald F statistic", ("joint_tests",)),
    Column("df_num", "float", "numerator degrees of freedom", ("joint_tests",)),
    Column("df_denom", "float", "denominator degrees of freedom", ("joint_tests",)),
    Column("judge_label", "string", "the judge's label", ("confusion",)),
    Column("human_label", "string", "the humans' label", ("confusion",)),
    Column("label", "string", "the label an error rate is about", ("error_rates",)),
    Column("estimator", "string", "corrected-estimate method (ppi, ppi_isotonic, classical, "
                                  "...)", ("corrected",)),
    Column("quantity", "string", "what is estimated: a group mean or a gap", ("corrected",)),
    Column("lam", "float", "PPI++ power-tuning weight", ("corrected",)),
    Column("n_labelled", "int", "human-labelled items used", ("corrected",)),
    Column("n_unlabelled", "int", "judge-only items used", ("corrected",)),
    Column("score", "float", "judge score on the criterion's scale", ("calibration_map",)),
    Column("calibrated", "float", "the human-scale value the judge score maps to",
           ("calibration_map",)),
    Column("n_labels", "int", "human labels behind the map", ("calibration_map",)),
    Column("fit", "string", "how the map was fitted (isotonic, ...)", ("calibration_map",)),
    Column("other_judge", "string", "the second judge of an inter-judge comparison",
           ("inter_judge",)),
    Column("probe", "string", "invariance probe (attribute_swap, verbosity, position_swap, "
                              "test_retest)", ("probes",)),
    Column("rubric_id", "string", "rubric of the probed judgments", ("probes",)),
    Column("generator", "string", "generator model label", ("self_preference",)),
    Column("family", "string", "model family shared by judge and generator",
           ("self_preference",)),
    Column("file", "string", "input file with the issue", ("issues",)),
    Column("kind", "string", "what is wrong", ("issues",)),
    Column("action", "string", "what was done about it (excluded, ...)", ("issues",)),
    Column("examples", "list", "a few example rows", ("issues",)),
)

#: Columns renamed in the calibration frames (``count`` would shadow ``DataFrame.count``).
CALIBRATION_RENAMED = {"count": "n"}

FRAME_SCHEMAS: dict[str, tuple[str, tuple[Column, ...]]] = {
    "metrics": ("judge.load(run_dir).metrics: metrics.json's metric rows; metrics.csv has "
                "the same columns in this order (those a run has)", METRICS_COLUMNS),
    "calibration": ("judge.load(run_dir).calibration: a frame per table of calibration.json; "
                    "each column with the tables that have it", CALIBRATION_COLUMNS),
}


def frame_schema(name: str) -> dict[str, Any]:
    """A frame's documented columns as a JSON-able dict (``judge schema metrics``)."""
    about, cols = FRAME_SCHEMAS[name]
    rows = [{k: v for k, v in asdict(c).items() if k != "tables" or v} for c in cols]
    return {"frame": name, "description": about, "columns": rows}


def ordered_columns(present: list[str], schema: tuple[Column, ...]) -> list[str]:
    """``present`` in the documented order, undocumented names last (in their order).

    >>> ordered_columns(["value", "extra", "metric"], METRICS_COLUMNS)
    ['metric', 'value', 'extra']
    """
    known = [c.name for c in schema if c.name in present]
    return known + [c for c in present if c not in known]
