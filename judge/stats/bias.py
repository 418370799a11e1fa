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

from judge.stats.bootstrap import (
    DEFAULT_B,
    Estimate,
    cluster_weights,
    nan_estimate,
    percentile_ci,
)

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
    v = np.asarray(values, dtype=float)
    w = np.ones(len(v)) if weights is None else np.asarray(weights, dtype=float)
    keep = ~np.isnan(v)
    v, w = v[keep], w[keep]
    g = np.asarray(groups).astype(str)[keep]
    c = np.asarray(clusters).astype(str)[keep]
    cl, gl = pd.Index(sorted(set(c))), pd.Index(sorted(set(g)))
    S, N, n = (np.zeros((len(cl), len(gl))) for _ in range(3))
    idx = (cl.get_indexer(c), gl.get_indexer(g))
    np.add.at(S, idx, w * v)
    np.add.at(N, idx, w)
    np.add.at(n, idx, 1.0)
    W = cluster_weights(len(cl), B, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        point = S.sum(0) / N.sum(0)
        reps = (W @ S) / (W @ N)
    out = {}
    for k, name in enumerate(gl):
        nk, nck = int(n[:, k].sum()), int((n[:, k] > 0).sum())
        if nck < 2:
            out[name] = Estimate(float(point[k]), math.nan, math.nan, nk, nck,
                                 warning="fewer than 2 clusters: no interval")
            continue
        lo, hi = percentile_ci(reps[:, k], alpha)
        out[name] = Estimate(float(point[k]), float(lo), float(hi), nk, nck)
    return out


def differential_bias(d, groups, clusters, reference: str, weights=None, alpha: float = 0.05
                      ) -> tuple[pd.DataFrame, dict]:
    """OLS (WLS with ``weights``) of ``d`` on indicators of each non-reference group,
    with cluster-robust SEs.

    Returns one row per non-reference group (``estimate`` = its mean ``d`` minus the
    reference group's, with a t-interval on ``n_clusters - 1`` df) and the joint Wald
    test ``{"statistic", "df_num", "df_denom", "p_value"}``.
    """
    import statsmodels.api as sm
    from statsmodels.stats.multitest import multipletests

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
    ci = np.asarray(res.conf_int(alpha))
    p = np.asarray(res.pvalues)[1:]
    p_holm = multipletests(p, method="holm")[1]
    rows = []
    for k, g in enumerate(levels, start=1):
        m = (groups == g) | (groups == reference)
        nc = len(set(clusters[m]))
        rows.append(_diff_row(g, reference, res.params[k], res.bse[k], ci[k, 0], ci[k, 1],
                              p[k - 1], p_holm[k - 1], int(m.sum()), nc,
                              f"only {nc} clusters: the cluster-robust interval is unreliable"
                              if nc < MIN_CLUSTERS_RELIABLE else None))
    R = np.eye(X.shape[1])[1:]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wt = res.wald_test(R, scalar=True)
    rank_note = next((str(w.message) for w in caught if "full rank" in str(w.message)), None)
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


def _ratio_estimate(num: np.ndarray, den: np.ndarray, W: np.ndarray, n: int, alpha: float,
                    reason: str) -> Estimate:
    """``sum(num) / sum(den)`` over clusters with a bootstrap CI from weights ``W``."""
    nc = int((den > 0).sum())
    if den.sum() == 0:
        return nan_estimate(0, 0, reason)
    value = float(num.sum() / den.sum())
    if nc < 2:
        return Estimate(value, math.nan, math.nan, n, nc, warning="fewer than 2 clusters")
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = (W @ num) / (W @ den)
    lo, hi = percentile_ci(reps, alpha)
    return Estimate(value, float(lo), float(hi), n, nc)


def error_rates(judge_labels, human_labels, clusters, positive: Sequence,
                B: int = DEFAULT_B, seed: int = 0, alpha: float = 0.05) -> dict:
    """One-vs-rest TPR and FPR of the judge for each label in ``positive``.

    Returns ``{label: {"tpr": Estimate, "fpr": Estimate}}`` (cluster bootstrap).
    """
    j = np.asarray(judge_labels, dtype=object)
    h = np.asarray(human_labels, dtype=object)
    clusters = np.asarray(clusters).astype(str)
    cl = pd.Index(sorted(set(clusters)))
    W = cluster_weights(len(cl), B, seed)
    out = {}
    for lab in positive:
        jp = (j == lab).astype(float)
        hp = (h == lab).astype(float)
        pos_c = _sum_by(hp, clusters, cl)
        neg_c = _sum_by(1 - hp, clusters, cl)
        out[lab] = {
            "tpr": _ratio_estimate(_sum_by(jp * hp, clusters, cl), pos_c, W, int(hp.sum()),
                                   alpha, f"no human-labelled {lab!r} items"),
            "fpr": _ratio_estimate(_sum_by(jp * (1 - hp), clusters, cl), neg_c, W,
                                   int((1 - hp).sum()), alpha,
                                   f"no human-labelled non-{lab!r} items"),
        }
    return out


def _sum_by(values: np.ndarray, clusters: np.ndarray, cl: pd.Index) -> np.ndarray:
    out = np.zeros(len(cl))
    np.add.at(out, cl.get_indexer(clusters), values)
    return out


def rogan_gladen(judge_pos_all, clusters_all, judge_pos_lab, human_pos_lab, clusters_lab,
                 B: int = DEFAULT_B, seed: int = 0, alpha: float = 0.05) -> Estimate:
    """Rogan-Gladen prevalence from the judge's positive rate on all items and its
    sensitivity/specificity on the labelled ones, resampling clusters jointly.
    """
    ja = np.asarray(judge_pos_all, dtype=float)
    jl = np.asarray(judge_pos_lab, dtype=float)
    hl = np.asarray(human_pos_lab, dtype=float)
    ca = np.asarray(clusters_all).astype(str)
    clab = np.asarray(clusters_lab).astype(str)
    cl = pd.Index(sorted(set(ca) | set(clab)))
    sums = np.stack([_sum_by(ja, ca, cl), _sum_by(np.ones(len(ja)), ca, cl),
                     _sum_by(jl * hl, clab, cl), _sum_by(hl, clab, cl),
                     _sum_by((1 - jl) * (1 - hl), clab, cl), _sum_by(1 - hl, clab, cl)], 1)

    def rg(s):
        with np.errstate(invalid="ignore", divide="ignore"):
            p_obs, sens, spec = s[..., 0] / s[..., 1], s[..., 2] / s[..., 3], s[..., 4] / s[..., 5]
            j = sens + spec - 1
            return np.where(j > 0, (p_obs + spec - 1) / j, np.nan)

    n, nc = len(ja), len(set(ca))
    if hl.sum() == 0 or (1 - hl).sum() == 0:
        return nan_estimate(n, nc, "labelled items lack positives or negatives: no sens/spec")
    value = float(rg(sums.sum(0)))
    if math.isnan(value):
        return nan_estimate(n, nc, REASON_CHANCE)
    warning = REASON_CLIPPED if not 0 <= value <= 1 else None
    W = cluster_weights(len(cl), B, seed)
    reps = np.clip(rg(np.einsum("bc,ck->bk", W, sums)), 0, 1)
    lo, hi = percentile_ci(reps, alpha)
    if len(cl) < 2:
        lo, hi, warning = math.nan, math.nan, "fewer than 2 clusters"
    return Estimate(float(np.clip(value, 0, 1)), float(lo), float(hi), n, nc,
                    warning=warning)
