"""Calibration tables never hold a "(missing)" group (issue 15)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from judge.calibration import ScaleSpec, calibrate_frames, simulate_basic
from judge.calibration.missing import calibrate_excluding_missing

LIKERT = ScaleSpec(kind="likert", min=1, max=5)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world():
    j, h, _ = simulate_basic(0, n_clusters=30, n_labelled=150)
    j = j.copy()
    gcol = next(c for c in j.columns if c.startswith("group."))
    # a second attribute that a third of the clusters (another scenario) lack
    clusters = sorted(j["cluster"].unique())
    lacking = set(clusters[:10])
    rng = np.random.default_rng(0)
    j["group.gender"] = rng.choice(["female", "male"], len(j))
    j.loc[j["cluster"].isin(lacking), "group.gender"] = None
    return j, h, gcol, lacking


def test_plain_calibration_never_reports_missing_as_a_group(world):
    """The issue's symptom ("(missing)" as a group) is gone from calibrate_frames too: rows
    with a null group value are left out of that attribute's comparisons and reported."""
    j, h, _, _ = world
    res = calibrate_frames(j, h, scale=LIKERT, B=100, seed=1,
                           reference={"gender": "male"})
    assert "(missing)" not in set(res.differential_bias["group"])
    assert "(missing)" not in set(res.differential_bias["reference"])


def test_missing_values_are_never_a_group_or_reference(world):
    j, h, gcol, lacking = world
    out = calibrate_excluding_missing(j, h, scale=LIKERT, B=100, seed=1,
                                      reference={"gender": "male"})
    doc = json.dumps(out, allow_nan=True)
    assert "(missing)" not in doc
    n_lacking = j.loc[j["cluster"].isin(lacking), "item_id"].nunique()
    assert out["missing_attributes"] == {"gender": n_lacking}
    assert f"gender: {n_lacking} items" in out["missing_note"]
    db = [r for r in out["differential_bias"] if r["attribute"] == "gender"]
    assert [(r["group"], r["reference"]) for r in db] == [("female", "male")]
    jt = [r for r in out["joint_tests"] if r["attribute"] == "gender"]
    assert len(jt) == 1 and jt[0]["df_num"] == 1  # one contrast, not two
    # the complete attribute is untouched: same rows as a plain run
    plain = calibrate_frames(j, h, scale=LIKERT, B=100, seed=1,
                             reference={"gender": "male"}).to_json()
    a = gcol.removeprefix("group.")
    same = [r for r in plain["differential_bias"] if r["attribute"] == a]
    assert [r for r in out["differential_bias"] if r["attribute"] == a] == same


def test_gender_comparison_equals_a_run_on_the_items_that_have_gender(world):
    j, h, gcol, _ = world
    out = calibrate_excluding_missing(j, h, scale=LIKERT, B=100, seed=1,
                                      reference={"gender": "male"})
    has = j[j["group.gender"].notna()].drop(columns=[gcol])
    ref = calibrate_frames(has, h[h["item_id"].isin(set(has["item_id"]))], scale=LIKERT,
                           B=100, seed=1, reference={"gender": "male"},
                           sections=("bias", "correction")).to_json()
    want = [r for r in ref["differential_bias"] if r["attribute"] == "gender"]
    assert [r for r in out["differential_bias"] if r["attribute"] == "gender"] == want


def test_items_lacking_an_attribute_still_count_overall_and_for_the_others(world):
    """An item without gender is in the overall agreement and bias rows and in its other
    attribute's groups; only gender's rows leave it out. (Dropping every row with any
    missing group value left a multi-scenario run with no agreement table at all.)"""
    j, h, gcol, lacking = world
    res = calibrate_frames(j, h, scale=LIKERT, B=100, seed=1, reference={"gender": "male"})
    labelled = set(h["item_id"])
    n_all = j["item_id"].isin(labelled).sum()
    n_gender = (j["item_id"].isin(labelled) & j["group.gender"].notna()).sum()
    kappa = res.agreement[res.agreement["metric"] == "exact_agreement"]
    (overall,) = kappa.loc[kappa["attribute"] == "all", "n"].tolist()  # labels, not items
    assert kappa.loc[kappa["attribute"] == gcol.removeprefix("group."), "n"].sum() == overall
    gender = kappa.loc[kappa["attribute"] == "gender", "n"].sum()
    assert gender * n_all == overall * n_gender and n_gender < n_all  # 3 labels an item
    assert res.meta["n_judgments"] == len(j)
    assert res.meta["missing_attributes"] == {"gender": j.loc[j["group.gender"].isna(),
                                                              "item_id"].nunique()}


def test_a_run_over_scenarios_with_different_attributes_has_agreement_by_group(
        small_config_fn, tmp_path):
    """Every scenario varies some attributes and lacks the others, so every item lacks
    one: the run's calibration still has agreement overall and by group."""
    import judge
    from judge.config import load_config

    cfg = small_config_fn(tmp_path, "multi", rubrics=["answer_quality"],
                          queries={"scenarios": [
                              str(ROOT / "datasets/scenarios/loan_decision.yaml"),
                              str(ROOT / "datasets/scenarios/workplace_email.yaml"),
                              str(ROOT / "datasets/scenarios/general_knowledge.yaml")],
                              "limit": 4},
                          human_labels={"simulate": {"raters": 2, "items": 60}},
                          report={"bootstrap": 100})
    judge.run(load_config(cfg), stages=["generate", "score", "calibrate"])
    cal = json.loads((tmp_path / "runs" / "multi" / "calibration.json").read_text())
    assert cal["missing_attributes"], "the premise: items that lack an attribute"
    kappa = [r for r in cal["agreement"] if r["metric"] == "cohen_kappa"]
    attrs = {r["attribute"] for r in kappa}
    assert "all" in attrs and len(attrs - {"all"}) >= 2, attrs
    assert not any(str(r.get("group")) in ("(missing)", "None", "nan") for r in kappa)
