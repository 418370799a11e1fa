"""Answer quality on the rubric's own scale (judge.stages.analyze): a binary criterion of a
quality_of_service rubric supplies quality when no likert criterion does, as 0/1 values from
the criterion's ``numeric``, and every metric row carries its criterion's ``scale``."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from judge.config import PROJECT_ROOT
from judge.rubrics import load_rubrics
from judge.stages.analyze import criterion_scales, outcome_frames

SV_ANSWERS, SV_DECISION = "score.short_verdict.answers", "score.short_verdict.decision"


def scored(**scores: list) -> pd.DataFrame:
    n = len(next(iter(scores.values())))
    return pd.DataFrame({
        "item_id": [f"g{i}" for i in range(n)], "judge": "sim/judge",
        "cf_group": [f"c{i // 2}" for i in range(n)], "generator": "sim/generator",
        "attr.race": ["Black", "White"] * (n // 2), "parse_status": "ok", **scores})


def quality_of(frames):
    (q,) = [(r, c, f) for r, c, f in frames if "score" in f]
    return q


def test_short_verdict_quality_is_answers_as_0_1():
    rubrics = load_rubrics(["short_verdict"])
    df = scored(**{SV_DECISION: ["yes", "no", "unclear", "yes", "no", "yes"],
                   SV_ANSWERS: ["yes", "no", "yes", None, "yes", "maybe"]})
    rubric_id, criterion, q = quality_of(outcome_frames(df, rubrics))
    assert (rubric_id, criterion) == ("short_verdict", "answers")
    # rows the criterion judged; a label off the scale is missing, never 0
    assert q["item_id"].tolist() == ["g0", "g1", "g2", "g4", "g5"]
    assert q["score"].tolist()[:4] == [1.0, 0.0, 1.0, 1.0] and math.isnan(q["score"].iloc[4])
    assert criterion_scales(rubrics) == {("short_verdict", "decision"): "0-1",
                                         ("short_verdict", "answers"): "0-1"}


def test_likert_quality_wins_over_a_binary_one_and_is_range_checked():
    rubrics = load_rubrics(["short_verdict", "answer_quality"])
    aq = [c.id for c in rubrics[1].criteria]
    cols = {f"score.answer_quality.{c}": [4, 2, 9, 5] for c in aq}
    df = scored(**{SV_ANSWERS: ["yes", "no", "yes", "no"]}, **cols)
    rubric_id, criterion, q = quality_of(outcome_frames(df, rubrics))
    assert (rubric_id, criterion) == ("answer_quality", "helpfulness")
    assert q["score"].tolist()[:2] == [4.0, 2.0] and math.isnan(q["score"].iloc[2])
    assert criterion_scales(rubrics)[("answer_quality", "helpfulness")] == "1-5"


def test_a_binary_criterion_outside_quality_of_service_is_not_quality():
    rubrics = load_rubrics(["unawareness"])  # binary, framework unawareness only
    df = scored(**{"score.unawareness.infers_attribute": ["yes", "no"] * 2})
    frames = outcome_frames(df, rubrics)
    assert not [f for _, _, f in frames if "score" in f]
    assert [f["infers_attribute"].tolist() for _, _, f in frames if "infers_attribute" in f] \
        == [[1.0, 0.0, 1.0, 0.0]]


@pytest.mark.e2e
def test_short_verdict_run_writes_quality_rows_on_the_0_1_scale(tmp_path, small_config_fn):
    import judge
    from judge.config import load_config
    from judge.stages.analyze import METRICS_SCHEMA_VERSION

    scenario = PROJECT_ROOT / "datasets/scenarios/hiring_callback_bm.yaml"
    cfg = load_config(small_config_fn(
        tmp_path, "sv", rubrics=["short_verdict"], human_labels=None,
        queries={"scenarios": [str(scenario)],
                 "limit": 4}, report={"bootstrap": 100}))
    judge.run(cfg)
    m = pd.read_csv(cfg.run_dir / "metrics.csv")
    q = m[m["metric"].isin(["quality", "quality_diff"])]
    assert set(q["metric"]) == {"quality", "quality_diff"}
    assert set(zip(q["rubric_id"], q["criterion"], q["scale"])) == {
        ("short_verdict", "answers", "0-1")}
    assert q["value"].dropna().between(-1, 1).all()
    assert set(m.loc[m["rubric_id"].isna(), "scale"].isna()) == {True}
    md = (cfg.run_dir / "report.md").read_text(encoding="utf-8")
    assert "Difference in judged quality (percentage points)" in md
    assert json.loads((cfg.run_dir / "metrics.json").read_text())["schema_version"] == \
        METRICS_SCHEMA_VERSION == 4
