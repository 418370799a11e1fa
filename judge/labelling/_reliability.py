"""Reliability of human labels before they are used (``judge labels check``).

Per criterion: Krippendorff's alpha among the human raters (ordinal for Likert, nominal
otherwise; computed by the ``krippendorff`` package) with a seeded cluster-bootstrap
percentile interval; each rater's alpha against the others and the alpha without them;
skip rates; time-per-item outliers; and, given judgments, a warning when the humans agree
with each other less than the judge agrees with them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import krippendorff
import numpy as np
import pandas as pd

from judge.labelling._model import CriterionSpec

OUTLIER_GAIN = 0.10   # a rater is an outlier when alpha rises by more than this without them
MIN_SECONDS = 3.0     # an answer faster than this was not read
SLOW_Z = 3.5          # robust z of log(seconds) above this is a time outlier
LOW_ALPHA = 0.667     # Krippendorff's own threshold for tentative conclusions
MIN_OUTLIER_ITEMS = 10  # fewer multi-rated items: too noisy to call a rater an outlier


@dataclass
class ReliabilityReport:
    """Tables and warnings of a labels check."""

    criteria: pd.DataFrame
    raters: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def rec(df: pd.DataFrame) -> list[dict[str, Any]]:
            return df.astype(object).where(df.notna(), None).to_dict("records")
        return {"schema_version": 1, "criteria": rec(self.criteria),
                "raters": rec(self.raters), "warnings": list(self.warnings)}


def level_of(spec: CriterionSpec | None) -> str:
    return "ordinal" if spec is None or spec.kind == "likert" else "nominal"


def _domain(values: pd.Series, spec: CriterionSpec | None) -> list[Any]:
    if spec is not None:
        return spec.values()
    return sorted(values.dropna().unique().tolist(), key=str)


def value_counts(df: pd.DataFrame, domain: list[Any]) -> tuple[np.ndarray, list[str]]:
    """Units (items) x domain value counts from rows ``item_id, rater, score``."""
    code = {str(v): i for i, v in enumerate(domain)}
    units = sorted(df["item_id"].unique())
    pos = {u: i for i, u in enumerate(units)}
    vc = np.zeros((len(units), len(domain)))
    for u, s in zip(df["item_id"], df["score"]):
        vc[pos[u], code[str(s)]] += 1
    return vc, units


def alpha_from_counts(vc: np.ndarray, level: str) -> float:
    """Krippendorff's alpha from a value-count matrix; NaN when undefined."""
    keep = vc.sum(axis=1) >= 2
    if keep.sum() < 1 or np.count_nonzero(vc[keep].sum(axis=0)) < 2:
        return math.nan
    dom = np.arange(vc.shape[1])
    try:
        return float(krippendorff.alpha(value_counts=vc[keep], value_domain=dom,
                                         level_of_measurement=level))
    except (ValueError, ZeroDivisionError):
        return math.nan


def alpha_ci(df: pd.DataFrame, domain: list[Any], level: str, *, B: int, seed: int,
             clusters: Mapping[str, str] | None = None, conf: float = 0.95
             ) -> tuple[float, float, float]:
    """Alpha and a cluster-bootstrap percentile CI (clusters default to the items)."""
    vc, units = value_counts(df, domain)
    est = alpha_from_counts(vc, level)
    if math.isnan(est):
        return est, math.nan, math.nan
    cl = [(clusters or {}).get(u, u) for u in units]
    names = sorted(set(cl))
    members = {c: [i for i, x in enumerate(cl) if x == c] for c in names}
    reps = []
    for b in range(B):
        rng = np.random.default_rng([seed, b])
        pick = rng.integers(0, len(names), len(names))
        idx = [i for p in pick for i in members[names[p]]]
        reps.append(alpha_from_counts(vc[idx], level))
    reps = np.array([r for r in reps if not math.isnan(r)])
    if len(reps) < 2:
        return est, math.nan, math.nan
    lo, hi = np.quantile(reps, [(1 - conf) / 2, 1 - (1 - conf) / 2])
    return est, float(lo), float(hi)


def _pairs_alpha(df: pd.DataFrame, a: str, others: list[str], domain: list[Any],
                 level: str) -> tuple[float, float, int]:
    """Alpha and exact agreement of rater ``a`` against each of ``others``, pooled over the
    items they share (each shared item and other rater is one unit of two ratings)."""
    mine = df[df["rater"] == a].set_index("item_id")["score"]
    rows, same = [], []
    for o in others:
        theirs = df[df["rater"] == o].set_index("item_id")["score"]
        for u in mine.index.intersection(theirs.index):
            rows += [{"item_id": f"{o}|{u}", "score": mine[u]},
                     {"item_id": f"{o}|{u}", "score": theirs[u]}]
            same.append(str(mine[u]) == str(theirs[u]))
    if not rows:
        return math.nan, math.nan, 0
    vc, _ = value_counts(pd.DataFrame(rows), domain)
    return alpha_from_counts(vc, level), float(np.mean(same)), len(same)


