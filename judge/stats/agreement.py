"""Agreement between a judge and human raters, from contingency tables.

Every statistic here is computed from count tables, so the cluster bootstrap is a tensor
product: per-cluster tables ``T[c, g, k, l]`` times the cluster weights ``W[b, c]`` of
:class:`judge.stats.bootstrap.ClusterBootstrap` give replicate tables, and each statistic is evaluated on all replicates at
once. Because a bootstrap replicate is the original rows repeated with integer counts,
each statistic on a replicate table equals the reference implementation on the
expanded rows (sklearn ``cohen_kappa_score``, scipy ``spearmanr`` / ``kendalltau``,
``krippendorff.alpha``); the tests check this.

Pairs are (judge score, one human rating) on the same item, so an item with three raters
gives three pairs. Krippendorff's alpha uses items as units: humans only (the ceiling)
and humans plus the judge as one more rater.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from judge.stats.bootstrap import DEFAULT_B, ClusterBootstrap, percentile_ci

Level = Literal["nominal", "ordinal", "interval"]

AGREEMENT_COLUMNS = ["attribute", "group", "metric", "value", "ci_low", "ci_high", "n",
                     "n_clusters", "warning"]
"""Fixed schema of :func:`agreement_table`."""

ALL = "all"
"""``attribute`` and ``group`` of the overall rows."""

REASON_NO_VARIATION = "no variation in ratings: chance agreement is total"
REASON_NOMINAL = "undefined for a nominal scale with more than two labels"
REASON_NO_PAIRS = "no judge-human pairs"
REASON_NO_UNITS = "no item with two or more ratings"
REASON_FEW_CLUSTERS = "fewer than 2 clusters: no interval"


def _safe_div(a, b):
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.true_divide(a, b)
    return np.where(np.asarray(b) == 0, np.nan, out)


def exact_from_table(T: np.ndarray) -> np.ndarray:
    """Share of pairs on the diagonal of ``T[..., k, l]``."""
    return _safe_div(np.trace(T, axis1=-2, axis2=-1), T.sum((-2, -1)))


def kappa_weights(K: int, weights: Literal["none", "linear", "quadratic"]) -> np.ndarray:
    """Disagreement weights over label *indices*, as in sklearn's ``cohen_kappa_score``."""
    idx = np.arange(K)
    if weights == "none":
        return 1.0 - np.eye(K)
    d = np.abs(idx[:, None] - idx[None, :]).astype(float)
    return d if weights == "linear" else d**2


def kappa_from_table(T: np.ndarray, weights: Literal["none", "linear", "quadratic"] = "none"
                     ) -> np.ndarray:
    """Cohen's kappa of ``T[..., judge, human]``; NaN when expected disagreement is 0."""
    K = T.shape[-1]
    w = kappa_weights(K, weights)
    n = T.sum((-2, -1))
    expected = _safe_div(T.sum(-1)[..., :, None] * T.sum(-2)[..., None, :], n[..., None, None])
    num = (w * T).sum((-2, -1))
    den = (w * expected).sum((-2, -1))
    return 1.0 - _safe_div(num, den)


def _midranks(margin: np.ndarray) -> np.ndarray:
    """Midrank of each category given its counts (ties share the average rank)."""
    before = np.cumsum(margin, -1) - margin
    return before + (margin + 1.0) / 2.0


def spearman_from_table(T: np.ndarray) -> np.ndarray:
    """Spearman's rho of the rows expanded from ``T`` (midranks for ties)."""
    r = _midranks(T.sum(-1))
    c = _midranks(T.sum(-2))
    n = T.sum((-2, -1))
    mr = _safe_div((T.sum(-1) * r).sum(-1), n)
    mc = _safe_div((T.sum(-2) * c).sum(-1), n)
    dr = r - mr[..., None]
    dc = c - mc[..., None]
    cov = (T * dr[..., :, None] * dc[..., None, :]).sum((-2, -1))
    vr = (T.sum(-1) * dr**2).sum(-1)
    vc = (T.sum(-2) * dc**2).sum(-1)
    return _safe_div(cov, np.sqrt(vr * vc))


