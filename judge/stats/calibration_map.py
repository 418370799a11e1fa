"""Isotonic calibration maps from judge score to expected human score, cross-fitted.

A map fitted on the same labels it is evaluated on overfits, and plugging such in-sample
predictions into PPI biases the rectifier. So the labelled items get out-of-fold
predictions: clusters are split into ``folds`` (seeded), each fold is predicted by the
map fitted on the other folds. Unlabelled items get the average of the fold maps.
Per-group maps are fitted where a group has at least ``min_labels`` labelled items;
other groups fall back to the global map, and the table says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MAP_COLUMNS = ["attribute", "group", "score", "calibrated", "n_labels", "fit"]

DEFAULT_FOLDS = 5
DEFAULT_MIN_LABELS = 30


def _fit(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None):
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(out_of_bounds="clip", increasing=True).fit(x, y, sample_weight=w)


def cluster_folds(clusters, folds: int, seed: int) -> np.ndarray:
    """Fold index per row, assigning whole clusters to folds (seeded)."""
    cl = pd.Index(sorted(set(np.asarray(clusters).astype(str))))
    k = min(folds, len(cl))
    perm = np.random.default_rng(seed).permutation(len(cl))
    fold_of = np.empty(len(cl), dtype=int)
    fold_of[perm] = np.arange(len(cl)) % k
    return fold_of[cl.get_indexer(np.asarray(clusters).astype(str))]


def isotonic_crossfit(x_lab, y_lab, clusters_lab, x_unl, *, w=None, folds: int = DEFAULT_FOLDS,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions for labelled items and fold-averaged ones for unlabelled."""
    x_lab, y_lab, x_unl = (np.asarray(a, dtype=float) for a in (x_lab, y_lab, x_unl))
    w = None if w is None else np.asarray(w, dtype=float)
    fold = cluster_folds(clusters_lab, folds, seed)
    k = fold.max() + 1 if len(fold) else 0
    oof = np.full(len(x_lab), np.nan)
    unl = np.zeros(len(x_unl))
    if k < 2:
        model = _fit(x_lab, y_lab, w)
        return model.predict(x_lab), model.predict(x_unl)
    for f in range(k):
        tr = fold != f
        model = _fit(x_lab[tr], y_lab[tr], None if w is None else w[tr])
        oof[~tr] = model.predict(x_lab[~tr])
        unl += model.predict(x_unl) / k
    return oof, unl


def calibrate_scores(x_lab, y_lab, groups_lab, clusters_lab, x_unl, groups_unl, *, w=None,
                     folds: int = DEFAULT_FOLDS, min_labels: int = DEFAULT_MIN_LABELS,
                     seed: int = 0, attribute: str = "all"
                     ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Cross-fitted calibrated scores, per group where labels suffice, else global.

    Returns ``(calibrated_lab, calibrated_unl, map_table)``; ``map_table`` follows
    :data:`MAP_COLUMNS` and gives the full-data map at each observed judge score.
    """
    x_lab, y_lab, x_unl = (np.asarray(a, dtype=float) for a in (x_lab, y_lab, x_unl))
    g_lab = np.asarray(groups_lab).astype(str)
    g_unl = np.asarray(groups_unl).astype(str)
    w = None if w is None else np.asarray(w, dtype=float)
    c_lab = np.asarray(clusters_lab).astype(str)
    cal_lab, cal_unl = isotonic_crossfit(x_lab, y_lab, c_lab, x_unl, w=w, folds=folds, seed=seed)
    grid = np.unique(np.concatenate([x_lab, x_unl]))
    rows = _map_rows("all", "all", grid, _fit(x_lab, y_lab, w), len(x_lab), "global")
    for g in sorted(set(g_lab) | set(g_unl)):
        ml, mu = g_lab == g, g_unl == g
        if ml.sum() >= min_labels:
            wg = None if w is None else w[ml]
            cal_lab[ml], cal_unl[mu] = isotonic_crossfit(x_lab[ml], y_lab[ml], c_lab[ml],
                                                         x_unl[mu], w=wg, folds=folds, seed=seed)
            rows += _map_rows(attribute, g, grid, _fit(x_lab[ml], y_lab[ml], wg),
                              int(ml.sum()), "group")
        else:
            rows += _map_rows(attribute, g, grid, _fit(x_lab, y_lab, w), int(ml.sum()),
                              f"global (fewer than {min_labels} labels in group)")
    return cal_lab, cal_unl, pd.DataFrame(rows, columns=MAP_COLUMNS)


def _map_rows(attribute: str, group: str, grid: np.ndarray, model, n: int, fit: str) -> list:
    pred = model.predict(grid)
    return [dict(attribute=attribute, group=group, score=float(s), calibrated=float(p),
                 n_labels=n, fit=fit) for s, p in zip(grid, pred, strict=True)]
