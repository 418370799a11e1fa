"""Stage ``calibrate``: how far can the judge be trusted, for which groups, and what are the
fairness estimates once its error is corrected?

1. Human labels: from ``human_labels.path`` (JSONL/CSV) or the sim raters, into
   ``human_labels.jsonl`` (stratified by group, with each item's inclusion probability).
2. :func:`judge.calibration.calibrate_frames` on the run's judgments (criteria named
   ``<rubric>.<criterion>``): agreement, judge bias overall and per group, differential
   bias, classifier error rates, PPI++-corrected group means and gaps beside the raw
   judge-only estimates.
3. Invariance probes (no humans): :func:`judge.stats.probes.probe_effects`, plus
   self-preference flags.
4. With ``sim/`` judges, the planted value of every judge-bias, differential-bias and
   corrected-gap row is written beside the recovered one (``planted``).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

from judge.context import RunContext
from judge.frames import ATTR_PREFIX, SCORE_PREFIX, load
from judge.stages.runner import StageResult
from judge.stats.agreement import ALL  # noqa: E402
from judge.store import iter_jsonl, scan_ids, write_json_atomic


def ensure_human_labels(ctx: RunContext) -> int:
    """Write human_labels.jsonl from the configured file or the sim raters; return count."""
    if ctx.cfg.human_labels is None:
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


def scale_of(criterion: Any) -> Any:
    """A rubric criterion's scale as a calibration ScaleSpec (None if not calibratable)."""
    from judge.calibration import ScaleSpec

    sc = criterion.scale
    kind = getattr(sc, "type", None) or getattr(sc, "kind", None)
    if kind == "likert":
        return ScaleSpec(kind="likert", min=sc.min, max=sc.max)
    labels = [str(x) for x in (criterion.labels or ())]
    if kind == "binary" and len(labels) == 2:
        return ScaleSpec(kind="categorical", labels=tuple(labels))
    if len(set(labels)) >= 2:
        return ScaleSpec(kind="categorical", labels=tuple(labels))
    return None


def calibration_inputs(frames: Any, rubrics: list[Any]) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                 dict[str, Any], pd.DataFrame]:
    """The run in the standalone shape, criteria qualified as ``<rubric>.<criterion>``.

    Returns (judgments, labels, scales, weights) where weights holds each labelled item's
    inclusion probability.
    """
    j, h = frames.judgments, frames.human_labels
    if j.empty or h.empty:
        return pd.DataFrame(), pd.DataFrame(), {}, pd.DataFrame()
    j = j[(j["parse_status"] == "ok") & j["probe"].isna() & (j["repeat"] == 0)
          & (j["mode"] == "pointwise")]
    groups = {c: "group." + c.removeprefix(ATTR_PREFIX) for c in j.columns
              if c.startswith(ATTR_PREFIX)}
    parts, scales = [], {}
    for rb in rubrics:
        jr = j[j["rubric_id"] == rb.id]
        for c in rb.criteria:
            col = SCORE_PREFIX + c.id
            sc = scale_of(c)
            if sc is None or col not in jr or jr[col].isna().all():
                continue
            name = f"{rb.id}.{c.id}"
            scales[name] = sc
            part = jr[["generation_id", "judge", "cf_group", *groups, col]].rename(
                columns={"generation_id": "item_id", "cf_group": "cluster", col: "score",
                         **groups})
            part["criterion"] = name
            parts.append(part[part["score"].notna()])
    jl = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    hl = h.assign(criterion=h["rubric_id"].astype(str) + "." + h["criterion"].astype(str))
    hl = hl.rename(columns={"target_id": "item_id"})
    hl = hl[hl["criterion"].isin(scales)]
    weights = pd.DataFrame({"item_id": hl["item_id"],
                            "inclusion_prob": hl["meta"].map(
                                lambda m: (m or {}).get("inclusion_prob"))}
                           ).dropna().drop_duplicates("item_id")
    return jl, hl[["item_id", "rater", "criterion", "score"]], scales, weights


def _planted(ctx: RunContext, frames: Any, rubrics: dict[str, Any]) -> pd.DataFrame | None:
    """Per (item, criterion): planted E[judge - human] and E[human] (sim judges only)."""
    if not all(s.provider == "sim" for s in ctx.cfg.judges):
        return None
    from judge.llm.sim import get_world, planted_item_bias, planted_item_human

    world = get_world(ctx.cfg.sim_profile_path)
    j = frames.judgments
    j = j[(j["parse_status"] == "ok") & j["probe"].isna() & (j["repeat"] == 0)
          & (j["mode"] == "pointwise")]
    qtext = dict(zip(frames.queries["query_id"], frames.queries["text"]))
    gen_models = {g.label: g.model for g in ctx.cfg.generators if g.provider == "sim"}
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
    from judge.calibration.sim_coverage import quality_distribution
    from judge.llm import sim_world as w

    view = {v.id: v for v in w.criteria_from_schema(rubric.output_schema())}.get(criterion_id)
    if view is None or view.kind != "likert":
        return None
    attrs, _ = world.detector.detect(query_text)
    dist = quality_distribution(world.profile.generator(gen_model.split("/", 1)[-1]),
                                query_text, attrs, world.producers)
    sd = world.profile.humans.get("noise_sd", 0.7)
    return float(sum(p * w.expected_rounded(w.rescale(k + 1.0, view.lo, view.hi), sd, view.lo,
                                            view.hi) for k, p in enumerate(dist)))


