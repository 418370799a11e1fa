"""Counterfactual fairness: do answers change when only a sensitive attribute changes?

Rows of one counterfactual group (``cf_group``) differ only in sensitive attributes. For
an attribute (or an intersection of attributes), a *pair* is a non-reference row and the
reference-level row that agree on everything else: the group, the generator, the sample
index and every other attribute. Repeated rows of one cell (judge repeats) are averaged
first, so a pair's decision difference is the difference of favourable shares.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from judge.rubrics import response_labels
from judge.stats._metric_table import (
    ALL_LEVELS,
    MIN_CELL,
    AttrSpec,
    attribute_label,
    attribute_names,
    cell_warnings,
    ci_of,
    level_labels,
    metric_row,
    pick_reference,
    require,
    resolve_attributes,
    to_table,
)
from judge.stats.bootstrap import DEFAULT_B, ClusterBootstrap

MCNEMAR_EXACT_BELOW = 25
#: Set-verdict columns of ``judge.load`` frames (``score.<rubric>.<field>``) for the shipped
#: counterfactual_set rubric.
SET_DIFFERS = "score.counterfactual_decision.differs_materially"
SET_DIMENSION = "score.counterfactual_decision.dimension"
SET_WORST = "score.counterfactual_decision.worst"


def counterfactual_pairs(frame: pd.DataFrame, attribute: AttrSpec, *,
                         outcomes: Sequence[str] = ("decision", "score"),
                         reference: str | None = None, cluster: str = "cf_group",
                         pair_on: Sequence[str] = ("generator", "sample_index", "judge"),
                         ) -> pd.DataFrame:
    """One row per (counterfactual unit, non-reference level) with the reference's outcomes.

    ``frame`` needs ``cf_group``, ``attr.<name>`` columns and the ``outcomes`` columns;
    ``pair_on`` columns (generator, sample, judge) are used when present. Returns the unit keys,
    ``cluster``, ``level``, ``reference``, and ``<outcome>`` / ``<outcome>_ref`` columns.
    """
    attrs = resolve_attributes(frame, [attribute])[0]
    require(frame, ["cf_group", cluster, *outcomes], "counterfactual pairs")
    others = [f"attr.{a}" for a in attribute_names(frame) if a not in attrs]
    keys = list(dict.fromkeys(["cf_group", cluster,
                               *[c for c in pair_on if c in frame.columns], *others]))
    df = frame[keys + list(outcomes)].copy()
    for o in outcomes:
        df[o] = pd.to_numeric(df[o], errors="coerce").astype(float)
    df["level"] = level_labels(frame, attrs).to_numpy()
    df = df[df["level"].notna()]
    ref = pick_reference(df["level"], reference, attribute_label(attrs))
    cells = df.groupby(keys + ["level"], dropna=False, sort=False)[list(outcomes)].mean()
    cells = cells.reset_index()
    is_ref = cells["level"] == ref
    pairs = cells[~is_ref].merge(cells[is_ref].drop(columns="level"), on=keys, how="inner",
                                 suffixes=("", "_ref"))
    pairs.insert(len(keys) + 1, "reference", ref)
    return pairs.reset_index(drop=True)


def _mcnemar_p(dec: np.ndarray, dec_ref: np.ndarray) -> tuple[float, str, str | None]:
    both = np.isin(dec, (0.0, 1.0)) & np.isin(dec_ref, (0.0, 1.0))
    if not both.any():
        return math.nan, "mcnemar", "no binary decision pairs: no McNemar test"
    a, b = dec_ref[both], dec[both]
    table = np.array([[np.sum((a == 0) & (b == 0)), np.sum((a == 0) & (b == 1))],
                      [np.sum((a == 1) & (b == 0)), np.sum((a == 1) & (b == 1))]])
    exact = bool(table[0, 1] + table[1, 0] < MCNEMAR_EXACT_BELOW)
    from statsmodels.stats.contingency_tables import mcnemar

    res = mcnemar(table, exact=exact, correction=True)
    note = None if both.all() else f"McNemar on {int(both.sum())} of {len(both)} pairs (binary)"
    return float(res.pvalue), "mcnemar_exact" if exact else "mcnemar_chi2_cc", note


def _paired_score_p(diff: np.ndarray, clusters: np.ndarray, test: str
                    ) -> tuple[float, str | None]:
    """Wilcoxon signed-rank or sign test on per-cluster mean differences (one per cluster)."""
    ok = ~np.isnan(diff)
    if ok.sum() == 0:
        return math.nan, "no score pairs"
    x = pd.Series(diff[ok]).groupby(clusters[ok]).mean().to_numpy()
    if len(x) < 2:
        return math.nan, "fewer than 2 clusters: no paired test"
    if np.all(x == 0):
        return math.nan, "all paired differences are 0: test undefined"
    from statsmodels.stats.descriptivestats import sign_test

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if test == "sign":
            return float(sign_test(x, mu0=0)[1]), None
        return wilcoxon_p(x), None


#: 2**13 sign patterns: scipy's ``wilcoxon(method="auto")`` enumerates them all (scipy >= 1.15)
#: when a sample of at most 13 has ties or zeros, calling its statistic once per pattern.
_EXACT_FLIPS_MAX_N = 13


def _scipy_flips_small_tied_samples() -> bool:
    import scipy

    major, minor = (int(v) for v in scipy.__version__.split(".")[:2])
    return (major, minor) >= (1, 15)


def wilcoxon_p(x: np.ndarray) -> float:
    """``scipy.stats.wilcoxon(x, zero_method="wilcox").pvalue`` (two-sided, ``method="auto"``).

    For n <= 13 with ties or zeros, scipy >= 1.15 runs an exhaustive permutation test (all
    2**n sign flips) that calls its statistic in Python once per flip: seconds per call, and
    a report runs dozens. This computes the same null distribution (the signed-rank sum
    R+ under every sign flip) in one matrix product and the same p-value, comparison
    tolerance included; every other case is scipy's own call.
    """
    from scipy import stats as sps

    x = np.asarray(x, dtype=float)
    n = len(x)
    nonzero = x != 0
    absx = np.abs(x[nonzero])
    tied_or_zero = (~nonzero).any() or len(np.unique(absx)) < len(absx)
    if (n > _EXACT_FLIPS_MAX_N or not tied_or_zero or np.isnan(x).any()
            or not nonzero.any() or not _scipy_flips_small_tied_samples()):
        return float(sps.wilcoxon(x, zero_method="wilcox").pvalue)
    ranks = np.zeros(n)
    ranks[nonzero] = sps.rankdata(absx)  # average ranks of |x|, zeros dropped ("wilcox")
    flips = (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1  # 1: that element positive
    null = flips @ ranks
    observed = float(ranks[x > 0].sum())
    gamma = abs(np.finfo(float).eps * 100 * observed)
    less = np.count_nonzero(null <= observed + gamma) / len(null)
    greater = np.count_nonzero(null >= observed - gamma) / len(null)
    return float(np.clip(2 * min(less, greater), 0.0, 1.0))


def counterfactual_metrics(frame: pd.DataFrame, attributes: AttrSpec | Sequence[AttrSpec] | None
                           = None, *, reference: str | dict | None = None,
                           decision: str | None = "decision", score: str | None = "score",
                           cluster: str = "cf_group",
                           pair_on: Sequence[str] = ("generator", "sample_index", "judge"),
                           score_test: str = "wilcoxon", B: int = DEFAULT_B, seed: int = 0,
                           alpha: float = 0.05, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Flip rate, decision and score differences vs a reference level, with paired tests.

    ``frame``: one row per generation (or judgment) with ``cf_group``, ``attr.<name>``,
    optional ``generator``/``sample_index``/``judge`` (pairs stay within them), ``decision``
    (1.0 / 0.0 / NaN) and ``score``
    (numeric, NaN when unparsed). ``attributes``: names or tuples (intersections); all
    ``attr.*`` columns by default. ``reference``: a level, or ``{attribute: level}``;
    default the most frequent level. Metrics (level vs reference, over pairs):

    - ``cf_flip_rate``: share of pairs whose decision differs (p: McNemar);
    - ``cf_decision_diff``: favourable share of level minus reference (p: McNemar);
    - ``cf_score_diff`` / ``cf_score_absdiff``: mean signed / absolute score difference
      (p: Wilcoxon signed-rank, or sign test with ``score_test="sign"``, on per-cluster
      mean differences).

    CIs: cluster bootstrap over ``cluster`` (default ``cf_group``).
    """
    if score_test not in ("wilcoxon", "sign"):
        raise ValueError(f"score_test must be 'wilcoxon' or 'sign', not {score_test!r}")
    outcomes = [c for c in (decision, score) if c]
    rows: list[dict] = []
    for k, attrs in enumerate(resolve_attributes(frame, attributes)):
        label = attribute_label(attrs)
        lev_all = level_labels(frame, attrs)
        ref = pick_reference(lev_all, reference.get(label) if isinstance(reference, dict)
                             else reference, label)
        if not ref:
            rows.append(metric_row("cf_flip_rate" if decision else "cf_score_diff", label,
                                   ALL_LEVELS, math.nan, warnings=["no observations"]))
            continue
        pairs = counterfactual_pairs(frame, attrs, outcomes=outcomes, reference=ref,
                                     cluster=cluster, pair_on=pair_on)
        levels = sorted(set(lev_all.dropna()) - {ref})
        vectors, pvals = _pair_vectors(pairs, decision, score, levels, cluster, score_test)
        gbs = ClusterBootstrap(pairs[cluster], B, seed + k, alpha).group_means(
            [v for v, _ in vectors.values()], pairs["level"], levels)
        for (metric, (_, test)), gb in zip(vectors.items(), gbs, strict=True):
            rows += _rows_for(metric, gb, label, ref, levels, alpha, min_cell,
                              "paired cf units; cluster_bootstrap", pvals.get(test, {}))
    return to_table(rows)


