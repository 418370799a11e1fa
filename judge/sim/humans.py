"""Simulated human raters: several noisy, unbiased raters who read the response text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from judge.records import HumanLabel
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


def simulate_labels(world: SimWorld, picks: list[tuple[dict[str, Any], float]], rubrics: list[Any],
                    raters: int, seed: int, criteria: list[str] | None = None
                    ) -> Iterator[HumanLabel]:
    """Labels from ``raters`` sim humans for every criterion of every pointwise rubric."""
    hprof = world.profile.humans
    for rb in rubrics:
        if rb.mode != "pointwise":
            continue
        views = w.criteria_from_schema(rb.output_schema())
        rmap = world.signals.get(rb.id, {})
        for g, pi in picks:
            if not rb.applies_to(g["context"]):
                continue
            sig = w.read_signals(g.get("response") or "", world.producer_names)
            for v in views:
                if criteria and v.id not in criteria:
                    continue
                spec = rmap.get(v.id) or {}
                spec = {"signal": spec} if isinstance(spec, str) else spec
                signal = spec.get("signal") or w.guess_signal(v.id, v.kind)
                if signal in ("preferred", "differs_materially", "dimension", "worst"):
                    continue
                for r in range(raters):
                    rater = f"sim-rater-{r + 1}"
                    rng = w.rng_for("human", seed, rater, g["generation_id"], rb.id, v.id)
                    score = w.human_rating(hprof, v, signal, sig, spec.get("map"), rng)
                    yield HumanLabel(
                        label_id=HumanLabel.make_id(g["generation_id"], v.id, rater, rb.id),
                        target_id=g["generation_id"], criterion=v.id, rater=rater, score=score,
                        rubric_id=rb.id, rubric_version=rb.version,
                        meta={"inclusion_prob": round(pi, 6), "simulated": True})
