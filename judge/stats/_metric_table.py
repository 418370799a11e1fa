"""The one metric-table schema, attribute handling and the rows of group statistics.

Every fairness metric returns a DataFrame with :data:`COLUMNS`, one row per
(metric, attribute, level). Rows that summarise all levels of an attribute use the
level :data:`ALL_LEVELS` (``"*"``). An undefined value is NaN with the reason in
``warning``, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from judge.errors import DataError
from judge.stats.bootstrap import GroupMeans, percentile_ci

COLUMNS: list[str] = ["metric", "attribute", "level", "reference", "value", "ci_low", "ci_high",
                      "n", "n_clusters", "p_value", "p_adj", "warning", "method"]
ALL_LEVELS = "*"
ATTR_PREFIX = "attr."
JOIN = "|"
MIN_CELL = 30

WARN_FEW_CLUSTERS = "fewer than 2 clusters: no interval"
WARN_NO_OBS = "no observations"


def small_cell(n: int, min_cell: int) -> str:
    return f"small cell: n={n} < min_cell={min_cell}"


def metric_row(metric: str, attribute: str, level: str, value: float, *,
               ci: tuple[float, float] = (math.nan, math.nan), n: int = 0, n_clusters: int = 0,
               reference: str | None = None, p_value: float = math.nan, method: str = "",
               warnings: Iterable[str | None] = ()) -> dict:
    """One row of the metric table; ``warnings`` are joined with ``"; "`` (None if empty)."""
    w = [x for x in dict.fromkeys(warnings) if x]
    return {"metric": metric, "attribute": attribute, "level": level, "reference": reference,
            "value": float(value), "ci_low": float(ci[0]), "ci_high": float(ci[1]),
            "n": int(n), "n_clusters": int(n_clusters), "p_value": float(p_value),
            "p_adj": math.nan, "warning": "; ".join(w) if w else None, "method": method}


def to_table(rows: Sequence[dict]) -> pd.DataFrame:
    """Rows -> a DataFrame with exactly :data:`COLUMNS` and fixed dtypes (empty is fine;
    missing counts become 0, missing numbers NaN, missing texts None)."""
    df = pd.DataFrame(list(rows), columns=COLUMNS)
    for c in ("value", "ci_low", "ci_high", "p_value", "p_adj"):
        df[c] = df[c].astype(float)
    for c in ("n", "n_clusters"):
        df[c] = df[c].fillna(0).astype("int64")
    for c in ("metric", "attribute", "level", "reference", "warning", "method"):
        df[c] = df[c].astype(object).where(df[c].notna(), None)
    return df.reset_index(drop=True)


MIN_CLUSTERS_RELIABLE = 10  # below this a cluster bootstrap under-covers (e.g. Cameron et al. 2008)


def cell_warnings(n: int, n_clusters: int, min_cell: int) -> list[str]:
    """Warnings for a cell: no data, too few rows, or too few clusters for an interval."""
    if n == 0:
        return [WARN_NO_OBS]
    out = [small_cell(n, min_cell)] if n < min_cell else []
    if n_clusters < 2:
        out.append(WARN_FEW_CLUSTERS)
    elif n_clusters < MIN_CLUSTERS_RELIABLE:
        out.append(f"only {n_clusters} clusters: the bootstrap interval is unreliable")
    return out


# ---------------------------------------------------------------- attributes

def attribute_names(frame: pd.DataFrame) -> list[str]:
    """Bare names of the ``attr.<name>`` columns of ``frame``, in column order."""
    return [c[len(ATTR_PREFIX):] for c in frame.columns if c.startswith(ATTR_PREFIX)]


def _col(frame: pd.DataFrame, name: str) -> str:
    col = name if name.startswith(ATTR_PREFIX) else ATTR_PREFIX + name
    if col not in frame.columns:
        raise DataError(f"attribute {name!r}: no column {col!r}; available: "
                        f"{attribute_names(frame) or 'none'} (attribute columns are 'attr.<name>')")
    return col


AttrSpec = str | Sequence[str]


def resolve_attributes(frame: pd.DataFrame, attributes: AttrSpec | Sequence[AttrSpec] | None
                       ) -> list[tuple[str, ...]]:
    """Normalise an attribute spec to a list of attribute tuples (a tuple = an intersection).

    ``None`` means every ``attr.*`` column on its own; ``"race"`` one attribute;
    ``["race", ("race", "gender")]`` race alone and the race×gender intersection.
    """
    if attributes is None:
        specs: list = attribute_names(frame)
        if not specs:
            raise DataError("frame has no 'attr.<name>' columns: nothing to compare groups on")
    elif isinstance(attributes, str):
        specs = [attributes]
    else:
        specs = list(attributes)
    out = []
    for s in specs:
        t = (s,) if isinstance(s, str) else tuple(s)
        out.append(tuple(_col(frame, a)[len(ATTR_PREFIX):] for a in t))
    return out


def attribute_label(attrs: tuple[str, ...]) -> str:
    return JOIN.join(attrs)


def level_labels(frame: pd.DataFrame, attrs: tuple[str, ...]) -> pd.Series:
    """Level label per row (``"Black|female"`` for intersections); NaN if any part is missing."""
    cols = [frame[_col(frame, a)] for a in attrs]
    missing = np.zeros(len(frame), dtype=bool)
    for c in cols:
        missing |= c.isna().to_numpy()
    lab = cols[0].astype(str)
    for c in cols[1:]:
        lab = lab + JOIN + c.astype(str)
    return lab.astype(object).where(~missing, None)


def pick_reference(levels: pd.Series, reference: str | dict | None, attribute: str) -> str:
    """The reference level: given, or the most frequent level over all rows (ties, as in a
    balanced counterfactual design: the first in sort order)."""
    if isinstance(reference, dict):
        reference = reference.get(attribute)
    counts = levels.dropna().value_counts()
    if reference is not None:
        if reference not in counts.index:
            raise DataError(f"reference level {reference!r} for attribute {attribute!r} does not "
                            f"occur; levels are {sorted(counts.index)} (with several "
                            "attributes, pass reference={attribute: level})")
        return str(reference)
    if counts.empty:
        return ""
    top = counts[counts == counts.max()].index
    return str(sorted(top)[0])


def require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise a DataError naming the missing columns a metric needs."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what}: frame lacks column(s) {missing}; it has {list(frame.columns)}")


# ---------------------------------------------------------------- group core

def min_clusters(n_clusters: np.ndarray) -> int:
    """Smallest cluster count over levels (0 when there are no levels)."""
    return int(n_clusters.min()) if len(n_clusters) else 0


def wald_p(value: float, reps: np.ndarray, null: float = 0.0) -> float:
    """Two-sided p-value of ``value == null`` using the bootstrap standard error."""
    r = np.asarray(reps, dtype=float)
    r = r[np.isfinite(r)]
    if len(r) < 2 or not np.isfinite(value):
        return math.nan
    se = float(np.std(r, ddof=1))
    if se == 0.0:
        return 1.0 if value == null else 0.0
    return float(math.erfc(abs(value - null) / se / math.sqrt(2)))


def ci_of(reps: np.ndarray, alpha: float, enough: bool) -> tuple[float, float]:
    if not enough:
        return (math.nan, math.nan)
    lo, hi = percentile_ci(np.asarray(reps, dtype=float), alpha)
    return (float(lo), float(hi))


def group_rows(gb: GroupMeans, metric: str, attribute: str, reference: str | None, *,
               alpha: float = 0.05, min_cell: int = MIN_CELL, method: str = "cluster_bootstrap",
               diff: bool = True, ratio: bool = False, gap: bool = True, std: bool = False,
               point: dict[str, float] | None = None) -> list[dict]:
    """Rows for one attribute: level means, differences (and ratios) vs the reference,
    and the across-level max-min gap (and SD of level means) as level ``"*"``.

    ``point`` overrides point values per level (e.g. with fairlearn's), intervals still
    come from the bootstrap replicates.
    """
    pt = gb.point.copy()
    if point is not None:
        pt = np.array([point.get(lv, math.nan) for lv in gb.levels], dtype=float)
    pt[gb.n == 0] = math.nan  # e.g. fairlearn's FPR of a level without negatives is 0.0
    rows = []
    for i, lv in enumerate(gb.levels):
        n, nc = int(gb.n[i]), int(gb.n_clusters[i])
        rows.append(metric_row(metric, attribute, lv, pt[i], n=n, n_clusters=nc, method=method,
                               ci=ci_of(gb.reps[:, i], alpha, nc >= 2),
                               warnings=cell_warnings(n, nc, min_cell)))
    if reference and reference in gb.levels:
        r = gb.idx(reference)
        for i, lv in enumerate(gb.levels):
            if i == r:
                continue
            n, nc = int(gb.n[i] + gb.n[r]), int(min(gb.n_clusters[i], gb.n_clusters[r]))
            w = cell_warnings(int(gb.n[i]), int(gb.n_clusters[i]), min_cell) + \
                cell_warnings(int(gb.n[r]), int(gb.n_clusters[r]), min_cell)
            if diff:
                reps = gb.reps[:, i] - gb.reps[:, r]
                v = pt[i] - pt[r]
                rows.append(metric_row(f"{metric}_diff", attribute, lv, v, reference=reference,
                                       n=n, n_clusters=nc, ci=ci_of(reps, alpha, nc >= 2),
                                       p_value=wald_p(v, reps), method=method + "; p: bootstrap-SE Wald",
                                       warnings=w))
            if ratio:
                with np.errstate(invalid="ignore", divide="ignore"):
                    reps = gb.reps[:, i] / gb.reps[:, r]
                    v = pt[i] / pt[r] if pt[r] != 0 else math.nan
                rows.append(metric_row(f"{metric}_ratio", attribute, lv, v, reference=reference,
                                       n=n, n_clusters=nc, ci=ci_of(reps, alpha, nc >= 2),
                                       method=method, warnings=w + (
                                           ["reference level mean is 0: ratio undefined"]
                                           if pt[r] == 0 else [])))
    present = gb.n > 0
    if gap or std:
        rows.extend(_spread_rows(gb, pt, present, metric, attribute, alpha, min_cell, method,
                                 gap, std))
    return rows


def spread_warnings(n: np.ndarray, n_clusters: np.ndarray, min_cell: int) -> list[str]:
    """Warnings for a statistic over all levels (a gap, a ratio of extremes)."""
    w = [] if len(n) >= 2 else ["fewer than 2 levels with data: spread undefined"]
    if (np.asarray(n) < min_cell).any():
        w.append(f"small cell: some level has n < min_cell={min_cell}")
    if min_clusters(np.asarray(n_clusters)) < 2:
        w.append(WARN_FEW_CLUSTERS)
    return w


def _spread_rows(gb: GroupMeans, pt: np.ndarray, present: np.ndarray, metric: str,
                 attribute: str, alpha: float, min_cell: int, method: str, gap: bool,
                 std: bool) -> list[dict]:
    n, nc = int(gb.n[present].sum()), min_clusters(gb.n_clusters[present])
    w = spread_warnings(gb.n[present], gb.n_clusters[present], min_cell)
    sub, reps = pt[present], gb.reps[:, present]
    rows = []
    enough = present.sum() >= 2 and nc >= 2
    with np.errstate(invalid="ignore"):
        if gap:
            v = float(sub.max() - sub.min()) if present.sum() >= 2 else math.nan
            rr = _nan_reduce(reps, "gap")
            rows.append(metric_row(f"{metric}_gap", attribute, ALL_LEVELS, v, n=n, n_clusters=nc,
                                   ci=ci_of(rr, alpha, enough), warnings=w,
                                   method=method + "; max-min of level means (biased upward)"))
        if std:
            v = float(np.std(sub)) if present.sum() >= 2 else math.nan
            rr = _nan_reduce(reps, "std")
            rows.append(metric_row(f"{metric}_std", attribute, ALL_LEVELS, v, n=n, n_clusters=nc,
                                   ci=ci_of(rr, alpha, enough), warnings=w,
                                   method=method + "; SD (ddof=0) of level means"))
    return rows


def _nan_reduce(reps: np.ndarray, how: str) -> np.ndarray:
    if reps.shape[1] == 0:
        return np.full(reps.shape[0], math.nan)
    finite = np.isfinite(reps)
    out = np.full(reps.shape[0], math.nan)
    ok = finite.sum(1) >= 2
    r = reps[ok]
    if how == "gap":
        out[ok] = np.nanmax(r, 1) - np.nanmin(r, 1)
    else:
        out[ok] = np.nanstd(r, 1)
    return out


def cluster_column(frame: pd.DataFrame, cluster: str) -> pd.Series:
    require(frame, [cluster], f"cluster column {cluster!r}")
    return frame[cluster]
