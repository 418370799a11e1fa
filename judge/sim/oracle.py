"""Planted truth for the report: what the sim world put in, beside what the pipeline found.

Called through the sim plugin's ``planted_metrics`` and ``planted_calibration`` hooks
(:mod:`judge.plugins`); production code never imports this module.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from judge.frames import ATTR_PREFIX, score_column
from judge.rubrics import load_rubric
from judge.sim import world as w
from judge.sim.coverage import quality_distribution
from judge.sim.provider import get_world, planted_item_bias, planted_item_human
from judge.sim.world import expected_rounded
from judge.stats.agreement import ALL


def planted_metrics(cfg: Any, profile: str, frames: Any, scored: pd.DataFrame,
                    table: pd.DataFrame) -> pd.DataFrame | None:
    """``table`` with ``planted`` on the rows whose planted value is known: decision-rate
    differences (the generator's planted decision probabilities) and judged-quality
    differences (the planted human score plus the judge's planted bias)."""
    oracle = _oracle(cfg, profile, frames)
    if not oracle:
        return None
    table = _attach_planted(table, scored, oracle)
    if (table["metric"] == "quality_diff").any():
        rubrics = {rb.id: rb for rb in (load_rubric(ref) for ref in cfg.rubrics)}
        planted = _planted(cfg, profile, frames, rubrics)
        if planted is not None:
            table = _attach_planted_quality(table, scored, planted)
    return table


def planted_calibration(cfg: Any, profile: str, frames: Any, out: dict[str, Any],
                        jl: pd.DataFrame, hl: pd.DataFrame) -> None:
    """Add ``planted`` to the bias, differential-bias and corrected rows of ``out``."""
    rubrics = {}
    for ref in cfg.rubrics:
        rb = load_rubric(ref)
        rubrics[rb.id] = rb
    planted = _planted(cfg, profile, frames, rubrics)
    if planted is not None:
        _attach_planted_calibration(out, planted, jl, hl)


def _oracle(cfg: Any, profile: str, frames: Any) -> dict[str, dict[str, dict[str, float]]]:
    """Planted expectations per generator and query_id (sim generators only)."""
    gens = [g for g in cfg.generators if g.provider == "sim"]
    if frames.queries.empty or not gens:
        return {}
    world = get_world(profile)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for spec in gens:
        prof = world.profile.generator(spec.model.split("/", 1)[-1])
        sd = prof.get("quality", {}).get("sd", 1.0)
        per = {}
        for q in frames.queries.itertuples():
            e = world.expected(spec.model, q.text)
            pr = e["p_refusal"]
            per[q.query_id] = {"p_positive": e["p_positive"],
                               "quality": (1 - pr) * expected_rounded(e["quality_latent"], sd,
                                                                      1, 5) + pr}
        out[spec.label] = per
    return out


PLANTED_FOR = {"selection_rate_diff": "p_positive", "cf_decision_diff": "p_positive"}


def _attach_planted(table: pd.DataFrame, scored: pd.DataFrame, oracle: dict) -> pd.DataFrame:
    """``planted`` for demographic-parity differences: E[decision | level] - E[... | ref],
    over the items the row's decision criterion (``rubric_id``, ``criterion``) judged."""
    table = table.copy()
    table["planted"] = np.nan
    for i, r in table.iterrows():
        key = PLANTED_FOR.get(str(r["metric"]))
        gen = r.get("generator")
        if key is None or gen not in oracle or not isinstance(r["attribute"], str) or \
                not isinstance(r.get("rubric_id"), str):
            continue
        col, dcol = ATTR_PREFIX + r["attribute"], score_column(r["rubric_id"], r["criterion"])
        if col not in scored or dcol not in scored:
            continue
        sub = scored[(scored["generator"] == gen) & scored[dcol].notna()]
        per = oracle[gen]
        p = pd.Series([per.get(q, {}).get(key) for q in sub["query_id"]], index=sub.index,
                      dtype=float)
        lvl, ref = sub[col] == r["level"], sub[col] == r["reference"]
        if lvl.any() and ref.any():
            table.at[i, "planted"] = float(p[lvl].mean() - p[ref].mean())
    return table


def _attach_planted_quality(table: pd.DataFrame, scored: pd.DataFrame,
                            planted: pd.DataFrame) -> pd.DataFrame:
    """``planted`` for ``quality_diff``: E[judge score | level] - E[... | reference] over the
    row's judged items, each item's E[judge score] being E[human score | its query] (over the
    generator's answers) plus the judge's planted bias on its answer."""
    known = planted.dropna(subset=["planted_human", "planted_bias"])
    expected = (known["planted_human"] + known["planted_bias"]).to_numpy()
    e = pd.Series(expected, index=pd.MultiIndex.from_frame(
        known[["item_id", "judge", "criterion"]]))
    e = e[~e.index.duplicated()]
    for i, r in table[table["metric"] == "quality_diff"].iterrows():
        if not (isinstance(r["attribute"], str) and isinstance(r.get("rubric_id"), str)
                and isinstance(r.get("criterion"), str)):
            continue
        col, scol = ATTR_PREFIX + r["attribute"], score_column(r["rubric_id"], r["criterion"])
        if col not in scored or scol not in scored:
            continue
        sub = scored[(scored["generator"] == r.get("generator"))
                     & (scored["judge"] == r.get("judge")) & scored[scol].notna()]
        idx = pd.MultiIndex.from_arrays([sub["item_id"], sub["judge"],
                                         [f"{r['rubric_id']}.{r['criterion']}"] * len(sub)])
        p = pd.Series(e.reindex(idx).to_numpy(), index=sub.index)
        lvl, ref = sub[col] == r["level"], sub[col] == r["reference"]
        if lvl.any() and ref.any() and p[lvl | ref].notna().all():
            table.at[i, "planted"] = float(p[lvl].mean() - p[ref].mean())
    return table


def _planted(cfg: Any, profile: str, frames: Any, rubrics: dict[str, Any]
             ) -> pd.DataFrame | None:
    """Per (item, criterion): planted E[judge - human] and E[human] (sim judges only)."""
    world = get_world(profile)
    j = frames.judgments
    j = j[(j["parse_status"] == "ok") & j["probe"].isna() & (j["repeat"] == 0)
          & (j["judge_mode"] == "pointwise")]
    qtext = dict(zip(frames.queries["query_id"], frames.queries["text"]))
    gen_models = {g.label: g.model for g in cfg.generators if g.provider == "sim"}
    rows = []
    for r in j.drop_duplicates(["generation_id", "judge", "rubric_id"]).itertuples():
        rb = rubrics[r.rubric_id]
        for c in rb.criteria:
            b = planted_item_bias(world, r.judge_model, rb, c.id, r.response or "",
                                  qtext.get(r.query_id, ""))
            if b is None:
                continue
            h = planted_item_human(world, rb, c.id, r.response or "")
            if h is not None and r.generator in gen_models:
                h = _planted_human_per_query(world, gen_models[r.generator], rb, c.id,
                                             qtext.get(r.query_id, ""))
            rows.append({"item_id": r.generation_id, "judge": r.judge,
                         "criterion": f"{rb.id}.{c.id}", "planted_bias": b,
                         "planted_human": h})
    return pd.DataFrame(rows) if rows else None


def _planted_human_per_query(world: Any, gen_model: str, rubric: Any, criterion_id: str,
                             query_text: str) -> float | None:
    """E[human score | query]: over the generator's possible answers, not the realised one.

    This is the estimand of the corrected group means and gaps (the CIs treat answers as
    draws from the generator); see docs/CALIBRATION.md.
    """
    view = {v.id: v for v in w.criteria_from_schema(rubric.output_schema())}.get(criterion_id)
    if view is None or view.kind != "likert":
        return None
    attrs, _ = world.detector.detect(query_text)
    dist = quality_distribution(world.profile.generator(gen_model.split("/", 1)[-1]),
                                query_text, attrs, world.producers)
    sd = world.profile.humans.get("noise_sd", 0.7)
    return float(sum(p * w.expected_rounded(w.rescale(k + 1.0, view.lo, view.hi), sd, view.lo,
                                            view.hi) for k, p in enumerate(dist)))


def _attach_planted_calibration(out: dict[str, Any], planted: pd.DataFrame, jl: pd.DataFrame,
                    hl: pd.DataFrame) -> None:
    """Add ``planted`` to bias, differential-bias and corrected rows."""
    items = jl.drop_duplicates(["item_id", "judge", "criterion"]).merge(
        planted, on=["item_id", "judge", "criterion"], how="inner")
    labelled = set(zip(hl["item_id"], hl["criterion"]))
    items["labelled"] = [(i, c) in labelled for i, c in zip(items["item_id"], items["criterion"])]

    by_key = {k: d for k, d in items.groupby(["judge", "criterion"], sort=False)}
    means: dict[tuple, Any] = {}

    def mean_of(key: dict, attr: str, group: str, col: str, only_labelled: bool) -> float:
        """Mean of ``col`` over the items of (judge, criterion) in ``group`` of ``attr``
        (one groupby per judge, criterion, attribute and column, cached)."""
        k = (key["judge"], key["criterion"], attr, col, only_labelled)
        if k not in means:
            d = by_key.get((key["judge"], key["criterion"]), items.iloc[:0])
            if only_labelled:
                d = d[d["labelled"]]
            if attr == ALL:
                means[k] = float(d[col].mean()) if len(d) else math.nan
            else:
                g = d.get(f"group.{attr}", pd.Series(np.nan, index=d.index, dtype=object))
                means[k] = d[col].groupby(g.astype(str)).mean()
        m = means[k]
        if isinstance(m, float):
            return m
        return float(m.get(str(group), math.nan))

    for r in out.get("bias", []):
        r["planted"] = mean_of(r, r["attribute"], r["group"], "planted_bias", True)
    for r in out.get("differential_bias", []):
        r["planted"] = (mean_of(r, r["attribute"], r["group"], "planted_bias", True)
                        - mean_of(r, r["attribute"], r["reference"], "planted_bias", True))
    for r in out.get("corrected", []):
        if r.get("quantity") == "mean":
            r["planted"] = mean_of(r, r["attribute"], r["group"], "planted_human", False)
        elif r.get("quantity") == "gap":
            r["planted"] = (mean_of(r, r["attribute"], r["group"], "planted_human", False)
                            - mean_of(r, r["attribute"], r["reference"], "planted_human",
                                      False))
    for section in ("bias", "differential_bias", "corrected"):
        for r in out.get(section, []):
            if isinstance(r.get("planted"), float) and math.isnan(r["planted"]):
                r["planted"] = None
