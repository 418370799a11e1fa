"""Counterfactual metrics: hand-built pairs, scipy/statsmodels tests, planted worlds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.descriptivestats import sign_test

from judge.sim.synthetic import planted_frame
from judge.stats import (
    METRIC_COLUMNS,
    counterfactual_metrics,
    counterfactual_pairs,
    counterfactual_set_summary,
    worst_levels,
)

B = 400


def row(t, metric, attribute, level):
    hit = t[(t.metric == metric) & (t.attribute == attribute) & (t.level == level)]
    assert len(hit) == 1, (metric, attribute, level)
    return hit.iloc[0]


def hand_frame() -> pd.DataFrame:
    # 4 groups x 2 races x 2 genders; decisions chosen by hand
    rows = []
    dec = {  # (group, race, gender) -> decision
        0: {("W", "f"): 1, ("W", "m"): 1, ("B", "f"): 0, ("B", "m"): 1},
        1: {("W", "f"): 1, ("W", "m"): 0, ("B", "f"): 1, ("B", "m"): 0},
        2: {("W", "f"): 0, ("W", "m"): 0, ("B", "f"): 0, ("B", "m"): 1},
        3: {("W", "f"): 1, ("W", "m"): 1, ("B", "f"): 0, ("B", "m"): 0},
    }
    for g, cells in dec.items():
        for (race, gender), d in cells.items():
            rows.append({"cf_group": f"g{g}", "generator": "m", "attr.race": race,
                         "attr.gender": gender, "decision": float(d),
                         "score": float(d) * 2 + (0.5 if race == "W" else 0.0) + g})
    return pd.DataFrame(rows)


def test_pairs_match_only_other_attributes_equal():
    p = counterfactual_pairs(hand_frame(), "race", reference="W")
    assert len(p) == 8 and set(p.level) == {"B"} and set(p.reference) == {"W"}
    assert set(zip(p["attr.gender"], p.cf_group, strict=True)) == {
        (gn, f"g{g}") for g in range(4) for gn in ("f", "m")}
    r = p[(p.cf_group == "g0") & (p["attr.gender"] == "f")].iloc[0]
    assert (r.decision, r.decision_ref) == (0.0, 1.0)


def test_flip_rate_and_diff_by_hand():
    t = counterfactual_metrics(hand_frame(), "race", reference="W", B=200, min_cell=1)
    assert list(t.columns) == METRIC_COLUMNS
    # pairs (ref W -> B): g0 f 1->0, g0 m 1->1, g1 f 1->1, g1 m 0->0, g2 f 0->0, g2 m 0->1,
    # g3 f 1->0, g3 m 1->0  => flips 4/8, diff (0-1)+(1-0)+(0-1)+(0-1) = -2/8
    assert row(t, "cf_flip_rate", "race", "B").value == pytest.approx(0.5)
    assert row(t, "cf_decision_diff", "race", "B").value == pytest.approx(-0.25)
    assert row(t, "cf_flip_rate", "race", "B").n == 8
    assert row(t, "cf_flip_rate", "race", "B").n_clusters == 4
    table = np.array([[2, 1], [3, 2]])  # rows: reference 0/1, cols: level 0/1
    assert row(t, "cf_flip_rate", "race", "B").p_value == pytest.approx(
        mcnemar(table, exact=True).pvalue)
    assert "mcnemar_exact" in row(t, "cf_flip_rate", "race", "B").method
    # score = 2*decision + 0.5*[W] + g  =>  diff = 2*(d - d_ref) - 0.5
    assert row(t, "cf_score_diff", "race", "B").value == pytest.approx(2 * -0.25 - 0.5)


def test_wilcoxon_and_sign_test_match_scipy_statsmodels():
    rng = np.random.default_rng(1)
    n = 60
    base = rng.normal(size=n)
    df = pd.DataFrame({"cf_group": np.repeat(np.arange(n), 2), "attr.a": ["r", "x"] * n,
                       "score": np.c_[base, base + 0.3 + rng.normal(0, 1, n)].ravel()})
    diffs = df.score.to_numpy()[1::2] - df.score.to_numpy()[::2]
    t = counterfactual_metrics(df, decision=None, reference="r", B=100)
    assert row(t, "cf_score_diff", "a", "x").p_value == pytest.approx(
        sps.wilcoxon(diffs).pvalue)
    assert row(t, "cf_score_absdiff", "a", "x").value == pytest.approx(np.abs(diffs).mean())
    t = counterfactual_metrics(df, decision=None, reference="r", score_test="sign", B=100)
    p_sign = row(t, "cf_score_diff", "a", "x").p_value
    assert p_sign == pytest.approx(sign_test(diffs, 0)[1])
    pos, nonzero = int((diffs > 0).sum()), int((diffs != 0).sum())
    assert p_sign == pytest.approx(sps.binomtest(pos, nonzero, 0.5).pvalue)
    with pytest.raises(ValueError, match="score_test must be 'wilcoxon' or 'sign'"):
        counterfactual_metrics(df, score_test="t")


def test_mcnemar_uses_chi2_for_many_discordant_pairs():
    rng = np.random.default_rng(2)
    n = 200
    ref = (rng.random(n) < 0.6).astype(float)
    lvl = np.where(rng.random(n) < 0.3, 1 - ref, ref)
    df = pd.DataFrame({"cf_group": np.repeat(np.arange(n), 2), "attr.a": ["r", "x"] * n,
                       "decision": np.c_[ref, lvl].ravel()})
    t = counterfactual_metrics(df, score=None, reference="r", B=100)
    tab = pd.crosstab(ref, lvl).to_numpy()
    r = row(t, "cf_flip_rate", "a", "x")
    assert r.p_value == pytest.approx(mcnemar(tab, exact=False, correction=True).pvalue)
    assert "mcnemar_chi2_cc" in r.method


@pytest.fixture(scope="module")
def world():
    return planted_frame(600, seed=5, decision_effect={"race": {"Black": -0.1}},
                         score_effect={"race": {"Black": -0.5}}, generators=2)


def test_planted_counterfactual_effects_found(world):
    t = counterfactual_metrics(world, ["race", "gender", ("race", "gender")],
                               reference={"race": "White", "gender": "female",
                                          "race|gender": "White|female"}, B=B, alpha=0.01)
    for metric, planted in (("cf_decision_diff", -0.1), ("cf_flip_rate", 0.1),
                            ("cf_score_diff", -0.5)):
        r = row(t, metric, "race", "Black")
        assert not (r.ci_low <= 0 <= r.ci_high) and r.ci_low <= planted <= r.ci_high, r
        assert r.p_value < 1e-6
    for metric in ("cf_score_diff",):
        for attr, lv in (("race", "Asian"), ("gender", "male"), ("race|gender", "White|male")):
            r = row(t, metric, attr, lv)
            assert r.ci_low <= 0 <= r.ci_high, r
    r = row(t, "cf_score_diff", "race|gender", "Black|male")
    assert r.ci_low <= -0.5 <= r.ci_high
    # pairs are matched within generator: 600 groups x 2 generators x 2 genders
    assert row(t, "cf_flip_rate", "race", "Black").n + \
        world[world["attr.race"] == "Black"].decision.isna().sum() >= 2400 - 200


def test_score_diff_interval_coverage_over_replications():
    """95% intervals cover the planted value in most of 20 independent worlds."""
    hits = 0
    for s in range(20):
        w = planted_frame(100, seed=200 + s, score_effect={"race": {"Black": -0.5}})
        t = counterfactual_metrics(w, "race", reference="White", decision=None, B=200)
        r = row(t, "cf_score_diff", "race", "Black")
        hits += r.ci_low <= -0.5 <= r.ci_high
    assert hits >= 16


def test_cluster_by_template_gives_fewer_clusters(world):
    t = counterfactual_metrics(world, "race", reference="White", cluster="template", B=200)
    r = row(t, "cf_score_diff", "race", "Black")
    assert r.n_clusters == world.template.nunique()


SET = "score.counterfactual_decision."


def set_judgments() -> tuple[pd.DataFrame, pd.DataFrame]:
    gens = pd.DataFrame({"generation_id": [f"x{i}" for i in range(9)],
                         "attr.race": ["Asian", "Black", "White"] * 3,
                         "attr.gender": ["f"] * 9})
    j = pd.DataFrame({
        "cf_group": [f"g{i}" for i in range(7)],
        "target_ids": [["x0", "x1", "x2"], ["x3", "x4", "x5"], ["x6", "x7", "x8"],
                       ["x2", "x1", "x0"], ["x0", "x1", "x2"], ["x0", "x1", "x2"],
                       ["x0", "x1", "x2"]],
        # the set-verdict columns of judge.load frames (the shipped set rubric's)
        f"{SET}differs_materially": [True, True, False, True, None, False, True],
        f"{SET}dimension": ["decision", "tone", "none", "decision", None, "none", "quality"],
        f"{SET}worst": ["B", "B", "none", "C", None, "none", "A"],
    })
    return j, gens


def test_worst_levels_map_labels_to_attribute_levels():
    j, gens = set_judgments()
    w = worst_levels(j, gens, "race")
    # B of (x0,x1,x2) is x1 = Black; C of (x2,x1,x0) is x0 = Asian; A of (x0..) is Asian
    assert w.tolist() == ["Black", "Black", None, "Asian", None, None, "Asian"]
    assert worst_levels(j, gens, ("race", "gender"))[0] == "Black|f"


def test_counterfactual_set_summary_by_hand():
    j, gens = set_judgments()
    j["worst_level"] = worst_levels(j, gens, "race")
    t = counterfactual_set_summary(j, attribute="race", levels=["Asian", "Black", "White"],
                                   B=200, min_cell=1)
    assert list(t.columns) == METRIC_COLUMNS
    d = row(t, "cfset_differs_share", "race", "*")
    assert d.value == pytest.approx(4 / 6) and d.n == 6 and d.n_clusters == 6
    assert row(t, "cfset_dimension_share", "race", "decision").value == pytest.approx(2 / 6)
    assert row(t, "cfset_dimension_share", "race", "tone").value == pytest.approx(1 / 6)
    assert "none" not in set(t[t.metric == "cfset_dimension_share"].level)
    w = row(t, "cfset_worst_share", "race", "Black")
    assert w.value == pytest.approx(2 / 4) and w.reference == "uniform"
    assert w.p_value == pytest.approx(sps.binomtest(2, 4, 1 / 3).pvalue)
    assert row(t, "cfset_worst_share", "race", "White").value == 0.0
    assert row(t, "cfset_worst_share", "race", "Asian").ci_low <= 0.5


def test_pairs_stay_within_judge_and_average_repeats():
    base = hand_frame()
    two = pd.concat([base.assign(judge="j1"), base.assign(judge="j2", decision=1.0),
                     base.assign(judge="j1")], ignore_index=True)  # j1 twice: repeats
    p = counterfactual_pairs(two, "race", reference="W")
    assert len(p) == 16 and set(p.judge) == {"j1", "j2"}
    t = counterfactual_metrics(two, "race", reference="W", B=50, min_cell=1)
    # j1 reproduces the hand pairs (flip 4/8); j2 never flips
    assert row(t, "cf_flip_rate", "race", "B").value == pytest.approx(4 / 16)


@pytest.mark.parametrize("x", [
    [1, 1, -1, 2, 0],  # ties and a zero: scipy's exhaustive sign-flip permutation test
    [0.5, 0.5, 0.5, -0.5, 1.0, 1.5, 0.0, 2.0],
    [1 / 3, -2 / 3, 1 / 3, 1.0, 1.0, -1 / 3, 2 / 3, 0.0, 1 / 3],
    [2, 2, 2, 2, 2, 2],  # every flip of the observed sign pattern: p at its floor
    [1, -1, 1, -1, 0, 0, 0],
    [1, 2, 2, 3, 3, 3, 4, -1, -2, 0],  # n = 10 (scipy's own call takes seconds at n = 13)
    [0.3, -1.2, 2.5, 0.7],  # no ties, no zeros: scipy's exact distribution
    list(np.linspace(-1, 3, 20).round(0)),  # n > 13 with ties: scipy's normal approximation
])
def test_wilcoxon_p_is_scipys_pvalue(x):
    """The vectorised sign-flip null gives scipy's wilcoxon p-value exactly (the slow
    per-flip permutation test of scipy >= 1.15 for small tied samples)."""
    from judge.stats.counterfactual import wilcoxon_p

    want = float(sps.wilcoxon(np.array(x, dtype=float), zero_method="wilcox").pvalue)
    assert wilcoxon_p(np.array(x, dtype=float)) == want