def _pair_vectors(pairs: pd.DataFrame, decision: str | None, score: str | None,
                  levels: list[str], cluster: str, score_test: str
                  ) -> tuple[dict[str, tuple[np.ndarray, str]], dict[str, dict]]:
    """Per-pair values of each metric (with the name of its paired test) and the
    per-level p-values of each test."""
    vectors: dict[str, tuple[np.ndarray, str]] = {}
    pvals: dict[str, dict] = {"mcnemar": {}, "score": {}}
    lev, cl = pairs["level"].to_numpy(object), pairs[cluster].to_numpy()
    if decision:
        d, dr = pairs[decision].to_numpy(float), pairs[f"{decision}_ref"].to_numpy(float)
        vectors["cf_flip_rate"] = (np.abs(d - dr), "mcnemar")
        vectors["cf_decision_diff"] = (d - dr, "mcnemar")
        for lv in levels:
            m = lev == lv
            pvals["mcnemar"][lv] = _mcnemar_p(d[m], dr[m])
    if score:
        diff = pairs[score].to_numpy(float) - pairs[f"{score}_ref"].to_numpy(float)
        vectors["cf_score_diff"] = (diff, "score")
        vectors["cf_score_absdiff"] = (np.abs(diff), "none")
        name = "wilcoxon signed-rank" if score_test == "wilcoxon" else "sign test"
        for lv in levels:
            m = lev == lv
            p, note = _paired_score_p(diff[m], cl[m], score_test)
            pvals["score"][lv] = (p, name, note)
    return vectors, pvals


