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
4. A plugin that planted the truth (the sim world, for ``sim/`` judges) writes the planted
   value of every judge-bias, differential-bias and corrected-gap row beside the recovered
   one (``planted``; ``judge.plugins.planted_calibration``).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

from judge.calibration import ScaleSpec
from judge.calibration.missing import calibrate_excluding_missing
from judge.config import resolve_path
from judge.context import RunContext
from judge.errors import UsageError
from judge.frames import ATTR_PREFIX, keep_rubric_hashes, load, score_column
from judge.labelling import read_any_labels, rubric_specs
from judge.plugins import planted_calibration, simulate_labels
from judge.rubrics import load_rubrics
from judge.stats.probes import probe_effects, self_preference_flags
from judge.stats.reference import reference_levels
from judge.store import iter_jsonl, scan_ids, write_json_atomic
from judge.tasks import StageResult


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
        # HumanLabel JSONL/CSV, or answers (page JSONL, filled sheet CSV, Label Studio
        # export) with the sheet's key.jsonl beside them: docs/LABELLING.md
        yield from read_any_labels(resolve_path(hl.path))[1]
    if hl.simulate:
        gens = [g for _, g in iter_jsonl(ctx.store.path("generations")) if g["status"] == "ok"]
        yield from simulate_labels(ctx.cfg, gens, load_rubrics(ctx.cfg.rubrics))


def scale_of(criterion: Any) -> Any:
    """A rubric criterion's scale as a calibration ScaleSpec (None if not calibratable)."""
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
          & (j["judge_mode"] == "pointwise")]
    groups = {c: "group." + c.removeprefix(ATTR_PREFIX) for c in j.columns
              if c.startswith(ATTR_PREFIX)}
    parts, scales = [], {}
    for rb in rubrics:
        jr = j[j["rubric_id"] == rb.id]
        for c in rb.criteria:
            col = score_column(rb.id, c.id)
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


def calibrate(ctx: RunContext) -> StageResult:
    """Write human labels (if configured) and calibration.json (+ CSV tables)."""
    t0 = time.perf_counter()
    cfg = ctx.cfg
    res = StageResult("calibrate")
    res.written = ensure_human_labels(ctx)
    rubrics = {rb.id: rb for rb in load_rubrics(cfg.rubrics)}
    frames = keep_rubric_hashes(load(ctx.store.dir), list(rubrics.values()))
    jl, hl, scales, weights = calibration_inputs(frames, list(rubrics.values()))
    out: dict[str, Any] = {"schema_version": 2}
    if not jl.empty and not hl.empty:
        reference = reference_levels(jl, cfg.report.reference, prefix="group.")
        out.update(calibrate_excluding_missing(  # no "(missing)" group or reference
            jl, hl, scale=scales, B=cfg.report.bootstrap, seed=cfg.seed,
            weights=weights if len(weights) else None, reference=reference,
            alpha=cfg.report.alpha))

        planted_calibration(cfg, frames, out, jl, hl)  # e.g. the sim world's truth
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
    """Judged items of a run for a labelling sheet: item_id, score (to stratify on, never
    shown to raters), query, response, cluster, group.*; ``items.attrs["criteria"]`` holds
    the criterion as raters see it (question, scale, anchors).

    ``criterion`` is ``RUBRIC.CRITERION``; default: the first likert criterion of the first
    pointwise rubric in the config.
    """
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
    col = score_column(rid or "", cid or "")
    j = frames.judgments
    j = j[(j["rubric_id"] == rid) & (j["parse_status"] == "ok") & j["probe"].isna()
          & (j["repeat"] == 0)]
    if j.empty or col not in j:
        raise UsageError(f"no judgments for criterion {rid}.{cid}", field="--criterion",
                         hint="use RUBRIC.CRITERION of a pointwise rubric in the config")
    q = dict(zip(frames.queries["query_id"], frames.queries["text"]))
    items = pd.DataFrame({
        "item_id": j["generation_id"], "score": j[col],
        "query": [q.get(a, "") for a in j["query_id"]], "response": j["response"],
        "cluster": j["cf_group"],
        **{"group." + c.removeprefix(ATTR_PREFIX): j[c] for c in j.columns
           if c.startswith(ATTR_PREFIX)}})

    rb = next(rb for rb in rubrics if rb.id == rid)
    # Rater-facing criteria (question, scale, anchors) for write_sample_sheet.
    items.attrs.update(criteria=rubric_specs(rb, [cid]), rubric_version=rb.version,
                       instructions=rb.instructions)
    return items, rid, cid
