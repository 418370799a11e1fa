"""Prediction-powered inference (PPI++) for group means and gaps, when the humans labelled a
sample *of* the judged items.

Many items carry a judge score ``yhat``; a labelled subset also carries the human score
``y`` (mean over raters). PPI++ combines the judge's mean over all items with a rectifier
``y - lam * yhat`` estimated on the labelled items, ``lam`` tuned for power. Inclusion
weights of a stratified labelling sample enter as ``w = 1 / inclusion_prob``.

``ppi_py`` (the reference implementation, used by the tests) assumes the unlabelled items
are *other* items than the labelled ones. In a run they are not: the labelled items are a
sample of the judged items, and the judge's mean runs over all of them. Passing all items
to ``ppi_py`` as "unlabelled" counts the labelled ones twice, and its interval is too
narrow by up to ``rho**2 / 2`` of the variance (``rho``: judge-human correlation). In the
pipeline's 10+-cluster cells those intervals covered 0.88 instead of 0.95 (bench_findings).
:func:`sampled_ppi_mean` and :func:`sampled_ppi_gap` are the estimator for this design: the
same PPI++ point as ``ppi_py`` at a given ``lam`` (``lam * mean_all(yhat) +
hajek_mean_lab(y - lam * yhat)``), with the variance of a survey difference estimator
(Sarndal, Swensson & Wretman 1992, ch. 6) plus that of the items' own mean, ``lam`` chosen
to minimise it, and a t quantile.

Given the items' clusters, the items' own term is cluster-robust (the larger of the
item-level and a CR1 variance). :func:`ppi_gap_cluster_bootstrap` resamples clusters
instead, with both groups' ``lam`` held fixed; the calibration report gives both.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from judge.stats.bootstrap import DEFAULT_B, ClusterBootstrap

PPI_COLUMNS = ["attribute", "group", "reference", "quantity", "estimator", "value", "ci_low",
               "ci_high", "n_labelled", "n_unlabelled", "n_clusters", "lam", "warning"]
"""Fixed schema of the corrected-estimates table."""

MIN_LABELLED = 2


def _ppi_rows(y, yhat, g_lab, yhat_unl, g_unl, glevels, w, w_unl
              ) -> tuple[np.ndarray, np.ndarray]:
    """One row per unlabelled then labelled item with its weighted contributions to the
    five sums (unl yhat, unl weight, lab y, lab yhat, lab weight), and its group's index
    in ``glevels`` (-1: neither)."""
    y, yhat, yhat_unl = (np.asarray(a, dtype=float) for a in (y, yhat, yhat_unl))
    w = np.ones(len(y)) if w is None else np.asarray(w, float)
    wu = np.ones(len(yhat_unl)) if w_unl is None else np.asarray(w_unl, float)
    nu = len(yhat_unl)
    X = np.zeros((nu + len(y), 5))
    X[:nu, 0], X[:nu, 1] = wu * yhat_unl, wu
    X[nu:, 2], X[nu:, 3], X[nu:, 4] = w * y, w * yhat, w
    gl = pd.Index(glevels)
    g = np.r_[gl.get_indexer(np.asarray(g_unl).astype(str)),
              gl.get_indexer(np.asarray(g_lab).astype(str))]
    return X, g


def _means_from_sums(s: np.ndarray, lam) -> np.ndarray:
    """Group means ``lam * mean_unl(yhat) + mean_lab(y - lam * yhat)`` from cell sums
    (``lam``: one value, or one per group)."""
    lam = np.asarray(lam, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return lam * s[..., 0] / s[..., 1] + (s[..., 2] - lam * s[..., 3]) / s[..., 4]


def _gap_from_sums(s: np.ndarray, lam) -> np.ndarray:
    m = _means_from_sums(s, lam)
    return m[..., 1] - m[..., 0]


def ppi_gap_cluster_bootstrap(y, yhat, g_lab, c_lab, yhat_unl, g_unl, c_unl, level: str,
                              reference: str, lam: float | tuple[float, float], *, w=None,
                              w_unl=None,
                              B: int = DEFAULT_B, seed: int = 0, alpha: float = 0.05
                              ) -> tuple[float, float, float, int]:
    """Fixed-``lam`` PPI gap ``level - reference`` with a cluster-bootstrap percentile CI.

    ``lam``: one value, or ``(reference's, level's)``. Labelled and unlabelled items of a
    cluster are resampled together (the labelled items may be among the unlabelled ones, as
    in a run: each copy is resampled with its cluster). Returns
    ``(point, ci_low, ci_high, n_clusters)``.
    """
    X, g = _ppi_rows(y, yhat, g_lab, yhat_unl, g_unl, [reference, level], w, w_unl)
    clusters = np.r_[np.asarray(c_unl).astype(str), np.asarray(c_lab).astype(str)]
    boot = ClusterBootstrap(clusters, B, seed, alpha)
    total, reps = boot.sums(X, g, 2)  # (2, 5) and (B, 2, 5)
    point = float(_gap_from_sums(total, lam))
    C = boot.n_clusters
    if C < 2:
        return point, math.nan, math.nan, C
    lo, hi = boot.interval(_gap_from_sums(reps, lam))
    return point, float(lo), float(hi), C


class SampledEstimate(NamedTuple):
    """A PPI++ estimate when the labelled items are a sample of the judged items."""

    value: float
    ci_low: float
    ci_high: float
    se: float
    df: float  # degrees of freedom of the t quantile
    lam: float
    n_labelled: int
    n_items: int


def sampled_ppi_mean(y, yhat, yhat_all, *, w=None, clusters=None, alpha: float = 0.05,
                     lam: float | None = None) -> SampledEstimate:
    """PPI++ mean of ``y`` over a set of judged items, a sample of which humans labelled.

    ``y``, ``yhat``: human and judge scores of the labelled items; ``yhat_all``: the judge's
    scores of *all* the items, the labelled ones included; ``w``: the labelled items'
    ``1 / inclusion_prob`` (``None``: a simple random sample of the items). Estimand: the
    expected human score over these items (responses and raters as draws).

    With ``N`` items, weights rescaled to sum to ``N`` (inclusion ``pi = 1 / w``),
    ``r = y - lam * yhat`` and ``c = (1 - pi) * w**2``: the point is
    ``lam * mean(yhat_all) + sum(w * r) / N``; its variance is the sampling variance of the
    rectifier, ``sum(c * (r - rbar)**2) / N**2`` (zero when every item is labelled), plus
    ``var_w(y) / N`` for the items' own mean, both with the ``n / (n - 1)`` correction.
    ``lam`` (default) in [0, 1] minimises the first term (weighted least squares of ``y`` on
    ``yhat`` with weights ``c``); ``lam=0`` is the weighted human mean. The interval uses a t
    quantile with Satterthwaite degrees of freedom (each set of labelled items sharing an
    inclusion probability, a stratum, has ``n_h - 1``), at most ``n - 1``.

    ``clusters`` (the labelled items' cluster ids: template or counterfactual group) allows
    labels that are correlated within a cluster (one rater sees a counterfactual group
    side by side; a template makes every answer to it easier). The items' term is then the
    larger of the item-level one and a cluster-robust (CR1) one with ``G - 1`` degrees of
    freedom, ``G / (G - 1) * (sum_c That_c**2 - sum c_i * dy_i**2) / N**2``, where
    ``That_c = sum_{i in c} w_i * dy_i`` is the sample's estimate of a cluster's total
    deviation and the subtracted sum is its own sampling part (so ``That_c**2`` estimates
    ``T_c**2`` without counting the labelling sample's variance twice). Taking the larger of
    the two is the conservative rule of Angrist & Pischke (2009, ch. 8): with few clusters the
    robust variance is itself noisy. With one item per cluster the two are equal.
    """
    from scipy.stats import t as t_dist

    y, yhat, yhat_all = (np.asarray(a, dtype=float).ravel() for a in (y, yhat, yhat_all))
    n, N = len(y), len(yhat_all)
    if n < MIN_LABELLED or N < n:
        raise ValueError(f"need at least {MIN_LABELLED} labelled items, a subset of the "
                         f"{N} judged items (got {n})")
    w = np.full(n, N / n) if w is None else np.asarray(w, dtype=float).ravel()
    if len(w) != n or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError("weights must be positive and finite, one per labelled item")
    w = w * (N / w.sum())  # Hajek: the weights count the N items
    c = (1.0 - np.minimum(1.0 / w, 1.0)) * w * w
    dy = y - np.average(y, weights=w)
    dx = yhat - np.average(yhat, weights=w)
    sxx = float((c * dx * dx).sum())
    if lam is None:
        lam = float(np.clip((c * dx * dy).sum() / sxx, 0.0, 1.0)) if sxx > 0 else 0.0
    r = y - lam * yhat
    rbar = float((w * r).sum() / N)
    point = lam * float(yhat_all.mean()) + rbar
    ddof = n / (n - 1)
    u = c * (r - rbar) ** 2 / N**2 * ddof  # each labelled item's share of the design variance
    v_items, df_items = float((w * dy * dy).sum()) / N / N * ddof, n - 1.0
    if clusters is not None:
        cl = np.asarray(clusters).ravel()
        if len(cl) != n:
            raise ValueError("clusters must give one cluster id per labelled item")
        totals = pd.Series(w * dy).groupby(pd.factorize(cl)[0]).sum().to_numpy()
        g = len(totals)
        # sum_c T_c**2 over all N items, estimated from the sample: the squared weighted
        # totals less their own sampling part (Poisson sampling: sum (1 - pi) w**2 dy**2)
        t2 = float((totals**2).sum()) - float((c * dy * dy).sum())
        v_cl = t2 / N / N * g / (g - 1) if g > 1 else 0.0
        if v_cl > v_items:  # one cluster: no robust variance to compare with
            v_items, df_items = v_cl, max(g - 1.0, 1.0)
    # Satterthwaite degrees of freedom: the design variance of each set of items with one
    # inclusion probability (a stratum of the sample) has n_h - 1, the items' own n - 1 (at
    # most n - 1 in all: both are estimated from the same items)
    _, stratum = np.unique(np.round(w, 9), return_inverse=True)
    v_h, n_h = np.bincount(stratum, weights=u), np.bincount(stratum)
    var = float(v_h.sum()) + v_items
    denom = float((v_h**2 / np.maximum(n_h - 1, 1)).sum()) + v_items**2 / df_items
    df = min(var**2 / denom, n - 1.0) if denom > 0 else df_items
    se = math.sqrt(var)
    q = float(t_dist.ppf(1 - alpha / 2, df))
    return SampledEstimate(point, point - q * se, point + q * se, se, float(df), lam, n, N)


def sampled_ppi_gap(level: SampledEstimate, reference: SampledEstimate, *, alpha: float = 0.05
                    ) -> SampledEstimate:
    """``level - reference`` of two :func:`sampled_ppi_mean` estimates on disjoint item
    sets: variances add; Welch-Satterthwaite degrees of freedom. ``lam`` is the level's."""
    from scipy.stats import t as t_dist

    va, vb = level.se**2, reference.se**2
    se = math.sqrt(va + vb)
    df = ((va + vb) ** 2 / (va**2 / level.df + vb**2 / reference.df)
          if va + vb > 0 else level.df + reference.df)
    point = level.value - reference.value
    q = float(t_dist.ppf(1 - alpha / 2, df))
    return SampledEstimate(point, point - q * se, point + q * se, se, float(df), level.lam,
                           level.n_labelled + reference.n_labelled,
                           level.n_items + reference.n_items)
