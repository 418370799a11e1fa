"""Cluster bootstrap, vectorised.

Resampling is over clusters (templates or counterfactual groups), never rows, because
rows within a cluster are not independent. For statistics that are ratios of sums
(means, rates, differences of group means) the whole bootstrap is two matrix products:
per-cluster sums ``S[c, g]`` and counts ``N[c, g]``, multinomial cluster weights
``W[b, c]``, replicate means ``(W @ S) / (W @ N)``. Other statistics use
:func:`bootstrap_stat`, which loops over replicates of resampled cluster indices.

Every function takes a ``seed``; replicate ``b`` is reproducible from it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

DEFAULT_B = 1000


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a confidence interval and the counts behind it."""

    value: float
    ci_low: float
    ci_high: float
    n: int
    n_clusters: int
    method: str = "cluster_bootstrap"
    warning: str | None = None

    def as_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in asdict(self).items()}

    def covers(self, x: float) -> bool:
        return bool(self.ci_low <= x <= self.ci_high)


NAN_ESTIMATE_REASON_EMPTY = "no observations"
NAN_ESTIMATE_REASON_FEW = "fewer than 2 clusters: no interval"


def nan_estimate(n: int = 0, n_clusters: int = 0, reason: str = NAN_ESTIMATE_REASON_EMPTY,
                 method: str = "cluster_bootstrap") -> Estimate:
    """An undefined estimate: NaN with a reason, never 0."""
    return Estimate(math.nan, math.nan, math.nan, n, n_clusters, method, reason)


def cluster_weights(n_clusters: int, B: int = DEFAULT_B, seed: int = 0) -> np.ndarray:
    """``(B, n_clusters)`` multinomial resampling counts; each row sums to ``n_clusters``."""
    rng = np.random.default_rng(seed)
    if n_clusters == 0:
        return np.zeros((B, 0))
    return rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=B).astype(float)