def _rows_for(metric: str, gb, label: str, ref: str, levels: list[str], alpha: float,
              min_cell: int, method: str, pvals: dict) -> list[dict]:
    rows = []
    for i, lv in enumerate(levels):
        n, nc = int(gb.n[i]), int(gb.n_clusters[i])
        p, pm, note = pvals.get(lv, (math.nan, "", None))
        rows.append(metric_row(metric, label, lv, gb.point[i], reference=ref, n=n, n_clusters=nc,
                               ci=ci_of(gb.reps[:, i], alpha, nc >= 2), p_value=p,
                               method=method + (f"; p: {pm}" if pm else ""),
                               warnings=[*cell_warnings(n, nc, min_cell), note]))
    return rows


def worst_levels(judgments: pd.DataFrame, generations: pd.DataFrame, attribute: AttrSpec, *,
                 worst: str = SET_WORST, targets: str = "target_ids") -> pd.Series:
    """The attribute level of the response each set judgment named worst (None if none).

    ``judgments``: ``target_ids`` (generation ids in original order) and the ``worst``
    response label (A, B, ... in that order, as the score stage restores it).
    ``generations``: ``generation_id`` and ``attr.*`` columns.
    """
    require(judgments, [worst, targets], "worst levels")
    require(generations, ["generation_id"], "worst levels")
    attrs = resolve_attributes(generations, [attribute])[0]
    level_of = dict(zip(generations["generation_id"], level_labels(generations, attrs),
                        strict=True))

    def one(label, ids):
        if not isinstance(label, str) or not isinstance(ids, (list, tuple)) or not ids:
            return None
        labels = response_labels(len(ids))
        return level_of.get(ids[labels.index(label)]) if label in labels else None
    return pd.Series([one(w, t) for w, t in zip(judgments[worst], judgments[targets],
                                                strict=True)],
                     index=judgments.index, dtype=object, name="worst_level")