def _attach_planted(out: dict[str, Any], planted: pd.DataFrame, jl: pd.DataFrame,
                    hl: pd.DataFrame) -> None:
    """Add ``planted`` to bias, differential-bias and corrected rows."""
    items = jl.drop_duplicates(["item_id", "judge", "criterion"]).merge(
        planted, on=["item_id", "judge", "criterion"], how="inner")
    labelled = set(zip(hl["item_id"], hl["criterion"]))
    items["labelled"] = [(i, c) in labelled for i, c in zip(items["item_id"], items["criterion"])]

    def mean_of(key: dict, attr: str, group: str, col: str, only_labelled: bool) -> float:
        d = items[(items["judge"] == key["judge"]) & (items["criterion"] == key["criterion"])]
        if only_labelled:
            d = d[d["labelled"]]
        if attr != ALL:
            d = d[d.get(f"group.{attr}", pd.Series(dtype=object)).astype(str) == str(group)]
        return float(d[col].mean()) if len(d) else math.nan

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


def calibrate(ctx: RunContext) -> StageResult:
    """Write human labels (if configured) and calibration.json (+ CSV tables)."""
    from judge.calibration.missing import calibrate_excluding_missing
    from judge.stages.score import load_rubrics
    from judge.stats.probes import probe_effects, self_preference_flags
    from judge.stats.reference import reference_levels

    t0 = time.perf_counter()
    cfg = ctx.cfg
    res = StageResult("calibrate")
    res.written = ensure_human_labels(ctx)
    frames = load(ctx.store.dir)
    rubrics = {rb.id: rb for rb in load_rubrics(cfg.rubrics)}
    jl, hl, scales, weights = calibration_inputs(frames, list(rubrics.values()))
    out: dict[str, Any] = {"schema_version": 2}
    if not jl.empty and not hl.empty:
        reference = reference_levels(jl, cfg.report.reference, prefix="group.")
        out.update(calibrate_excluding_missing(  # no "(missing)" group or reference
            jl, hl, scale=scales, B=cfg.report.bootstrap, seed=cfg.seed,
            weights=weights if len(weights) else None, reference=reference,
            alpha=cfg.report.alpha))
        planted = _planted(ctx, frames, rubrics)
        if planted is not None:
            _attach_planted(out, planted, jl, hl)
    else:
        out["note"] = "no human labels matched any judgment: only probes are reported"
    probes = probe_effects(frames.judgments, B=cfg.report.bootstrap, seed=cfg.seed)
    out["probes"] = probes.astype(object).where(probes.notna(), None).to_dict("records")
    out["self_preference"] = self_preference_flags([g.model for g in cfg.generators],
                                                   [j.model for j in cfg.judges])
    out["n_labels"] = int(len(frames.human_labels))
    out["n_items_labelled"] = int(hl["item_id"].nunique()) if not hl.empty else 0
    write_json_atomic(ctx.store.dir / "calibration.json", _clean(out))
    res.planned = sum(len(v) for v in out.values() if isinstance(v, list))
    res.seconds = time.perf_counter() - t0
    return res


def _clean(obj: Any) -> Any:
    """NaN/inf -> None and numpy scalars -> Python, recursively (strict JSON)."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def labelling_items(cfg: Any, criterion: str | None = None) -> tuple[pd.DataFrame, str, str]:
    """Judged items of a run for a labelling sheet: item_id, score, group.*, text.

    ``criterion`` is ``RUBRIC.CRITERION``; default: the first likert criterion of the first
    pointwise rubric in the config.
    """
    from judge.errors import UsageError
    from judge.stages.score import load_rubrics

    frames = load(cfg.run_dir)
    if frames.judgments.empty:
        raise UsageError("the run has no judgments yet", path=cfg.run_dir,
                         hint="run `judge score CONFIG` first")
    rubrics = [rb for rb in load_rubrics(cfg.rubrics) if rb.mode == "pointwise"]
    if criterion:
        rid, _, cid = criterion.partition(".")
    else:
        rid, cid = next(((rb.id, c.id) for rb in rubrics for c in rb.criteria
                         if scale_of(c) is not None and scale_of(c).kind == "likert"),
                        (None, None))
    col = SCORE_PREFIX + (cid or "")
    j = frames.judgments
    j = j[(j["rubric_id"] == rid) & (j["parse_status"] == "ok") & j["probe"].isna()
          & (j["repeat"] == 0)]
    if j.empty or col not in j:
        raise UsageError(f"no judgments for criterion {rid}.{cid}", field="--criterion",
                         hint="use RUBRIC.CRITERION of a pointwise rubric in the config")
    q = dict(zip(frames.queries["query_id"], frames.queries["text"]))
    items = pd.DataFrame({
        "item_id": j["generation_id"], "score": j[col],
        "text": [f"QUERY:\n{q.get(a, '')}\n\nRESPONSE:\n{b}" for a, b in
                 zip(j["query_id"], j["response"])],
        **{"group." + c.removeprefix(ATTR_PREFIX): j[c] for c in j.columns
           if c.startswith(ATTR_PREFIX)}})
    return items, rid, cid
