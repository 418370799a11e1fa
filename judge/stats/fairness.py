"""Group fairness: demographic parity, equalized odds, calibration, quality of service,
unawareness and failure rates by group.

Point values of the fairlearn metrics come from :class:`fairlearn.metrics.MetricFrame`;
intervals come from the cluster bootstrap (one matrix product per attribute, see
:mod:`judge.stats.bootstrap`). Counterfactual metrics live in
:mod:`judge.stats.counterfactual`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from judge.errors import DataError
from judge.stats._metric_table import (
    ALL_LEVELS,
    MIN_CELL,
    AttrSpec,
    attribute_label,
    cell_warnings,
    ci_of,
    group_rows,
    level_labels,
    metric_row,
    min_clusters,
    pick_reference,
    require,
    resolve_attributes,
    spread_warnings,
    to_table,
)
from judge.stats.bootstrap import DEFAULT_B, ClusterBootstrap, GroupMeans
from judge.stats.reference import choose_reference

Attrs = AttrSpec | Sequence[AttrSpec] | None
FOUR_FIFTHS = 0.8


def _numeric(frame: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)


_TRUTHY = {"true": 1.0, "yes": 1.0, "1": 1.0, "1.0": 1.0,
           "false": 0.0, "no": 0.0, "0": 0.0, "0.0": 0.0}


def _bool01(s: pd.Series) -> np.ndarray:
    """Booleans, 1/0 or yes/no/true/false labels to 1.0/0.0; missing or other to NaN.

    >>> _bool01(pd.Series([True, "no", "Yes", None, "maybe"])).tolist()
    [1.0, 0.0, 1.0, nan, nan]
    """
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        x = s.astype(float).to_numpy()
        return np.where(np.isin(x, (0.0, 1.0)), x, np.nan)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    lookup = np.array([_TRUTHY.get(str(u).strip().lower(), np.nan) for u in uniques] + [np.nan])
    return lookup[codes]  # code -1 (missing) picks the trailing NaN


def _metric_frame(metrics, y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray
                  ):
    """fairlearn MetricFrame on rows compressed to unique (group, y_true, y_pred) with
    ``sample_weight`` counts: the same values as on the raw rows, at any row count."""
    from fairlearn.metrics import MetricFrame

    df = pd.DataFrame({"g": groups, "t": y_true, "p": y_pred})
    agg = df.groupby(["g", "t", "p"], as_index=False, sort=True).size()
    if len(agg) == 1:  # fairlearn rejects length-1 inputs: add a zero-weight copy
        agg = pd.concat([agg, agg.assign(size=0)], ignore_index=True)
    w = agg["size"].to_numpy(float)
    names = metrics if isinstance(metrics, dict) else {"m": metrics}
    mf = MetricFrame(metrics=names, y_true=agg["t"].to_numpy(), y_pred=agg["p"].to_numpy(),
                     sensitive_features=agg["g"].to_numpy(),
                     sample_params={k: {"sample_weight": w} for k in names})
    return mf


def _fl(name: str):
    """A fairlearn metric function, imported on first use (fairlearn imports sklearn)."""
    import fairlearn.metrics

    return getattr(fairlearn.metrics, name)


def _spread(gb: GroupMeans, pt: np.ndarray, how: str) -> tuple[float, np.ndarray]:
    """Point and replicates of max-min (``diff``) or min/max (``ratio``) over levels
    (NaN with fewer than two levels)."""
    ok = np.isfinite(pt)
    if ok.sum() < 2:
        return math.nan, np.full(gb.reps.shape[0], math.nan)
    p, r = pt[ok], gb.reps[:, ok]
    with np.errstate(invalid="ignore", divide="ignore"):
        if how == "diff":
            return float(p.max() - p.min()), r.max(1) - r.min(1)
        return float(p.min() / p.max()), r.min(1) / r.max(1)


GAP_METHOD = ("max-min of level means; interval: max-|t| simultaneous bootstrap bounds on "
              "every pairwise difference (contains the estimate; conservative)")


def gap_interval(pt: np.ndarray, reps: np.ndarray, alpha: float = 0.05
                 ) -> tuple[float, float]:
    """An interval for the max-min gap over levels that always contains the estimate.

    The percentile interval of max-min replicates is shifted upward (the maximum of noisy
    differences is biased), so the estimate can fall outside it. Instead: simultaneous
    intervals ``d_ij ± c·se_ij`` for every pairwise difference, ``c`` the ``1 - alpha``
    bootstrap quantile of ``max_ij |d*_ij - d_ij| / se_ij``; the gap is ``max |d_ij|``, so
    ``[max_ij lower|d_ij|, max_ij upper|d_ij|]`` contains it, and it covers the true gap
    whenever all pairwise intervals cover (probability >= 1 - alpha).

    >>> pt = np.array([0.2, 0.25, 0.5])
    >>> reps = pt + np.random.default_rng(0).normal(0, 0.05, (500, 3))
    >>> lo, hi = gap_interval(pt, reps)
    >>> bool(lo <= 0.3 <= hi)
    True
    """
    ok = np.isfinite(pt)
    p, r = pt[ok], reps[:, ok]
    if len(p) < 2:
        return math.nan, math.nan
    i, j = np.triu_indices(len(p), 1)
    d = p[i] - p[j]
    rd = r[:, i] - r[:, j]
    good = np.isfinite(rd).all(1)
    if good.sum() < 2:
        return math.nan, math.nan
    rd = rd[good]
    se = rd.std(0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(se > 0, np.abs(rd - d) / np.where(se > 0, se, 1.0), 0.0)
    c = float(np.quantile(t.max(1), 1 - alpha))
    half = c * se
    lo_d, hi_d = d - half, d + half
    abs_lo = np.where((lo_d <= 0) & (hi_d >= 0), 0.0, np.minimum(np.abs(lo_d), np.abs(hi_d)))
    abs_hi = np.maximum(np.abs(lo_d), np.abs(hi_d))
    return float(abs_lo.max()), float(abs_hi.max())


def rate_by_group(frame: pd.DataFrame, values: np.ndarray | str, metric: str,
                  attributes: Attrs = None, *, reference: str | dict | None = None,
                  cluster: str = "cf_group", B: int = DEFAULT_B, seed: int = 0,
                  alpha: float = 0.05, min_cell: int = MIN_CELL, std: bool = False,
                  ratio: bool = False) -> pd.DataFrame:
    """Mean of ``values`` (a column name or an array; NaN rows dropped) per level of each
    attribute, differences vs the reference level (p: bootstrap-SE Wald), and the max-min
    gap across levels (``<metric>_gap``, level ``*``); SD of level means with ``std``."""
    v = _numeric(frame, values) if isinstance(values, str) else np.asarray(values, float)
    require(frame, [cluster], metric)
    rows: list[dict] = []
    for k, attrs in enumerate(resolve_attributes(frame, attributes)):
        label, lev = attribute_label(attrs), level_labels(frame, attrs)
        ref = pick_reference(lev, reference, label)
        gb = ClusterBootstrap(frame[cluster], B, seed + k, alpha).group_means([v], lev)[0]
        rows += group_rows(gb, metric, label, ref, alpha=alpha, min_cell=min_cell, std=std,
                           ratio=ratio)
    return to_table(rows)


def demographic_parity(frame: pd.DataFrame, attributes: Attrs = None, *,
                       decision: str = "decision", reference: str | dict | None = None,
                       cluster: str = "cf_group", threshold: float = FOUR_FIFTHS,
                       B: int = DEFAULT_B, seed: int = 0, alpha: float = 0.05,
                       min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Selection rate (share of favourable decisions) by group and its disparities.

    ``frame``: ``decision`` (1.0 favourable / 0.0 / NaN unknown, dropped), ``attr.*``,
    ``cluster``. Metrics: ``selection_rate`` per level; ``selection_rate_diff`` and
    ``selection_rate_ratio`` vs the reference; ``dp_difference`` (max - min) and
    ``dp_ratio`` (min / max) at level ``*``, as fairlearn's
    ``demographic_parity_difference`` / ``_ratio``; ``four_fifths_flag`` (1.0 when
    ``dp_ratio < threshold``; warning when the ratio's CI straddles the threshold).
    """
    require(frame, [decision, cluster], "demographic parity")
    d = _numeric(frame, decision)
    rows: list[dict] = []
    for k, attrs in enumerate(resolve_attributes(frame, attributes)):
        label, lev = attribute_label(attrs), level_labels(frame, attrs)
        keep = ~np.isnan(d) & lev.notna().to_numpy()
        if not keep.any():
            rows.append(metric_row("dp_difference", label, ALL_LEVELS, math.nan,
                                   warnings=["no decisions"]))
            continue
        mf = _metric_frame({"selection_rate": _fl("selection_rate")}, d[keep], d[keep],
                           lev[keep].to_numpy())
        point = {str(g): float(x) for g, x in mf.by_group["selection_rate"].items()}
        ref = pick_reference(lev, reference, label)
        gb = ClusterBootstrap(frame[cluster], B, seed + k, alpha).group_means([d], lev)[0]
        rows += group_rows(gb, "selection_rate", label, ref, alpha=alpha, min_cell=min_cell,
                           ratio=True, gap=False, point=point,
                           method="fairlearn MetricFrame; cluster_bootstrap")
        rows += _dp_summary(gb, mf, label, threshold, alpha, min_cell)
    return to_table(rows)


