"""Stratified labelling samples with known inclusion probabilities.

Strata are cells of the given columns (typically group x judge score). Each stratum ``h``
of size ``N_h`` gets ``n_h`` items drawn without replacement: a floor of
``min(min_per_stratum, N_h)``, then the rest of ``n`` one at a time to the stratum furthest
below its proportional share ``n * N_h / N``, capped at ``N_h``. Every item's inclusion probability is
``n_h / N_h``; ``weight = 1 / inclusion_prob`` is what the corrected estimators use.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

SAMPLE_COLUMNS = ["stratum", "inclusion_prob", "weight", "sampled"]

ERR_TOO_SMALL = ("n={n} is smaller than the {k} items the floor of {floor} per stratum needs "
                 "over {s} strata: raise n or lower min_per_stratum")
ERR_TOO_LARGE = "n={n} exceeds the {N} items available"


def allocate(sizes: Sequence[int], n: int, min_per_stratum: int = 2) -> np.ndarray:
    """Sample size per stratum: a floor, then one at a time to the largest shortfall
    from the proportional share ``n * N_h / N``, capped at ``N_h``.

    >>> allocate([10, 30, 60], 20, 2).tolist()
    [2, 6, 12]
    """
    sizes = np.asarray(sizes, dtype=int)
    N = int(sizes.sum())
    if n > N:
        raise ValueError(ERR_TOO_LARGE.format(n=n, N=N))
    alloc = np.minimum(sizes, min_per_stratum)
    if alloc.sum() > n:
        raise ValueError(ERR_TOO_SMALL.format(n=n, k=int(alloc.sum()), floor=min_per_stratum,
                                              s=len(sizes)))
    ideal = n * sizes / max(N, 1)
    for _ in range(n - int(alloc.sum())):
        deficit = np.where(alloc < sizes, ideal - alloc, -np.inf)
        alloc[int(np.argmax(deficit))] += 1
    return alloc


def stratified_sample(items: pd.DataFrame, n: int, strata: Sequence[str], *, seed: int = 0,
                      min_per_stratum: int = 2) -> pd.DataFrame:
    """All ``items`` with ``stratum``, ``inclusion_prob``, ``weight`` and ``sampled`` added.

    The draw is reproducible from ``seed`` and independent of the row order of ``items``
    when ``items`` has an ``item_id`` column.
    """
    df = items.copy()
    if "item_id" in df.columns:
        df = df.sort_values("item_id", kind="stable")
    key = df[list(strata)].astype(str).agg(" | ".join, axis=1) if strata else pd.Series(
        "all", index=df.index)
    df["stratum"] = key
    labels = sorted(key.unique())
    sizes = key.value_counts().reindex(labels).to_numpy()
    alloc = dict(zip(labels, allocate(sizes, n, min_per_stratum), strict=True))
    rng = np.random.default_rng(seed)
    sampled = pd.Series(False, index=df.index)
    for lab in labels:
        idx = df.index[key == lab]
        pick = rng.choice(len(idx), size=alloc[lab], replace=False)
        sampled[idx[pick]] = True
    df["inclusion_prob"] = key.map({lab: alloc[lab] / s for lab, s in zip(labels, sizes,
                                                                          strict=True)})
    df["weight"] = 1.0 / df["inclusion_prob"]
    df["sampled"] = sampled
    return df.sort_index()
