"""The sections of a calibration, one function each, over per-judge item frames.

An item frame has one row per item judged by one judge (or the ``panel``):
``item_id, cluster, group.*, score`` (the label), ``x`` (numeric judge score), and for
labelled items ``y`` (mean human score), ``h_major`` (majority human label),
``n_raters`` and ``w`` (``1 / inclusion_prob`` when weighted, else NaN). Each section
returns plain row dicts; :func:`judge.calibration.core.calibrate_frames` assembles them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from judge.calibration.scale import ScaleSpec
from judge.stats import bias as sb
from judge.stats import ppi as sp
from judge.stats.agreement import ALL, agreement_table
from judge.stats.bootstrap import group_diff_ci
from judge.stats.calibration_map import calibrate_scores

PANEL = "panel"


def _est_row(key: dict, attribute: str, group: str, metric: str, e) -> dict:
    return {**key, **sb.estimate_row(attribute, group, metric, e)}


# ---------------------------------------------------------------- item frames

def human_summary(h: pd.DataFrame, scale: ScaleSpec) -> pd.DataFrame:
    """Per item: human mean (numeric scales), majority label (ties -> None), rater count."""
    c = (h.groupby(["item_id", "score"]).size().reset_index(name="k")
         .sort_values(["item_id", "k"], ascending=[True, False], kind="stable"))
    first = c.groupby("item_id").nth(0).set_index("item_id")
    second = c.groupby("item_id").nth(1).set_index("item_id")["k"].reindex(first.index)
    clear = second.isna() | (first["k"] > second)
    out = pd.DataFrame({"n_raters": h.groupby("item_id").size()})
    out["h_major"] = first["score"].where(clear, None).astype(object).reindex(out.index)
    out["h_major"] = out["h_major"].where(out["h_major"].notna(), None)
    out["y"] = (h.assign(v=h["score"].astype(float)).groupby("item_id")["v"].mean()
                if scale.numeric else math.nan)
    return out


def judge_items(j: pd.DataFrame, scale: ScaleSpec, group_cols: list[str]) -> dict[str, pd.DataFrame]:
    """One frame per judge (and the panel): ``item_id, cluster, group.*, score, x``.

    The panel (several judges of one criterion): on a likert scale its score is the judges'
    mean (``x``) and its label the rounded mean; on a binary scale both are the majority
    vote, a tie being no verdict (NaN), so agreement, bias and the corrected estimates
    read the same panel."""
    base = j.drop_duplicates("item_id").set_index("item_id")[["cluster", *group_cols]]
    out = {}
    for name, sub in j.groupby("judge", sort=True):
        f = base.loc[sub["item_id"]].copy()
        f["score"] = sub["score"].to_numpy()
        f["x"] = sub["score"].astype(float).to_numpy() if scale.numeric else math.nan
        out[str(name)] = f.reset_index()
    if len(out) > 1:
        wide = j.pivot(index="item_id", columns="judge", values="score")
        if scale.numeric:
            x = wide.astype(float).mean(axis=1)
            lab = x.round() if scale.kind == "likert" else x.where(x != 0.5).round()
            if scale.kind != "likert":
                # one panel for every table: on a binary scale the panel's verdict is the
                # majority vote (a tie is no verdict), in agreement, bias and correction
                x = lab.astype(float)
            lab = lab.map(lambda v: None if pd.isna(v) else int(v))
        else:
            x = pd.Series(math.nan, index=wide.index)
            lab = wide.apply(lambda r: _mode_or_none(r.dropna()), axis=1)
        f = base.loc[wide.index].copy()
        f["score"], f["x"] = lab.to_numpy(), x.to_numpy()
        out[PANEL] = f.reset_index()
    return out


def _mode_or_none(s: pd.Series):
    c = s.value_counts()
    return c.index[0] if len(c) and (len(c) == 1 or c.iloc[0] > c.iloc[1]) else None


# ---------------------------------------------------------------- sections

def attr_name(col: str) -> str:
    return col.removeprefix("group.")


def bias_section(key, items, group_cols, reference, B, seed, alpha):
    lab = items.dropna(subset=["y", "x"])
    d = (lab["x"] - lab["y"]).to_numpy()
    w = lab["w"].to_numpy() if lab["w"].notna().any() else None
    rows, drows, joint = [], [], []
    e = sb.mean_by_group(d, np.full(len(d), ALL), lab["cluster"], w, B, seed, alpha)
    rows += [_est_row(key, ALL, ALL, "mean_bias", v) for v in e.values()]
    for col in group_cols:
        g = lab[col].fillna("(missing)").astype(str)
        e = sb.mean_by_group(d, g, lab["cluster"], w, B, seed, alpha)
        rows += [_est_row(key, attr_name(col), k, "mean_bias", v) for k, v in e.items()]
        ref = reference.get(attr_name(col)) or (sorted(items[col].dropna().astype(str))[:1] or [""])[0]
        tab, jt = sb.differential_bias(d, g, lab["cluster"], ref, weights=w, alpha=alpha)
        drows += [{**key, "attribute": attr_name(col), **r} for r in tab.to_dict("records")]
        joint.append({**key, "attribute": attr_name(col), "reference": ref, **jt})
    return rows, drows, joint


def classifier_section(key, items, scale, group_cols, B, seed, alpha):
    lab = items.dropna(subset=["h_major"])
    lab = lab[lab["score"].notna()]
    labels = scale.label_set()
    positive = [1] if scale.kind == "binary" else labels
    conf, rates = [], []
    for col in [None, *group_cols]:
        g = lab[col].fillna("(missing)").astype(str) if col else pd.Series(ALL, index=lab.index)
        attr = attr_name(col) if col else ALL
        c = sb.confusion_by_group(lab["score"].to_numpy(), lab["h_major"].to_numpy(), g, labels)
        conf += [{**key, "attribute": attr, "group": r["group"], "judge_label": r["judge"],
                  "human_label": r["human"], "count": r["count"]} for r in c.to_dict("records")]
        for gname in sorted(g.unique()):
            m = (g == gname).to_numpy()
            er = sb.error_rates(lab["score"].to_numpy()[m], lab["h_major"].to_numpy()[m],
                                lab["cluster"].to_numpy()[m], positive, B, seed, alpha)
            for lv, d in er.items():
                for metric, e in d.items():
                    rates.append({**_est_row(key, attr, gname, metric, e), "label": lv})
            if scale.kind == "binary":
                all_g = (items[col].fillna("(missing)").astype(str) == gname) if col else \
                    pd.Series(True, index=items.index)
                sub = items[all_g & items["score"].notna()]
                e = sb.rogan_gladen((sub["score"] == 1).astype(float), sub["cluster"],
                                    (lab["score"].to_numpy()[m] == 1).astype(float),
                                    (lab["h_major"].to_numpy()[m] == 1).astype(float),
                                    lab["cluster"].to_numpy()[m], B, seed, alpha)
                rates.append({**_est_row(key, attr, gname, "rogan_gladen_prevalence", e),
                              "label": 1})
    return conf, rates


DEGENERATE_INTERVAL = ("zero-width interval (constant labels or scores): no interval, "
                       "not evidence of a difference")
UNDEFINED_ESTIMATE = "undefined: constant or too few labels in this group"


def _ppi_row(key, attr, group, ref, quantity, estimator, value, lo, hi, n_lab, n_unl, nc,
             lam=math.nan, warning=None) -> dict:
    """One corrected-estimate row. An undefined value always carries a reason, and a
    numerically zero-width interval is reported as no interval (it would "exclude 0")."""
    value, lo, hi = float(value), float(lo), float(hi)
    if math.isnan(value) and not warning:
        warning = UNDEFINED_ESTIMATE
    if math.isfinite(lo) and math.isfinite(hi) and hi - lo <= 1e-9 * max(1.0, abs(value)):
        lo = hi = math.nan
        warning = f"{warning}; {DEGENERATE_INTERVAL}" if warning else DEGENERATE_INTERVAL
    return {**key, "attribute": attr, "group": group, "reference": ref, "quantity": quantity,
            "estimator": estimator, "value": float(value), "ci_low": float(lo),
            "ci_high": float(hi), "n_labelled": int(n_lab), "n_unlabelled": int(n_unl),
            "n_clusters": int(nc), "lam": float(lam), "warning": warning}


def correction_section(key, items, group_cols, reference, B, seed, alpha, min_labels, folds):
    """Judge-only vs PPI++-corrected group means and gaps, side by side."""
    allx = items.dropna(subset=["x"])
    lab = allx.dropna(subset=["y"])
    w = lab["w"].to_numpy() if lab["w"].notna().any() else None
    rows, maps = [], []
    for col in [None, *group_cols]:
        attr = attr_name(col) if col else ALL
        gu = (allx[col].fillna("(missing)").astype(str).to_numpy() if col
              else np.full(len(allx), ALL))
        gl = lab[col].fillna("(missing)").astype(str).to_numpy() if col else np.full(len(lab), ALL)
        ref = reference.get(attr) or sorted(set(gu))[0]
        cal_l, cal_u, cmap = calibrate_scores(lab["x"], lab["y"], gl, lab["cluster"], allx["x"],
                                              gu, w=w, folds=folds, min_labels=min_labels,
                                              seed=seed, attribute=attr)
        means = _sampled_means(lab, allx, gu, gl, w, cal_l, cal_u, alpha)
        if col is None:
            maps += [{**key, **r} for r in cmap[cmap["attribute"] == ALL].drop_duplicates(
                ["attribute", "group", "score"]).to_dict("records")]
            rows += _corrected_means(key, attr, allx, lab, gu, gl, w, means, B, seed, alpha)
            continue
        maps += [{**key, **r} for r in cmap[cmap["group"] != ALL].to_dict("records")]
        rows += _corrected_means(key, attr, allx, lab, gu, gl, w, means, B, seed, alpha)
        rows += _corrected_gaps(key, attr, ref, allx, lab, gu, gl, w, means, B, seed, alpha)
    return rows, maps


def _sampled_means(lab, allx, gu, gl, w, cal_l, cal_u, alpha) -> dict:
    """``{(estimator, group): SampledEstimate}`` for ``ppi`` (raw judge scores) and
    ``ppi_isotonic`` (calibrated ones), for each group with enough labelled items: the mean
    rows and the gap rows read the same estimates."""
    y, x_l, x_u = lab["y"].to_numpy(), lab["x"].to_numpy(), allx["x"].to_numpy()
    c_l = lab["cluster"].to_numpy()
    out = {}
    for g in sorted(set(gu)):
        ml, mu = gl == g, gu == g
        if ml.sum() < sp.MIN_LABELLED:
            continue
        for est, yl, yu in (("ppi", x_l, x_u), ("ppi_isotonic", cal_l, cal_u)):
            out[est, g] = sp.sampled_ppi_mean(y[ml], yl[ml], yu[mu],
                                              w=None if w is None else w[ml],
                                              clusters=c_l[ml], alpha=alpha)
    return out


def _corrected_means(key, attr, allx, lab, gu, gl, w, means, B, seed, alpha):
    rows = []
    naive = sb.mean_by_group(allx["x"], gu, allx["cluster"], None, B, seed, alpha)
    human = sb.mean_by_group(lab["y"], gl, lab["cluster"], w, B, seed, alpha)
    for g in sorted(set(gu)):
        mu, ml = gu == g, gl == g
        nl, nu = int(ml.sum()), int(mu.sum())
        nc = allx["cluster"][mu].nunique()
        e = naive[g]
        rows.append(_ppi_row(key, attr, g, None, "mean", "judge_only", e.value, e.ci_low,
                             e.ci_high, 0, nu, e.n_clusters, warning=e.warning))
        e = human.get(g)
        if e is not None:
            rows.append(_ppi_row(key, attr, g, None, "mean", "human_only", e.value, e.ci_low,
                                 e.ci_high, nl, 0, e.n_clusters, warning=e.warning))
        for est in ("ppi", "ppi_isotonic"):
            e = means.get((est, g))
            if e is None:
                rows.append(_ppi_row(key, attr, g, None, "mean", est, math.nan, math.nan,
                                     math.nan, nl, nu, nc,
                                     warning=f"fewer than {sp.MIN_LABELLED} labelled items"))
                continue
            rows.append(_ppi_row(key, attr, g, None, "mean", est, e.value, e.ci_low, e.ci_high,
                                 nl, nu, nc, lam=e.lam))
    return rows


def _corrected_gaps(key, attr, ref, allx, lab, gu, gl, w, means, B, seed, alpha):
    """Each level's corrected gap to ``ref``: the difference of the two groups'
    :func:`~judge.stats.ppi.sampled_ppi_mean` (so a gap is the difference of the mean rows),
    and a cluster bootstrap of the same point with both groups' ``lam`` held fixed."""
    rows = []
    ok = {g for _, g in means}
    levels = [g for g in sorted(set(gu)) if g != ref]
    y, x_l, x_u = lab["y"].to_numpy(), lab["x"].to_numpy(), allx["x"].to_numpy()
    for g in levels:
        m2u, m2l = np.isin(gu, [g, ref]), np.isin(gl, [g, ref])
        nl, nu = int(m2l.sum()), int(m2u.sum())
        nc = allx["cluster"][m2u].nunique()
        e = group_diff_ci(allx["x"], gu, allx["cluster"], g, ref, B, seed, alpha)
        rows.append(_ppi_row(key, attr, g, ref, "gap", "judge_only", e.value, e.ci_low,
                             e.ci_high, 0, nu, e.n_clusters, warning=e.warning))
        if g not in ok or ref not in ok:
            for est in ("ppi", "ppi_cluster_bootstrap", "ppi_isotonic"):
                rows.append(_ppi_row(key, attr, g, ref, "gap", est, math.nan, math.nan, math.nan,
                                     nl, nu, nc, warning=f"fewer than {sp.MIN_LABELLED} "
                                     "labelled items in this group or the reference"))
            continue
        d = sp.sampled_ppi_gap(means["ppi", g], means["ppi", ref], alpha=alpha)
        rows.append(_ppi_row(key, attr, g, ref, "gap", "ppi", d.value, d.ci_low, d.ci_high,
                             nl, nu, nc, lam=d.lam))
        lams = (means["ppi", ref].lam, means["ppi", g].lam)
        bv, blo, bhi, bnc = sp.ppi_gap_cluster_bootstrap(
            y[m2l], x_l[m2l], gl[m2l], lab["cluster"].to_numpy()[m2l],
            x_u[m2u], gu[m2u], allx["cluster"].to_numpy()[m2u], g, ref, lams,
            w=None if w is None else w[m2l], B=B, seed=seed, alpha=alpha)
        rows.append(_ppi_row(key, attr, g, ref, "gap", "ppi_cluster_bootstrap", bv, blo, bhi,
                             nl, nu, bnc, lam=d.lam))
        d = sp.sampled_ppi_gap(means["ppi_isotonic", g], means["ppi_isotonic", ref], alpha=alpha)
        rows.append(_ppi_row(key, attr, g, ref, "gap", "ppi_isotonic", d.value, d.ci_low,
                             d.ci_high, nl, nu, nc, lam=d.lam))
    return rows


def inter_judge_section(criterion, per_judge, scale, group_cols, B, seed, alpha):
    names = [n for n in per_judge if n != PANEL]
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            other = per_judge[b].dropna(subset=["score"])
            h = pd.DataFrame({"item_id": other["item_id"], "rater": b, "score": other["score"]})
            ja = per_judge[a][per_judge[a]["item_id"].isin(set(h["item_id"]))]
            tab = agreement_table(ja, h, labels=scale.label_set(), level=scale.level,
                                  group_cols=group_cols, B=B, seed=seed, alpha=alpha)
            tab = tab[tab["metric"].isin(["exact_agreement", "cohen_kappa", "spearman",
                                          "kendall_tau_b", "alpha_judge_humans"])]
            tab = tab.replace({"metric": {"alpha_judge_humans": "krippendorff_alpha"}})
            rows += [{"criterion": criterion, "judge": a, "other_judge": b, **r}
                     for r in tab.to_dict("records")]
    return rows
