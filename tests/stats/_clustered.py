"""Strongly within-cluster-correlated data, for tests that an interval resamples clusters.

Every (cluster, level) cell draws its own effect for every outcome, and the rows of a cell
share it, so rows of one cluster are far from independent. A cluster bootstrap then gives
intervals several times wider than a bootstrap of rows on the same data (the design
effect is about 1 + (rows per cell - 1) x intra-cluster correlation). A test computes the
same statistic twice, once resampling clusters and once with every row (or paired unit)
its own cluster, and asserts the first is clearly wider with :func:`assert_wider`: a
regression that resamples rows makes the two equal and fails it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

N_CLUSTERS, PER_CLUSTER = 20, 30
WIDER = 1.5
"""How much wider the cluster interval must be (the design effect here gives 3-5x)."""


def clustered_frame(seed: int = 0, levels: tuple[str, ...] = ("a", "b"),
                    n_clusters: int = N_CLUSTERS, per_cluster: int = PER_CLUSTER
                    ) -> pd.DataFrame:
    """``n_clusters`` counterfactual groups x ``per_cluster`` rows, split evenly over the
    ``levels`` of ``attr.race``; ``sample`` numbers the rows of a cell, so ``unit``
    (cluster and sample) holds one row per level: a counterfactual pair.

    Outcomes, each with a per-(cluster, level) effect: ``score`` (numeric), ``decision``
    and ``refused``, ``infers_attribute`` (0/1 with probability 0.05 or 0.95),
    ``parse_status``, ``prob`` (in [0, 1]) and ``y_true`` (0/1 with probability 0.2 or 0.8).
    """
    rng = np.random.default_rng(seed)
    C, L = n_clusters, len(levels)
    m = per_cluster // L
    c = np.repeat(np.arange(C), m * L)
    s = np.tile(np.repeat(np.arange(m), L), C)
    k = np.tile(np.arange(L), C * m)
    n = len(c)

    def cell(draw):
        return draw((C, L))[c, k]

    def coin(p):
        return (rng.random(n) < p).astype(float)

    return pd.DataFrame({
        "cf_group": [f"c{x:02d}" for x in c], "sample_index": s,
        "unit": [f"c{x:02d}-s{y:02d}" for x, y in zip(c, s, strict=True)],
        "row": np.arange(n), "attr.race": np.array(levels, dtype=object)[k],
        "score": cell(lambda sh: rng.normal(3.0, 1.0, sh)) + rng.normal(0, 0.3, n),
        "decision": coin(cell(lambda sh: rng.choice([0.05, 0.95], sh))),
        "y_true": coin(cell(lambda sh: rng.choice([0.2, 0.8], sh))),
        "prob": np.clip(cell(lambda sh: rng.uniform(0.05, 0.95, sh)) + rng.normal(0, 0.03, n),
                        0, 1),
        "infers_attribute": coin(cell(lambda sh: rng.choice([0.05, 0.95], sh))).astype(bool),
        "parse_status": np.where(coin(cell(lambda sh: rng.choice([0.02, 0.6], sh))) == 1,
                                 "parse_failure", "ok"),
        "refused": coin(cell(lambda sh: rng.choice([0.02, 0.6], sh))).astype(bool),
    })


def width(lo: float, hi: float) -> float:
    return float(hi - lo)


def assert_wider(clustered: pd.DataFrame, rows: pd.DataFrame,
                 keys: tuple[str, ...] = ("metric", "attribute", "level", "reference"),
                 factor: float = WIDER, min_compared: int = 1) -> int:
    """Every row with a finite interval in both tables is ``factor`` times wider in
    ``clustered`` than in ``rows`` (matched on ``keys``; a statistic constant under both
    resamplings is skipped). Returns the number of rows compared."""
    on = list(keys)
    a = clustered.assign(**{k: clustered[k].astype(object).where(clustered[k].notna(), "")
                            for k in on})
    b = rows.assign(**{k: rows[k].astype(object).where(rows[k].notna(), "") for k in on})
    m = a.merge(b, on=on, suffixes=("_c", "_r"))
    wc = (m["ci_high_c"] - m["ci_low_c"]).to_numpy(float)
    wr = (m["ci_high_r"] - m["ci_low_r"]).to_numpy(float)
    ok = np.isfinite(wc) & np.isfinite(wr) & ((wc > 0) | (wr > 0))  # 0 and 0: a constant
    bad = ok & ~(wc > factor * wr)
    assert ok.sum() >= min_compared, f"only {int(ok.sum())} interval(s) to compare"
    assert not bad.any(), "cluster interval not wider than the row interval:\n" + "\n".join(
        f"  {tuple(r)}: {c:.4g} vs rows {w:.4g}"
        for r, c, w in zip(m.loc[bad, on].itertuples(index=False), wc[bad], wr[bad],
                           strict=True))
    return int(ok.sum())


def assert_estimate_wider(clustered, rows, factor: float = WIDER) -> None:
    """The same for two :class:`judge.stats.bootstrap.Estimate` objects."""
    wc, wr = width(clustered.ci_low, clustered.ci_high), width(rows.ci_low, rows.ci_high)
    assert math.isfinite(wc) and math.isfinite(wr), (clustered, rows)
    assert wc > factor * wr, f"cluster interval {wc:.4g} not wider than rows {wr:.4g}"
