"""Compare two runs (two generators, two rubric versions, two judges): B minus A, with CIs.

Two sources of differences:

- ``judgments``: a cluster bootstrap over both runs' judgments (via :func:`judge.load`).
  When the runs share counterfactual groups (the same queries: two generators on one
  query set, or two rubric versions on one set of generations), each replicate draws one
  set of ``cf_group`` weights for both runs, so the pairing is kept and the interval on
  the difference is narrow where the runs agree. Otherwise the runs are resampled
  independently. For every outcome (favourable-decision rate, numeric scores) it gives
  the overall mean difference and, per attribute level, the difference of the
  level-minus-reference gaps (difference in differences).
- ``metrics``: every metric-table row present in both runs, differenced with a normal
  approximation from each run's own interval (treats the runs as independent, so it is
  conservative for paired runs).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from judge.errors import JudgeError, UsageError
from judge.frames import load, score_columns, split_score_column
from judge.report.rows import OPTIONAL_TEXT, metric_frame
from judge.rubrics import load_rubric
from judge.stats.bootstrap import DEFAULT_B, ClusterBootstrap, percentile_ci
from judge.stats.reference import DEFAULT_REFERENCE as conventional

ATTR = "attr."
JOIN_KEYS = ["metric", "attribute", "level", "reference"]
PAIRED_OVERLAP = 0.5
FAVOURABLE = {"favourable": 1.0, "unfavourable": 0.0}
DECISION_KIND, RATE_KIND, SCORE_KIND = "decision", "rate", "score"


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """A run's manifest, metrics and calibration (the latter two may be absent)."""

    d = Path(run_dir)
    if not (d / "manifest.json").is_file():
        raise UsageError("not a run directory (no manifest.json)", path=d,
                         hint="pass runs/<name> of a finished run")
    out: dict[str, Any] = {"dir": d, "manifest": json.loads((d / "manifest.json").read_text())}
    for k in ("metrics", "calibration"):
        p = d / f"{k}.json"
        out[k] = json.loads(p.read_text()) if p.is_file() else None
    return out


# ---------------------------------------------------------------- metric tables

