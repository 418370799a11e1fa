"""judge.calibration.sections on literal data whose answers are known by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from judge.calibration import ScaleSpec, calibrate_frames

LIKERT = ScaleSpec(kind="likert", min=1, max=5)


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """8 items in 8 clusters; the judge scores group x one point above the humans, and
    agrees with them exactly on group y (both human raters give the same score)."""
    human = [2, 3, 4, 2, 3, 4, 2, 3]
    group = ["x", "x", "x", "x", "y", "y", "y", "y"]
    judge = [h + (1 if g == "x" else 0) for h, g in zip(human, group, strict=True)]
    j = pd.DataFrame({"item_id": [f"i{k}" for k in range(8)], "judge": "sim/judge",
                      "criterion": "quality", "score": judge, "cluster": [f"c{k}" for k in range(8)],
                      "group.g": group})
    h = pd.DataFrame([{"item_id": f"i{k}", "rater": r, "criterion": "quality", "score": s}
                      for k, s in enumerate(human) for r in ("r1", "r2")])
    return j, h


@pytest.fixture(scope="module")
def result():
    j, h = _frames()
    return calibrate_frames(j, h, scale=LIKERT, B=50, seed=0, reference={"g": "y"},
                            sections=("bias",))


def test_mutant_bias_is_judge_minus_human(result):
    """Kills: the sign of ``d = x - y`` flipped in bias_section (human minus judge)."""
    b = result.bias.set_index(["attribute", "group"])["value"]
    assert b[("all", "all")] == pytest.approx(0.5)
    assert b[("g", "x")] == pytest.approx(1.0)  # positive: the judge scores above humans
    assert b[("g", "y")] == pytest.approx(0.0)


def test_mutant_differential_bias_is_judge_minus_human(result):
    """The differential bias of x vs the reference y is +1: the judge favours x."""
    d = result.differential_bias
    row = d[(d["attribute"] == "g") & (d["group"] == "x")].iloc[0]
    assert row["reference"] == "y"
    assert row["estimate"] == pytest.approx(1.0)


def test_binary_panel_is_the_majority_vote_in_every_table():
    import pandas as pd

    from judge.calibration.scale import ScaleSpec
    from judge.calibration.sections import PANEL, judge_items

    j = pd.DataFrame({"item_id": ["a", "a", "a", "b", "b", "b", "c", "c"],
                      "judge": ["j1", "j2", "j3"] * 2 + ["j1", "j2"],
                      "score": [1, 1, 0, 0, 0, 1, 1, 0], "cluster": "k"})
    panel = judge_items(j, ScaleSpec.parse("binary"), []).get(PANEL).set_index("item_id")
    assert panel.loc["a", "x"] == 1.0 and panel.loc["a", "score"] == 1  # 2 of 3: vote 1
    assert panel.loc["b", "x"] == 0.0 and panel.loc["b", "score"] == 0
    assert pd.isna(panel.loc["c", "x"]) and pd.isna(panel.loc["c", "score"])  # a tie


def test_corrected_rows_never_undefined_without_reason_nor_zero_width():
    import math

    from judge.calibration.sections import DEGENERATE_INTERVAL, UNDEFINED_ESTIMATE, _ppi_row

    key = {"criterion": "c", "judge": "j"}
    r = _ppi_row(key, "race", "Black", None, "mean", "ppi_isotonic", math.nan, math.nan,
                 math.nan, 40, 200, 20)
    assert r["warning"] == UNDEFINED_ESTIMATE
    r = _ppi_row(key, "race", "Black", "White", "gap", "ppi", 0.25, 0.25 - 1e-16,
                 0.25 + 1e-16, 40, 200, 20)
    assert math.isnan(r["ci_low"]) and math.isnan(r["ci_high"])
    assert r["warning"] == DEGENERATE_INTERVAL and r["value"] == 0.25
    ok = _ppi_row(key, "race", "Black", "White", "gap", "ppi", 0.25, 0.1, 0.4, 40, 200, 20)
    assert (ok["ci_low"], ok["ci_high"], ok["warning"]) == (0.1, 0.4, None)