def _dp_summary(gb: GroupMeans, mf, label: str, threshold: float,
                alpha: float, min_cell: int) -> list[dict]:
    n, nc = int(gb.n.sum()), min_clusters(gb.n_clusters)
    enough = nc >= 2 and len(gb.levels) >= 2
    warn = spread_warnings(gb.n, gb.n_clusters, min_cell)
    _, rr = _spread(gb, gb.point, "ratio")
    two = (gb.n > 0).sum() >= 2
    diff = float(mf.difference()["selection_rate"]) if two else math.nan
    ratio = float(mf.ratio()["selection_rate"]) if two else math.nan
    ci_r = ci_of(rr, alpha, enough)
    method = "fairlearn MetricFrame; cluster_bootstrap"
    flag, flag_w = four_fifths(ratio, ci_r, threshold)
    return [
        metric_row("dp_difference", label, ALL_LEVELS, diff, n=n, n_clusters=nc,
                   ci=gap_interval(gb.point, gb.reps, alpha) if enough else (math.nan,
                                                                              math.nan),
                   method=method + "; " + GAP_METHOD, warnings=warn),
        metric_row("dp_ratio", label, ALL_LEVELS, ratio, n=n, n_clusters=nc, ci=ci_r,
                   method=method, warnings=warn),
        metric_row("four_fifths_flag", label, ALL_LEVELS, flag, n=n,
                   n_clusters=nc, reference=f"dp_ratio < {threshold}",
                   method="four-fifths rule on the dp_ratio interval: 1 when it lies below "
                          "the threshold, 0 when above, undefined when it straddles it",
                   warnings=warn + flag_w),
    ]


