"""Counterfactual differences net of sampling noise.

At temperature > 0 two samples of the *same* query already disagree on some decisions,
so a counterfactual flip rate (level vs reference) is partly sampling noise. The
*resampling baseline* (noise floor) compares sample i with sample j of one query, same
generator and judge. For each attribute level we report, beside ``cf_flip_rate``:

- ``cf_flip_rate_noise_floor``: share of same-query sample pairs whose decision differs,
  over the queries of that level and of the reference;
- ``cf_flip_rate_excess``: flip rate minus its floor, the part attributable to the
  attribute change (0 when the generator treats the two inputs alike);

and the same for mean absolute score differences (``cf_score_absdiff_noise_floor``,
``cf_score_absdiff_excess``). The excess interval is a cluster bootstrap over
counterfactual groups in which the flip rate and the floor are recomputed from the SAME
cluster weights in every replicate, so the difference is paired; its p-value is the
bootstrap-SE Wald test of excess = 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from judge.stats.bootstrap import DEFAULT_B, resampled_sums
from judge.stats.reference import choose_reference, is_missing

NOISE_EXPLANATION = (
    "A flip rate counts how often the decision changes when only the attribute changes; "
    "because two samples of the very same query already differ at the 'noise floor' rate, "
    "only the excess over that floor (with its interval) is evidence that the attribute "
    "itself changes the answer.")

COLUMNS = ["metric", "attribute", "level", "reference", "value", "ci_low", "ci_high", "n",
           "n_clusters", "p_value", "p_adj", "warning", "method"]
WARN_ONE_SAMPLE = ("no same-query sample pairs (one sample per query, or no outcome): no "
                   "noise floor; generate >= 2 samples per query to measure it")
WARN_NO_PAIRS = "no counterfactual pairs"
METHOD = "paired cluster bootstrap (same weights for flip rate and floor); p: bootstrap-SE Wald"
OUTCOMES = {"decision": "cf_flip_rate", "score": "cf_score_absdiff"}


def _levels(frame: pd.DataFrame, attrs: Sequence[str]) -> pd.Series:
    cols = [frame[f"attr.{a}"] for a in attrs]
    miss = np.zeros(len(frame), bool)
    for c in cols:
        miss |= is_missing(c)
    lab = cols[0].astype(str)
    for c in cols[1:]:
        lab = lab + "|" + c.astype(str)
    return lab.astype(object).where(~miss, None)


def _cell_means(df: pd.DataFrame, keys: list[str], outcome: str) -> pd.DataFrame:
    """Judge repeats of one cell averaged (as in counterfactual pairs)."""
    return df.groupby(keys, dropna=False, sort=False)[outcome].mean().reset_index()


def cf_pair_values(frame: pd.DataFrame, attrs: Sequence[str], outcome: str, reference: str,
                   cluster: str, pair_on: Sequence[str]) -> pd.DataFrame:
    """``|outcome - outcome_ref|`` per counterfactual pair: ``cluster, level, value``."""
    others = [c for c in frame.columns if c.startswith("attr.") and c[5:] not in attrs]
    keys = list(dict.fromkeys(["cf_group", cluster, *[c for c in pair_on if c in frame],
                               *others]))
    df = frame[keys].copy()
    df["_y"] = pd.to_numeric(frame[outcome], errors="coerce").astype(float)
    df["level"] = _levels(frame, attrs).to_numpy()
    df = df[df["level"].notna() & df["_y"].notna()]
    cells = _cell_means(df, keys + ["level"], "_y")
    ref = cells["level"] == reference
    pairs = cells[~ref].merge(cells[ref].drop(columns="level"), on=keys, suffixes=("", "_ref"))
    return pd.DataFrame({"cluster": pairs[cluster].to_numpy(), "level": pairs["level"].to_numpy(),
                         "value": np.abs(pairs["_y"] - pairs["_y_ref"]).to_numpy(float)})


def noise_pair_values(frame: pd.DataFrame, attrs: Sequence[str], outcome: str, cluster: str,
                      query: str = "query_id", sample: str = "sample_index",
                      same: Sequence[str] = ("generator", "judge")) -> pd.DataFrame:
    """``|outcome_i - outcome_j|`` for every pair of samples i < j of one query (same
    generator and judge): ``cluster, level, value``. Empty without a ``sample_index`` column."""
    if sample not in frame or frame[sample].nunique(dropna=True) < 2:
        return pd.DataFrame({"cluster": [], "level": [], "value": []})
    qkey = [query] if query in frame else \
        ["cf_group", *[c for c in frame.columns if c.startswith("attr.")]]
    keys = list(dict.fromkeys([*qkey, *[c for c in same if c in frame], cluster]))
    df = frame[keys + [sample]].copy()
    df["_y"] = pd.to_numeric(frame[outcome], errors="coerce").astype(float)
    df["level"] = _levels(frame, attrs).to_numpy()
    df = df[df["level"].notna() & df["_y"].notna()]
    cells = _cell_means(df, keys + ["level", sample], "_y")
    out_c, out_l, out_v = [], [], []
    for idx in cells.groupby(keys, sort=False, dropna=False).indices.values():
        if len(idx) < 2:
            continue
        a, b = np.triu_indices(len(idx), 1)
        y = cells["_y"].to_numpy(float)[idx]
        out_v.append(np.abs(y[a] - y[b]))
        out_c.append(np.repeat(cells[cluster].to_numpy()[idx[0]], len(a)))
        out_l.append(np.repeat(cells["level"].to_numpy()[idx[0]], len(a)))
    if not out_v:
        return pd.DataFrame({"cluster": [], "level": [], "value": []})
    return pd.DataFrame({"cluster": np.concatenate(out_c), "level": np.concatenate(out_l),
                         "value": np.concatenate(out_v)})


def _row(metric, attribute, level, reference, value, ci, n, nc, p=math.nan, warning=None,
         method=METHOD) -> dict:
    return {"metric": metric, "attribute": attribute, "level": level, "reference": reference,
            "value": float(value), "ci_low": float(ci[0]), "ci_high": float(ci[1]), "n": int(n),
            "n_clusters": int(nc), "p_value": float(p), "p_adj": math.nan, "warning": warning,
            "method": method}


def _ci(reps: np.ndarray, alpha: float) -> tuple[float, float]:
    r = reps[np.isfinite(reps)]
    if len(r) < 2:
        return (math.nan, math.nan)
    return (float(np.quantile(r, alpha / 2)), float(np.quantile(r, 1 - alpha / 2)))


def _wald(value: float, reps: np.ndarray) -> float:
    r = reps[np.isfinite(reps)]
    if len(r) < 2 or not np.isfinite(value):
        return math.nan
    se = float(np.std(r, ddof=1))
    if se == 0.0:
        return 1.0 if value == 0 else 0.0
    return float(math.erfc(abs(value) / se / math.sqrt(2)))


def excess_over_noise(cf: pd.DataFrame, noise: pd.DataFrame, levels: list[str], reference: str,
                      metric: str, attribute: str, *, B: int = DEFAULT_B, seed: int = 0,
                      alpha: float = 0.05) -> list[dict]:
    """Floor and excess rows per level from per-pair values (see module doc).

    The floor of ``level`` pools the noise pairs of the level's queries and the
    reference's queries (the two inputs whose answers the flip compares).
    """
    clusters = pd.Index(pd.unique(np.r_[cf["cluster"].to_numpy(object),
                                        noise["cluster"].to_numpy(object)]))
    C, L = len(clusters), len(levels)
    cols = np.zeros((C, 4 * L))
    for i, lv in enumerate(levels):
        for j, (df, mask) in enumerate(((cf, cf["level"] == lv),
                                        (noise, noise["level"].isin([lv, reference])))):
            sub = df[mask.to_numpy()]
            c = clusters.get_indexer(sub["cluster"].to_numpy(object))
            np.add.at(cols[:, (2 * j) * L + i], c, sub["value"].to_numpy(float))
            np.add.at(cols[:, (2 * j + 1) * L + i], c, 1.0)
    R = resampled_sums(cols, B, seed)
    rows = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for i, lv in enumerate(levels):
            s_cf, n_cf, s_no, n_no = (cols[:, k * L + i] for k in range(4))
            r_cf = R[:, 0 * L + i] / R[:, 1 * L + i]
            r_no = R[:, 2 * L + i] / R[:, 3 * L + i]
            cf_v = s_cf.sum() / n_cf.sum() if n_cf.sum() else math.nan
            no_v = s_no.sum() / n_no.sum() if n_no.sum() else math.nan
            nc_no = int((n_no > 0).sum())
            both = (n_cf > 0) & (n_no > 0)
            floor_warn = None if n_no.sum() else WARN_ONE_SAMPLE
            warn = WARN_NO_PAIRS if not n_cf.sum() else floor_warn
            if warn is None and int(both.sum()) < 2:
                warn = "fewer than 2 clusters with both pairs and a floor: no interval"
            if floor_warn is None and nc_no < 2:
                floor_warn = "fewer than 2 clusters: no interval"
            floor_ci = _ci(r_no, alpha) if nc_no >= 2 else (math.nan, math.nan)
            rows.append(_row(f"{metric}_noise_floor", attribute, lv, reference, no_v, floor_ci,
                             n_no.sum(), nc_no, warning=floor_warn,
                             method="same query, sample i vs j (same generator and judge); "
                                    "cluster bootstrap"))
            ex = cf_v - no_v
            reps = r_cf - r_no
            ok = warn is None
            rows.append(_row(f"{metric}_excess", attribute, lv, reference, ex,
                             _ci(reps, alpha) if ok else (math.nan, math.nan),
                             n_cf.sum(), int(both.sum()),
                             p=_wald(ex, reps) if ok else math.nan, warning=warn))
    return rows


def noise_floor_metrics(frame: pd.DataFrame, attributes: Sequence | None = None, *,
                        reference: str | dict | None = None, decision: str | None = "decision",
                        score: str | None = "score", cluster: str = "cf_group",
                        pair_on: Sequence[str] = ("generator", "sample_index", "judge"),
                        query: str = "query_id", sample: str = "sample_index", B: int = DEFAULT_B,
                        seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """Noise floor and excess of the counterfactual flip rate (``decision``) and absolute
    score difference (``score``) per attribute (or intersection tuple) and level.

    ``frame``: a scored frame (``cf_group``, ``attr.*``, ``query_id``, ``sample_index`` and the
    outcome columns; ``generator``/``judge`` when present). ``reference``: as
    :func:`judge.stats.counterfactual_metrics`; default :func:`choose_reference`.
    """
    names = [c[5:] for c in frame.columns if c.startswith("attr.")]
    specs = [(a,) if isinstance(a, str) else tuple(a) for a in (attributes or names)]
    rows: list[dict] = []
    for k, attrs in enumerate(specs):
        label = "|".join(attrs)
        lev = _levels(frame, attrs)
        ref = reference.get(label) if isinstance(reference, dict) else reference
        if ref is None or ref not in set(lev.dropna()):
            r = choose_reference(lev, label)
            ref = r.level if r else None
        if ref is None:
            continue
        levels = sorted(set(lev.dropna()) - {ref})
        for col, metric in ((decision, OUTCOMES["decision"]), (score, OUTCOMES["score"])):
            if not col or col not in frame or frame[col].isna().all():
                continue
            cf = cf_pair_values(frame, attrs, col, ref, cluster, pair_on)
            no = noise_pair_values(frame, attrs, col, cluster, query, sample)
            rows += excess_over_noise(cf, no, levels, ref, metric, label, B=B, seed=seed + k,
                                      alpha=alpha)
    return pd.DataFrame(rows, columns=COLUMNS)