def kendall_tau_b_from_table(T: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of the rows expanded from ``T``."""
    pad = np.zeros(T.shape[:-2] + (T.shape[-2] + 2, T.shape[-1] + 2))
    ge = T[..., ::-1, ::-1].cumsum(-2).cumsum(-1)[..., ::-1, ::-1]  # i' >= i, j' >= j
    pad[..., 1:-1, 1:-1] = ge
    above_right = pad[..., 2:, 2:]  # i' > i, j' > j
    le = T[..., ::-1, :].cumsum(-2)[..., ::-1, :].cumsum(-1)  # i' >= i, j' <= j
    pad2 = np.zeros_like(pad)
    pad2[..., 1:-1, 1:-1] = le
    above_left = pad2[..., 2:, :-2]  # i' > i, j' < j
    P = (T * above_right).sum((-2, -1))
    Q = (T * above_left).sum((-2, -1))
    n = T.sum((-2, -1))
    n0 = n * (n - 1) / 2
    n1 = (T.sum(-1) * (T.sum(-1) - 1) / 2).sum(-1)
    n2 = (T.sum(-2) * (T.sum(-2) - 1) / 2).sum(-1)
    return _safe_div(P - Q, np.sqrt((n0 - n1) * (n0 - n2)))


def unit_coincidences(codes: np.ndarray, K: int) -> np.ndarray:
    """Coincidence matrix of one unit from its valid codes (Krippendorff, ``K x K``)."""
    m = len(codes)
    if m < 2:
        return np.zeros((K, K))
    cnt = np.bincount(codes, minlength=K).astype(float)
    return (np.outer(cnt, cnt) - np.diag(cnt)) / (m - 1)


def alpha_from_coincidence(coinc: np.ndarray, level: Level, values: Sequence[float] | None = None
                           ) -> np.ndarray:
    """Krippendorff's alpha from coincidence matrices ``coinc[..., K, K]``.

    ``level`` picks the difference function: nominal, ordinal (rank-based, from the
    coincidence marginals, as in the krippendorff package) or interval (``values``).
    """
    K = coinc.shape[-1]
    nc = coinc.sum(-1)
    n = nc.sum(-1)
    if level == "nominal":
        delta = np.broadcast_to(1.0 - np.eye(K), coinc.shape)
    elif level == "interval":
        v = np.asarray(values if values is not None else np.arange(K), dtype=float)
        delta = np.broadcast_to((v[:, None] - v[None, :]) ** 2, coinc.shape)
    else:
        cum = np.concatenate([np.zeros(nc.shape[:-1] + (1,)), np.cumsum(nc, -1)], -1)
        lo = np.minimum.outer(np.arange(K), np.arange(K))
        hi = np.maximum.outer(np.arange(K), np.arange(K))
        between = cum[..., hi + 1] - cum[..., lo]
        delta = (between - (nc[..., :, None] + nc[..., None, :]) / 2.0) ** 2
    d_o = (coinc * delta).sum((-2, -1))
    d_e = (nc[..., :, None] * nc[..., None, :] * delta).sum((-2, -1))
    return 1.0 - _safe_div((n - 1) * d_o, d_e)


def _codes(scores: pd.Series, labels: Sequence) -> np.ndarray:
    index = {lab: i for i, lab in enumerate(labels)}
    try:
        return np.array([index[s] for s in scores], dtype=int)
    except KeyError as err:
        raise ValueError(f"score {err.args[0]!r} is not in the label set {list(labels)}") from err


def _row(attribute, group, metric, value, lo, hi, n, nc, warning) -> dict:
    return dict(attribute=attribute, group=group, metric=metric, value=float(value),
                ci_low=float(lo), ci_high=float(hi), n=int(n), n_clusters=int(nc),
                warning=warning)


def _metric_arrays(T, Oh, Ojh, S1, S2, N, level: Level, values) -> dict[str, np.ndarray]:
    """Every agreement metric over the leading axes of the summed tensors."""
    weights = "quadratic" if level != "nominal" else "none"
    bias = _safe_div(S1, N)
    sd = np.sqrt(np.clip(_safe_div(S2 - N * bias**2, N - 1), 0, None))
    return {
        "exact_agreement": exact_from_table(T),
        "cohen_kappa": kappa_from_table(T, weights),
        "spearman": spearman_from_table(T),
        "kendall_tau_b": kendall_tau_b_from_table(T),
        "alpha_humans": alpha_from_coincidence(Oh, level, values),
        "alpha_judge_humans": alpha_from_coincidence(Ojh, level, values),
        "ba_bias": bias,
        "ba_loa_low": bias - 1.96 * sd,
        "ba_loa_high": bias + 1.96 * sd,
    }


_PAIR_METRICS = ("exact_agreement", "cohen_kappa", "spearman", "kendall_tau_b")
_BA_METRICS = ("ba_bias", "ba_loa_low", "ba_loa_high")


_COUNTS = ("pairs", "humans", "judge", "ba")


def _item_arrays(judge: pd.DataFrame, human: pd.DataFrame, K: int, labels: Sequence,
                 numeric: np.ndarray | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per judged item: its pair table ``T (K, K)``, coincidences of humans ``Oh`` and of
    humans plus judge ``Ojh``, the judge-minus-human-mean sums ``S1, S2, N``, and the
    unit counts; plus the counts of each kind (pairs, humans, judge, ba) as ``(n, 4)``."""
    n = len(judge)
    T, Oh, Ojh = (np.zeros((n, K, K)) for _ in range(3))
    S1, S2, N, Nh, Njh = (np.zeros(n) for _ in range(5))
    jcodes = _codes(judge["score"], labels)
    h = human.assign(hcode=_codes(human["score"], labels))
    hcodes = h.groupby("item_id")["hcode"].apply(np.asarray)
    for i, (item, jc) in enumerate(zip(judge["item_id"], jcodes, strict=True)):
        hc = hcodes.get(item)
        if hc is None:
            continue
        np.add.at(T[i], (np.full(len(hc), jc), hc), 1.0)
        if len(hc) >= 2:
            Oh[i] = unit_coincidences(hc, K)
            Nh[i] = 1
        Ojh[i] = unit_coincidences(np.append(hc, jc), K)
        Njh[i] = 1
        if numeric is not None:
            d = numeric[jc] - numeric[hc].mean()
            S1[i], S2[i], N[i] = d, d * d, 1
    arrays = {"T": T, "Oh": Oh, "Ojh": Ojh, "S1": S1, "S2": S2, "N": N}
    return arrays, np.column_stack([T.sum((1, 2)), Nh, Njh, N])


def agreement_table(judge: pd.DataFrame, human: pd.DataFrame, *, labels: Sequence,
                    level: Level, group_cols: Sequence[str] = (), B: int = DEFAULT_B,
                    seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """Judge-vs-human agreement overall and per group, each with a cluster-bootstrap CI.

    ``judge``: one row per item (``item_id, cluster, score`` and the ``group_cols``);
    ``human``: ``item_id, rater, score``. Scores must be in ``labels`` (the explicit,
    ordered label set). Kappa is quadratic-weighted unless ``level`` is nominal. Rows
    follow :data:`AGREEMENT_COLUMNS`; an undefined statistic is NaN with a ``warning``.
    """
    labels = list(labels)
    K = len(labels)
    numeric = None
    if level != "nominal" or K == 2:
        numeric = (np.asarray(labels, dtype=float) if level != "nominal"
                   else np.arange(K, dtype=float))
    values = numeric if level == "interval" else None
    labelled = judge[judge["item_id"].isin(set(human["item_id"]))]
    boot = ClusterBootstrap(labelled["cluster"].astype(str).to_numpy(), B, seed, alpha)
    arrays, counts = _item_arrays(labelled, human, K, labels, numeric)
    # every table of an item flattened side by side, so one product resamples them all
    flat = np.column_stack([a.reshape(len(labelled), -1) for a in arrays.values()])
    rows: list[dict] = []
    for col in [None, *group_cols]:
        groups = (labelled[col].fillna("(missing)").astype(str) if col
                  else pd.Series(ALL, index=labelled.index))
        glab = sorted(groups.unique())
        g = pd.Categorical(groups, categories=glab).codes.astype(np.int64)
        names, attr = ([ALL], ALL) if col is None else (glab, col.removeprefix("group."))
        total, reps = boot.sums(flat, g, len(glab))
        point = _metric_arrays(*_split(total, K), level, values)
        rep = _metric_arrays(*_split(reps, K), level, values)
        per_cluster = boot.cluster_sums(counts, g, len(glab))  # (C, G, 4)
        for gi, gname in enumerate(names):
            for metric, val in point.items():
                key = _COUNTS.index("pairs" if metric in _PAIR_METRICS else "ba"
                                    if metric in _BA_METRICS else "humans"
                                    if metric == "alpha_humans" else "judge")
                n = per_cluster[:, gi, key].sum()
                nc = int((per_cluster[:, gi, key] > 0).sum())
                rows.append(_finish(attr, gname, metric, val[gi], rep[metric][:, gi], n, nc,
                                    level, K, numeric, alpha))
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)


def _split(flat: np.ndarray, K: int) -> list[np.ndarray]:
    """``T, Oh, Ojh, S1, S2, N`` back from their flattened side-by-side sums."""
    lead, KK = flat.shape[:-1], K * K
    parts = np.split(flat, [KK, 2 * KK, 3 * KK, 3 * KK + 1, 3 * KK + 2], axis=-1)
    return [p.reshape(*lead, K, K) for p in parts[:3]] + [p[..., 0] for p in parts[3:]]


def _finish(attr, group, metric, value, reps, n, nc, level, K, numeric, alpha) -> dict:
    warning = None
    if metric in ("spearman", "kendall_tau_b") and level == "nominal" and K > 2:
        return _row(attr, group, metric, math.nan, math.nan, math.nan, n, nc, REASON_NOMINAL)
    if metric in _BA_METRICS and numeric is None:
        return _row(attr, group, metric, math.nan, math.nan, math.nan, n, nc, REASON_NOMINAL)
    if n == 0:
        reason = REASON_NO_UNITS if metric.startswith("alpha") else REASON_NO_PAIRS
        return _row(attr, group, metric, math.nan, math.nan, math.nan, n, nc, reason)
    if not np.isfinite(value):
        return _row(attr, group, metric, math.nan, math.nan, math.nan, n, nc,
                    REASON_NO_VARIATION)
    if nc < 2:
        return _row(attr, group, metric, value, math.nan, math.nan, n, nc, REASON_FEW_CLUSTERS)
    lo, hi = percentile_ci(reps, alpha)
    bad = np.isnan(reps).mean()
    if bad > 0:
        warning = f"{bad:.0%} of bootstrap replicates undefined (dropped)"
    return _row(attr, group, metric, value, lo, hi, n, nc, warning)
