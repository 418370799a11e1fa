"""Calibration and judge-probe sections of report.html (from calibration.json)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from judge.report import plots
from judge.report.elements import Column, esc, figure_html, fmt_ci, note, table_html
from judge.report.rows import (
    bland_altman_frame,
    bland_altman_points,
    corrected_frame,
    metric_frame,
    null_value,
    section_frame,
)

JUDGE_KEYS = ("judge", "rubric_id", "criterion")
MAX_AGREEMENT_PLOTS = 8


def _keys(df: pd.DataFrame, extra: tuple[str, ...] = ()) -> list[Column]:
    return [(k, k) for k in (*JUDGE_KEYS, *extra) if k in df and df[k].notna().any()]


def _groups(df: pd.DataFrame, by: tuple[str, ...]) -> list[tuple[str, pd.DataFrame]]:
    by_ = [b for b in by if b in df and df[b].notna().any()]
    if not by_:
        return [("", df)]
    out = []
    for key, g in df.groupby([df[b].fillna("(all)").astype(str) for b in by_], sort=False):
        key = key if isinstance(key, tuple) else (key,)
        out.append((" · ".join(key), g))
    return out


def calibration(cal: Mapping[str, Any] | None, metrics: pd.DataFrame, min_cell: int,
                labelling: str | None = None) -> str:
    """Agreement table, judge bias, calibration curves, Bland–Altman, raw vs corrected;
    with no calibration, ``labelling`` (what calibration needs: the sheets) or a note."""
    if not cal:
        return note(labelling or "No calibration.json: no human labels, so judge-based "
                    "disparities are uncorrected and the judge's own bias is unmeasured.")
    head = ""
    if cal.get("n_labels") is not None:
        items = cal.get("n_items_labelled", cal.get("n_items"))
        head = f"<p>{esc(cal.get('n_labels'))} human labels on {esc(items)} items.</p>"
    if cal.get("note"):
        head += note(str(cal["note"]))
    if labelling:
        head += note(labelling)
    parts = [head, "<h3>Agreement with human labels</h3>", agreement(cal, min_cell),
             "<h3>Judge bias by group: mean(judge − human)</h3>", judge_bias(cal, min_cell),
             differential_bias(cal, min_cell),
             "<h3>Calibration curves by group</h3>", curves(cal),
             "<h3>Bland–Altman by group</h3>", bland_altman(cal),
             "<h3>Raw vs corrected estimates</h3>", corrected(cal, metrics, min_cell),
             extras(cal, min_cell)]
    return "".join(parts)


def differential_bias(cal: Mapping[str, Any], min_cell: int) -> str:
    """Group-minus-reference judge bias (regression estimates, Holm-adjusted p)."""
    df = section_frame(cal.get("differential_bias"), need=("value", "level"))
    if df.empty:
        return ""
    m = metric_frame(df.rename(columns={"p_holm": "p_adj"}).to_dict("records"))
    out = ["<h3>Differential judge bias (group minus reference)</h3>"]
    for title, g in _groups(m, JUDGE_KEYS):
        out.append(figure_html(plots.forest_plot(g, f"differential bias {title}".strip(),
                                                 label_keys=(), min_cell=min_cell,
                                                 xlabel="bias(group) − bias(reference)"),
                               "How much more (or less) the judge over-scores a group than the "
                               "reference group; this is what shifts judge-based gaps."))
    cols = _keys(m) + [("attribute", "attribute"), ("level", "level"),
                       ("reference", "reference"), ("estimate [95% CI]", "ci"),
                       ("p", "p_value"), ("p (Holm)", "p_adj"), ("n", "n")]
    if m["planted"].notna().any():
        cols += [("planted", "planted"), ("CI covers planted", "covered")]
    return "".join(out) + table_html(m, cols, min_cell)


def extras(cal: Mapping[str, Any], min_cell: int) -> str:
    """Judge error rates, joint tests, self-preference flags and input issues, if present."""
    out = []
    er = section_frame(cal.get("error_rates"), need=("metric", "value"))
    if not er.empty:
        cols = _keys(er) + [(c, c) for c in ("attribute", "level", "label") if c in er]
        cols += [("metric", "metric"), ("estimate [95% CI]", "ci"), ("n", "n")]
        out += ["<h3>Judge error rates by group (against the human majority)</h3>",
                table_html(er, cols, min_cell, collapse_over=30)]
    jt = section_frame(cal.get("joint_tests"), need=("p_value",))
    if not jt.empty:
        cols = _keys(jt) + [(c, c) for c in ("attribute", "reference", "statistic", "df_num",
                                             "df_denom") if c in jt] + [("p", "p_value")]
        out += ["<h3>Joint tests: is the judge's bias equal across all groups?</h3>",
                table_html(jt, cols, min_cell)]
    flags = [f for f in cal.get("self_preference") or [] if isinstance(f, dict)]
    if flags:
        out.append("<h3>Self-preference risk</h3><ul>" + "".join(
            f"<li>judge {esc(f.get('judge'))} and generator {esc(f.get('generator'))} are both "
            f"{esc(f.get('family'))} models</li>" for f in flags) + "</ul>")
    issues = [i for i in cal.get("issues") or [] if isinstance(i, dict)]
    if issues:
        out.append("<h3>Calibration input issues</h3><ul>" + "".join(
            f"<li>{esc(i.get('kind', ''))}: {esc(i.get('count', ''))} "
            f"{esc(i.get('message', '') or '')}</li>" for i in issues) + "</ul>")
    return "".join(out)


def agreement(cal: Mapping[str, Any], min_cell: int) -> str:
    df = section_frame(cal.get("agreement"), need=("metric", "value"))
    if df.empty:
        return note("No agreement section in calibration.json.")
    df = df[~df["metric"].astype(str).str.startswith("ba_")]
    if df.empty:
        return note("The agreement section has only Bland–Altman rows.")
    wide = agreement_wide(df)
    metrics = [c for c in wide.columns if c in set(df["metric"].astype(str))]
    cols = [(c, c) for c in wide.columns if c not in ("n", "warning")] + [("n", "n")]
    return agreement_plots(df, min_cell) + table_html(
        wide, cols, min_cell, numeric=metrics, collapse_over=30,
        caption="Judge-human agreement per group, value [95% CI].")


def agreement_plots(df: pd.DataFrame, min_cell: int) -> str:
    """Cohen's kappa per group with CIs, one forest plot per judge × criterion × attribute:
    the "can I trust the judge for this group" number, drawn. Groups without a kappa
    (constant labels) are left out of the plot, not drawn empty."""
    k = df[(df["metric"].astype(str) == "cohen_kappa")]
    k = k[pd.to_numeric(k["value"], errors="coerce").notna()]
    if k.empty or "level" not in k:
        return ""
    k = k[~k["level"].astype(str).isin(["(missing)", "missing"])].assign(reference=None)
    out = []
    groups = _groups(k, (*JUDGE_KEYS, "attribute"))
    for i, (title, g) in enumerate(groups):
        if i >= MAX_AGREEMENT_PLOTS:
            out.append(note(f"{len(groups) - i} more kappa panels omitted; every group is in "
                            "the table below."))
            break
        fig = plots.forest_plot(g, f"Judge-human agreement (Cohen's kappa): {title}",
                                null=0.0, min_cell=min_cell,
                                xlabel="kappa (95% CI); 0 = chance, 1 = perfect")
        out.append(figure_html(fig, f"Cohen's kappa between judge and human labels per group "
                                    f"({title}); a group with a low kappa is one where the "
                                    "judge's scores should not be read without correction."))
    return "".join(out)


def agreement_wide(df: pd.DataFrame) -> pd.DataFrame:
    """One row per judge × criterion × group, one column per agreement metric."""
    keys = [k for k in (*JUDGE_KEYS, "attribute", "level") if k in df and df[k].notna().any()]
    d = df.assign(**{k: df[k].fillna("(all)").astype(str) for k in keys})
    d["_ci"] = [fmt_ci(r) for r in d.to_dict("records")]
    wide = d.pivot_table(index=keys, columns="metric", values="_ci", aggfunc="first",
                         sort=False)
    wide = wide[[m for m in dict.fromkeys(d["metric"]) if m in wide.columns]]
    wide.columns = [str(c) for c in wide.columns]
    extra = d.groupby(keys, sort=False).agg(
        n=("n", "max") if "n" in d else ("metric", "size"),
        warning=("warning", lambda w: "; ".join(dict.fromkeys(str(x) for x in w if x))
                 or None) if "warning" in d else ("metric", lambda _: None))
    return wide.join(extra).reset_index()


def judge_bias(cal: Mapping[str, Any], min_cell: int) -> str:
    rows = cal.get("judge_bias") or cal.get("bias")
    df = section_frame(rows, need=("value", "level"))
    if df.empty:
        return note("No judge-bias section in calibration.json.")
    if "metric" in df and (df["metric"] == "mean_bias").any():
        df = df[df["metric"] == "mean_bias"]
    m = metric_frame(df.to_dict("records"))
    out = []
    for title, g in _groups(m, JUDGE_KEYS):
        out.append(figure_html(plots.forest_plot(g, f"judge bias {title}".strip(),
                                                 label_keys=(), min_cell=min_cell,
                                                 xlabel="judge − human (95% CI)"),
                               "Mean judge-minus-human score per group; a group with a "
                               "different bias makes judge-based gaps wrong by that difference."))
    cols = _keys(m) + [("attribute", "attribute"), ("level", "level"),
                       ("bias [95% CI]", "ci"), ("n", "n"), ("clusters", "n_clusters")]
    if m["planted"].notna().any():
        cols += [("planted", "planted"), ("CI covers planted", "covered")]
    return "".join(out) + table_html(m, cols, min_cell)


def curves(cal: Mapping[str, Any]) -> str:
    df = section_frame(cal.get("calibration_curve") or cal.get("calibration_map"),
                       need=("x", "y"))
    if df.empty:
        return note("No calibration-curve section in calibration.json.")
    out = []
    for title, g in _groups(df, JUDGE_KEYS):
        out.append(figure_html(plots.calibration_curves(g, title or "calibration"),
                               f"{title}: mean human score per judge score, by group (one "
                               "panel per attribute); the dashed diagonal is perfect "
                               "calibration."))
    return "".join(out) or note("Calibration-curve rows had no plottable points.")


def bland_altman(cal: Mapping[str, Any]) -> str:
    summary, points = bland_altman_frame(cal), bland_altman_points(cal)
    if summary.empty and points.empty:
        return note("No Bland–Altman rows in calibration.json.")
    out = []
    src = points if not points.empty else summary
    for title, g in _groups(src, JUDGE_KEYS):
        fig = (plots.bland_altman_plot(pd.DataFrame(), g, title) if not points.empty
               else plots.bland_altman_plot(g, pd.DataFrame(), title))
        out.append(figure_html(fig, f"{title}: judge − human; bars are the 95% limits of "
                                    "agreement, points the mean difference with its CI."))
    return "".join(out)


def corrected(cal: Mapping[str, Any], metrics: pd.DataFrame, min_cell: int) -> str:
    df = corrected_frame(metrics, cal)
    if df.empty:
        return note("No corrected estimates (needs human labels on a sample of items).")
    by = tuple(b for b in (*JUDGE_KEYS, "quantity") if b in df)
    out = []
    for title, g in _groups(df, by):
        gap = "reference" in g and g["reference"].notna().any()
        q = str(g["quantity"].iloc[0]) if "quantity" in g else ""
        null = null_value(q) if gap else None
        out.append(figure_html(plots.corrected_plot(g, title, null=null),
                               f"{title}: judge-only (raw) vs corrected (PPI) estimates, "
                               "95% CI; corrected intervals are honest about judge error."))
    cols = _keys(df, ("quantity",)) + [("attribute", "attribute"), ("level", "level")]
    if "reference" in df:
        cols.append(("reference", "reference"))
    cols += [("estimator", "kind"), ("estimate [95% CI]", "ci"), ("n", "n")]
    return "".join(out) + table_html(df, cols, min_cell)


def probes(cal: Mapping[str, Any] | None, min_cell: int) -> str:
    """Judge probe effects (attribute swap, position swap, verbosity) with CIs."""
    df = section_frame((cal or {}).get("probes"), need=("probe", "value"))
    if df.empty:
        return note("No judge probes in this run (configure probes: attribute_swap, "
                    "position_swap, verbosity).")
    m = metric_frame(df.to_dict("records"))
    m["probe"] = df["probe"].astype(str).to_numpy()
    if "metric" not in df or df["metric"].isna().all() or (df["metric"] == df["probe"]).all():
        m["metric"] = "effect"
    m["attribute"] = m["attribute"].fillna("(all)")
    out = []
    for metric, g in m.groupby("metric", sort=False):
        null = 1.0 if "consisten" in metric or "agreement" in metric else 0.0
        for start in range(0, len(g), plots.MAX_ROWS):
            fig = plots.forest_plot(g.iloc[start:start + plots.MAX_ROWS], f"probes: {metric}",
                                    null=null, label_keys=("probe", *JUDGE_KEYS),
                                    min_cell=min_cell, xlabel=f"{metric} (95% CI)")
            out.append(figure_html(fig, f"{metric}: change in the judge's verdict when only "
                                        f"the probed property changes; {null:g} = no effect."))
    show = [k for k in ("probe", *JUDGE_KEYS) if k in m and m[k].notna().any()]
    cols = [(k, k) for k in show] + [("metric", "metric"), ("attribute", "attribute"),
                                     ("level", "level"), ("reference", "reference"),
                                     ("effect [95% CI]", "ci"), ("n", "n")]
    return "".join(out) + table_html(m, cols, min_cell)