def four_fifths(ratio: float, ci: tuple[float, float], threshold: float = FOUR_FIFTHS
                ) -> tuple[float, list[str]]:
    """The four-fifths rule decided by the dp_ratio interval, not its point value.

    >>> four_fifths(0.5, (0.4, 0.6))
    (1.0, [])
    >>> four_fifths(0.75, (0.6, 0.9))[0]
    nan
    """
    lo, hi = ci
    if not np.isfinite(ratio):
        return math.nan, []
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return math.nan, ["dp_ratio has no interval: four-fifths rule undetermined"]
    if hi < threshold:
        return 1.0, []
    if lo >= threshold:
        return 0.0, []
    return math.nan, [f"dp_ratio interval [{lo:.3f}, {hi:.3f}] straddles {threshold}: "
                      "four-fifths rule undetermined"]


def equalized_odds(frame: pd.DataFrame, attributes: Attrs = None, *, decision: str = "decision",
                   y_true: str = "y_true", reference: str | dict | None = None,
                   cluster: str = "cf_group", B: int = DEFAULT_B,
                   seed: int = 0, alpha: float = 0.05, min_cell: int = MIN_CELL
                   ) -> pd.DataFrame:
    """TPR, FPR and accuracy by group, and their gaps, where ground truth exists.

    ``frame``: ``decision`` and ``y_true`` (1.0 / 0.0; rows with either missing are
    dropped), ``attr.*``, ``cluster``. Metrics: ``tpr``, ``fpr``, ``accuracy`` per level;
    ``tpr_gap``, ``fpr_gap``, ``accuracy_gap`` (max - min) and
    ``equalized_odds_difference`` (the larger of the TPR and FPR gaps, as fairlearn's
    ``equalized_odds_difference``) at level ``*``; ``tpr_diff``, ``fpr_diff`` and
    ``accuracy_diff``: signed level minus reference, each with its interval and p-value.
    The gaps' intervals come from :func:`gap_interval` (they contain the estimate).
    Per-level ``n`` counts the rows the rate is computed on (positives for TPR, negatives
    for FPR).
    """
    require(frame, [decision, y_true, cluster], "equalized odds")
    d, y = _numeric(frame, decision), _numeric(frame, y_true)
    ok = ~np.isnan(d) & ~np.isnan(y)
    d, y = np.where(ok, d, np.nan), np.where(ok, y, np.nan)
    vals = {"tpr": np.where(y == 1, d, np.nan), "fpr": np.where(y == 0, d, np.nan),
            "accuracy": np.where(ok, (d == y).astype(float), np.nan)}
    from sklearn.metrics import accuracy_score

    fns = {"tpr": _fl("true_positive_rate"), "fpr": _fl("false_positive_rate"),
           "accuracy": accuracy_score}
    rows: list[dict] = []
    for k, attrs in enumerate(resolve_attributes(frame, attributes)):
        label, lev = attribute_label(attrs), level_labels(frame, attrs)
        keep = ok & lev.notna().to_numpy()
        if not keep.any():
            rows.append(metric_row("equalized_odds_difference", label, ALL_LEVELS, math.nan,
                                   warnings=["no rows with both decision and y_true"]))
            continue
        mf = _metric_frame(fns, y[keep], d[keep], lev[keep].to_numpy())
        gbs = ClusterBootstrap(frame[cluster], B, seed + k, alpha).group_means(
            list(vals.values()), lev)
        ref = pick_reference(lev, reference, label) if reference is not None else \
            _reference_of(lev, label)
        gaps = {}
        for name, gb in zip(vals, gbs, strict=True):
            point = {str(g): float(x) for g, x in mf.by_group[name].items()}
            rows += group_rows(gb, name, label, ref, alpha=alpha, min_cell=min_cell,
                               diff=True, gap=False, point=point,
                               method="fairlearn MetricFrame; cluster_bootstrap")
            pt = np.array([point.get(lv, math.nan) for lv in gb.levels])
            pt[gb.n == 0] = math.nan
            v, _ = _spread(gb, pt, "diff")
            gaps[name] = (v, gap_interval(pt, gb.reps, alpha / 2))
        rows += _eo_summary(gbs, gaps, label, int(keep.sum()), alpha, min_cell)
    return to_table(rows)