def percentile_ci(reps: np.ndarray, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile interval of replicates along axis 0, ignoring NaN replicates."""
    reps = np.asarray(reps, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo = np.nanquantile(reps, alpha / 2, axis=0)
        hi = np.nanquantile(reps, 1 - alpha / 2, axis=0)
    return lo, hi


def _codes(x: Sequence) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(pd.Series(x), sort=True)
    return codes, np.asarray(uniques)


def grouped_sums(values: np.ndarray, groups: np.ndarray, clusters: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-cluster × group sums and counts of non-NaN values.

    Returns ``(S, N, group_labels, cluster_labels)`` with ``S, N`` of shape ``(C, G)``.
    """
    values = np.asarray(values, dtype=float)
    keep = ~np.isnan(values)
    g, glab = _codes(np.asarray(groups)[keep])
    c, clab = _codes(np.asarray(clusters)[keep])
    S = np.zeros((len(clab), len(glab)))
    N = np.zeros((len(clab), len(glab)))
    np.add.at(S, (c, g), values[keep])
    np.add.at(N, (c, g), 1.0)
    return S, N, glab, clab


def group_means_bootstrap(values, groups, clusters, B: int = DEFAULT_B, seed: int = 0
                          ) -> tuple[pd.Series, pd.DataFrame, pd.Series, pd.Series]:
    """Point means per group, ``(B, G)`` replicate means, and n / n_clusters per group."""
    S, N, glab, _ = grouped_sums(values, groups, clusters)
    W = cluster_weights(S.shape[0], B, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        point = S.sum(0) / N.sum(0)
        reps = (W @ S) / (W @ N)
    idx = pd.Index(glab, name="group")
    return (pd.Series(point, index=idx), pd.DataFrame(reps, columns=idx),
            pd.Series(N.sum(0).astype(int), index=idx),
            pd.Series((N > 0).sum(0).astype(int), index=idx))


def mean_ci(values, clusters, B: int = DEFAULT_B, seed: int = 0, alpha: float = 0.05,
            min_clusters: int = 2) -> Estimate:
    """Mean of ``values`` with a cluster-bootstrap percentile CI."""
    values = np.asarray(values, dtype=float)
    point, reps, n, nc = group_means_bootstrap(values, np.zeros(len(values)), clusters, B, seed)
    if len(point) == 0:
        return nan_estimate()
    n0, nc0 = int(n.iloc[0]), int(nc.iloc[0])
    if nc0 < min_clusters:
        return Estimate(float(point.iloc[0]), math.nan, math.nan, n0, nc0,
                        warning=NAN_ESTIMATE_REASON_FEW)
    lo, hi = percentile_ci(reps.iloc[:, 0].to_numpy(), alpha)
    return Estimate(float(point.iloc[0]), float(lo), float(hi), n0, nc0)


def group_diff_ci(values, groups, clusters, level: str, reference: str, B: int = DEFAULT_B,
                  seed: int = 0, alpha: float = 0.05, ratio: bool = False) -> Estimate:
    """Difference (or ratio) of the mean of ``level`` minus ``reference``, cluster bootstrap.

    Both groups are resampled together by cluster, so paired designs (counterfactual
    groups holding every level) keep their pairing.
    """
    point, reps, n, nc = group_means_bootstrap(values, groups, clusters, B, seed)
    if level not in point.index or reference not in point.index:
        return nan_estimate(reason=f"no observations for {level if level not in point.index else reference}")
    with np.errstate(invalid="ignore", divide="ignore"):
        if ratio:
            val = point[level] / point[reference]
            r = reps[level].to_numpy() / reps[reference].to_numpy()
        else:
            val = point[level] - point[reference]
            r = reps[level].to_numpy() - reps[reference].to_numpy()
    ntot = int(n[level] + n[reference])
    ncl = int(min(nc[level], nc[reference]))
    if ncl < 2:
        return Estimate(float(val), math.nan, math.nan, ntot, ncl, warning=NAN_ESTIMATE_REASON_FEW)
    lo, hi = percentile_ci(r, alpha)
    return Estimate(float(val), float(lo), float(hi), ntot, ncl)


def bootstrap_stat(df: pd.DataFrame, stat: Callable[[pd.DataFrame], float], cluster_col: str,
                   B: int = DEFAULT_B, seed: int = 0, alpha: float = 0.05,
                   min_clusters: int = 2) -> Estimate:
    """Any statistic of a DataFrame, with a cluster-bootstrap percentile CI (loops over B)."""
    if len(df) == 0:
        return nan_estimate()
    value = float(stat(df))
    codes, labels = _codes(df[cluster_col].to_numpy())
    C = len(labels)
    if C < min_clusters:
        return Estimate(value, math.nan, math.nan, len(df), C, warning=NAN_ESTIMATE_REASON_FEW)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(C + 1))
    rows_of = [order[bounds[i]:bounds[i + 1]] for i in range(C)]
    rng = np.random.default_rng(seed)
    reps = np.empty(B)
    for b in range(B):
        pick = rng.integers(0, C, C)
        idx = np.concatenate([rows_of[i] for i in pick])
        try:
            reps[b] = stat(df.iloc[idx])
        except (ValueError, ZeroDivisionError, FloatingPointError):
            reps[b] = np.nan
    lo, hi = percentile_ci(reps, alpha)
    return Estimate(value, float(lo), float(hi), len(df), C)


def _weight_chunks(C: int, B: int, seed: int, chunk: int | None):
    """Yield ``(start, stop, W)`` blocks of multinomial cluster weights (rows sum to C).

    Counts of ``C`` uniform cluster picks per replicate (``bincount``, much faster than
    ``rng.multinomial`` for many clusters); chunks hold about 2M cells unless ``chunk``.
    """
    rng = np.random.default_rng(seed)
    step = chunk or max(1, min(B, 2_000_000 // max(C, 1)))
    for start in range(0, B, step):
        stop = min(B, start + step)
        k = stop - start
        picks = rng.integers(0, C, size=(k, C), dtype=np.int32) + \
            (np.arange(k, dtype=np.int64) * C)[:, None]
        yield start, stop, np.bincount(picks.ravel(), minlength=k * C).reshape(k, C).astype(float)


def resampled_sums(M, B: int = DEFAULT_B, seed: int = 0, chunk: int | None = None
                   ) -> np.ndarray:
    """``W @ M`` for ``B`` multinomial cluster-weight rows, built in chunks to cap memory.

    ``M`` (dense or scipy.sparse) has one row per cluster and any number of columns
    (sums, counts, several outcomes side by side); one draw of weights is shared by every
    column, so statistics combining columns stay paired replicate by replicate.
    Returns ``(B, M.shape[1])``.
    """
    from scipy import sparse

    C, K = M.shape
    out = np.zeros((B, K))
    if C == 0:
        return out
    if not sparse.issparse(M):
        M = np.asarray(M, dtype=float)
    for start, stop, W in _weight_chunks(C, B, seed, chunk):
        out[start:stop] = (M.T @ W.T).T if sparse.issparse(M) else W @ M
    return out


def quantile_bootstrap(x, clusters, qs: Sequence[float], B: int = DEFAULT_B, seed: int = 0,
                       chunk: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles of ``x`` (inverted-CDF definition) and their ``(B, len(qs))`` cluster-
    bootstrap replicates, vectorised as weighted quantiles of the sorted values.

    NaN values are dropped. A replicate's row weight is its cluster's multinomial count.
    """
    x = np.asarray(x, dtype=float)
    keep = ~np.isnan(x)
    x, cl = x[keep], np.asarray(clusters)[keep]
    qs = np.asarray(qs, dtype=float)
    if len(x) == 0:
        return np.full(len(qs), np.nan), np.full((B, len(qs)), np.nan)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    c, _ = pd.factorize(pd.Series(cl[order]), sort=True)
    C = int(c.max()) + 1
    point = np.quantile(x, qs, method="inverted_cdf")
    reps = np.empty((B, len(qs)))
    step = chunk or max(1, min(B, 2_000_000 // len(x)))
    for start, stop, W in _weight_chunks(C, B, seed, step):
        cw = np.cumsum(W[:, c], axis=1)
        total = cw[:, -1:]
        for j, q in enumerate(qs):
            # first sorted index whose (integer) cumulative weight reaches q * total;
            # at least 1, so q = 0 gives the smallest value with positive weight
            target = np.maximum(q * total * (1 - 1e-12), 0.5)
            idx = (cw < target).sum(1)
            reps[start:stop, j] = xs[np.minimum(idx, len(xs) - 1)]
    return point, reps
