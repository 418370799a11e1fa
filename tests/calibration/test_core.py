"""calibrate_frames / calibrate_files end to end on synthetic data."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from ppi_py import ppi_mean_pointestimate
from sklearn.metrics import cohen_kappa_score

from judge.calibration import ScaleSpec, calibrate_files, calibrate_frames, simulate_basic
from judge.calibration.core import PANEL
from judge.stats.ppi import sampled_ppi_mean

LIKERT = ScaleSpec(kind="likert", min=1, max=5)
BINARY = ScaleSpec(kind="binary")


@pytest.fixture(scope="module")
def sim():
    j, h, truth = simulate_basic(0, n_clusters=30, n_labelled=150)
    return j, h, truth


@pytest.fixture(scope="module")
def result(sim):
    j, h, _ = sim
    return calibrate_frames(j, h, scale=LIKERT, B=200, seed=1)


def test_tables_and_json(result):
    doc = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert doc["scales"]["quality"] == {"kind": "likert", "min": 1, "max": 5}
    assert {r["metric"] for r in doc["agreement"]} >= {"cohen_kappa", "alpha_humans",
                                                      "alpha_judge_humans", "ba_loa_low"}
    est = {(r["quantity"], r["estimator"]) for r in doc["corrected"]}
    assert ("gap", "judge_only") in est and ("gap", "ppi") in est and ("mean", "ppi") in est
    assert len(result.differential_bias) == 2 and len(result.joint_tests) == 1
    assert doc["meta"]["B"] == 200


def test_reproducible_from_seed(sim, result):
    j, h, _ = sim
    again = calibrate_frames(j, h, scale=LIKERT, B=200, seed=1)
    assert json.dumps(again.to_json()) == json.dumps(result.to_json())
    other = calibrate_frames(j, h, scale=LIKERT, B=200, seed=2, sections=("agreement",))
    assert not other.agreement["ci_low"].equals(result.agreement["ci_low"])


def test_corrected_side_by_side_with_counts(result):
    c = result.corrected
    gap = c[(c.quantity == "gap") & (c.group == "b")].set_index("estimator")
    assert gap.loc["judge_only", "n_labelled"] == 0
    assert gap.loc["ppi", "n_labelled"] > 0 and gap.loc["ppi", "n_unlabelled"] > 0
    # the planted judge bias for group b pushes the naive gap above the corrected one
    assert gap.loc["judge_only", "value"] > gap.loc["ppi", "value"] + 0.3


def test_weights_reach_the_corrected_estimates(sim):
    j, h, _ = sim
    labelled = sorted(set(h.item_id))
    pi = pd.Series(np.where(np.arange(len(labelled)) % 2, 0.2, 0.6), index=labelled)
    res = calibrate_frames(j, h, scale=LIKERT, B=100, seed=0, weights=pi,
                           sections=("correction",))
    row = res.corrected[(res.corrected.quantity == "mean") & (res.corrected.group == "a")
                        & (res.corrected.estimator == "ppi")].iloc[0]
    ja = j[j["group.group"] == "a"]
    y = h.groupby("item_id")["score"].mean()
    lab = ja[ja.item_id.isin(y.index)]
    w = 1 / pi[lab.item_id].to_numpy()
    args = (y[lab.item_id].to_numpy(float), lab.score.to_numpy(float), ja.score.to_numpy(float))
    e = sampled_ppi_mean(*args, w=w, clusters=lab["cluster"].to_numpy())
    assert (row.value, row.ci_low, row.ci_high, row.lam) == pytest.approx(
        (e.value, e.ci_low, e.ci_high, e.lam), rel=1e-12)
    # the point is ppi_py's PPI++ point at that lam, with the weights
    assert row.value == pytest.approx(float(np.ravel(ppi_mean_pointestimate(
        *args, lam=e.lam, w=w))[0]), rel=1e-12)
    assert sampled_ppi_mean(*args).value != pytest.approx(e.value, rel=1e-6)
    assert res.meta["weighted"] is True
    with pytest.raises(ValueError, match="inclusion_prob missing for"):
        calibrate_frames(j, h, scale=LIKERT, weights=pi.iloc[:3], sections=("correction",))


def test_several_judges_panel_and_inter_judge(sim):
    j, h, _ = sim
    rng = np.random.default_rng(0)
    j2 = j.assign(judge="other", score=np.clip(j.score + rng.integers(-1, 2, len(j)), 1, 5))
    res = calibrate_frames(pd.concat([j, j2]), h, scale=LIKERT, B=100, seed=0,
                           sections=("agreement", "bias", "inter_judge"))
    assert set(res.agreement.judge) == {"sim-judge", "other", PANEL}
    assert set(res.bias.judge) == {"sim-judge", "other", PANEL}
    k = res.inter_judge[(res.inter_judge.metric == "cohen_kappa")
                        & (res.inter_judge.group == "all")].iloc[0]
    m = j.merge(j2, on="item_id")  # inter-judge agreement needs no humans: all common items
    assert k.value == pytest.approx(cohen_kappa_score(m.score_x, m.score_y, labels=[1, 2, 3, 4, 5],
                                                      weights="quadratic"))


def _binary(seed=0, n=600, C=40):
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b"], n)
    truth = (rng.random(n) < np.where(g == "a", 0.3, 0.5)).astype(int)
    fpr = np.where(g == "a", 0.1, 0.3)
    judge = np.where(truth == 1, rng.random(n) < 0.85, rng.random(n) < fpr).astype(int)
    j = pd.DataFrame({"item_id": [f"i{k}" for k in range(n)], "judge": "jb", "criterion": "harm",
                      "score": judge, "cluster": [f"c{k % C}" for k in range(n)], "group.g": g})
    lab = rng.choice(n, 250, replace=False)
    h = pd.DataFrame([{"item_id": f"i{k}", "rater": f"r{r}", "criterion": "harm",
                       "score": int(truth[k] if rng.random() < 0.95 else 1 - truth[k])}
                      for k in lab for r in range(3)])
    return j, h


def test_binary_classifier_tables():
    j, h = _binary()
    res = calibrate_frames(j, h, scale=BINARY, B=200, seed=0)
    er = res.error_rates
    fpr = er[(er.metric == "fpr") & (er.attribute == "g")].set_index("group")["value"]
    assert fpr["b"] > fpr["a"]  # planted: the judge over-flags group b
    conf = res.confusion[(res.confusion.attribute == "g") & (res.confusion.group == "a")]
    assert len(conf) == 4 and conf["count"].sum() > 0
    rg = er[er.metric == "rogan_gladen_prevalence"]
    assert set(rg.group) == {"all", "a", "b"} and rg.value.between(0, 1).all()
    assert not res.corrected.empty  # binary is numeric: PPI of the prevalence


def test_categorical_has_no_means_and_nan_rank_metrics():
    j, h = _binary()
    cat = ScaleSpec(kind="categorical", labels=("x", "y", "z"))
    rng = np.random.default_rng(1)
    j = j.assign(score=rng.choice(["x", "y", "z"], len(j)))
    h = h.assign(score=rng.choice(["x", "y", "z"], len(h)))
    res = calibrate_frames(j, h, scale=cat, B=50, seed=0)
    assert res.bias.empty and res.corrected.empty
    sp = res.agreement[res.agreement.metric == "spearman"]
    assert sp.value.isna().all() and sp.warning.notna().all()
    assert set(res.error_rates.label) == {"x", "y", "z"}


def test_sparse_group_gives_nan_with_reason(sim):
    j, h, _ = sim
    keep_c = set(j.loc[j["group.group"] == "c", "item_id"][:1])
    h2 = h[~h.item_id.isin(set(j.loc[j["group.group"] == "c", "item_id"])) | h.item_id.isin(keep_c)]
    res = calibrate_frames(j, h2, scale=LIKERT, B=50, seed=0, sections=("correction",))
    row = res.corrected[(res.corrected.group == "c") & (res.corrected.estimator == "ppi")
                        & (res.corrected.quantity == "gap")].iloc[0]
    assert math.isnan(row.value) and "fewer than 2 labelled" in row.warning


def test_calibrate_files_writes_outputs(tmp_path, sim):
    j, h, _ = sim
    jp, hp = tmp_path / "j.csv", tmp_path / "h.jsonl"
    j.to_csv(jp, index=False)
    h.to_json(hp, orient="records", lines=True)
    res = calibrate_files(jp, hp, tmp_path / "out", scale=LIKERT, B=50, seed=0)
    doc = json.loads((tmp_path / "out" / "calibration.json").read_text())
    assert doc["meta"]["inputs"]["judgments"].endswith("j.csv")
    assert (tmp_path / "out" / "corrected.csv").exists()
    assert len(res.agreement) > 0


def test_frames_without_cluster_or_with_missing_fields():
    j = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "judge": "j", "criterion": "q",
                      "score": [1, 2, 3, 4], "group.g": ["x", "y", "x", "y"]})
    h = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "rater": "r", "criterion": "q",
                      "score": [1, 3, 3, 4]})
    res = calibrate_frames(j, h, scale=LIKERT, B=50, sections=("agreement",))
    row = res.agreement[(res.agreement.metric == "exact_agreement")
                        & (res.agreement.group == "all")].iloc[0]
    assert row.value == 0.75 and row.n_clusters == 4  # each item its own cluster
    from judge.errors import DataError
    with pytest.raises(DataError, match=r"missing required field\(s\) \['rater'\]"):
        calibrate_frames(j, h.drop(columns=["rater"]), scale=LIKERT)


# ---------------------------------------------------------------- cluster resampling

def _clustered_calibration(binary: bool, seed: int = 0):
    """20 clusters x 30 items (groups a/b alternating, two items in three labelled by
    three raters). Each (cluster, group) has one template (true score; two judges' shifts,
    or on a binary scale whether each judge flips; the raters' scores), copied to its
    items (Likert: 5% drawn afresh), so every calibration statistic is strongly
    correlated within clusters."""
    rng = np.random.default_rng(seed)
    lo, hi = (0, 1) if binary else (1, 5)

    def template(noise):
        t = int(rng.integers(lo, hi + 1))
        raters = [int(rng.integers(lo, hi + 1)) if rng.random() < noise else t
                  for _ in range(3)]
        shifts = ((rng.random(2) < 0.15).astype(int) if binary  # 1: the judge flips
                  else rng.choice([-1, 0, 1], 2))
        return t, int(shifts[0]), int(shifts[1]), raters

    j, h = [], []
    for c in range(20):
        tmpl = {g: template(rng.choice([0.0, 0.3 if binary else 0.6])) for g in "ab"}
        for i in range(30):
            g = "ab"[i % 2]
            fresh = 0.0 if binary else 0.05
            t, shift, shift2, raters = tmpl[g] if rng.random() >= fresh else template(0.3)
            item = f"c{c}-{i}"
            for judge, s in (("j1", shift), ("j2", shift2)):
                score = (1 - t if s == 1 else t) if binary else int(np.clip(t + s, lo, hi))
                j.append({"item_id": item, "judge": judge, "criterion": "q",
                          "score": score, "cluster": f"c{c}",
                          "group.race": g})
            if i % 3 != 2:
                h += [{"item_id": item, "rater": f"r{k}", "criterion": "q", "score": r}
                      for k, r in enumerate(raters)]
    return pd.DataFrame(j), pd.DataFrame(h)


ESTIMATE_KEYS = ("criterion", "judge", "attribute", "group", "metric")
# the sampled-PPI intervals ("ppi", "ppi_isotonic") treat items as independent given the
# queries (their estimand conditions on them): not compared
CLUSTER_ESTIMATORS = ("judge_only", "human_only", "ppi_cluster_bootstrap")


@pytest.mark.parametrize("binary", [False, True], ids=["likert", "binary"])
def test_every_interval_resamples_clusters(binary):
    from tests.stats._clustered import assert_wider

    j, h = _clustered_calibration(binary)
    scale = BINARY if binary else LIKERT
    res = calibrate_frames(j, h, scale=scale, B=200, seed=0)
    rows = calibrate_frames(j.assign(cluster=j["item_id"]), h, scale=scale, B=200, seed=0)
    compared = {}
    for table, keys in (("agreement", ESTIMATE_KEYS), ("bias", ESTIMATE_KEYS),
                        ("error_rates", (*ESTIMATE_KEYS, "label")),
                        ("differential_bias", ("criterion", "judge", "attribute", "group")),
                        ("inter_judge", ("criterion", "judge", "other_judge", "attribute",
                                         "group", "metric"))):
        compared[table] = assert_wider(getattr(res, table), getattr(rows, table), keys=keys,
                                       min_compared=0)
    corrected = [t[t.estimator.isin(CLUSTER_ESTIMATORS)] for t in (res.corrected,
                                                                   rows.corrected)]
    compared["corrected"] = assert_wider(*corrected, keys=(
        "criterion", "judge", "attribute", "group", "reference", "quantity", "estimator"))
    assert compared["corrected"] >= 12 and compared["bias"] == 9  # j1, j2, panel x 3 groups
    assert compared["error_rates"] >= (18 if binary else 0) and compared["agreement"] >= 50
    assert compared["differential_bias"] == 3 and compared["inter_judge"] >= 9
