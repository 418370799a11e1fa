"""Judge bias against human labels: mean bias, differential bias, error rates by group.

``D = judge - human_mean`` per labelled item. The mean of ``D`` is the judge's bias; its
dependence on group is the differential bias, estimated by OLS of ``D`` on group
indicators with cluster-robust standard errors (statsmodels), a joint Wald test that all
group differences are zero, and Holm-adjusted p-values across groups.

For binary and categorical criteria the judge is a classifier of the human label:
per-group confusion matrices, one-vs-rest TPR/FPR (the judge's own equalized odds), and
the Rogan-Gladen corrected prevalence ``(p_obs + spec - 1) / (sens + spec - 1)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from judge.stats.bootstrap import DEFAULT_B, ClusterBootstrap, Estimate, nan_estimate
from judge.stats.multiple import adjust_pvalues

MIN_CLUSTERS_RELIABLE = 10  # cluster-robust SEs under-cover with few clusters

DIFF_BIAS_COLUMNS = ["attribute", "group", "reference", "estimate", "se", "ci_low", "ci_high",
                     "p_value", "p_holm", "n", "n_clusters", "warning"]
RATES_COLUMNS = ["attribute", "group", "label", "metric", "value", "ci_low", "ci_high", "n",
                 "n_clusters", "warning"]

REASON_CHANCE = "judge no better than chance in this group (sens + spec - 1 <= 0)"
REASON_CLIPPED = "corrected prevalence clipped to [0, 1]"


def estimate_row(attribute: str, group: str, metric: str, est: Estimate, **extra) -> dict:
    """A flat table row from an :class:`Estimate`."""
    return dict(attribute=attribute, group=group, metric=metric, value=est.value,
                ci_low=est.ci_low, ci_high=est.ci_high, n=est.n, n_clusters=est.n_clusters,
                warning=est.warning, **extra)


def mean_by_group(values, groups, clusters, weights=None, B: int = DEFAULT_B, seed: int = 0,
                  alpha: float = 0.05) -> dict[str, Estimate]:
    """(Weighted) mean of ``values`` per group with a cluster-bootstrap CI.

    The weighted mean is ``sum(w * v) / sum(w)``; NaN values are left out. A group with
    no values, or fewer than 2 clusters, gets NaN with a reason.
    """
    boot = ClusterBootstrap(np.asarray(clusters).astype(str), B, seed, alpha)
    gm = boot.group_means([values], np.asarray(groups).astype(str), weights=weights)[0]
    return {name: boot.estimate(gm.point[k], gm.reps[:, k], int(gm.n[k]), int(gm.n_clusters[k]))
            for k, name in enumerate(gm.levels) if gm.n[k] > 0}


def differential_bias(d, groups, clusters, reference: str, weights=None, alpha: float = 0.05
                      ) -> tuple[pd.DataFrame, dict]:
    """OLS (WLS with ``weights``) of ``d`` on indicators of each non-reference group,
    with cluster-robust SEs.

    Returns one row per non-reference group (``estimate`` = its mean ``d`` minus the
    reference group's, with a t-interval on ``n_clusters - 1`` df) and the joint Wald
    test ``{"statistic", "df_num", "df_denom", "p_value"}``.
    """
    import statsmodels.api as sm

    d = np.asarray(d, dtype=float)
    groups = np.asarray(groups).astype(str)
    clusters = np.asarray(clusters).astype(str)
    w = np.ones(len(d)) if weights is None else np.asarray(weights, dtype=float)
    keep = ~np.isnan(d)
    d, groups, clusters, w = d[keep], groups[keep], clusters[keep], w[keep]
    levels = [g for g in sorted(set(groups)) if g != reference]
    n_cl = len(set(clusters))
    empty = {"statistic": math.nan, "df_num": len(levels), "df_denom": math.nan,
             "p_value": math.nan}
    if reference not in set(groups) or not levels or n_cl < 2:
        reason = (f"reference group {reference!r} has no labelled items"
                  if reference not in set(groups) else
                  "fewer than 2 groups" if not levels else "fewer than 2 clusters")
        rows = [_diff_row(g, reference, math.nan, math.nan, math.nan, math.nan, math.nan,
                          math.nan, int((groups == g).sum()), n_cl, reason) for g in levels]
        return pd.DataFrame(rows, columns=DIFF_BIAS_COLUMNS[1:]), {**empty, "warning": reason}
    X = np.column_stack([np.ones(len(d))] + [(groups == g).astype(float) for g in levels])
    codes = pd.factorize(pd.Series(clusters))[0]
    model = sm.OLS(d, X) if weights is None else sm.WLS(d, X, weights=w)
    res = model.fit(cov_type="cluster", cov_kwds={"groups": codes}, use_t=True)
    with warnings.catch_warnings():  # a negative robust variance (few clusters): NaN SE,
        warnings.simplefilter("ignore", RuntimeWarning)  # handled as "no interval" below
        ci = np.asarray(res.conf_int(alpha))
        p = np.asarray(res.pvalues)[1:].astype(float)
        se = np.asarray(res.bse, dtype=float)
    # With no more clusters than parameters the cluster-robust covariance is singular: its
    # SEs collapse towards 0 (p ~ 1e-70 on noise). No interval and no test then.
    degenerate = n_cl <= X.shape[1]
    scale = np.maximum(1.0, np.abs(np.asarray(res.params, dtype=float)))
    no_se = degenerate | ~np.isfinite(se) | (se <= 1e-9 * scale)
    p = np.where(no_se[1:], np.nan, p)
    p_holm = adjust_pvalues(p, "holm")
    rows = []
    for k, g in enumerate(levels, start=1):
        m = (groups == g) | (groups == reference)
        nc = len(set(clusters[m]))
        if no_se[k]:
            why = (f"{n_cl} clusters for {X.shape[1]} parameters: the cluster-robust "
                   "covariance is singular, so no interval or test" if degenerate else
                   "zero cluster-robust variance: no interval or test")
            rows.append(_diff_row(g, reference, res.params[k], math.nan, math.nan, math.nan,
                                  math.nan, math.nan, int(m.sum()), nc, why))
            continue
        rows.append(_diff_row(g, reference, res.params[k], se[k], ci[k, 0], ci[k, 1],
                              p[k - 1], p_holm[k - 1], int(m.sum()), nc,
                              f"only {nc} clusters: the cluster-robust interval is unreliable"
                              if nc < MIN_CLUSTERS_RELIABLE else None))
    R = np.eye(X.shape[1])[1:]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wt = res.wald_test(R, scalar=True)
    rank_note = next((str(w.message) for w in caught if "full rank" in str(w.message)), None)
    if degenerate:
        return pd.DataFrame(rows, columns=DIFF_BIAS_COLUMNS[1:]), {
            **empty, "warning": f"{n_cl} clusters for {X.shape[1]} parameters: no joint test"}
    joint = {"statistic": float(wt.statistic), "df_num": float(wt.df_num),
             "df_denom": float(wt.df_denom), "p_value": float(wt.pvalue),
             "warning": (f"cluster-robust covariance is rank-deficient (fewer clusters than "
                         f"parameters?): {rank_note}") if rank_note else None}
    return pd.DataFrame(rows, columns=DIFF_BIAS_COLUMNS[1:]), joint


def _diff_row(g, ref, est, se, lo, hi, p, ph, n, nc, warning) -> dict:
    return dict(group=g, reference=ref, estimate=float(est), se=float(se), ci_low=float(lo),
                ci_high=float(hi), p_value=float(p), p_holm=float(ph), n=n, n_clusters=nc,
                warning=warning)


def confusion_by_group(judge_labels, human_labels, groups, labels: Sequence) -> pd.DataFrame:
    """Long confusion table: ``group, judge, human, count`` over the explicit label set."""
    df = pd.DataFrame({"group": np.asarray(groups).astype(str), "judge": judge_labels,
                       "human": human_labels})
    rows = []
    for g in sorted(df["group"].unique()):
        sub = df[df["group"] == g]
        for jl in labels:
            for hl in labels:
                n = int(((sub["judge"] == jl) & (sub["human"] == hl)).sum())
                rows.append({"group": g, "judge": jl, "human": hl, "count": n})
    return pd.DataFrame(rows, columns=["group", "judge", "human", "count"])


def error_rates(judge_labels, human_labels, clusters, positive: Sequence,
                B: int = DEFAULT_B, seed: int = 0, alpha: float = 0.05) -> dict:
    """One-vs-rest TPR and FPR of the judge for each label in ``positive``.

    Returns ``{label: {"tpr": Estimate, "fpr": Estimate}}`` (cluster bootstrap, one draw
    of cluster weights for every label and rate).
    """
    j = np.asarray(judge_labels, dtype=object)
    h = np.asarray(human_labels, dtype=object)
    boot = ClusterBootstrap(np.asarray(clusters).astype(str), B, seed, alpha)
    vectors, reasons = [], []
    for lab in positive:
        jp, hp = (j == lab).astype(float), (h == lab)
        vectors += [np.where(hp, jp, np.nan), np.where(~hp, jp, np.nan)]
        reasons += [f"no human-labelled {lab!r} items", f"no human-labelled non-{lab!r} items"]
    gms = boot.group_means(vectors)
    est = [boot.estimate(gm.point[0], gm.reps[:, 0], int(gm.n[0]), int(gm.n_clusters[0]))
           if gm.n[0] else nan_estimate(0, 0, why) for gm, why in zip(gms, reasons, strict=True)]
    return {lab: {"tpr": est[2 * k], "fpr": est[2 * k + 1]} for k, lab in enumerate(positive)}


def rogan_gladen(judge_pos_all, clusters_all, judge_pos_lab, human_pos_lab, clusters_lab,
                 B: int = DEFAULT_B, seed: int = 0, alpha: float = 0.05) -> Estimate:
    """Rogan-Gladen prevalence from the judge's positive rate on all items and its
    sensitivity/specificity on the labelled ones, resampling clusters jointly.
    """
    ja = np.asarray(judge_pos_all, dtype=float)
    jl = np.asarray(judge_pos_lab, dtype=float)
    hl = np.asarray(human_pos_lab, dtype=float)
    ca = np.asarray(clusters_all).astype(str)
    n, nc = len(ja), len(set(ca))
    if hl.sum() == 0 or (1 - hl).sum() == 0:
        return nan_estimate(n, nc, "labelled items lack positives or negatives: no sens/spec")
    # one row per item of either set: judge positives and items (all), then true
    # positives, positives, true negatives and negatives (labelled)
    X = np.zeros((len(ja) + len(jl), 6))
    X[:n, 0], X[:n, 1] = ja, 1.0
    X[n:, 2:] = np.column_stack([jl * hl, hl, (1 - jl) * (1 - hl), 1 - hl])
    boot = ClusterBootstrap(np.r_[ca, np.asarray(clusters_lab).astype(str)], B, seed, alpha)
    total, reps = boot.sums(X)

    def rg(s):
        with np.errstate(invalid="ignore", divide="ignore"):
            p_obs, sens, spec = s[..., 0] / s[..., 1], s[..., 2] / s[..., 3], s[..., 4] / s[..., 5]
            j = sens + spec - 1
            return np.where(j > 0, (p_obs + spec - 1) / j, np.nan)

    value = float(rg(total))
    if math.isnan(value):
        return nan_estimate(n, nc, REASON_CHANCE)
    if boot.n_clusters < 2:  # clusters of all and of labelled items together
        return Estimate(float(np.clip(value, 0, 1)), math.nan, math.nan, n, nc,
                        warning="fewer than 2 clusters")
    lo, hi = boot.interval(np.clip(rg(reps), 0, 1))
    return Estimate(float(np.clip(value, 0, 1)), float(lo), float(hi), n, nc,
                    warning=REASON_CLIPPED if not 0 <= value <= 1 else None)
