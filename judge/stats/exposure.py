"""Producer-side fairness: how much attention do responses give to each producer?

A response that ranks or lists producers (businesses, authors, sellers) gives the
producer at rank ``r`` the position-weighted exposure ``1 / log2(1 + r)`` (1 at rank 1,
0.63 at rank 2, 0.5 at rank 3). Exposure is compared with two targets over the producer
catalogue: uniform (every producer the same share, relevance-free) and
relevance-proportional. A response may name no producer at all: the share of such
responses is reported on its own, because an answer that bypasses producers entirely
gives every producer zero exposure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from judge.errors import DataError
from judge.stats._metric_table import (
    ALL_LEVELS,
    MIN_CELL,
    cell_warnings,
    ci_of,
    metric_row,
    require,
    to_table,
)
from judge.stats.bootstrap import DEFAULT_B, ClusterBootstrap

UNCATALOGUED = "(uncatalogued)"


def position_weight(rank) -> np.ndarray:
    """``1 / log2(1 + rank)`` for ranks >= 1.

    >>> position_weight([1, 3]).tolist()
    [1.0, 0.5]
    """
    return 1.0 / np.log2(1.0 + np.asarray(rank, dtype=float))


def gini(x, axis: int = -1) -> np.ndarray:
    """Gini coefficient of non-negative values (0 equal, (n-1)/n one holds all); NaN if
    all are zero.

    >>> float(gini([0.0, 0.0, 1.0]))
    0.6666666666666666
    """
    x = np.sort(np.asarray(x, dtype=float), axis=axis)
    x = np.moveaxis(x, axis, -1)
    n = x.shape[-1]
    i = np.arange(1, n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((2 * i - n - 1) * x).sum(-1) / (n * x.sum(-1))


def extract_mentions(responses: pd.DataFrame, catalogue: pd.DataFrame, *,
                     text: str = "response", response: str = "response_id",
                     producer: str = "producer_id", name: str = "name",
                     keep: Sequence[str] = ()) -> pd.DataFrame:
    """Producer mentions read from response text, ranked by first appearance.

    ``responses``: ``response_id`` and ``response`` text (plus ``keep`` columns copied
    through, e.g. ``cf_group``); ``catalogue``: ``producer_id`` and ``name`` (names are
    matched case-insensitively on word boundaries, the longest name first, so "Bank of
    X" wins over "X"). Returns ``response_id, producer_id, rank`` (+ ``keep``), with one
    row of null producer and rank for a response that names no producer.
    """
    require(responses, [response, text, *keep], "extract mentions (responses)")
    require(catalogue, [producer, name], "extract mentions (catalogue)")
    names = catalogue[[producer, name]].dropna()
    by_name = {str(n).casefold(): p for p, n in zip(names[producer], names[name], strict=True)}
    if not by_name:
        raise DataError(f"catalogue: no producer has a {name!r} to look for")
    alts = sorted(by_name, key=len, reverse=True)
    pattern = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, alts)) + r")(?!\w)",
                         re.IGNORECASE)
    rows = []
    for rec in responses[[response, text, *keep]].itertuples(index=False):
        rid, body, extra = rec[0], rec[1], dict(zip(keep, rec[2:], strict=True))
        seen: list = []
        for m in pattern.finditer(body if isinstance(body, str) else ""):
            pid = by_name[m.group(1).casefold()]
            if pid not in seen:
                seen.append(pid)
        rows += ([{response: rid, producer: pid, "rank": r, **extra}
                  for r, pid in enumerate(seen, 1)]
                 or [{response: rid, producer: None, "rank": math.nan, **extra}])
    return pd.DataFrame(rows, columns=[response, producer, "rank", *keep])


def _validate(mentions, catalogue, response, rank, producer, relevance):
    require(mentions, [response, rank, producer], "producer exposure (mentions)")
    require(catalogue, [producer], "producer exposure (catalogue)")
    named = mentions[producer].notna()
    r = pd.to_numeric(mentions.loc[named, rank], errors="coerce")
    bad = r.isna() | (r < 1) | (r != np.floor(r))
    if bad.any():
        raise DataError(f"mentions: column {rank!r} must be an integer >= 1 where a producer "
                        f"is named; bad value {mentions.loc[named, rank][bad].iloc[0]!r}")
    if catalogue[producer].duplicated().any():
        dup = catalogue[producer][catalogue[producer].duplicated()].iloc[0]
        raise DataError(f"catalogue: producer {dup!r} is listed twice in {producer!r}")
    if relevance in catalogue:
        rel = pd.to_numeric(catalogue[relevance], errors="coerce")
        if rel.isna().any() or (rel < 0).any() or rel.sum() <= 0:
            raise DataError(f"catalogue: column {relevance!r} must be numbers >= 0 with a "
                            "positive sum")


def producer_exposure(mentions: pd.DataFrame, catalogue: pd.DataFrame, *,
                      group_cols: Sequence[str] | None = None, response: str = "response_id",
                      rank: str = "rank", producer: str = "producer_id",
                      relevance: str = "relevance", cluster: str | None = None,
                      B: int = DEFAULT_B, seed: int = 0, alpha: float = 0.05,
                      min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Exposure per producer and producer group, against uniform and relevance targets.

    ``mentions``: one row per (response, named producer) with ``response_id``, ``rank``
    (1 = first) and ``producer_id``; a response naming no producer is one row with a null
    ``producer_id``. ``catalogue``: ``producer_id``, the ``group_cols`` (default: every
    column but id and relevance) and optional ``relevance`` (>= 0). Producers named but
    not in the catalogue form the group ``(uncatalogued)`` with target 0.
    ``cluster``: a mentions column to resample by (default: the response).

    Metrics: ``exposure_per_response`` per producer and group; per group
    ``exposure_share``, ``exposure_share_minus_uniform`` / ``_ratio_to_uniform`` and
    ``..._relevance``; at level ``*``: ``exposure_gini`` (over catalogue and named
    producers, zeros included), ``exposure_tvd_uniform`` / ``_relevance`` (total variation
    distance to the target shares) and ``no_producer_share`` (attribute ``response``).
    """
    _validate(mentions, catalogue, response, rank, producer, relevance)
    cat = catalogue.set_index(producer)
    pids, E, clusters = _exposure_rows(mentions, cat, response, rank, producer, cluster)
    from scipy import sparse

    boot = ClusterBootstrap(clusters, B, seed, alpha)
    named = np.asarray(E.sum(1)).ravel() > 0
    X = sparse.hstack([E, sparse.csr_matrix(np.column_stack([np.ones(len(clusters)),
                                                             (~named).astype(float)]))])
    tot, R = boot.sums(X.tocsr())
    C, P = boot.n_clusters, len(pids)
    Nr, Z = tot[P:P + 1], tot[P + 1:]
    ctx = _Ctx(tot[:P], Nr, R[:, :P], R[:, P:P + 1], alpha, min_cell, C)
    extra = len(pids) - len(cat)
    unif = np.r_[np.full(len(cat), 1.0 / len(cat)), np.zeros(extra)]
    rel = None
    if relevance in cat:
        r = pd.to_numeric(cat[relevance]).to_numpy(float)
        rel = np.r_[r / r.sum(), np.zeros(extra)]
    targets = {"uniform": unif, "relevance": rel}
    rows = ctx.per_response_rows(pids, None, "producer")
    for col in (group_cols if group_cols is not None else
                [c for c in cat.columns if c != relevance]):
        g = np.r_[cat[col].astype(str).to_numpy(), np.full(extra, UNCATALOGUED)]
        levels = sorted(set(g))
        M = (g[:, None] == np.array(levels)[None, :]).astype(float)
        rows += ctx.per_response_rows(levels, M, col) + ctx.share_rows(levels, M, col, targets)
    rows += ctx.summary_rows(targets)
    n = int(Nr.sum())
    rows.append(metric_row("no_producer_share", "response", ALL_LEVELS,
                           float(Z.sum()) / n if n else math.nan, n=n, n_clusters=C,
                           ci=ci_of(R[:, -1] / R[:, -2], alpha, C >= 2),
                           method="cluster_bootstrap", warnings=cell_warnings(n, C, min_cell)))
    return to_table(rows)


def _exposure_rows(mentions: pd.DataFrame, cat: pd.DataFrame, response: str, rank: str,
                   producer: str, cluster: str | None):
    """Producer ids (catalogue first, then uncatalogued), a sparse exposure matrix
    ``E[r, p]`` with one row per response (in sorted response order), and each response's
    cluster."""
    from scipy import sparse

    m = mentions.copy()
    m["_cl"] = m[cluster] if cluster else m[response]
    named = m[m[producer].notna()].copy()
    named["_w"] = position_weight(pd.to_numeric(named[rank]))
    named = named.groupby([response, producer, "_cl"], as_index=False)["_w"].max()
    resp = m.groupby(response, sort=True)["_cl"].first()
    known = list(cat.index.astype(str))
    pids = known + sorted(set(named[producer].astype(str)) - set(known))
    row = pd.Series(np.arange(len(resp)), index=resp.index)
    E = sparse.csr_matrix((named["_w"].to_numpy(), (
        row.loc[named[response]].to_numpy(),
        pd.Categorical(named[producer].astype(str), categories=pids).codes)),
        shape=(len(resp), len(pids)))  # duplicates are summed
    return pids, E, resp.to_numpy()


class _Ctx:
    """Sums and replicate sums shared by the exposure row builders."""

    def __init__(self, Et, Nr, RE, RN, alpha, min_cell, C):
        self.Et, self.Nr, self.RE, self.RN = Et, Nr, RE, RN
        self.alpha, self.min_cell, self.C = alpha, min_cell, C
        self.n = int(Nr.sum())

    def _row(self, metric, attr, level, value, reps, reference=None, extra=()):
        return metric_row(metric, attr, level, value, reference=reference, n=self.n,
                          n_clusters=self.C, ci=ci_of(reps, self.alpha, self.C >= 2),
                          method="cluster_bootstrap over responses' clusters",
                          warnings=[*cell_warnings(self.n, self.C, self.min_cell), *extra])

    def per_response_rows(self, levels, M, attr):
        """Mean exposure per response of each level (``M``: producer -> level, None = id)."""
        et, re = (self.Et, self.RE) if M is None else (self.Et @ M, self.RE @ M)
        point = et / self.n if self.n else np.full(len(levels), math.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            reps = re / self.RN
        return [self._row("exposure_per_response", attr, lv, point[i], reps[:, i])
                for i, lv in enumerate(levels)]

    def share_rows(self, levels, M, attr, targets):
        tot = self.Et.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            share = (self.Et @ M) / tot
            reps = (self.RE @ M) / self.RE.sum(1, keepdims=True)
        rows = []
        for i, lv in enumerate(levels):
            rows.append(self._row("exposure_share", attr, lv, share[i], reps[:, i]))
            for name, t in targets.items():
                if t is None:
                    continue
                tg = float(t @ M[:, i])
                with np.errstate(invalid="ignore", divide="ignore"):
                    ratio, rr = (share[i] / tg, reps[:, i] / tg) if tg > 0 else (math.nan, None)
                rows.append(self._row(f"exposure_share_minus_{name}", attr, lv, share[i] - tg,
                                      reps[:, i] - tg, reference=f"{name} target {tg:.4g}"))
                rows.append(self._row(f"exposure_ratio_to_{name}", attr, lv, ratio,
                                      rr if rr is not None else np.full(len(reps), math.nan),
                                      reference=f"{name} target {tg:.4g}",
                                      extra=[] if tg > 0 else ["target share is 0"]))
        return rows

    def summary_rows(self, targets):
        tot = self.Et
        with np.errstate(invalid="ignore", divide="ignore"):
            share, reps = tot / tot.sum(), self.RE / self.RE.sum(1, keepdims=True)
        extra = [] if tot.sum() > 0 else ["no producer named: exposure undefined"]
        rows = [self._row("exposure_gini", "producer", ALL_LEVELS, float(gini(tot)),
                          gini(self.RE, axis=1), extra=extra)]
        for name, t in targets.items():
            if t is not None:
                rows.append(self._row(f"exposure_tvd_{name}", "producer", ALL_LEVELS,
                                      0.5 * float(np.abs(share - t).sum()),
                                      0.5 * np.abs(reps - t).sum(1), reference=f"{name} target",
                                      extra=extra))
        return rows