def _eo_summary(gbs: list[GroupMeans], gaps: dict[str, tuple[float, np.ndarray]], label: str,
                n: int, alpha: float, min_cell: int) -> list[dict]:
    """The ``*`` rows of :func:`equalized_odds`: the three gaps and their maximum."""
    nc = min(min_clusters(gb.n_clusters) for gb in gbs)
    acc = gbs[2]
    warn = spread_warnings(acc.n[acc.n > 0], acc.n_clusters[acc.n > 0], min_cell)
    if any((gb.n < min_cell).any() for gb in gbs[:2]):
        warn.append(f"small cell: some level has < min_cell={min_cell} positives or negatives")
    method = "fairlearn MetricFrame; cluster_bootstrap (shared replicates); " + GAP_METHOD
    none = (math.nan, math.nan)
    rows = [metric_row(f"{name}_gap", label, ALL_LEVELS, v, n=n, n_clusters=nc,
                       ci=ci if nc >= 2 and np.isfinite(v) else none, method=method,
                       warnings=warn) for name, (v, ci) in gaps.items()]
    eo = float(np.maximum(gaps["tpr"][0], gaps["fpr"][0]))  # NaN if either is
    if not np.isfinite(eo):
        warn.append("TPR or FPR undefined for some level (no positives or negatives)")
    # max of two gaps: each interval at alpha/2, so both cover with probability >= 1 - alpha
    (_, (tl, th)), (_, (fl, fh)) = gaps["tpr"], gaps["fpr"]
    ci = (max(tl, fl), max(th, fh)) if nc >= 2 and np.isfinite(eo) else none
    rows.append(metric_row("equalized_odds_difference", label, ALL_LEVELS, eo, n=n,
                           n_clusters=nc, method=method, warnings=warn, ci=ci))
    return rows


