"""The one cluster bootstrap behind every interval in judge.stats, judge.calibration and
judge.report.compare.

Rows within a cluster (a counterfactual group, a template, a labelled item's cluster) are
not independent, so intervals resample clusters, never rows. :class:`ClusterBootstrap`
owns everything a resampling needs: the row -> cluster codes, ``B``, the ``seed``,
``alpha`` and the replicate weights ``W[b, c]``, the number of times cluster ``c`` is
drawn in replicate ``b`` (``C`` uniform draws with replacement, so each row of ``W`` sums
to ``C``). The weights come from one random stream, ``numpy.random.default_rng(seed)``,
replicate after replicate; they are generated in chunks to cap memory and the chunk size
does not change them. Every call on one object uses the same weights, so whatever is
computed from one object stays paired replicate by replicate (the levels of an
attribute, several outcomes, two runs that share clusters).

Statistics that are ratios of sums (means, rates, their differences and ratios) are
matrix products: per-cluster sums ``M[c, k]`` of row values, replicate sums ``W @ M``
(:meth:`ClusterBootstrap.sums`, :meth:`ClusterBootstrap.group_means`). Quantiles are
weighted quantiles under the same weights (:meth:`ClusterBootstrap.quantiles`); any
other statistic is evaluated on resampled row indices (:meth:`ClusterBootstrap.statistic`).

The functions below the class (:func:`mean_ci`, :func:`group_diff_ci`,
:func:`bootstrap_stat`, :func:`resampled_sums`) are thin wrappers kept for callers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

DEFAULT_B = 1000
CHUNK_CELLS = 2_000_000
"""Weight cells (replicates x clusters) generated at once; larger draws come in chunks."""


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


def percentile_ci(reps: np.ndarray, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile interval of replicates along axis 0, ignoring NaN replicates."""
    reps = np.asarray(reps, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo = np.nanquantile(reps, alpha / 2, axis=0)
        hi = np.nanquantile(reps, 1 - alpha / 2, axis=0)
    return lo, hi


def cluster_codes(clusters) -> tuple[np.ndarray, np.ndarray]:
    """Codes ``0..C-1`` of each row's cluster and the sorted cluster labels.

    A missing label is a cluster of its own; labels of mixed types are compared as text.

    >>> cluster_codes(["b", "a", "b"])[0].tolist()
    [1, 0, 1]
    """
    s = pd.Series(np.asarray(clusters, dtype=object) if not isinstance(clusters, pd.Series)
                  else clusters.to_numpy(dtype=object))
    try:
        codes, labels = pd.factorize(s, sort=True, use_na_sentinel=False)
    except TypeError:
        codes, labels = pd.factorize(s.astype(str), sort=True)
    return np.asarray(codes, dtype=np.int64), np.asarray(labels, dtype=object)


@dataclass(frozen=True)
class GroupMeans:
    """Point means per level, ``(B, G)`` replicate means, and counts per level."""

    levels: list[str]
    point: np.ndarray
    reps: np.ndarray
    n: np.ndarray
    n_clusters: np.ndarray

    def idx(self, level: str) -> int:
        return self.levels.index(level)


def _level_codes(groups, n: int, levels: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    """Level code per row (-1: missing or not in ``levels``) and the level order (text)."""
    if groups is None:
        return np.zeros(n, dtype=np.int64), ["*"]
    lev = pd.Series(np.asarray(groups, dtype=object))
    has = lev.notna().to_numpy()
    text = np.where(has, lev.astype(str).to_numpy(dtype=object), None)
    order = (list(levels) if levels is not None
             else sorted({str(x) for x in text[has]}))
    codes = pd.Categorical(text, categories=order).codes.astype(np.int64)
    return codes, order


class ClusterBootstrap:
    """A cluster bootstrap over rows labelled by ``clusters``.

    ``B`` replicates, reproducible from ``seed``; ``alpha`` is the interval's error rate
    (0.05: 95% percentile intervals). Row-level inputs of every method are aligned with
    ``clusters``. ``chunk`` fixes the replicates generated at once (default: about
    :data:`CHUNK_CELLS` weight cells); it does not change the result.
    """

    def __init__(self, clusters, B: int = DEFAULT_B, seed: int = 0, alpha: float = 0.05, *,
                 chunk: int | None = None) -> None:
        if int(B) < 1:
            raise ValueError(f"B must be a positive number of replicates, not {B!r}")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), not {alpha!r}")
        self.codes, self.labels = cluster_codes(clusters)
        self.B, self.seed, self.alpha, self.chunk = int(B), seed, float(alpha), chunk
        # The resampling unit of each row is its cluster. (Making this np.arange(n) turns
        # the whole package into a row bootstrap; tests/stats/test_bootstrap_resampling.py
        # fails then.)
        self._units = self.codes
        self._n_units = len(self.labels)
        self._W: np.ndarray | None = None

    def __repr__(self) -> str:
        return (f"ClusterBootstrap(n={self.n}, n_clusters={self.n_clusters}, B={self.B}, "
                f"seed={self.seed!r}, alpha={self.alpha})")

    @property
    def n(self) -> int:
        """Number of rows."""
        return len(self.codes)

    @property
    def n_clusters(self) -> int:
        """Number of distinct clusters."""
        return len(self.labels)

    # ------------------------------------------------------------ weights

    def _chunks(self, cells_per_replicate: int = 0):
        """Yield ``(start, stop, W)`` blocks of replicate weights, ``W`` of shape
        ``(stop - start, n_units)``. Small draws are made once and kept."""
        U, B = self._n_units, self.B
        if U == 0:
            yield 0, B, np.zeros((B, 0))
            return
        step = self.chunk or max(1, min(B, CHUNK_CELLS // max(U, cells_per_replicate, 1)))
        if self._W is None and B * U <= CHUNK_CELLS:
            self._W = self._draw(np.random.default_rng(self.seed), B)
        if self._W is not None:
            for start in range(0, B, step):
                yield start, min(B, start + step), self._W[start:start + step]
            return
        rng = np.random.default_rng(self.seed)
        for start in range(0, B, step):
            stop = min(B, start + step)
            yield start, stop, self._draw(rng, stop - start)

    def _draw(self, rng: np.random.Generator, k: int) -> np.ndarray:
        """The next ``k`` replicates: counts of ``U`` uniform unit draws each (``bincount``,
        much faster than ``rng.multinomial`` for many clusters)."""
        U = self._n_units
        picks = rng.integers(0, U, size=(k, U), dtype=np.int32) + \
            (np.arange(k, dtype=np.int64) * U)[:, None]
        return np.bincount(picks.ravel(), minlength=k * U).reshape(k, U).astype(float)

    def weights(self) -> np.ndarray:
        """The full ``(B, n_clusters)`` weight matrix (columns in :attr:`labels` order).
        Needs ``B x n_clusters`` floats of memory; the other methods work in chunks."""
        return np.vstack([W for _, _, W in self._chunks()])

    # ------------------------------------------------------------ sums

    def _aggregate(self, index: np.ndarray, size: int, X, groups, n_groups):
        """Sums of row values ``X`` by ``index`` (and group): ``(size, [G,] *X.shape[1:])``;
        rows with a negative group code are left out. ``X`` may be scipy.sparse (no groups)."""
        from scipy import sparse

        if sparse.issparse(X):
            if groups is not None:
                raise ValueError("grouped sums need a dense X")
            A = sparse.csr_matrix((np.ones(len(index)), (index, np.arange(len(index)))),
                                  shape=(size, len(index)))
            return (A @ sparse.csr_matrix(X)).tocsr()
        X = np.asarray(X, dtype=float)
        if X.shape[0] != len(index):
            raise ValueError(f"X has {X.shape[0]} rows; the bootstrap has {len(index)}")
        tail = X.shape[1:]
        flat = X.reshape(len(index), int(np.prod(tail)))
        if groups is None:
            key, keep, cells = index, slice(None), size
        else:
            g = np.asarray(groups, dtype=np.int64)
            G = int(n_groups if n_groups is not None else (g.max() + 1 if len(g) else 0))
            keep = g >= 0
            key, cells = index[keep] * G + g[keep], size * G
            tail = (G, *tail)
        out = np.empty((cells, flat.shape[1]))
        for k in range(flat.shape[1]):
            out[:, k] = np.bincount(key, weights=flat[keep, k], minlength=cells)
        return out.reshape(size, *tail)

    def cluster_sums(self, X, groups=None, n_groups: int | None = None) -> np.ndarray:
        """Per-cluster (and per-group) sums of row values, for counting clusters; the
        resampling itself goes through :meth:`sums`."""
        return self._aggregate(self.codes, self.n_clusters, X, groups, n_groups)

    def sums(self, X, groups=None, n_groups: int | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
        """Totals and ``B`` replicate totals of row values ``X``.

        ``X``: ``(n,)``, ``(n, *shape)`` or scipy.sparse ``(n, K)``; with ``groups``
        (integer codes, -1 = left out) the sums are per group. Returns ``(total, reps)``
        of shapes ``([G,] *shape)`` and ``(B, [G,] *shape)``.
        """
        from scipy import sparse

        M = self._aggregate(self._units, self._n_units, X, groups, n_groups)
        total = np.asarray(M.sum(0)).reshape(M.shape[1:]) if sparse.issparse(M) else M.sum(0)
        return total, self._resample(M)

    def _resample(self, M) -> np.ndarray:
        """``W @ M`` over the first axis of per-unit sums ``M`` (dense or sparse)."""
        from scipy import sparse

        shape = M.shape[1:]
        if not sparse.issparse(M):
            M = np.asarray(M, dtype=float).reshape(M.shape[0], int(np.prod(shape)))
        K = M.shape[1]
        out = np.zeros((self.B, K))
        if M.shape[0] == 0:
            return out.reshape(self.B, *shape)
        for start, stop, W in self._chunks(K):
            out[start:stop] = (M.T @ W.T).T if sparse.issparse(M) else W @ M
        return out.reshape(self.B, *shape)

    def group_means(self, values: Sequence, groups=None, levels: Sequence[str] | None = None,
                    weights=None) -> list[GroupMeans]:
        """Means of each vector in ``values`` per level of ``groups``, NaN values left out,
        with ``(B, G)`` replicates from one draw shared by every vector and level.

        ``groups``: a label per row (missing: left out; None: one level ``"*"``);
        ``levels``: the level order (default: sorted labels, as text). ``weights``: row
        weights, the mean is ``sum(w * v) / sum(w)``. ``n`` and ``n_clusters`` count rows
        and clusters with a value in each level.
        """
        g, order = _level_codes(groups, self.n, levels)
        G, V = len(order), len(values)
        w = None if weights is None else np.asarray(weights, dtype=float)
        cols = 2 if w is None else 3
        X = np.zeros((self.n, V, cols))
        for k, v in enumerate(values):
            v = np.asarray(v, dtype=float)
            ok = ~np.isnan(v) & (g >= 0)
            wk = np.ones(self.n) if w is None else w
            X[ok, k, 0] = (wk * v)[ok]
            X[ok, k, 1] = wk[ok]
            if w is not None:
                X[ok, k, 2] = 1.0
        total, reps = self.sums(X, g, G)
        counts = self.cluster_sums(X[..., -1], g, G)  # (C, G, V) rows with a value
        out = []
        for k in range(V):
            with np.errstate(invalid="ignore", divide="ignore"):
                point = total[:, k, 0] / total[:, k, 1]
                rk = reps[:, :, k, 0] / reps[:, :, k, 1]
            out.append(GroupMeans(list(order), point, rk, total[:, k, -1].astype(int),
                                  (counts[:, :, k] > 0).sum(0).astype(int)))
        return out

    # ------------------------------------------------------------ other statistics

    def quantiles(self, x, qs: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """Quantiles of ``x`` (inverted-CDF definition; NaN left out) and their
        ``(B, len(qs))`` replicates: weighted quantiles, a row weighing its cluster's
        draw count (NaN where a replicate drew no value)."""
        x = np.asarray(x, dtype=float)
        qs = np.asarray(qs, dtype=float)
        keep = ~np.isnan(x)
        if not keep.any():
            return np.full(len(qs), np.nan), np.full((self.B, len(qs)), np.nan)
        order = np.argsort(x[keep], kind="stable")
        xs, units = x[keep][order], self._units[keep][order]
        point = np.quantile(xs, qs, method="inverted_cdf")
        reps = np.empty((self.B, len(qs)))
        for start, stop, W in self._chunks(len(xs)):
            cw = np.cumsum(W[:, units], axis=1)
            total = cw[:, -1:]
            for j, q in enumerate(qs):
                # first sorted index whose (integer) cumulative weight reaches q * total;
                # at least 1, so q = 0 gives the smallest value with positive weight
                target = np.maximum(q * total * (1 - 1e-12), 0.5)
                idx = (cw < target).sum(1)
                reps[start:stop, j] = np.where(total[:, 0] > 0,
                                               xs[np.minimum(idx, len(xs) - 1)], np.nan)
        return point, reps

    def statistic(self, fn: Callable[[np.ndarray], float]) -> np.ndarray:
        """``(B,)`` replicates of ``fn(idx)``, ``idx`` the row positions of a resample:
        every row of a cluster, once per draw of the cluster. A replicate where ``fn``
        raises ValueError, ZeroDivisionError or FloatingPointError is NaN."""
        order = np.argsort(self._units, kind="stable")
        su = self._units[order]
        reps = np.empty(self.B)
        for start, _, W in self._chunks():
            for i, w in enumerate(W):
                idx = np.repeat(order, w[su].astype(np.int64))
                try:
                    reps[start + i] = fn(idx)
                except (ValueError, ZeroDivisionError, FloatingPointError):
                    reps[start + i] = np.nan
        return reps

    # ------------------------------------------------------------ intervals

    def interval(self, reps) -> tuple:
        """Percentile interval of replicates (along axis 0) at this bootstrap's ``alpha``."""
        return percentile_ci(reps, self.alpha)

    def estimate(self, value: float, reps, n: int, n_clusters: int, *,
                 min_clusters: int = 2, warning: str | None = None) -> Estimate:
        """An :class:`Estimate` with the percentile interval of ``reps``; no interval
        (NaN, with a reason) below ``min_clusters`` clusters."""
        if n_clusters < min_clusters:
            return Estimate(float(value), math.nan, math.nan, int(n), int(n_clusters),
                            warning=warning or NAN_ESTIMATE_REASON_FEW)
        lo, hi = self.interval(reps)
        return Estimate(float(value), float(lo), float(hi), int(n), int(n_clusters),
                        warning=warning)


# ---------------------------------------------------------------- thin wrappers

def mean_ci(values, clusters, B: int = DEFAULT_B, seed: int = 0, alpha: float = 0.05,
            min_clusters: int = 2) -> Estimate:
    """Mean of ``values`` (NaN left out) with a cluster-bootstrap percentile CI."""
    boot = ClusterBootstrap(clusters, B, seed, alpha)
    gm = boot.group_means([values])[0]
    n, nc = int(gm.n[0]), int(gm.n_clusters[0])
    if n == 0:
        return nan_estimate()
    return boot.estimate(gm.point[0], gm.reps[:, 0], n, nc, min_clusters=min_clusters)


def group_diff_ci(values, groups, clusters, level: str, reference: str, B: int = DEFAULT_B,
                  seed: int = 0, alpha: float = 0.05, ratio: bool = False) -> Estimate:
    """Difference (or ratio) of the mean of ``level`` minus ``reference``, cluster bootstrap.

    Both groups are resampled together by cluster, so paired designs (counterfactual
    groups holding every level) keep their pairing.
    """
    boot = ClusterBootstrap(clusters, B, seed, alpha)
    gm = boot.group_means([values], groups)[0]
    present = [lv for lv in (level, reference) if lv in gm.levels and gm.n[gm.idx(lv)] > 0]
    if len(present) < 2:
        missing = level if level not in present else reference
        return nan_estimate(reason=f"no observations for {missing}")
    i, r = gm.idx(level), gm.idx(reference)
    with np.errstate(invalid="ignore", divide="ignore"):
        if ratio:
            val, reps = gm.point[i] / gm.point[r], gm.reps[:, i] / gm.reps[:, r]
        else:
            val, reps = gm.point[i] - gm.point[r], gm.reps[:, i] - gm.reps[:, r]
    return boot.estimate(val, reps, int(gm.n[i] + gm.n[r]),
                         int(min(gm.n_clusters[i], gm.n_clusters[r])))


def bootstrap_stat(df: pd.DataFrame, stat: Callable[[pd.DataFrame], float], cluster_col: str,
                   B: int = DEFAULT_B, seed: int = 0, alpha: float = 0.05,
                   min_clusters: int = 2) -> Estimate:
    """Any statistic of a DataFrame, with a cluster-bootstrap percentile CI (loops over B)."""
    if len(df) == 0:
        return nan_estimate()
    boot = ClusterBootstrap(df[cluster_col].to_numpy(), B, seed, alpha)
    value = float(stat(df))
    if boot.n_clusters < min_clusters:
        return boot.estimate(value, None, len(df), boot.n_clusters, min_clusters=min_clusters)
    reps = boot.statistic(lambda idx: stat(df.iloc[idx]))
    return boot.estimate(value, reps, len(df), boot.n_clusters, min_clusters=min_clusters)


def resampled_sums(M, B: int = DEFAULT_B, seed: int = 0, chunk: int | None = None
                   ) -> np.ndarray:
    """``W @ M`` for per-cluster sums ``M`` (one row per cluster, dense or scipy.sparse):
    ``(B, M.shape[1])``, the weights of ``ClusterBootstrap(range(C), B, seed)``, one draw
    shared by every column."""
    boot = ClusterBootstrap(np.arange(M.shape[0]), B, seed, chunk=chunk)
    return boot._resample(M)
