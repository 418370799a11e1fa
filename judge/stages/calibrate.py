"""Stage ``calibrate``: compare judge scores with human labels; estimate judge bias.

Mean(judge - human) overall and per attribute level, each with a cluster bootstrap CI
(clusters = counterfactual groups). With ``sim/`` judges the planted value is shown beside
the recovered one.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from judge.context import RunContext
from judge.frames import ATTR_PREFIX, SCORE_PREFIX, load
from judge.stages.runner import StageResult
from judge.stats.bootstrap import mean_ci
from judge.store import iter_jsonl, scan_ids, write_json_atomic


def ensure_human_labels(ctx: RunContext) -> int:
    """Write human_labels.jsonl from the configured file or the sim raters; return count."""
    hl = ctx.cfg.human_labels
    if hl is None:
        return 0
    path = ctx.store.path("human_labels")
    done = scan_ids(path, "label_id")
    written = 0
    with ctx.store.writer("human_labels", 1024) as wr:
        for lab in _label_source(ctx):
            if lab.label_id in done:
                continue
            done.add(lab.label_id)
            wr.write(lab)
            written += 1
    return written


def _label_source(ctx: RunContext):
    hl = ctx.cfg.human_labels
    if hl.path:
        from judge.labels import read_human_labels

        yield from read_human_labels(hl.path)
    if hl.simulate:
        from judge.llm.sim import get_world
        from judge.llm.sim_humans import simulate_labels, stratified_sample
        from judge.stages.score import load_rubrics

        gens = [g for _, g in iter_jsonl(ctx.store.path("generations")) if g["status"] == "ok"]
        picks = stratified_sample(gens, hl.simulate.items, ctx.cfg.seed)
        yield from simulate_labels(get_world(ctx.cfg.sim_profile_path), picks,
                                   load_rubrics(ctx.cfg.rubrics), hl.simulate.raters,
                                   ctx.cfg.seed, hl.simulate.criteria)


def judge_vs_human(judgments: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """One row per (judgment, criterion) with the judge score and the mean human score."""
    if judgments.empty or labels.empty:
        return pd.DataFrame()
    j = judgments[(judgments["parse_status"] == "ok") & judgments["probe"].isna()
                  & (judgments["repeat"] == 0) & (judgments["mode"] == "pointwise")]
    labels = labels.assign(score_num=pd.to_numeric(labels["score"], errors="coerce"))
    hm = (labels.dropna(subset=["score_num"])
          .groupby(["target_id", "rubric_id", "criterion"], dropna=False)["score_num"]
          .agg(["mean", "count"]).reset_index()
          .rename(columns={"mean": "human", "count": "n_raters", "target_id": "generation_id"}))
    rows = []
    attr_cols = [c for c in j.columns if c.startswith(ATTR_PREFIX)]
    for crit in hm["criterion"].unique():
        col = SCORE_PREFIX + crit
        if col not in j:
            continue
        sub = j[["generation_id", "cf_group", "judge", "judge_model", "rubric_id", "generator",
                 "response", "query_id", *attr_cols, col]].copy()
        sub["judge_score"] = pd.to_numeric(sub[col], errors="coerce")
        sub = sub.drop(columns=[col]).dropna(subset=["judge_score"])
        sub["criterion"] = crit
        rows.append(sub.merge(hm, on=["generation_id", "rubric_id", "criterion"]))
    if not rows:
        return pd.DataFrame()
    out = pd.concat(rows, ignore_index=True)
    out["diff"] = out["judge_score"] - out["human"]
    return out


def _planted(ctx: RunContext, df: pd.DataFrame, queries: pd.DataFrame) -> pd.Series | None:
    """Per-row planted E[judge - human] when the judge is a sim model."""
    if df.empty or not df["judge_model"].str.startswith("sim/").all():
        return None
    from judge.llm.sim import get_world, planted_item_bias
    from judge.stages.score import load_rubrics

    world = get_world(ctx.cfg.sim_profile_path)
    rubrics = {rb.id: rb for rb in load_rubrics(ctx.cfg.rubrics)}
    qtext = dict(zip(queries["query_id"], queries["text"]))
    vals = [planted_item_bias(world, r.judge_model, rubrics[r.rubric_id], r.criterion,
                              r.response or "", qtext.get(r.query_id, ""))
            for r in df.itertuples()]
    return pd.Series(vals, index=df.index, dtype=float)


def bias_table(df: pd.DataFrame, B: int, seed: int, planted: pd.Series | None = None
               ) -> list[dict[str, Any]]:
    """Mean(judge - human) overall and per attribute level, with CIs and counts."""
    out = []
    attr_cols = [c for c in df.columns if c.startswith(ATTR_PREFIX)]
    for (judge, rubric, crit), g in df.groupby(["judge", "rubric_id", "criterion"]):
        cells = [("(all)", "(all)", g.index)]
        for a in attr_cols:
            for lvl, gg in g.groupby(a):
                cells.append((a[len(ATTR_PREFIX):], lvl, gg.index))
        for attr, lvl, idx in cells:
            est = mean_ci(df.loc[idx, "diff"].to_numpy(), df.loc[idx, "cf_group"].to_numpy(),
                          B=B, seed=seed)
            row = {"judge": judge, "rubric_id": rubric, "criterion": crit, "attribute": attr,
                   "level": lvl, **est.as_dict()}
            if planted is not None:
                row["planted"] = float(np.nanmean(planted.loc[idx]))
            out.append(row)
    return out


def calibrate(ctx: RunContext) -> StageResult:
    """Write human labels (if configured) and calibration.json."""
    t0 = time.perf_counter()
    res = StageResult("calibrate")
    res.written = ensure_human_labels(ctx)
    frames = load(ctx.store.dir)
    df = judge_vs_human(frames.judgments, frames.human_labels)
    planted = _planted(ctx, df, frames.queries)
    rc = ctx.cfg.report
    table = bias_table(df, rc.bootstrap, ctx.cfg.seed, planted) if not df.empty else []
    out = {"schema_version": 1, "n_labels": int(len(frames.human_labels)),
           "n_items": int(df["generation_id"].nunique()) if not df.empty else 0,
           "judge_bias": table,
           "note": None if table else "no human labels matched any judgment"}
    write_json_atomic(ctx.store.dir / "calibration.json", out)
    res.planned = len(table)
    res.seconds = time.perf_counter() - t0
    return res