def compare_tables(a: pd.DataFrame, b: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Rows present in both metric tables, ``value = B − A`` with an independent-runs CI.

    A key column (generator, judge ...) holding a single, different value in each run is
    the compared dimension and is left out of the join.
    """
    a, b = metric_frame(a.to_dict("records")), metric_frame(b.to_dict("records"))
    keys = list(JOIN_KEYS)
    for k in OPTIONAL_TEXT:
        va, vb = set(a[k].dropna()), set(b[k].dropna())
        if va == vb or not (len(va) == 1 and len(vb) == 1):
            keys.append(k)
    fill = {k: "" for k in keys}
    m = a.fillna(fill).merge(b.fillna(fill), on=keys, suffixes=("_a", "_b"))
    if m.empty:
        return pd.DataFrame()
    z = sps.norm.ppf(1 - alpha / 2)
    va, vb = m["value_a"].to_numpy(float), m["value_b"].to_numpy(float)
    se_a = (m["ci_high_a"] - m["ci_low_a"]).to_numpy(float) / (2 * z)
    se_b = (m["ci_high_b"] - m["ci_low_b"]).to_numpy(float) / (2 * z)
    d, se = vb - va, np.sqrt(se_a ** 2 + se_b ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(se > 0, 2 * sps.norm.sf(np.abs(d) / se), np.nan)
    warn = [_join_warn(x, y) for x, y in zip(m["warning_a"], m["warning_b"])]
    out = m[keys].replace("", None).assign(
        value=d, ci_low=d - z * se, ci_high=d + z * se, value_a=va, value_b=vb,
        n=(m["n_a"].fillna(0) + m["n_b"].fillna(0)).astype(int),
        n_clusters=np.fmin(m["n_clusters_a"], m["n_clusters_b"]), p_value=p, p_adj=math.nan,
        warning=warn, method="independent runs: normal approx. from each run's CI",
        source="metrics")
    return out.reset_index(drop=True)


def _join_warn(x: Any, y: Any) -> str | None:
    w = [f"{r}: {v}" for r, v in (("A", x), ("B", y)) if isinstance(v, str) and v]
    return "; ".join(w) or None


# ---------------------------------------------------------------- judgments

def label_values(j: pd.DataFrame) -> dict[tuple[str, str], tuple[str, dict[str, float]]]:
    """``(rubric_id, criterion) -> (kind, {label: 0/1})`` from the rubrics the judgments
    name: categorical criteria with ``positive`` choices are decisions (favourable = 1),
    binary criteria are rates (positive = 1). Rubrics that cannot be loaded are skipped."""

    keys = ["rubric_id"] + (["rubric_version"] if "rubric_version" in j else [])
    out: dict[tuple[str, str], tuple[str, dict[str, float]]] = {}
    for key in j[keys].drop_duplicates().itertuples(index=False):
        ref = "@".join(str(k) for k in key if isinstance(k, str) and k)
        try:
            rubric = load_rubric(ref)
        except (JudgeError, OSError, ValueError):
            continue
        for c in rubric.criteria:
            sc = c.scale
            if sc.type == "categorical" and sc.positive:
                vals = {**{x: 1.0 for x in sc.positive}, **{x: 0.0 for x in sc.negative}}
                out[(key[0], c.id)] = (DECISION_KIND, vals)
            elif sc.type == "binary":
                out[(key[0], c.id)] = (RATE_KIND, {sc.positive: 1.0, sc.negative: 0.0})
    return out


def outcome_frame(frames: Any) -> pd.DataFrame:
    """Scoreable judgments with one numeric column per outcome: ``out.<kind>:<rubric>.<crit>``.

    Decisions (categorical criteria with favourable choices; without a loadable rubric,
    labels ``favourable``/``unfavourable``) become a 0/1 favourable rate, binary criteria
    a 0/1 rate; numeric criteria keep their score. Labels with no number are NaN.
    """
    j = frames.judgments
    if j is None or j.empty:
        return pd.DataFrame()
    keep = pd.Series(True, index=j.index)
    for col, ok in (("parse_status", lambda s: s == "ok"), ("probe", lambda s: s.isna()),
                    ("repeat", lambda s: s.fillna(0) == 0),
                    ("judge_mode", lambda s: s.fillna("pointwise") == "pointwise")):
        if col in j:
            keep &= ok(j[col])
    j = j[keep].copy()
    labels = label_values(j)
    for col in score_columns(j):
        rub, crit = split_score_column(col)
        s = j.loc[j["rubric_id"] == rub, col]
        if s.isna().all():
            continue
        kind, vals = labels.get((rub, crit), (None, None))
        num = pd.to_numeric(s, errors="coerce")
        if kind is None and num.notna().sum() >= s.notna().sum() * 0.9:
            kind, mapped = SCORE_KIND, num
        elif kind is None and s.dropna().astype(str).isin(FAVOURABLE.keys()).any():
            kind, vals = DECISION_KIND, FAVOURABLE
        if kind is None:
            continue
        if kind != SCORE_KIND:
            mapped = s.map(lambda v, m=vals: m.get(str(v), np.nan)).astype(float)
        j.loc[s.index, f"out.{kind}:{rub}.{crit}"] = mapped
    return j


def metric_names(outcome: str) -> tuple[str, str]:
    """(name of the mean row, name of the gap rows) of an outcome column's suffix."""
    kind, _, what = outcome.partition(":")
    if kind == DECISION_KIND:
        return f"favourable_rate:{what}", "demographic_parity_difference"
    if kind == RATE_KIND:
        return f"rate:{what}", f"rate_gap:{what}"
    return f"mean_score:{what}", f"score_gap:{what}"


def _p(value: float, reps: np.ndarray) -> float:
    r = reps[np.isfinite(reps)]
    if len(r) < 2 or not np.isfinite(value):
        return math.nan
    se = float(np.std(r, ddof=1))
    return (1.0 if value == 0 else 0.0) if se == 0 else float(2 * sps.norm.sf(abs(value) / se))


@dataclass
class _Block:
    """One outcome by level: per run, the row values and level codes (-1: left out)."""

    outcome: str
    attribute: str | None
    reference: str | None
    levels: list[str]
    rows: list[tuple[np.ndarray, np.ndarray]]  # (y, g) for run A, run B


def _block(a: pd.DataFrame, b: pd.DataFrame, outcome: str, attribute: str | None,
           reference: str | None) -> _Block | None:
    col = f"out.{outcome}"
    labels = []
    for f in (a, b):
        lab = pd.Series("(all)", index=f.index) if attribute is None else f[ATTR + attribute]
        labels.append(lab.astype(str).where(lab.notna() & f[col].notna()))
    levels = sorted(set(labels[0].dropna().unique()) | set(labels[1].dropna().unique()))
    if attribute is not None and (reference not in levels or len(levels) < 2):
        return None
    rows = []
    for f, lab in zip((a, b), labels):
        g = pd.Categorical(lab, categories=levels).codes.astype(np.int64)
        rows.append((np.nan_to_num(f[col].to_numpy(float)), g))
    return _Block(outcome, attribute, reference, levels, rows)


def _design(blocks: list[_Block], run: int, n: int):
    """Row-level sparse matrix of one run: per block, the value and a 1 in the columns of
    the row's level (``[S_0..S_G-1, N_0..N_G-1]`` per block, side by side)."""
    from scipy import sparse

    ri, ci, v, off = [], [], [], 0
    for blk in blocks:
        y, g = blk.rows[run]
        G, r = len(blk.levels), np.flatnonzero(blk.rows[run][1] >= 0)
        ri += [r, r]
        ci += [off + g[r], off + G + g[r]]
        v += [y[r], np.ones(len(r))]
        off += 2 * G
    return sparse.csr_matrix((np.concatenate(v), (np.concatenate(ri), np.concatenate(ci))),
                             shape=(n, off))


def _replicates(Xa, ca: np.ndarray, Xb, cb: np.ndarray, B: int, seed: int, alpha: float):
    """Totals, ``(B, K)`` replicate sums and per-cluster sums of each run's design, and
    whether the runs were paired: one bootstrap over both runs' rows (one draw of cluster
    weights) when they share most clusters, else an independent one per run."""
    from scipy import sparse

    used_a, used_b = np.diff(Xa.indptr) > 0, np.diff(Xb.indptr) > 0
    ua, ub = set(ca[used_a]), set(cb[used_b])
    shared = len(ua & ub)
    K = Xa.shape[1]
    if shared >= PAIRED_OVERLAP * min(len(ua), len(ub)) and shared >= 2:
        X = sparse.vstack([sparse.hstack([Xa, sparse.csr_matrix((Xa.shape[0], K))]),
                           sparse.hstack([sparse.csr_matrix((Xb.shape[0], K)), Xb])]).tocsr()
        boot = ClusterBootstrap(np.r_[ca, cb], B, seed, alpha)
        tot, R = boot.sums(X)
        per = boot.cluster_sums(X).toarray()
        return ((tot[:K], R[:, :K], per[:, :K]), (tot[K:], R[:, K:], per[:, K:])), True
    out = []
    for X, c, used, s in ((Xa, ca, used_a, seed), (Xb, cb, used_b, seed + 1)):
        boot = ClusterBootstrap(c[used], B, s, alpha)
        tot, R = boot.sums(X[used])
        out.append((tot, R, boot.cluster_sums(X[used]).toarray()))
    return tuple(out), False


def _block_rows(blk: _Block, parts, method: str, alpha: float, min_cell: int) -> list[dict]:
    """Rows of one block from each run's ``(totals, replicates, per-cluster sums)`` of its
    columns ``[S_0..S_G-1, N_0..N_G-1]``."""
    G = len(blk.levels)
    (ta, Ra, Pa), (tb, Rb, Pb) = parts
    Na, Nb = Pa[:, G:], Pb[:, G:]  # rows per (cluster, level), for counting
    with np.errstate(invalid="ignore", divide="ignore"):
        pa, pb = ta[:G] / ta[G:], tb[:G] / tb[G:]
        ra, rb = Ra[:, :G] / Ra[:, G:], Rb[:, :G] / Rb[:, G:]
    enc = {lv: i for i, lv in enumerate(blk.levels)}
    targets = [(0, None)] if blk.attribute is None else \
        [(i, enc[blk.reference]) for i, lv in enumerate(blk.levels) if lv != blk.reference]
    rows = []
    for i, r in targets:
        va = pa[i] - (pa[r] if r is not None else 0.0)
        vb = pb[i] - (pb[r] if r is not None else 0.0)
        d = rb[:, i] - ra[:, i] - ((rb[:, r] - ra[:, r]) if r is not None else 0.0)
        cols = [i] if r is None else [i, r]
        ncl = int(min((Na[:, cols].sum(1) > 0).sum(), (Nb[:, cols].sum(1) > 0).sum()))
        lo, hi = percentile_ci(d, alpha) if ncl >= 2 else (math.nan, math.nan)
        warn = [f"{k}: level n={int(t[G + i])} < min_cell={min_cell}"
                for k, t in (("A", ta), ("B", tb)) if t[G + i] < min_cell]
        warn += [] if ncl >= 2 else ["fewer than 2 clusters: no interval"]
        rows.append({"metric": metric_names(blk.outcome)[0 if blk.attribute is None else 1],
                     "attribute": blk.attribute or "(all)",
                     "level": blk.levels[i] if blk.attribute is not None else "(all)",
                     "reference": blk.reference, "criterion": blk.outcome.partition(":")[2],
                     "value": float(vb - va), "ci_low": float(lo), "ci_high": float(hi),
                     "n": int(ta[G:][cols].sum() + tb[G:][cols].sum()), "n_clusters": ncl,
                     "p_value": _p(float(vb - va), d), "p_adj": math.nan,
                     "warning": "; ".join(warn) or None, "method": method,
                     "value_a": float(va), "value_b": float(vb), "source": "judgments"})
    return rows


def stratum_rows(a: pd.DataFrame, b: pd.DataFrame,
                 specs: Sequence[tuple[str, str | None, str | None]], B: int, seed: int,
                 alpha: float, min_cell: int) -> list[dict]:
    """B − A rows for ``(outcome, attribute, reference)`` specs (attribute None: the mean),
    all from one cluster bootstrap (one draw of cluster weights, one sparse product)."""
    blocks = [blk for o, at, ref in specs if (blk := _block(a, b, o, at, ref)) is not None]
    if not blocks:
        return []
    Xa, Xb = _design(blocks, 0, len(a)), _design(blocks, 1, len(b))
    parts, paired = _replicates(Xa, a["cf_group"].astype(str).to_numpy(), Xb,
                                b["cf_group"].astype(str).to_numpy(), B, seed, alpha)
    method = ("paired cluster bootstrap (shared cf_group weights)" if paired
              else "independent cluster bootstraps")
    rows, off = [], 0
    for blk in blocks:
        sl = np.r_[off:off + 2 * len(blk.levels)]
        rows += _block_rows(blk, [(t[sl], R[:, sl], P[:, sl]) for t, R, P in parts], method,
                            alpha, min_cell)
        off += 2 * len(blk.levels)
    return rows


def diff_rows(a: pd.DataFrame, b: pd.DataFrame, outcome: str, attribute: str | None,
              reference: str | None, B: int, seed: int, alpha: float, min_cell: int
              ) -> list[dict]:
    """B − A of an outcome's mean (``attribute=None``) or of each level-minus-reference gap."""
    return stratum_rows(a, b, [(outcome, attribute, reference)], B, seed, alpha, min_cell)


def reference_level(attribute: str, levels: Sequence[str], override: Mapping[str, str]) -> str:
    """The configured reference level, else the analysis' conventional one (``White``,
    ``male`` ...), else the first level in sort order."""

    for cand in (override.get(attribute), conventional.get(attribute)):
        if cand in levels:
            return str(cand)
    return sorted(levels)[0]


def compare_judgments(frames_a: Any, frames_b: Any, *, B: int = DEFAULT_B, seed: int = 0,
                      alpha: float = 0.05, reference: Mapping[str, str] | None = None,
                      min_cell: int = 30) -> pd.DataFrame:
    """B − A for every outcome both runs scored: overall means and per-level gaps.

    Stratified by generator when both runs have the same generators (e.g. two rubric
    versions); pooled per run otherwise (e.g. generator X in A vs generator Y in B).
    Within a stratum every outcome and attribute shares one draw of cluster weights.
    """
    a, b = outcome_frame(frames_a), outcome_frame(frames_b)
    if a.empty or b.empty:
        return pd.DataFrame()
    outs = sorted({c[4:] for c in a.columns if c.startswith("out.")} &
                  {c[4:] for c in b.columns if c.startswith("out.")})
    attrs = sorted({c[len(ATTR):] for c in a.columns if c.startswith(ATTR)} &
                   {c[len(ATTR):] for c in b.columns if c.startswith(ATTR)})
    gens_a, gens_b = set(a["generator"].dropna().unique()), set(b["generator"].dropna().unique())
    strata = sorted(gens_a) if gens_a == gens_b else [None]
    rows: list[dict] = []
    for k, gen in enumerate(strata):
        sa = a if gen is None else a[a["generator"] == gen]
        sb = b if gen is None else b[b["generator"] == gen]
        specs: list[tuple[str, str | None, str | None]] = []
        for o in outs:
            specs.append((o, None, None))
            for attr in attrs:
                levels = sorted(set(sa[ATTR + attr].dropna().astype(str).unique()) |
                                set(sb[ATTR + attr].dropna().astype(str).unique()))
                if len(levels) >= 2:
                    specs.append((o, attr, reference_level(attr, levels, reference or {})))
        found = stratum_rows(sa, sb, specs, B, seed + 1000 * k, alpha, min_cell)
        rows += [{**r, "generator": gen} for r in found]
    return pd.DataFrame(rows)


def compare_runs(run_a: str | Path, run_b: str | Path, *, B: int = DEFAULT_B, seed: int = 0,
                 alpha: float = 0.05) -> pd.DataFrame:
    """All differences B − A between two run directories (judgments, then metric tables).

    Columns: the metric-table columns (``value`` is the difference) plus ``value_a``,
    ``value_b`` and ``source`` (``judgments`` or ``metrics``).
    """

    ra, rb = read_run(run_a), read_run(run_b)
    cfg = ra["manifest"].get("config") or {}
    rep = cfg.get("report") or {}
    parts = [compare_judgments(load(ra["dir"]), load(rb["dir"]), B=B, seed=seed, alpha=alpha,
                               reference=rep.get("reference") or {},
                               min_cell=int(rep.get("min_cell", 30)))]
    if ra["metrics"] and rb["metrics"]:
        parts.append(compare_tables(pd.DataFrame(ra["metrics"].get("metrics") or []),
                                    pd.DataFrame(rb["metrics"].get("metrics") or []), alpha))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=[*JOIN_KEYS, "value", "ci_low", "ci_high", "source"])
    return pd.concat(parts, ignore_index=True)
