"""Every fairness metric that a scored frame's columns allow, in one table."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from judge.stats._metric_table import MIN_CELL, resolve_attributes, to_table
from judge.stats.bootstrap import DEFAULT_B
from judge.stats.counterfactual import counterfactual_metrics
from judge.stats.fairness import (
    demographic_parity,
    equalized_odds,
    failure_rates,
    quality_of_service,
    unawareness_rate,
)
from judge.stats.intersectional import intersectional_cells
from judge.stats.multiple import adjust_table
from judge.stats.noise import noise_floor_metrics


def all_metrics(frame: pd.DataFrame, attributes: Sequence[str] | None = None, *,
                reference: str | dict | None = None, cluster: str = "cf_group",
                intersections: bool = True, correction: str = "holm",
                decision: str = "decision", score: str = "score", y_true: str = "y_true",
                unaware: str = "infers_attribute", B: int = DEFAULT_B, seed: int = 0,
                alpha: float = 0.05, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Run each metric whose input columns exist and correct p-values per metric.

    ``frame``: a scored frame (``cf_group``, ``attr.*`` and any of ``decision``, ``score``,
    ``y_true``, ``parse_status``/``refused``, ``infers_attribute``; other names through
    the keyword arguments, e.g. ``unaware="score.unawareness.infers_attribute"``). ``attributes``:
    single attribute names (default: all); with ``intersections`` the counterfactual
    metrics also run on every pair of them, and the intersectional cells on all
    combinations. ``p_adj``: ``correction`` within each metric, across attributes and
    levels. Calibration and exposure need inputs of their own and are not run here.
    """
    names = [a[0] for a in resolve_attributes(frame, attributes) if len(a) == 1]
    cols = set(frame.columns)
    kw = dict(cluster=cluster, B=B, seed=seed, alpha=alpha, min_cell=min_cell)
    rkw = dict(reference=reference, **kw)
    tables = []
    has_dec, has_score = decision in cols, score in cols
    if has_dec or has_score:
        specs = [*names, *(combinations(names, 2) if intersections else [])]
        tables.append(counterfactual_metrics(frame, specs, decision=decision if has_dec
                                             else None, score=score if has_score else None,
                                             **rkw))
        tables.append(noise_floor_metrics(  # flip rates net of same-query resampling noise
            frame, specs, reference=reference, decision=decision if has_dec else None,
            score=score if has_score else None, cluster=cluster, B=B, seed=seed,
            alpha=alpha))
    if has_dec:
        tables.append(demographic_parity(frame, names, decision=decision, **rkw))
        if y_true in cols and frame[y_true].notna().any():
            tables.append(equalized_odds(frame, names, decision=decision, y_true=y_true,
                                         reference=reference, **kw))
    if has_score:
        tables.append(quality_of_service(frame, names, score=score, **rkw))
        tables.append(intersectional_cells(frame, names, outcome=score,
                                           max_order=None if intersections else 1,
                                           correction=correction, **kw))
    if "parse_status" in cols:
        tables.append(failure_rates(frame, names, **rkw))
    if unaware in cols:
        tables.append(unawareness_rate(frame, names, column=unaware, **rkw))
    out = to_table(pd.concat(tables, ignore_index=True).to_dict("records") if tables else [])
    others = sorted(set(out.metric) - {"cell_diff_vs_rest"})
    return adjust_table(out, correction, family=("metric",), metrics=others)


def compare_tables(a: pd.DataFrame, b: pd.DataFrame, *, alpha: float = 0.05,
                   correction: str | None = "holm") -> pd.DataFrame:
    """Differences ``a - b`` of matching rows (metric, attribute, level, reference) of
    two metric tables, e.g. two generators or two rubric versions.

    Intervals and p-values treat the two estimates as independent, with standard errors
    read off their intervals (``(ci_high - ci_low) / (2 z)``). When the runs share
    counterfactual groups (the same queries), the estimates are positively correlated
    and these intervals are conservative. Rows present in only one table are dropped;
    rows without an interval in either table get none.
    """
    from scipy.stats import norm

    keys = ["metric", "attribute", "level", "reference"]
    m = a.merge(b, on=keys, suffixes=("_a", "_b"), how="inner")
    z = float(norm.ppf(1 - alpha / 2))
    d = (m["value_a"] - m["value_b"]).to_numpy(float)
    se = np.sqrt(((m["ci_high_a"] - m["ci_low_a"]) / (2 * z)) ** 2 +
                 ((m["ci_high_b"] - m["ci_low_b"]) / (2 * z)) ** 2).to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(se > 0, 2 * norm.sf(np.abs(d) / se), np.where(d == 0, 1.0, 0.0))
    ok = np.isfinite(se) & np.isfinite(d)
    warn = [("; ".join(f"{tag}: {w}" for tag, w in (("a", wa), ("b", wb)) if w) or None)
            for wa, wb in zip(m["warning_a"], m["warning_b"], strict=True)]
    out = pd.DataFrame({
        **{k: m[k] for k in keys}, "value": d,
        "ci_low": np.where(ok, d - z * se, np.nan), "ci_high": np.where(ok, d + z * se, np.nan),
        "n": np.minimum(m["n_a"], m["n_b"]),
        "n_clusters": np.minimum(m["n_clusters_a"], m["n_clusters_b"]),
        "p_value": np.where(ok, p, np.nan), "warning": warn,
        "method": "difference a - b; normal approximation from both intervals (independent)"})
    out = to_table(out.to_dict("records"))
    return adjust_table(out, correction) if correction else out
