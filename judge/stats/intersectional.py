"""Intersectional cells: counts, cell means vs the rest, power, and corrected p-values.

Every combination of the given attributes (each attribute alone, each pair, ...) splits
the rows into cells such as ``race|gender = Black|female``. Small cells are where
intersectional harms hide and where estimates are least reliable, so each cell reports
its size, the minimum detectable effect (MDE) at the requested power, and a warning
below ``min_cell``; p-values of the cell-vs-rest differences are corrected across all
cells and attributes (Holm by default, Benjamini–Hochberg with ``correction="bh"``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from judge.stats._metric_table import (
    MIN_CELL,
    attribute_label,
    cell_warnings,
    ci_of,
    level_labels,
    metric_row,
    require,
    resolve_attributes,
    to_table,
    wald_p,
)
from judge.stats.bootstrap import DEFAULT_B, ClusterBootstrap
from judge.stats.multiple import adjust_table


def minimum_detectable_effect(n1: int, n2: int, sd: float, *, alpha: float = 0.05,
                              power: float = 0.8) -> float:
    """Smallest true difference of means a two-sided two-sample t-test detects with the
    given power, in outcome units (Cohen's d from statsmodels times ``sd``).

    >>> round(minimum_detectable_effect(64, 64, 1.0), 2)
    0.5
    """
    if n1 < 2 or n2 < 2 or not np.isfinite(sd) or sd <= 0:
        return math.nan
    from statsmodels.stats.power import TTestIndPower

    d = TTestIndPower().solve_power(effect_size=None, nobs1=n1, alpha=alpha, power=power,
                                    ratio=n2 / n1, alternative="two-sided")
    return float(np.asarray(d).item()) * sd


def _pooled_sd(x1: np.ndarray, x2: np.ndarray) -> float:
    n1, n2 = len(x1), len(x2)
    if n1 < 2 or n2 < 2:
        return math.nan
    v = ((n1 - 1) * np.var(x1, ddof=1) + (n2 - 1) * np.var(x2, ddof=1)) / (n1 + n2 - 2)
    return float(math.sqrt(v))


def intersectional_cells(frame: pd.DataFrame, attributes: Sequence[str] | None = None, *,
                         outcome: str = "score", max_order: int | None = None,
                         correction: str = "holm", cluster: str = "cf_group",
                         power: float = 0.8, B: int = DEFAULT_B, seed: int = 0,
                         alpha: float = 0.05, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Per cell of every attribute combination up to ``max_order`` (default: all).

    ``frame``: ``outcome`` (numeric or 1.0/0.0; NaN dropped), ``attr.*``, ``cluster``.
    Metrics per cell: ``cell_n`` (count), ``cell_mean`` (CI), ``cell_diff_vs_rest``
    (cell mean minus the mean of all other rows; CI and bootstrap-SE Wald p, ``p_adj``
    corrected across all cells and attributes), and ``cell_mde`` (minimum detectable
    difference vs the rest at ``power`` and ``alpha``, from the cell n and pooled SD;
    assumes independent rows, so it is optimistic under clustering).
    """
    require(frame, [outcome, cluster], "intersectional cells")
    names = [a[0] for a in resolve_attributes(frame, attributes) if len(a) == 1]
    y = pd.to_numeric(frame[outcome], errors="coerce").to_numpy(float)
    top = max_order or len(names)
    rows: list[dict] = []
    k = 0
    for order in range(1, top + 1):
        for combo in combinations(names, order):
            rows += _cells(frame, y, combo, cluster, power, B, seed + k, alpha, min_cell)
            k += 1
    return adjust_table(to_table(rows), correction, family=("metric",),
                        metrics=["cell_diff_vs_rest"])


def _cells(frame, y, combo, cluster, power, B, seed, alpha, min_cell) -> list[dict]:
    label = attribute_label(combo)
    lev = level_labels(frame, combo).to_numpy(object)
    keep = ~np.isnan(y) & pd.notna(lev)
    levels = sorted(set(lev[keep].tolist()))
    g = pd.Categorical(lev[keep], categories=levels).codes.astype(np.int64)
    boot = ClusterBootstrap(frame[cluster].to_numpy()[keep], B, seed, alpha)
    G = len(levels)
    tot, R = boot.sums(np.column_stack([y[keep], np.ones(int(keep.sum()))]), g, G)
    N = boot.cluster_sums(np.ones(len(g)), g, G)  # rows per (cluster, level)
    St, Nt, RS, RN = tot[:, 0], tot[:, 1], R[..., 0], R[..., 1]
    RSt, RNt = RS.sum(1, keepdims=True), RN.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean, reps = St / Nt, RS / RN
        rest = (St.sum() - St) / (Nt.sum() - Nt)
        rest_reps = (RSt - RS) / (RNt - RN)
    yk = y[keep]
    rows = []
    for i, lv in enumerate(levels):
        n, nc = int(Nt[i]), int((N[:, i] > 0).sum())
        n_rest, nc_rest = int(Nt.sum() - n), int(((N.sum(1) - N[:, i]) > 0).sum())
        w = cell_warnings(n, nc, min_cell)
        d_reps = reps[:, i] - rest_reps[:, i]
        diff = float(mean[i] - rest[i]) if n_rest else math.nan
        ok = min(nc, nc_rest) >= 2
        in_cell = g == i
        mde = minimum_detectable_effect(n, n_rest, _pooled_sd(yk[in_cell], yk[~in_cell]),
                                        alpha=alpha, power=power)
        common = dict(n=n, n_clusters=nc, warnings=w)
        rows += [
            metric_row("cell_n", label, lv, n, method="count", **common),
            metric_row("cell_mean", label, lv, mean[i], ci=ci_of(reps[:, i], alpha, nc >= 2),
                       method="cluster_bootstrap", **common),
            metric_row("cell_diff_vs_rest", label, lv, diff, reference="rest",
                       ci=ci_of(d_reps, alpha, ok), p_value=wald_p(diff, d_reps) if ok
                       else math.nan, method="cluster_bootstrap; p: bootstrap-SE Wald",
                       n=n, n_clusters=nc,
                       warnings=w + ([] if n_rest else ["no rows outside the cell"])),
            metric_row("cell_mde", label, lv, mde, reference="rest",
                       method=f"two-sample t power {power}, alpha {alpha}, pooled SD "
                              "(statsmodels TTestIndPower; ignores clustering)", **common),
        ]
    return rows