def _reference_of(levels: pd.Series, label: str) -> str:
    r = choose_reference(levels, label)
    return r.level if r else ""


def calibration_by_group(frame: pd.DataFrame, attributes: Attrs = None, *, score: str = "score",
                         outcome: str = "y_true", score_range: tuple[float, float] = (0.0, 1.0),
                         n_bins: int = 10, reference: str | dict | None = None,
                         cluster: str = "cf_group", B: int = DEFAULT_B, seed: int = 0,
                         alpha: float = 0.05, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Calibration of a score against a binary outcome, by group.

    ``frame``: ``score`` (numeric within ``score_range``, rescaled to [0, 1]), ``outcome``
    (1.0 / 0.0), ``attr.*``, ``cluster``. Metrics: ``calibration_gap`` (mean score minus
    outcome rate) per level, with ``_diff`` vs the reference and ``_gap`` across levels;
    ``ece`` per level (expected calibration error over ``n_bins`` equal-width bins).
    """
    require(frame, [score, outcome, cluster], "calibration by group")
    s01 = _rescale(_numeric(frame, score), score_range, score)
    y = _numeric(frame, outcome)
    ok = ~np.isnan(s01) & ~np.isnan(y)
    s01, y = np.where(ok, s01, np.nan), np.where(ok, y, np.nan)
    out = rate_by_group(frame, s01 - y, "calibration_gap", attributes, reference=reference,
                        cluster=cluster, B=B, seed=seed, alpha=alpha, min_cell=min_cell)
    rows = []
    bins = np.minimum((np.nan_to_num(s01) * n_bins).astype(int), n_bins - 1)
    for k, attrs in enumerate(resolve_attributes(frame, attributes)):
        rows += _ece_rows(s01, y, bins, n_bins, level_labels(frame, attrs),
                          frame[cluster].to_numpy(), attribute_label(attrs), B, seed + k, alpha,
                          min_cell)
    return to_table([*out.to_dict("records"), *rows])


def _rescale(s: np.ndarray, score_range: tuple[float, float], name: str) -> np.ndarray:
    lo, hi = score_range
    bad = ~np.isnan(s) & ((s < lo) | (s > hi))
    if bad.any():
        raise DataError(f"column {name!r}: {int(bad.sum())} value(s) outside score_range "
                        f"{score_range}, e.g. {s[bad][0]}; pass the rubric's score_range")
    return (s - lo) / (hi - lo)


def _ece_rows(s, y, bins, K, lev, clusters, label, B, seed, alpha, min_cell) -> list[dict]:
    keep = ~np.isnan(s) & lev.notna().to_numpy()
    levels = sorted(set(lev[keep]))
    G = len(levels)
    g = pd.Categorical(lev[keep], categories=levels).codes.astype(np.int64)
    boot = ClusterBootstrap(np.asarray(clusters)[keep], B, seed, alpha)
    cell = g * K + bins[keep]
    X = np.column_stack([s[keep], y[keep], np.ones(int(keep.sum()))])
    tot, R = boot.sums(X, cell, G * K)  # (G*K, 3) and (B, G*K, 3): score, outcome, count
    occupied = boot.cluster_sums(np.ones(len(cell)), cell, G * K) > 0  # (C, G*K)
    rows = []
    for i, lvl in enumerate(levels):
        sl = slice(i * K, (i + 1) * K)
        with np.errstate(invalid="ignore", divide="ignore"):
            point = np.abs(tot[sl, 0] - tot[sl, 1]).sum() / tot[sl, 2].sum()
            reps = np.abs(R[:, sl, 0] - R[:, sl, 1]).sum(1) / R[:, sl, 2].sum(1)
        n, nc = int(tot[sl, 2].sum()), int(occupied[:, sl].any(1).sum())
        rows.append(metric_row("ece", label, lvl, point, n=n, n_clusters=nc,
                               ci=ci_of(reps, alpha, nc >= 2),
                               method=f"{K} equal-width bins; cluster_bootstrap",
                               warnings=cell_warnings(n, nc, min_cell)))
    return rows


def calibration_curve(frame: pd.DataFrame, attribute: AttrSpec, *, score: str = "score",
                      outcome: str = "y_true", score_range: tuple[float, float] = (0.0, 1.0),
                      n_bins: int = 10) -> pd.DataFrame:
    """Plot data (not a metric table): per level and bin, mean score, outcome rate, n."""
    require(frame, [score, outcome], "calibration curve")
    s01 = _rescale(_numeric(frame, score), score_range, score)
    attrs = resolve_attributes(frame, [attribute])[0]
    df = pd.DataFrame({"attribute": attribute_label(attrs),
                       "level": level_labels(frame, attrs).to_numpy(),
                       "score": s01, "outcome": _numeric(frame, outcome)}).dropna()
    df["bin"] = np.minimum((df["score"] * n_bins).astype(int), n_bins - 1)
    return (df.groupby(["attribute", "level", "bin"], as_index=False)
            .agg(mean_score=("score", "mean"), outcome_rate=("outcome", "mean"),
                 n=("score", "size")))


def quality_of_service(frame: pd.DataFrame, attributes: Attrs = None, *, score: str = "score",
                       reference: str | dict | None = None, cluster: str = "cf_group",
                       B: int = DEFAULT_B, seed: int = 0, alpha: float = 0.05,
                       min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Quality scores by group: ``quality`` per level, ``quality_diff`` vs the reference,
    and the spread across levels: ``quality_gap`` (max - min) and ``quality_std``.

    ``frame``: ``score`` (numeric rubric quality; NaN when unparsed, dropped), ``attr.*``.
    """
    require(frame, [score], "quality of service")
    return rate_by_group(frame, score, "quality", attributes, reference=reference,
                         cluster=cluster, B=B, seed=seed, alpha=alpha, min_cell=min_cell,
                         std=True)


def unawareness_rate(frame: pd.DataFrame, attributes: Attrs = None, *,
                     column: str = "infers_attribute", reference: str | dict | None = None,
                     cluster: str = "cf_group", B: int = DEFAULT_B, seed: int = 0,
                     alpha: float = 0.05, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Rate at which responses infer or mention sensitive attributes the user did not
    state. ``column``: the unawareness rubric's ``infers_attribute`` (bool or yes/no, e.g.
    ``score.infers_attribute`` in ``judge.load`` frames); missing = unparsed, dropped."""
    require(frame, [column], "unawareness rate")
    return rate_by_group(frame, _bool01(frame[column]), "unawareness_rate", attributes,
                         reference=reference, cluster=cluster, B=B, seed=seed, alpha=alpha,
                         min_cell=min_cell)


def failure_rates(frame: pd.DataFrame, attributes: Attrs = None, *,
                  parse_status: str = "parse_status", refused: str = "refused",
                  reference: str | dict | None = None, cluster: str = "cf_group",
                  B: int = DEFAULT_B, seed: int = 0, alpha: float = 0.05,
                  min_cell: int = MIN_CELL) -> pd.DataFrame:
    """``parse_failure_rate`` (``parse_status == "parse_failure"``) and ``refusal_rate``
    (bool ``refused``; else ``parse_status == "refusal"``) by group, with differences vs
    the reference and gaps. Rows with a missing status are dropped."""
    require(frame, [parse_status], "failure rates")
    st = frame[parse_status]
    pf = np.where(st.notna(), (st == "parse_failure").astype(float), np.nan)
    if refused in frame.columns:
        rf = _bool01(frame[refused])
    else:
        rf = np.where(st.notna(), (st == "refusal").astype(float), np.nan)
    kw = dict(reference=reference, cluster=cluster, B=B, seed=seed, alpha=alpha,
              min_cell=min_cell)
    return to_table([*rate_by_group(frame, pf, "parse_failure_rate", attributes, **kw)
                     .to_dict("records"),
                     *rate_by_group(frame, rf, "refusal_rate", attributes, **kw)
                     .to_dict("records")])
