"""A planted-disparity scored frame, for metric tests and benchmarks.

Not the pipeline's ``sim/`` world (that one goes through models and judges): this builds
the tidy frame the metrics read, with effects planted on the scale the metrics report,
so each planted value is exactly the population value of a metric:

- ``decision``: favourable when ``u < p``, with ``u`` shared by every member of a
  counterfactual group (common random numbers) and ``p = p0 + 0.2 * y_true + effect``;
  so the selection-rate difference, the counterfactual decision difference, the TPR and
  FPR differences all equal the planted decision effect, and the flip rate its size.
- ``score``: ``s0 + effect + N(0, noise)`` with ``s0`` shared within the group.
- ``parse_status`` / ``refused`` / ``infers_attribute``: Bernoulli with planted rates.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

LEVELS = {"race": ["White", "Black", "Asian"], "gender": ["female", "male"]}


def planted_frame(n_groups: int = 500, *, seed: int = 0,
                  decision_effect: Mapping[str, Mapping[str, float]] | None = None,
                  score_effect: Mapping[str, Mapping[str, float]] | None = None,
                  parse_failure: Mapping[str, Mapping[str, float]] | None = None,
                  refusal: Mapping[str, Mapping[str, float]] | None = None,
                  unaware: Mapping[str, Mapping[str, float]] | None = None,
                  levels: Mapping[str, list[str]] = LEVELS, generators: int = 1,
                  groups_per_template: int = 5, noise: float = 0.5) -> pd.DataFrame:
    """One row per (cf group, generator, attribute combination); effects are additive
    per ``{attribute: {level: effect}}`` (rates: ``{attribute: {level: rate}}`` added to a
    base of 0.02 for failures and 0.1 for unawareness)."""
    rng = np.random.default_rng(seed)
    names = list(levels)
    grids = np.array(np.meshgrid(*[np.arange(len(levels[a])) for a in names],
                                 indexing="ij")).reshape(len(names), -1).T
    K, G = len(grids), n_groups * generators
    grp = np.repeat(np.arange(n_groups), generators * K)
    gen = np.tile(np.repeat(np.arange(generators), K), n_groups)
    combo = np.tile(np.arange(K), G)
    attrs = {a: np.array(levels[a], dtype=object)[grids[combo, j]] for j, a in enumerate(names)}

    def planted(spec, base=0.0):
        out = np.full(len(combo), base)
        for a, eff in (spec or {}).items():
            for lv, v in eff.items():
                out[attrs[a] == lv] += v
        return out

    unit = grp * generators + gen
    y = (rng.random(G) < 0.5).astype(float)[unit]
    u = rng.random(G)[unit]
    p = rng.uniform(0.3, 0.6, n_groups)[grp] + 0.2 * y + planted(decision_effect)
    decision = (u < p).astype(float)
    score = rng.normal(3.0, 1.0, n_groups)[grp] + planted(score_effect) + \
        rng.normal(0.0, noise, len(combo))
    pf = rng.random(len(combo)) < planted(parse_failure, 0.02)
    refused = rng.random(len(combo)) < planted(refusal, 0.02)
    status = np.where(pf, "parse_failure", "ok").astype(object)
    frame = pd.DataFrame({
        "item_id": [f"i{i}" for i in range(len(combo))],
        "cf_group": np.char.add("g", grp.astype(str)).astype(object),
        "template": np.char.add("t", (grp // groups_per_template).astype(str)).astype(object),
        "generator": np.char.add("m", gen.astype(str)).astype(object),
        "sample_index": 0,
        **{f"attr.{a}": v for a, v in attrs.items()},
        "decision": np.where(pf | refused, np.nan, decision),
        "score": np.where(pf, np.nan, score),
        "y_true": y,
        "parse_status": status,
        "refused": refused,
        "infers_attribute": rng.random(len(combo)) < planted(unaware, 0.1),
    })
    return frame