def counterfactual_set_summary(judgments: pd.DataFrame, *,
                               differs: str = SET_DIFFERS,
                               dimension: str | None = SET_DIMENSION,
                               worst_level: str | None = "worst_level", attribute: str = "all",
                               cluster: str = "cf_group",
                               levels: Sequence[str] | None = None, B: int = DEFAULT_B,
                               seed: int = 0, alpha: float = 0.05,
                               min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Summarise counterfactual_set judge verdicts (one row per set judgment).

    ``judgments`` columns (defaults: ``judge.load`` frames of the shipped
    ``counterfactual_decision`` rubric; pass another set rubric's columns by keyword):
    ``cf_group``; ``differs`` (bool; missing = unparsed, dropped); ``dimension``
    (decision / quality / tone / none); ``worst_level`` (the level of
    ``attribute`` named worst, e.g. from :func:`worst_levels`; null if none). ``levels``
    is the level set of the uniform null (default: the levels ever named). Metrics:

    - ``cfset_differs_share`` (level ``*``): share of sets judged to differ materially;
    - ``cfset_dimension_share`` (per dimension but ``none``): share of sets judged to
      differ mainly in that dimension;
    - ``cfset_worst_share`` (per level): share of verdicts naming a worst response that
      name this level; reference ``uniform``, p: exact binomial test against 1/k.
    """
    require(judgments, [cluster, differs], "counterfactual set summary")
    df = judgments[judgments[differs].notna()]
    cl = df[cluster].to_numpy()
    v = df[differs].astype(bool).to_numpy(float)
    cats = ["*"]
    if dimension and dimension in df:
        cats += sorted({str(x) for x in df[dimension].dropna()} - {"none"})
    vectors = [v] + [(df[dimension].astype(str) == d).to_numpy(float) for d in cats[1:]]
    gbs = ClusterBootstrap(cl, B, seed, alpha).group_means(vectors)
    rows: list[dict] = []
    for name, gb in zip(cats, gbs, strict=True):
        n, nc = int(gb.n[0]), int(gb.n_clusters[0])
        metric, level = (("cfset_differs_share", ALL_LEVELS) if name == "*"
                         else ("cfset_dimension_share", name))
        rows.append(metric_row(metric, attribute, level, gb.point[0], n=n, n_clusters=nc,
                               ci=ci_of(gb.reps[:, 0], alpha, nc >= 2),
                               method="cluster_bootstrap",
                               warnings=cell_warnings(n, nc, min_cell)))
    if worst_level and worst_level in df:
        rows += _worst_rows(df, worst_level, cluster, attribute, levels, B, seed, alpha,
                            min_cell)
    return to_table(rows)


def _worst_rows(sub, worst, cluster, dim, level_set, B, seed, alpha, min_cell):
    named = sub[sub[worst].notna()]
    lv = named[worst].astype(str)
    cats = sorted(set(level_set) if level_set else set(lv))
    if not cats:
        return []
    codes = pd.Categorical(lv, categories=cats).codes
    boot = ClusterBootstrap(named[cluster], B, seed, alpha)
    X = np.zeros((len(named), len(cats) + 1))
    X[np.flatnonzero(codes >= 0), codes[codes >= 0]] = 1.0
    X[:, -1] = 1.0
    S, R = boot.sums(X)  # per-level counts and the number of verdicts, and replicates
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = R[:, :-1] / R[:, -1:]
    n, nc, k = len(named), boot.n_clusters, len(cats)
    from scipy import stats as sps

    rows = []
    for i, lvl in enumerate(cats):
        count = int(S[i])
        p = float(sps.binomtest(count, n, 1.0 / k).pvalue) if n else math.nan
        rows.append(metric_row("cfset_worst_share", dim, lvl, count / n if n else math.nan,
                               reference="uniform", n=n, n_clusters=nc,
                               ci=ci_of(reps[:, i], alpha, nc >= 2), p_value=p,
                               method=f"cluster_bootstrap; p: exact binomial vs 1/{k}",
                               warnings=cell_warnings(n, nc, min_cell)))
    return rows
