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
