"""judge.load: a run directory as DataFrames, with metrics, calibration tables and weights."""

from __future__ import annotations

import json

import pytest

import judge


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_load_gives_metrics_calibration_and_label_weights(tmp_path):
    _write(tmp_path / "human_labels.jsonl", [
        {"label_id": "h-1", "target_id": "g-1", "criterion": "helpfulness", "rater": "r1",
         "score": 4, "meta": {"inclusion_prob": 0.25}},
        {"label_id": "h-2", "target_id": "g-2", "criterion": "helpfulness", "rater": "r1",
         "score": 2, "meta": {}}])
    (tmp_path / "metrics.json").write_text(json.dumps({"metrics": [
        {"metric": "selection_rate_diff", "attribute": "race", "level": "Black",
         "reference": "White", "value": -0.1, "ci_low": -0.2, "ci_high": 0.0}]}))
    (tmp_path / "calibration.json").write_text(json.dumps({
        "schema_version": 2, "meta": {"x": 1},
        "bias": [{"judge": "j", "criterion": "c", "attribute": "race", "group": "Black",
                  "value": 0.3}], "differential_bias": []}))
    f = judge.load(tmp_path)
    assert f.human_labels["weight"].tolist()[0] == pytest.approx(4.0)
    assert f.human_labels["weight"].isna().tolist() == [False, True]  # unknown, never 1
    assert f.metrics.loc[0, "metric"] == "selection_rate_diff"
    assert set(f.calibration) == {"bias", "differential_bias"}
    assert f.calibration["bias"].loc[0, "value"] == pytest.approx(0.3)


def test_load_of_a_run_without_results_has_empty_frames(tmp_path):
    f = judge.load(tmp_path)
    assert f.metrics.empty and f.calibration == {} and f.judgments.empty
