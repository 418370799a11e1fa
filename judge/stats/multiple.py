"""Multiple-comparison corrections over metric tables (wrappers over statsmodels).

Many cells and attributes means many tests; ``p_adj`` holds the adjusted p-values:
Holm (family-wise error rate) or Benjamini–Hochberg (false discovery rate).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

METHODS = {"holm": "holm", "bh": "fdr_bh", "fdr_bh": "fdr_bh", "bonferroni": "bonferroni",
           "by": "fdr_by", "fdr_by": "fdr_by"}


def _method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"correction method {method!r} is unknown; use one of "
                         f"{sorted(METHODS)}")
    return METHODS[method]


def adjust_pvalues(p: Sequence[float], method: str = "holm") -> np.ndarray:
    """Adjusted p-values; NaN entries stay NaN and are not counted as tests.

    >>> adjust_pvalues([0.01, float("nan"), 0.04], "holm").round(3).tolist()
    [0.02, nan, 0.04]
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if not ok.any():
        return out
    name = _method(method)
    if name == "holm":
        out[ok] = holm(p[ok])
        return out
    from statsmodels.stats.multitest import multipletests

    out[ok] = multipletests(p[ok], method=name)[1]
    return out


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values, equal to statsmodels' ``multipletests(p,
    method="holm")[1]`` (tests/stats/test_multiple.py). Written out because statsmodels
    0.15's Holm branch calls ``gc.collect()`` on every call: 0.3 s each with a pipeline's
    heap, 11 s of a 60 s run with a calibration stage.

    >>> holm(np.array([0.01, 0.04, 0.03])).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    order = np.argsort(p, kind="stable")
    m = len(p)
    adj = np.minimum(np.maximum.accumulate(p[order] * np.arange(m, 0, -1)), 1.0)
    out = np.empty(m)
    out[order] = adj
    return out


def adjust_table(table: pd.DataFrame, method: str = "holm",
                 family: Sequence[str] | None = ("metric",),
                 metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Fill ``p_adj`` of a metric table, correcting within each ``family`` (rows sharing
    those columns; ``None`` = all rows together), optionally only for ``metrics``.

    Rows without a p-value keep ``p_adj`` NaN. The correction is appended to ``method``.
    """
    out = table.copy()
    sel = out["p_value"].notna()
    if metrics is not None:
        sel &= out["metric"].isin(list(metrics))
    name = _method(method)
    sub = out[sel]
    groups = ([sub.index[i] for i in sub.groupby(list(family), sort=False).indices.values()]
              if family else [sub.index])
    for idx in groups:
        out.loc[idx, "p_adj"] = adjust_pvalues(out.loc[idx, "p_value"].to_numpy(), name)
        out.loc[idx, "method"] = [f"{m}; p_adj: {name} over {len(idx)}" if m else
                                  f"p_adj: {name} over {len(idx)}"
                                  for m in out.loc[idx, "method"]]
    return out


# ---------------------------------------------------------------- one family per report

FAMILY_METHODS = {"bh": "fdr_bh", "holm": "holm", "none": "none"}
FAMILY_COLUMNS = ["p_adj", "p_adj_method", "family_size"]
# rows whose p-value repeats another row's test (the flip rate carries the McNemar p of
# the decision difference of the same pairs): not a separate finding
DUPLICATE_TESTS = frozenset({"cf_flip_rate"})


def family_method(method: str) -> str:
    """The statsmodels name of a report-wide correction (``bh``, ``holm`` or ``none``)."""
    if method not in FAMILY_METHODS:
        raise ValueError(f"report.multiplicity {method!r} is unknown; use one of "
                         f"{sorted(FAMILY_METHODS)}")
    return FAMILY_METHODS[method]


def in_family(table: pd.DataFrame, p_col: str = "p_value") -> np.ndarray:
    """Rows of a table that are tests of the findings family: a finite p-value, and not a
    repeat of another row's test (:data:`DUPLICATE_TESTS`)."""
    p = pd.to_numeric(table[p_col], errors="coerce").to_numpy(float) if p_col in table \
        else np.full(len(table), np.nan)
    keep = np.isfinite(p)
    if "metric" in table:
        keep &= ~table["metric"].isin(DUPLICATE_TESTS).to_numpy()
    return keep


def adjust_family(tables: dict[str, pd.DataFrame], method: str = "bh",
                  p_col: str = "p_value", min_clusters: int | None = None
                  ) -> dict[str, pd.DataFrame]:
    """Adjust every test of several tables as ONE family (e.g. all disparity rows of every
    generator and judge plus every differential judge-bias row of the calibration).

    ``method``: ``bh`` (Benjamini–Hochberg, false discovery rate), ``holm`` (family-wise
    error rate) or ``none``. Each returned table gets ``p_adj``, ``p_adj_method`` and
    ``family_size`` (the number of tests pooled); rows outside the family (no p-value, or a
    repeated test) keep ``p_adj`` NaN and ``family_size`` 0. With ``min_clusters``, tests
    on fewer clusters (``n_clusters``) cannot be findings: their p-values are unreliable
    (a cluster bootstrap or cluster-robust SE under-covers there), so they are left out of
    the family, with ``p_adj`` NaN and the reason in ``p_adj_method``.

    >>> t = pd.DataFrame({"metric": ["a", "b"], "p_value": [0.01, 0.04]})
    >>> d = pd.DataFrame({"p_value": [0.03]})
    >>> out = adjust_family({"metrics": t, "bias": d}, "holm")
    >>> out["metrics"]["p_adj"].round(2).tolist(), int(out["bias"]["family_size"][0])
    ([0.03, 0.06], 3)
    """
    name = family_method(method)
    masks = {k: in_family(t, p_col) for k, t in tables.items()}
    few = {k: (np.zeros(len(t), bool) if min_clusters is None or "n_clusters" not in t else
               masks[k] & (pd.to_numeric(t["n_clusters"], errors="coerce").fillna(np.inf)
                           .to_numpy() < min_clusters)) for k, t in tables.items()}
    masks = {k: m & ~few[k] for k, m in masks.items()}
    pooled = np.concatenate([pd.to_numeric(t[p_col], errors="coerce").to_numpy(float)[masks[k]]
                             if p_col in t else np.zeros(0) for k, t in tables.items()])
    m = len(pooled)
    if m == 0 or name == "none":
        adj = pooled.copy()
    else:
        from statsmodels.stats.multitest import multipletests

        adj = multipletests(pooled, method=name)[1]
    out, start = {}, 0
    label = {"fdr_bh": "Benjamini-Hochberg", "holm": "Holm", "none": "none"}[name]
    for k, t in tables.items():
        t = t.copy()
        mask = masks[k]
        col = np.full(len(t), np.nan)
        col[mask] = adj[start:start + int(mask.sum())]
        start += int(mask.sum())
        t["p_adj"] = col
        t["p_adj_method"] = np.where(mask, f"{label} over the report's {m} tests",
                                     np.where(few[k], f"not a finding: fewer than {min_clusters} "
                                                      "clusters, p-value unreliable", None))
        t["family_size"] = np.where(mask, m, 0).astype("int64")
        out[k] = t
    return out
