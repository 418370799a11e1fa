"""Coverage study: do the 95% intervals cover a planted truth as often as they claim?

``simulate(seed) -> (judgments, labels, truth)`` builds one synthetic data set with a
known differential judge bias and a known true group gap; :func:`coverage_study` runs
:func:`calibrate_frames` (bias and correction sections) on each seed and counts how
often each interval covers the truth. :func:`simulate_basic` is the built-in world:
clustered items, group-dependent true quality, a judge that adds a group-dependent bias
and noise, and a few noisy unbiased human raters on a random labelled subset.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

import numpy as np
import pandas as pd

from judge.calibration.core import calibrate_frames
from judge.calibration.scale import ScaleSpec

Simulate = Callable[[int], tuple[pd.DataFrame, pd.DataFrame, dict]]

GAP_ESTIMATORS = ("judge_only", "ppi", "ppi_cluster_bootstrap", "ppi_isotonic")
DEFAULT_GROUP_EFFECT = {"a": 0.0, "b": -0.5, "c": 0.3}
DEFAULT_JUDGE_BIAS = {"a": 0.0, "b": 0.6, "c": 0.0}


def expected_likert(mu: float, sd: float, lo: int = 1, hi: int = 5) -> float:
    """``E[round(clip(Z, lo, hi))]`` for ``Z ~ N(mu, sd^2)`` (rounding half to even aside).

    >>> round(expected_likert(3.0, 1e-9), 6)
    3.0
    """
    from scipy.stats import norm

    ks = np.arange(lo, hi + 1)
    upper = np.append(norm.cdf((ks[:-1] + 0.5 - mu) / sd), 1.0)
    lower = np.insert(norm.cdf((ks[1:] - 0.5 - mu) / sd), 0, 0.0)
    return float((ks * (upper - lower)).sum())


def simulate_basic(seed: int, *, n_clusters: int = 60, per_group: int = 3,
                   group_effect: dict[str, float] | None = None,
                   judge_bias: dict[str, float] | None = None, n_labelled: int = 240,
                   n_raters: int = 3, cluster_sd: float = 0.5, item_sd: float = 0.8,
                   judge_sd: float = 0.5, rater_sd: float = 0.7, oversample_high: float = 1.0
                   ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """A synthetic 1-5 Likert world with planted truth (see module docstring).

    Each cluster (a counterfactual group) holds ``per_group`` items of every group. Latent
    quality ``q = 3 + cluster + group_effect[g] + item noise``; the judge scores
    ``round(clip(q + judge_bias[g] + noise, 1, 5))``; each of ``n_raters`` raters scores
    ``round(clip(q + noise, 1, 5))`` on a uniformly random subset of ``n_labelled`` items.
    With ``oversample_high > 1`` the labelled items are a Poisson sample instead, items the
    judge scored 4 or 5 that many times likelier to be picked (``n_labelled`` expected),
    and ``truth["inclusion_prob"]`` holds each labelled item's inclusion probability.
    ``truth`` holds, for each group against the reference ``a``, the exact differential
    judge bias ``E[judge - human | g] - E[judge - human | a]`` and the true gap
    ``E[human | g] - E[human | a]`` (normal-CDF expectations of the rounded scores).
    """
    ge = dict(DEFAULT_GROUP_EFFECT if group_effect is None else group_effect)
    jb = dict(DEFAULT_JUDGE_BIAS if judge_bias is None else judge_bias)
    rng = np.random.default_rng(seed)
    groups = sorted(ge)
    rows = []
    for c in range(n_clusters):
        ce = rng.normal(0, cluster_sd)
        for g in groups:
            for k in range(per_group):
                q = 3.0 + ce + ge[g] + rng.normal(0, item_sd)
                rows.append({"item_id": f"s{seed}-c{c}-{g}{k}", "cluster": f"c{c}",
                             "group.group": g, "q": q})
    items = pd.DataFrame(rows)
    raw = items["q"] + items["group.group"].map(jb) + rng.normal(0, judge_sd, len(items))
    items["score"] = np.clip(np.round(raw), 1, 5).astype(int)
    judgments = items.assign(judge="sim-judge", criterion="quality")[
        ["item_id", "judge", "criterion", "score", "cluster", "group.group"]]
    pi = None
    if oversample_high == 1.0:
        pick = np.sort(rng.choice(len(items), size=min(n_labelled, len(items)), replace=False))
    else:
        f = np.where(items["score"] >= 4, oversample_high, 1.0)
        pi = np.minimum(1.0, f * n_labelled / f.sum())
        pick = np.flatnonzero(rng.random(len(items)) < pi)
    lab = items.iloc[pick]
    labels = pd.DataFrame([
        {"item_id": it, "rater": f"r{r}", "criterion": "quality",
         "score": int(np.clip(np.round(q + rng.normal(0, rater_sd)), 1, 5))}
        for it, q in zip(lab["item_id"], lab["q"], strict=True) for r in range(n_raters)])
    base = cluster_sd**2 + item_sd**2
    e_h = {g: expected_likert(3.0 + ge[g], np.sqrt(base + rater_sd**2)) for g in groups}
    e_j = {g: expected_likert(3.0 + ge[g] + jb[g], np.sqrt(base + judge_sd**2)) for g in groups}
    ref = groups[0]
    truth = {"criterion": "quality", "judge": "sim-judge", "attribute": "group",
             "reference": ref,
             "differential_bias": {g: (e_j[g] - e_h[g]) - (e_j[ref] - e_h[ref])
                                   for g in groups if g != ref},
             "group_gap": {g: e_h[g] - e_h[ref] for g in groups if g != ref}}
    if pi is not None:
        truth["inclusion_prob"] = dict(zip(lab["item_id"], pi[pick], strict=True))
    return judgments, labels, truth


LIKERT_1_5 = ScaleSpec(kind="likert", min=1, max=5)


def coverage_study(simulate: Simulate, seeds: int, *, B: int = 1000, alpha: float = 0.05,
                   scale: ScaleSpec | None = LIKERT_1_5, first_seed: int = 0,
                   use_weights: bool = True) -> dict:
    """Coverage of the differential-bias CI and of each group-gap estimator's CI.

    When ``truth`` has ``inclusion_prob`` ({item_id: probability} of the labelled items)
    and ``use_weights`` is true, they are passed to :func:`calibrate_frames` as weights.

    Returns ``{"seeds", "differential_bias": {...}, "gap": {estimator: {...}}}`` where each
    entry has ``coverage`` (share of seed x group cells whose CI covers the truth),
    ``mean_width``, ``mean_error`` (point minus truth) and ``by_group`` (the same per group).
    """
    cells: dict[str, list[tuple[str, bool, float, float]]] = {"differential_bias": []}
    cells.update({e: [] for e in GAP_ESTIMATORS})
    # statsmodels' Holm correction runs gc.collect(); freezing the heap keeps that cheap
    gc.freeze()
    try:
        for s in range(first_seed, first_seed + seeds):
            _one_seed(simulate, s, cells, B, alpha, scale, use_weights)
    finally:
        gc.unfreeze()
    summary = {k: _summarise(v) for k, v in cells.items()}
    return {"seeds": seeds, "B": B, "alpha": alpha, "weighted": use_weights,
            "differential_bias": summary.pop("differential_bias"), "gap": summary}


def _one_seed(simulate: Simulate, s: int, cells: dict, B: int, alpha: float,
              scale: ScaleSpec | None, use_weights: bool) -> None:
    """Run one seed and append its (covered, width, error) cells."""
    judgments, labels, truth = simulate(s)
    pi = truth.get("inclusion_prob") if use_weights else None
    res = calibrate_frames(judgments, labels, scale=scale, B=B, seed=s, alpha=alpha,
                           sections=("bias", "correction"),
                           weights=None if pi is None else pd.Series(pi, dtype=float),
                           reference={truth["attribute"]: truth["reference"]})
    key = ((res.differential_bias.criterion == truth["criterion"])
           & (res.differential_bias.judge == truth["judge"])
           & (res.differential_bias.attribute == truth["attribute"]))
    db = res.differential_bias[key].set_index("group")
    for g, t in truth["differential_bias"].items():
        r = db.loc[g]
        cells["differential_bias"].append((g, *_cell(r.estimate, r.ci_low, r.ci_high, t)))
    c = res.corrected
    c = c[(c.criterion == truth["criterion"]) & (c.judge == truth["judge"])
          & (c.attribute == truth["attribute"]) & (c.quantity == "gap")]
    for g, t in truth["group_gap"].items():
        for est in GAP_ESTIMATORS:
            r = c[(c.group == g) & (c.estimator == est)].iloc[0]
            cells[est].append((g, *_cell(r.value, r.ci_low, r.ci_high, t)))


def _cell(value, lo, hi, truth) -> tuple[bool, float, float]:
    return bool(lo <= truth <= hi), float(hi - lo), float(value - truth)


def _summarise(cells, by_group: bool = True) -> dict:
    a = np.array([c[1:] for c in cells], dtype=float)
    out = {"coverage": float(np.nanmean(a[:, 0])), "cells": len(a),
           "mean_width": float(np.nanmean(a[:, 1])), "mean_error": float(np.nanmean(a[:, 2]))}
    if by_group:
        out["by_group"] = {g: _summarise([c for c in cells if c[0] == g], False)
                           for g in sorted({c[0] for c in cells})}
    return out


def format_coverage(result: dict, by_group: bool = False) -> str:
    """A plain-text coverage table (``by_group``: per-group lines under the differential
    bias, the judge-only gap and the PPI gap)."""
    lines = [f"coverage over {result['seeds']} seeds (B={result['B']}, nominal "
             f"{1 - result['alpha']:.0%})", f"{'quantity':<36}{'coverage':>9}{'width':>9}"
             f"{'bias':>9}"]
    rows = [("differential judge bias (OLS, CR)", result["differential_bias"])]
    rows += [("group gap: " + est, d) for est, d in result["gap"].items()]
    for name, d in rows:
        lines.append(_line(name, d))
        if by_group and name.endswith(("CR)", "judge_only", ": ppi")):
            lines += [_line(f"  {g}", dg) for g, dg in d.get("by_group", {}).items()]
    return "\n".join(lines)


def _line(name: str, d: dict) -> str:
    return f"{name:<36}{d['coverage']:>9.3f}{d['mean_width']:>9.3f}{d['mean_error']:>9.3f}"
