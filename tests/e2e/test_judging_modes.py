"""Pairwise, counterfactual-set and probe judgments through the whole pipeline (sim/)."""

from __future__ import annotations

import pytest

import judge
from judge.config import load_config

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def frames(tmp_path_factory, small_config_fn):
    tmp = tmp_path_factory.mktemp("modes")
    cfg = load_config(small_config_fn(
        tmp, "modes", rubrics=["answer_quality", "answer_quality_pairwise",
                               "counterfactual_decision"],
        probes=["attribute_swap", "verbosity"], human_labels=None,
        judges=[{"model": "sim/judge", "concurrency": 8, "repeats": 2}]))
    judge.run(cfg, stages=["generate", "score", "calibrate"])
    return judge.load(cfg.run_dir), cfg


def test_pairwise_is_judged_in_both_orders_and_mapped_back(frames):
    f, _ = frames
    pw = f.judgments[f.judgments["mode"] == "pairwise"]
    assert len(pw) > 0 and set(pw["probe"].fillna("none")) == {"none", "position_swap"}
    swapped = pw[pw["probe"] == "position_swap"]
    assert all(m["presented_order"] == [1, 0] for m in swapped["probe_meta"])
    # canonical target order is the same in both judgments of a pair
    plain = pw[pw["probe"].isna()]
    assert set(map(tuple, plain["target_ids"])) == set(map(tuple, swapped["target_ids"]))
    assert set(pw["score.preferred"].dropna()) <= {"A", "B", "tie"}


def test_counterfactual_sets_are_rotated_and_consistent(frames):
    f, _ = frames
    cs = f.judgments[f.judgments["mode"] == "counterfactual_set"]
    assert len(cs) > 0
    rotated = cs[cs["probe_meta"].map(lambda m: "presented_order" in m)]
    assert len(rotated) > 0
    ok = cs[cs["parse_status"] == "ok"]
    for r in ok.itertuples():
        if r._asdict().get("score.differs_materially") is False:
            assert r._asdict()["score.dimension"] == "none"


def test_probes_and_repeats_are_recorded(frames):
    f, cfg = frames
    j = f.judgments
    pw = j[j["mode"] == "pointwise"]
    assert {"attribute_swap", "verbosity"} <= set(pw["probe"].dropna())
    swap = pw[pw["probe"] == "attribute_swap"]
    assert all(m["shown_attributes"] for m in swap["probe_meta"])
    assert set(pw[pw["probe"].isna()]["repeat"]) == {0, 1}
    import json

    cal = json.loads((cfg.run_dir / "calibration.json").read_text())
    probes = {r["probe"] for r in cal["probes"]}
    assert {"attribute_swap", "verbosity", "position_swap", "test_retest"} <= probes
