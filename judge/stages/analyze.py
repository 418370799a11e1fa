"""Stage ``analyze``: fairness metrics with CIs from the judgment tables (metrics.json/csv)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from judge.context import RunContext
from judge.frames import ATTR_PREFIX, SCORE_PREFIX, RunFrames
from judge.stats.bootstrap import group_diff_ci

METRICS_SCHEMA_VERSION = 1
DEFAULT_REFERENCE = {"race": "White", "gender": "male", "dialect": "SAE", "age": "30",
                     "religion": "Christian", "disability": "none"}


def reference_level(attr: str, levels: list[str], override: dict[str, str]) -> str:
    """The configured reference level, else a conventional one, else the most common."""
    for cand in (override.get(attr), DEFAULT_REFERENCE.get(attr)):
        if cand in levels:
            return cand
    return levels[0]


def decision_column(frames: RunFrames, rubrics: list[Any]) -> pd.DataFrame:
    """Judgments of decision-type criteria as a numeric ``decision`` column (1 favourable)."""
    j = frames.judgments
    if j.empty:
        return pd.DataFrame()
    j = j[(j["parse_status"] == "ok") & j["probe"].isna() & (j["mode"] == "pointwise")
          & (j["repeat"] == 0)]
    parts = []
    for rb in rubrics:
        for c in rb.criteria:
            fav = favourable_map(c)
            col = SCORE_PREFIX + c.id
            if fav is None or col not in j:
                continue
            sub = j[j["rubric_id"] == rb.id].copy()
            sub["decision"] = sub[col].map(lambda v, f=fav: f.get(str(v), np.nan))
            sub["criterion"] = c.id
            parts.append(sub)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def favourable_map(criterion: Any) -> dict[str, float] | None:
    """label -> 1.0 (favourable) / 0.0 (unfavourable) for decision criteria, else None."""
    fav = getattr(criterion, "favourable", None)
    unf = getattr(criterion, "unfavourable", None)
    labels = [str(x) for x in (getattr(criterion, "labels", None) or ())]
    if fav is None and "decision" in criterion.id and len(labels) >= 2:
        fav, unf = labels[0], labels[1]
    if fav is None:
        return None
    fav_l = [fav] if isinstance(fav, str) else list(fav)
    unf_l = [unf] if isinstance(unf, str) else list(unf or [x for x in labels if x not in fav_l])
    return {**{str(x): 1.0 for x in fav_l}, **{str(x): 0.0 for x in unf_l}}


def disparity_rows(df: pd.DataFrame, value_col: str, metric: str, B: int, seed: int,
                   reference: dict[str, str], min_cell: int,
                   planted: pd.Series | None = None) -> list[dict[str, Any]]:
    """Level-minus-reference differences of a mean, per generator × attribute, with CIs."""
    rows = []
    attr_cols = [c for c in df.columns if c.startswith(ATTR_PREFIX)]
    for gen, g in df.groupby("generator"):
        for a in attr_cols:
            attr = a[len(ATTR_PREFIX):]
            gg = g.dropna(subset=[a, value_col])
            levels = sorted(gg[a].unique().tolist())
            if len(levels) < 2:
                continue
            ref = reference_level(attr, levels, reference)
            for lvl in levels:
                if lvl == ref:
                    continue
                est = group_diff_ci(gg[value_col].to_numpy(), gg[a].to_numpy(),
                                    gg["cf_group"].to_numpy(), lvl, ref, B=B, seed=seed)
                n_lvl = int((gg[a] == lvl).sum())
                warn = est.warning or (f"cell n={n_lvl} < {min_cell}" if n_lvl < min_cell else None)
                row = {"metric": metric, "generator": gen, "attribute": attr, "level": lvl,
                       "reference": ref, **est.as_dict(), "warning": warn,
                       "rate_level": float(gg.loc[gg[a] == lvl, value_col].mean()),
                       "rate_reference": float(gg.loc[gg[a] == ref, value_col].mean())}
                if planted is not None:
                    p = planted.loc[gg.index]
                    row["planted"] = float(p[gg[a] == lvl].mean() - p[gg[a] == ref].mean())
                rows.append(row)
    return rows


def analyze(ctx: RunContext, frames: RunFrames) -> dict[str, Any]:
    """All metrics of a run as a JSON-able dict (also flattened to metrics.csv)."""
    from judge.stages.score import load_rubrics

    cfg = ctx.cfg
    rc = cfg.report
    rubrics = load_rubrics(cfg.rubrics)
    oracle = _oracle(ctx, frames)
    out: dict[str, Any] = {"schema_version": METRICS_SCHEMA_VERSION, "run": cfg.name,
                           "metrics": []}
    dec = decision_column(frames, rubrics)
    if not dec.empty:
        planted = dec["query_id"].map(lambda q: oracle.get(q, {}).get("p_positive")) if oracle else None
        out["metrics"] += disparity_rows(dec, "decision", "demographic_parity_difference",
                                         rc.bootstrap, cfg.seed, rc.reference, rc.min_cell,
                                         planted)
    j = frames.judgments
    if not j.empty:
        base = j[(j["parse_status"] == "ok") & j["probe"].isna() & (j["repeat"] == 0)]
        for rb in rubrics:
            for c in rb.criteria:
                col = SCORE_PREFIX + c.id
                if getattr(c, "kind", None) != "likert" and getattr(
                        getattr(c, "scale", None), "kind", None) != "likert":
                    continue
                if col not in base:
                    continue
                sub = base[base["rubric_id"] == rb.id].copy()
                sub["value"] = pd.to_numeric(sub[col], errors="coerce")
                planted = None
                if oracle and c.id == "quality":
                    planted = sub["query_id"].map(lambda q: oracle.get(q, {}).get("quality"))
                out["metrics"] += disparity_rows(sub, "value", f"score_gap:{rb.id}.{c.id}",
                                                 rc.bootstrap, cfg.seed, rc.reference,
                                                 rc.min_cell, planted)
    return out


def _oracle(ctx: RunContext, frames: RunFrames) -> dict[str, dict[str, float]]:
    """Planted expectations per query_id for sim generators (empty for real models)."""
    if frames.queries.empty or not all(g.provider == "sim" for g in ctx.cfg.generators):
        return {}
    if len(ctx.cfg.generators) != 1:
        return {}
    from judge.llm.sim import get_world
    from judge.llm.sim_world import expected_rounded

    world = get_world(ctx.cfg.sim_profile_path)
    model = ctx.cfg.generators[0].model
    prof = world.profile.generator(model.split("/", 1)[-1])
    sd = prof.get("quality", {}).get("sd", 1.0)
    out = {}
    for q in frames.queries.itertuples():
        e = world.expected(model, q.text)
        pr = e["p_refusal"]
        out[q.query_id] = {"p_positive": e["p_positive"],
                           "quality": (1 - pr) * expected_rounded(e["quality_latent"], sd, 1, 5)
                           + pr * 1.0}
    return out
