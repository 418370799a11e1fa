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
