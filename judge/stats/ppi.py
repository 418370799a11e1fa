"""Prediction-powered inference (PPI++) for group means and group gaps, via ``ppi_py``.

Many items carry a judge score ``yhat``; a labelled subset also carries the human score
``y`` (mean over raters). PPI++ combines the judge's mean over all items with a
rectifier ``y - lam * yhat`` estimated on the labelled items, with ``lam`` tuned by
``ppi_py`` for power. Group means use ``ppi_mean_ci`` per group; group gaps use
``ppi_ols_ci`` on an intercept plus indicators of each non-reference group, so each
coefficient is a gap to the reference group. Inclusion weights of a stratified labelling
sample enter as ``w = 1 / inclusion_prob`` (``ppi_py`` normalises weights to mean 1).

``ppi_py`` compiles its OLS helper with numba on first use in every process (about 18 s
on a loaded 2-core machine, no on-disk cache), so :func:`ppi_gaps` runs ``ppi_ols_ci``
with that helper's pure-Python original (``py_func``): the same source, the same
numbers, a few milliseconds at our sizes.

``ppi_py`` intervals assume independent items. :func:`ppi_gaps_cluster_bootstrap`
resamples clusters instead, with ``lam`` held at the value ``ppi_py`` chose; the
calibration report gives both.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd

from judge.stats.bootstrap import DEFAULT_B, ClusterBootstrap

PPI_COLUMNS = ["attribute", "group", "reference", "quantity", "estimator", "value", "ci_low",
               "ci_high", "n_labelled", "n_unlabelled", "n_clusters", "lam", "warning"]
"""Fixed schema of the corrected-estimates table."""

MIN_LABELLED = 2


def _w(w, n: int) -> np.ndarray | None:
    return None if w is None else np.asarray(w, dtype=float).reshape(n)


def ppi_mean(y, yhat, yhat_unl, *, w=None, w_unl=None, alpha: float = 0.05
             ) -> tuple[float, float, float]:
    """PPI++ mean of ``y``: ``(point, ci_low, ci_high)`` from ``ppi_py.ppi_mean_ci``."""
    from ppi_py import ppi_mean_ci

    y, yhat, yhat_unl = (np.asarray(a, dtype=float) for a in (y, yhat, yhat_unl))
    lo, hi = ppi_mean_ci(y, yhat, yhat_unl, alpha=alpha, w=_w(w, len(y)),
                         w_unlabeled=_w(w_unl, len(yhat_unl)))
    lo, hi = float(np.ravel(lo)[0]), float(np.ravel(hi)[0])
    return (lo + hi) / 2, lo, hi


@contextmanager
def pure_python_ols() -> Iterator[None]:
    """Within the block, ``ppi_py.ppi_ols_*`` use the un-jitted ``_ols_get_stats``."""
    import ppi_py.ppi as mod

    orig = getattr(mod, "_ols_get_stats", None)
    if orig is not None and hasattr(orig, "py_func"):
        mod._ols_get_stats = orig.py_func
    try:
        yield
    finally:
        if orig is not None:
            mod._ols_get_stats = orig


def gap_design(groups, levels: list[str]) -> np.ndarray:
    """Intercept plus one indicator column per level in ``levels`` (the non-reference ones)."""
    groups = np.asarray(groups).astype(str)
    return np.column_stack([np.ones(len(groups))] + [(groups == g).astype(float) for g in levels])


def ppi_gaps(y, yhat, groups_lab, yhat_unl, groups_unl, reference: str, *, w=None, w_unl=None,
             alpha: float = 0.05) -> dict[str, tuple[float, float, float]]:
    """PPI++ gap of each group's mean ``y`` to the reference group's, from ``ppi_ols_ci``.

    Returns ``{group: (point, ci_low, ci_high)}``; the point is the centre of the
    (symmetric) ``ppi_py`` interval, which is its point estimate at the tuned ``lam``.
    """
    from ppi_py import ppi_ols_ci

    levels = sorted(set(np.asarray(groups_lab).astype(str)) - {reference})
    X = gap_design(groups_lab, levels)
    Xu = gap_design(groups_unl, levels)
    y, yhat, yhat_unl = (np.asarray(a, dtype=float) for a in (y, yhat, yhat_unl))
    with pure_python_ols():
        lo, hi = ppi_ols_ci(X, y, yhat, Xu, yhat_unl, alpha=alpha, w=_w(w, len(y)),
                            w_unlabeled=_w(w_unl, len(yhat_unl)))
    return {g: ((lo[k] + hi[k]) / 2, float(lo[k]), float(hi[k]))
            for k, g in enumerate(levels, start=1)}


def implied_lam(point: float, y, yhat, g_lab, yhat_unl, g_unl, level, reference,
                w=None, w_unl=None) -> float:
    """The ``lam`` at which the fixed-lam gap estimator equals ``point`` (it is linear in lam)."""
    X, g = _ppi_rows(y, yhat, g_lab, yhat_unl, g_unl, [reference, level], w, w_unl)
    s = np.zeros((2, 5))
    np.add.at(s, g[g >= 0], X[g >= 0])
    a = float(_gap_from_sums(s, 0.0))
    b = float(_gap_from_sums(s, 1.0)) - a
    return float(np.clip((point - a) / b, 0, 1)) if b != 0 else 0.0


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


def _means_from_sums(s: np.ndarray, lam: float) -> np.ndarray:
    """Group means ``lam * mean_unl(yhat) + mean_lab(y - lam * yhat)`` from cell sums."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return lam * s[..., 0] / s[..., 1] + (s[..., 2] - lam * s[..., 3]) / s[..., 4]


def _gap_from_sums(s: np.ndarray, lam: float) -> np.ndarray:
    m = _means_from_sums(s, lam)
    return m[..., 1] - m[..., 0]


def ppi_gap_cluster_bootstrap(y, yhat, g_lab, c_lab, yhat_unl, g_unl, c_unl, level: str,
                              reference: str, lam: float, *, w=None, w_unl=None,
                              B: int = DEFAULT_B, seed: int = 0, alpha: float = 0.05
                              ) -> tuple[float, float, float, int]:
    """Fixed-``lam`` PPI gap ``level - reference`` with a cluster-bootstrap percentile CI.

    Labelled and unlabelled items of a cluster are resampled together. Returns
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
