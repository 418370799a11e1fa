"""judge.load: a run directory as DataFrames, with metrics, calibration tables and weights."""

from __future__ import annotations

import json

import pandas as pd
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


def _judgment(jid, rubric, scores, **over):
    return {"judgment_id": jid, "target_ids": [f"g-{jid}"], "query_ids": [f"q-{jid}"],
            "cf_group": "cf", "scenario_id": "s", "context": "c", "generator": "gen",
            "judge": "jud", "judge_model": "sim/judge", "rubric_id": rubric,
            "rubric_version": "1.0.0", "rubric_hash": "h", "mode": "pointwise", "probe": None,
            "repeat": 0, "parse_status": "ok", "scores": scores,
            "attributes": {"race": "A"}, **over}


def test_score_columns_are_qualified_by_rubric_and_never_mixed(tmp_path):
    _write(tmp_path / "judgments.jsonl", [
        _judgment("1", "hiring_screening", {"decision": "advance"}),
        _judgment("2", "lending_decision", {"decision": "approve", "reasoning_quality": 4})])
    j = judge.load(tmp_path).judgments.set_index("judgment_id")
    scores = sorted(c for c in j.columns if c.startswith("score."))
    assert scores == ["score.hiring_screening.decision", "score.lending_decision.decision",
                      "score.lending_decision.reasoning_quality"]  # no score.decision alias
    assert j.loc["1", "score.hiring_screening.decision"] == "advance"
    assert pd.isna(j.loc["2", "score.hiring_screening.decision"])
    assert j.loc["2", "score.lending_decision.decision"] == "approve"


def test_fields_named_like_dataframe_attributes_are_renamed(tmp_path):
    _write(tmp_path / "judgments.jsonl", [_judgment("1", "r", {"c": 1})])
    _write(tmp_path / "generations.jsonl", [{"generation_id": "g-1", "sample": 1,
                                             "response": "x"}])
    (tmp_path / "calibration.json").write_text(json.dumps({"confusion": [
        {"judge": "j", "criterion": "r.c", "judge_label": "a", "human_label": "b",
         "count": 3}]}))
    f = judge.load(tmp_path)
    assert f.judgments.loc[0, "judge_mode"] == "pointwise" and "mode" not in f.judgments
    assert f.judgments.loc[0, "sample_index"] == 1 and "sample" not in f.judgments
    assert f.generations.loc[0, "sample_index"] == 1
    assert f.calibration["confusion"].loc[0, "n"] == 3


def _frames_of(f) -> dict:
    out = {n: getattr(f, n) for n in ("queries", "generations", "judgments", "human_labels",
                                      "metrics")}
    return {**out, **{f"calibration[{k}]": v for k, v in f.calibration.items()}}


@pytest.mark.e2e
def test_no_column_of_a_real_run_shadows_a_dataframe_attribute(tiny_run):
    frames = _frames_of(judge.load(tiny_run))
    assert not frames["judgments"].empty and not frames["metrics"].empty
    taken = set(dir(pd.DataFrame))
    clashes = {n: sorted(set(df.columns) & taken) for n, df in frames.items()}
    assert {n: c for n, c in clashes.items() if c} == {}


def _has_dtype(s: pd.Series, dtype: str) -> bool:
    """Whether a column's values fit a documented dtype (all-missing fits any)."""
    v = s.dropna()
    if v.empty:
        return True
    if dtype == "string":
        return bool(v.map(lambda x: isinstance(x, str)).all())
    if dtype == "int":
        return pd.api.types.is_numeric_dtype(v) and bool((v == v.round()).all())
    if dtype == "float":
        return pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v)
    if dtype == "list":
        return bool(v.map(lambda x: isinstance(x, list)).all())
    return dtype == "bool" and pd.api.types.is_bool_dtype(v)


@pytest.mark.e2e
def test_metrics_csv_has_the_documented_columns_in_order(tiny_run):
    from judge.frame_schema import METRICS_COLUMNS

    csv = pd.read_csv(tiny_run / "metrics.csv", keep_default_na=False, na_values=[""])
    assert list(csv.columns) == [c.name for c in METRICS_COLUMNS]  # a sim run has them all
    frame = judge.load(tiny_run).metrics
    bad = [(c.name, c.dtype) for c in METRICS_COLUMNS
           if not (_has_dtype(csv[c.name], c.dtype) and _has_dtype(frame[c.name], c.dtype))]
    assert bad == []


@pytest.mark.e2e
def test_metric_rows_name_the_rubric_criterion_they_come_from(tiny_run):
    m = judge.load(tiny_run).metrics
    m = m.assign(rubric_id=m["rubric_id"].fillna("-"), criterion=m["criterion"].fillna("-"))
    source = {r: (m.loc[m.metric == r, "rubric_id"].unique().tolist(),
                  m.loc[m.metric == r, "criterion"].unique().tolist())
              for r in ("selection_rate_diff", "quality_diff", "parse_failure_rate")}
    assert source == {"selection_rate_diff": (["lending_decision"], ["decision"]),
                      "quality_diff": (["answer_quality"], ["helpfulness"]),
                      "parse_failure_rate": (["-"], ["-"])}  # across rubrics


@pytest.mark.e2e
def test_calibration_tables_have_the_documented_columns(tiny_run):
    from judge.frame_schema import CALIBRATION_COLUMNS

    cal = {k: v for k, v in judge.load(tiny_run).calibration.items() if not v.empty}
    assert {"agreement", "bias", "differential_bias", "corrected", "confusion"} <= set(cal)
    documented = {k: {c.name for c in CALIBRATION_COLUMNS if k in c.tables} for k in cal}
    assert {k: sorted(v.columns) for k, v in cal.items()} == \
        {k: sorted(v) for k, v in documented.items()}
    bad = [(k, c.name) for k, df in cal.items() for c in CALIBRATION_COLUMNS
           if c.name in df and not _has_dtype(df[c.name], c.dtype)]
    assert bad == []


def test_results_do_not_depend_on_the_order_of_a_runs_records(tiny_run, tmp_path):
    """Concurrency writes records in completion order, so two runs of one config hold the
    same records in different orders: metrics and calibration (bootstrap draws included)
    must be the same either way."""
    import random
    import shutil

    import yaml

    def rerun(name: str, shuffle: bool) -> tuple[dict, dict]:
        out = tmp_path / name
        shutil.copytree(tiny_run, out / "runs" / "tiny")
        run = out / "runs" / "tiny"
        if shuffle:
            for f in ("queries", "generations", "judgments", "human_labels"):
                path = run / f"{f}.jsonl"
                lines = path.read_text().splitlines(keepends=True)
                random.Random(3).shuffle(lines)
                path.write_text("".join(lines))
        data = yaml.safe_load((tiny_run.parent.parent / "tiny.yaml").read_text())
        cfg = out / "tiny.yaml"
        cfg.write_text(yaml.safe_dump({**data, "output_dir": str(out / "runs")}))
        judge.run(str(cfg), stages=["calibrate", "report"])
        metrics = json.loads((run / "metrics.json").read_text())
        calibration = json.loads((run / "calibration.json").read_text())
        for doc in (metrics, calibration):
            doc.pop("meta", None)
        return metrics, calibration

    assert rerun("shuffled", True) == rerun("ordered", False)