def check_reliability(labels: pd.DataFrame, *, specs: Mapping[str, CriterionSpec] | None = None,
                      answers: pd.DataFrame | None = None,
                      judgments: pd.DataFrame | None = None,
                      clusters: Mapping[str, str] | None = None, B: int = 500,
                      seed: int = 0) -> ReliabilityReport:
    """Reliability of ``labels`` (``item_id, rater, criterion, score``).

    ``answers`` (``rater, row_id, skipped, seconds``) adds skip rates and time outliers;
    ``judgments`` (``item_id, criterion, score[, judge]``) adds the judge's alpha against
    the humans and the warning when the humans agree less.
    """
    specs = specs or {}
    crit_rows, rater_rows, warnings = [], [], []
    for crit, sub in sorted(labels.groupby("criterion"), key=lambda kv: str(kv[0])):
        spec = specs.get(crit) or specs.get(str(crit).rpartition(".")[2])
        level, domain = level_of(spec), _domain(sub["score"], spec)
        raters = sorted(sub["rater"].unique())
        per_item = sub.groupby("item_id")["rater"].nunique()
        est, lo, hi = alpha_ci(sub, domain, level, B=B, seed=seed, clusters=clusters)
        row = {"criterion": crit, "level": level, "n_items": int(len(per_item)),
               "n_items_multi_rated": int((per_item >= 2).sum()), "n_raters": len(raters),
               "alpha_humans": est, "ci_low": lo, "ci_high": hi, "alpha_judge_humans": math.nan,
               "warning": None}
        if math.isnan(est):
            row["warning"] = "alpha undefined: needs items rated by >= 2 raters and >1 value"
        elif est < LOW_ALPHA:
            row["warning"] = f"alpha {est:.2f} < {LOW_ALPHA}: humans disagree too much"
        if judgments is not None and not judgments.empty:
            js = judgments[judgments["criterion"].astype(str).isin(
                {str(crit), str(crit).rpartition(".")[2]})]
            js = js[js["item_id"].isin(sub["item_id"])]
            if not js.empty:
                jdf = pd.concat([sub[["item_id", "rater", "score"]],
                                 js.assign(rater="__judge__")[["item_id", "rater", "score"]]])
                ja, _, _ = _pairs_alpha(jdf, "__judge__", raters, domain, level)
                row["alpha_judge_humans"] = ja
                if not math.isnan(ja) and not math.isnan(est) and est < ja:
                    warnings.append(
                        f"{crit}: human reliability (alpha {est:.2f}) is below the judge's "
                        f"agreement with the humans ({ja:.2f}); these labels cannot evaluate "
                        "the judge")
        crit_rows.append(row)
        for r in raters:
            others = [o for o in raters if o != r]
            a_vs, exact, n_pairs = _pairs_alpha(sub, r, others, domain, level)
            rest = sub[sub["rater"] != r]
            without = alpha_from_counts(value_counts(rest, domain)[0], level) if len(
                others) >= 2 else math.nan
            outlier = (not math.isnan(without) and not math.isnan(est)
                       and without - est > OUTLIER_GAIN
                       and row["n_items_multi_rated"] >= MIN_OUTLIER_ITEMS)
            if outlier:
                warnings.append(f"{crit}: rater {r} is an outlier (alpha {est:.2f} -> "
                                f"{without:.2f} without them)")
            rater_rows.append({"criterion": crit, "rater": r,
                               "n_labels": int((sub["rater"] == r).sum()),
                               "n_shared": n_pairs, "alpha_vs_others": a_vs,
                               "exact_agreement": exact, "alpha_without": without,
                               "outlier": bool(outlier)})
    if warnings == [] and not crit_rows:
        warnings.append("no labels")
    raters_df = pd.DataFrame(rater_rows)
    if answers is not None and not answers.empty:
        raters_df = raters_df.merge(answer_stats(answers, warnings), on="rater", how="left") \
            if not raters_df.empty else answer_stats(answers, warnings)
    for c in crit_rows:
        if c["warning"]:
            warnings.append(f"{c['criterion']}: {c['warning']}")
    return ReliabilityReport(pd.DataFrame(crit_rows), raters_df, warnings)


def answer_stats(answers: pd.DataFrame, warnings: list[str]) -> pd.DataFrame:
    """Per rater: answers, skip rate, median seconds, too-fast and slow-outlier counts."""
    a = answers.copy()
    secs = pd.to_numeric(a.get("seconds"), errors="coerce")
    logs = np.log(secs.where(secs > 0))
    med = logs.median()
    mad = (logs - med).abs().median() * 1.4826
    a["fast"] = secs < MIN_SECONDS
    a["slow"] = ((logs - med) / mad > SLOW_Z) if mad and mad > 0 else False
    out = a.groupby("rater").agg(n_answers=("row_id", "size"), skip_rate=("skipped", "mean"),
                                 median_seconds=("seconds", "median"),
                                 n_too_fast=("fast", "sum"), n_slow=("slow", "sum")).reset_index()
    for r in out.itertuples():
        if r.n_answers and r.n_too_fast / r.n_answers > 0.2:
            warnings.append(f"rater {r.rater}: {r.n_too_fast} of {r.n_answers} answers took "
                            f"< {MIN_SECONDS:g} s")
        if r.skip_rate > 0.2:
            warnings.append(f"rater {r.rater}: skipped {r.skip_rate:.0%} of items")
    return out


def format_report(rep: ReliabilityReport) -> str:
    """A plain-text summary for the terminal."""
    lines = []
    for r in rep.criteria.itertuples():
        j = "" if math.isnan(r.alpha_judge_humans) else f"; judge vs humans {r.alpha_judge_humans:.3f}"
        lines.append(f"{r.criterion} ({r.level}): alpha among humans {r.alpha_humans:.3f} "
                     f"[{r.ci_low:.3f}, {r.ci_high:.3f}], {r.n_raters} raters, "
                     f"{r.n_items_multi_rated}/{r.n_items} items multi-rated{j}")
    if not rep.raters.empty:
        lines.append(rep.raters.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    lines += [f"warning: {w}" for w in rep.warnings]
    return "\n".join(lines)
