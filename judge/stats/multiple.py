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
    if ok.any():
        from statsmodels.stats.multitest import multipletests

        out[ok] = multipletests(p[ok], method=_method(method))[1]
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
