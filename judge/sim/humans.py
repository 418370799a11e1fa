"""Simulated human raters: several noisy, unbiased raters who read the response text.

They label through the same path as people: a blind, shuffled sheet per rater
(:mod:`judge.labelling`), answers in a labels JSONL, the key back to items and weights."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from judge.labelling import (
    Answer,
    LabelItem,
    SheetRow,
    answers_to_labels,
    build_sheets,
    read_answers,
    read_key,
    read_sheet,
    rubric_specs,
    write_sheets,
)
from judge.records import HumanLabel, now_iso
from judge.sim import world as w
from judge.sim.provider import SimWorld


def stratified_sample(gens: list[dict[str, Any]], n: int, seed: int
                      ) -> list[tuple[dict[str, Any], float]]:
    """Pick ``n`` generations spread evenly over attribute strata; return inclusion probs.

    The pick depends on the generations and the seed, not on their order in the file (a
    run by the processes or ray executor appends them in another order)."""
    rng = np.random.default_rng(seed)
    strata: dict[str, list[dict[str, Any]]] = {}
    for g in sorted(gens, key=lambda g: g["generation_id"]):
        key = "|".join(f"{k}={v}" for k, v in sorted(g.get("attributes", {}).items()))
        strata.setdefault(key, []).append(g)
    keys = sorted(strata)
    for k in keys:
        rng.shuffle(strata[k])
    per = {k: 0 for k in keys}
    left = min(n, len(gens))
    while left > 0:
        progressed = False
        for k in keys:
            if left and per[k] < len(strata[k]):
                per[k] += 1
                left -= 1
                progressed = True
        if not progressed:
            break
    return [(g, per[k] / len(strata[k])) for k in keys for g in strata[k][:per[k]]]


def _stratum(g: dict[str, Any]) -> str:
    return "|".join(f"{k}={v}" for k, v in sorted(g.get("attributes", {}).items()))


def _query_text(g: dict[str, Any]) -> str:
    """The user's query: the last user message the generator was sent."""
    return next((str(m.get("content") or "") for m in reversed(g.get("prompt") or [])
                 if m.get("role") == "user"), "")


def _rated_views(world: SimWorld, rb: Any, criteria: list[str] | None
                 ) -> dict[str, tuple[Any, str, dict]]:
    """The criteria sim humans rate in a rubric: id -> (view, signal, spec)."""
    rmap = world.signals.get(rb.id, {})
    out = {}
    for v in w.criteria_from_schema(rb.output_schema()):
        if criteria and v.id not in criteria:
            continue
        spec = rmap.get(v.id) or {}
        spec = {"signal": spec} if isinstance(spec, str) else spec
        signal = spec.get("signal") or w.guess_signal(v.id, v.kind)
        if signal in ("preferred", "differs_materially", "dimension", "worst"):
            continue
        out[v.id] = (v, signal, spec)
    return out


def sheet_items(world: SimWorld, picks: list[tuple[dict[str, Any], float]], rubrics: list[Any],
                criteria: list[str] | None = None) -> list[LabelItem]:
    """The picked generations as blind-sheet items: one per generation and pointwise rubric
    that applies to its context, with the criteria the sim humans rate."""
    items = []
    for rb in rubrics:
        if rb.mode != "pointwise":
            continue
        ids = list(_rated_views(world, rb, criteria))
        specs = rubric_specs(rb, ids)
        if not specs:
            continue
        for g, pi in picks:
            if not rb.applies_to(g["context"]):
                continue
            items.append(LabelItem(
                item_id=g["generation_id"], query=_query_text(g),
                response=g.get("response") or "", criteria=specs, rubric_id=rb.id,
                rubric_version=rb.version, instructions=rb.instructions,
                stratum=_stratum(g), inclusion_prob=pi, cluster=g.get("cf_group"),
                groups={k: str(v) for k, v in (g.get("attributes") or {}).items()}))
    return items


def answer_sheet(world: SimWorld, rows: list[SheetRow], rubrics: list[Any], seed: int
                 ) -> Iterator[Answer]:
    """A sim human answers their copy of a blind sheet, reading only what a rater sees:
    the response text and the rubric's criteria (noisy, unbiased, as before)."""
    hprof = world.profile.humans
    views = {rb.id: _rated_views(world, rb, None) for rb in rubrics if rb.mode == "pointwise"}
    for row in rows:
        sig = w.read_signals(row.response, world.producer_names)
        scores = {}
        for c in row.criteria:
            v, signal, spec = views[row.rubric][c.id]
            rng = w.rng_for("human", seed, row.rater, row.row_id, row.rubric, c.id)
            scores[c.id] = w.human_rating(hprof, v, signal, sig, spec.get("map"), rng)
        yield Answer(row_id=row.row_id, rater=row.rater, scores=scores,
                     answered_at=now_iso("milliseconds"), source="sim")


def simulate_labels(world: SimWorld, picks: list[tuple[dict[str, Any], float]], rubrics: list[Any],
                    raters: int, seed: int, criteria: list[str] | None = None,
                    out_dir: str | Path | None = None) -> Iterator[HumanLabel]:
    """Labels from ``raters`` sim humans through the blind-sheet path: the picked items
    become a sheet (every rater gets an independently shuffled copy of every item), each
    sim human answers their copy into ``labels.jsonl``, and the key turns answers into
    labels with their inclusion probabilities. Files go to ``out_dir`` when given."""
    items = sheet_items(world, picks, rubrics, criteria)
    names = [f"sim-rater-{r + 1}" for r in range(raters)]
    overlap, per_item = (1.0, raters) if raters > 1 else (0.0, 2)
    sheets = build_sheets(items, names, seed=seed, overlap=overlap, per_item=per_item)
    copies, key = sheets.copies, {k.row_id: k for k in sheets.key}
    answers = []
    if out_dir is not None:
        out = Path(out_dir)
        paths = write_sheets(sheets, out, seed=seed, overlap=overlap, per_item=per_item,
                             meta={"simulated": True})
        copies = {n: read_sheet(paths[f"jsonl:{n}"]) for n in names}
        key = read_key(paths["key"])
        labels_path = out / "labels.jsonl"
        with open(labels_path, "w", encoding="utf-8") as fh:
            for n in names:
                for a in answer_sheet(world, copies[n], rubrics, seed):
                    fh.write(a.model_dump_json() + "\n")
        answers = read_answers(labels_path)
    else:
        answers = [a for n in names for a in answer_sheet(world, copies[n], rubrics, seed)]
    for lab in answers_to_labels(answers, key):
        yield lab.model_copy(update={"meta": {**lab.meta, "simulated": True}})
