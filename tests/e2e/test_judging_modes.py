"""Pairwise, counterfactual-set and probe judgments through the whole pipeline (sim/)."""

from __future__ import annotations

import pytest

import judge
from judge.config import load_config
from tests.conftest import ROOT
from tests.fixtures.shared import once_per_session

pytestmark = pytest.mark.e2e
SET = "score.counterfactual_decision."  # the set rubric's verdict columns


@pytest.fixture(scope="module")
def frames(tmp_path_factory, small_config_fn):
    def write(tmp):
        return small_config_fn(
            tmp, "modes", rubrics=["answer_quality", "answer_quality_pairwise",
                                   "counterfactual_decision"],
            probes=["attribute_swap", "verbosity"], human_labels=None,
            # 12 groups: enough that the sim judge returns both set verdicts (differs or not)
            queries={"scenarios": [str(ROOT / "datasets/scenarios/*.yaml")], "limit": 12},
            judges=[{"model": "sim/judge", "concurrency": 8, "repeats": 2}])

    tmp = once_per_session(tmp_path_factory, "judging-modes-run", lambda d: judge.run(
        load_config(write(d)), stages=["generate", "score", "calibrate"]))
    cfg = load_config(tmp / "modes.yaml")
    return judge.load(cfg.run_dir), cfg


def test_pairwise_is_judged_in_both_orders_and_mapped_back(frames):
    f, _ = frames
    pw = f.judgments[f.judgments["judge_mode"] == "pairwise"]
    assert len(pw) > 0 and set(pw["probe"].fillna("none")) == {"none", "position_swap"}
    swapped = pw[pw["probe"] == "position_swap"]
    assert all(m["presented_order"] == [1, 0] for m in swapped["probe_meta"])
    # canonical target order is the same in both judgments of a pair
    plain = pw[pw["probe"].isna()]
    assert set(map(tuple, plain["target_ids"])) == set(map(tuple, swapped["target_ids"]))
    assert set(pw["score.answer_quality_pairwise.preferred"].dropna()) <= {"A", "B", "tie"}


def test_counterfactual_sets_are_rotated_and_consistent(frames):
    f, _ = frames
    cs = f.judgments[f.judgments["judge_mode"] == "counterfactual_set"]
    assert len(cs) > 0
    rotated = cs[cs["probe_meta"].map(lambda m: "presented_order" in m)]
    assert len(rotated) > 0
    ok = cs[cs["parse_status"] == "ok"]
    # Column access by name: itertuples() would rename the dotted columns (_12, ...).
    verdicts = list(zip(ok[SET + "differs_materially"], ok[SET + "dimension"],
                        ok[SET + "worst"], strict=True))
    assert len(verdicts) == len(ok) > 0
    assert {type(d) for d, _, _ in verdicts} == {bool}
    same = [(dim, worst) for d, dim, worst in verdicts if not d]
    differ = [(dim, worst) for d, dim, worst in verdicts if d]
    assert same and differ  # both verdicts occur, so both checks below run
    assert all(dim == "none" and worst == "none" for dim, worst in same)
    assert all(dim in {"decision", "quality", "tone"} for dim, _ in differ)


def test_probes_and_repeats_are_recorded(frames):
    f, cfg = frames
    j = f.judgments
    pw = j[j["judge_mode"] == "pointwise"]
    assert {"attribute_swap", "verbosity"} <= set(pw["probe"].dropna())
    swap = pw[pw["probe"] == "attribute_swap"]
    assert all(m["shown_attributes"] for m in swap["probe_meta"])
    assert set(pw[pw["probe"].isna()]["repeat"]) == {0, 1}
    import json

    cal = json.loads((cfg.run_dir / "calibration.json").read_text())
    probes = {r["probe"] for r in cal["probes"]}
    assert {"attribute_swap", "verbosity", "position_swap", "test_retest"} <= probes
