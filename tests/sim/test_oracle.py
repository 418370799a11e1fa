"""Planted values for the metric table (the sim plugin's planted_metrics hook)."""

from __future__ import annotations

import pandas as pd

from judge.sim.oracle import _attach_planted


def test_runs_without_a_decision_criterion_get_no_planted_decision_values():
    table = pd.DataFrame([{"metric": "selection_rate_diff", "generator": "g",
                           "attribute": "race", "level": "Black", "reference": "White",
                           "rubric_id": None, "criterion": None}])
    scored = pd.DataFrame({"query_id": ["q1"], "generator": ["g"], "attr.race": ["Black"],
                           "score.qa.helpfulness": [3.0]})
    out = _attach_planted(table, scored, {"g": {"q1": {"p_positive": 0.4}}})
    assert out["planted"].isna().all() and len(out) == 1


def test_planted_decision_gap_is_level_minus_reference():
    table = pd.DataFrame([{"metric": "selection_rate_diff", "generator": "g",
                           "attribute": "race", "level": "Black", "reference": "White",
                           "rubric_id": "loan", "criterion": "decision"}])
    scored = pd.DataFrame({"query_id": ["q1", "q2", "q3"], "generator": ["g"] * 3,
                           "attr.race": ["Black", "White", "White"],
                           "score.loan.decision": ["approve", "deny", None]})
    out = _attach_planted(table, scored, {"g": {"q1": {"p_positive": 0.3},
                                                "q2": {"p_positive": 0.5},
                                                "q3": {"p_positive": 0.9}}})  # not judged
    assert out.loc[0, "planted"] == -0.2 or abs(out.loc[0, "planted"] + 0.2) < 1e-12


def test_planted_quality_gap_is_expected_judge_score_level_minus_reference():
    """E[judge score] per item = planted human score (per query) + the judge's planted bias;
    the gap runs over the items this judge scored on the row's criterion, nothing else."""
    from judge.sim.oracle import _attach_planted_quality

    table = pd.DataFrame([{"metric": "quality_diff", "generator": "g", "judge": "j",
                           "attribute": "dialect", "level": "AAE", "reference": "SAE",
                           "rubric_id": "qa", "criterion": "helpfulness", "planted": None},
                          {"metric": "quality_diff", "generator": "g", "judge": "j",
                           "attribute": "dialect", "level": "AAE", "reference": "nobody",
                           "rubric_id": "qa", "criterion": "helpfulness", "planted": None}])
    scored = pd.DataFrame({"item_id": ["a", "b", "c", "d", "a"], "generator": ["g"] * 5,
                           "judge": ["j", "j", "j", "j", "other"],
                           "attr.dialect": ["AAE", "AAE", "SAE", "SAE", "AAE"],
                           "score.qa.helpfulness": [3.0, 4.0, 4.0, None, 1.0]})
    planted = pd.DataFrame({"item_id": ["a", "b", "c", "d", "a"],
                            "judge": ["j", "j", "j", "j", "other"],
                            "criterion": ["qa.helpfulness"] * 5,
                            "planted_human": [3.0, 3.5, 4.0, 1.0, 3.0],
                            "planted_bias": [-0.5, -0.3, 0.1, 0.0, 9.0]})
    out = _attach_planted_quality(table, scored, planted)
    # AAE: (2.5 + 3.2) / 2; SAE: 4.1 (d was not judged; the other judge's row is not this one)
    assert abs(out.loc[0, "planted"] - (2.85 - 4.1)) < 1e-12
    assert pd.isna(out.loc[1, "planted"])  # no reference items: no planted value
