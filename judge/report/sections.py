"""The sections of report.html, each a function returning inner HTML.

A section whose data is absent renders a one-line note saying so, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from judge.report import plots
from judge.report.elements import (
    Column,
    cost_text,
    esc,
    figure_html,
    fmt,
    kv_html,
    missing,
    note,
    table_html,
)
from judge.report.findings import TITLES, display_factor, units_of
from judge.report.rows import (
    is_all_level,
    null_value,
    parts,
)

MAX_HEATMAPS = 12
MAX_FORESTS = 16
KEYS = ("generator", "judge", "rubric_id", "criterion", "estimate_kind")


def metric_columns(df: pd.DataFrame, planted: bool | None = None) -> list[Column]:
    """Table columns for metric rows: the key columns that vary, then estimates and counts."""
    cols: list[Column] = [("metric", "metric")]
    cols += [(k, k) for k in KEYS if k in df and df[k].notna().any()]
    cols += [("attribute", "attribute"), ("level", "level"), ("reference", "reference"),
             ("estimate [95% CI]", "ci"), ("n", "n"), ("clusters", "n_clusters")]
    if "p_value" in df and df["p_value"].notna().any():
        cols.append(("p", "p_value"))
    if "p_adj" in df and df["p_adj"].notna().any():
        cols.append(("p adj.", "p_adj"))
    if planted or (planted is None and "planted" in df and df["planted"].notna().any()):
        cols += [("planted", "planted"), ("CI covers planted", "covered")]
    return cols


def _facets(df: pd.DataFrame, by: list[str]) -> list[tuple[tuple, pd.DataFrame]]:
    by = [b for b in by if b in df]
    if not by:
        return [((), df)]
    return [(k if isinstance(k, tuple) else (k,), g)
            for k, g in df.groupby([df[b].fillna("") for b in by], sort=False)]


# ---------------------------------------------------------------- run summary

def run_summary(manifest: Mapping[str, Any]) -> str:
    counts = manifest.get("counts") or {}
    tokens = manifest.get("tokens") or {}
    git = manifest.get("git") or {}
    versions = manifest.get("versions") or {}
    cost_s = cost_text(manifest)
    items = [("run", manifest.get("name", "")), ("status", manifest.get("status", "")),
             ("generators", ", ".join(manifest.get("generators") or []) or "none"),
             ("judges", ", ".join(manifest.get("judges") or []) or "none"),
             ("tokens", f"prompt {fmt(tokens.get('prompt'))}, completion "
                        f"{fmt(tokens.get('completion'))}"),
             ("cost", cost_s), ("errors", fmt(manifest.get("errors", 0))),
             ("git", f"{(git.get('commit') or 'unknown')[:12]}"
                     f"{' (dirty)' if git.get('dirty') else ''}"),
             ("versions", ", ".join(f"{k} {v}" for k, v in versions.items())),
             ("seed", (manifest.get("config") or {}).get("seed", "")),
             ("config", manifest.get("config_path", ""))]
    if manifest.get("stopped_reason"):
        items.append(("stopped", manifest["stopped_reason"]))
    rub = [{"rubric": k.split("@")[0], "version": k.split("@")[1] if "@" in k else "",
            "hash": v} for k, v in (manifest.get("rubrics") or {}).items()]
    rub_t = table_html(rub, [("rubric", "rubric"), ("version", "version"), ("hash", "hash")])
    cnt = [{"record": k, "count": v if not isinstance(v, dict) else
            ", ".join(f"{s} {c}" for s, c in v.items())} for k, v in counts.items()]
    cnt_t = table_html(cnt, [("records", "record"), ("count", "count")])
    calls = [{"model": m, **c, "cost_usd": _call_cost(m, c.get("cost_usd"))}
             for m, c in (manifest.get("calls_last_invocation") or {}).items()]
    calls_t = table_html(calls, [(h, h) for h in ("model", "calls", "ok", "errors", "retries",
                                                  "cached", "prompt_tokens",
                                                  "completion_tokens", "cost_usd")])
    return (kv_html(items) + "<h3>Rubrics (id, version, content hash)</h3>" +
            (rub_t or note("No rubric hashes in the manifest.")) + "<h3>Counts</h3>" + cnt_t +
            ("<h3>Model calls (last invocation)</h3>" + calls_t if calls_t else ""))


def _call_cost(model: str, usd: Any) -> str:
    """A model's cost cell: ``unknown`` when unpriced (never $0), simulated prices marked."""
    if missing(usd):
        return "unknown"
    return f"${float(usd):.4f}" + (" (simulated)" if str(model).startswith("sim/") else "")


# ---------------------------------------------------------------- metrics

def all_zero(df: pd.DataFrame) -> pd.Series:
    """Rows whose estimate and interval are all exactly 0 (no refusals anywhere, ...)."""
    z = [pd.to_numeric(df[c], errors="coerce").fillna(0).eq(0) for c in
         ("value", "ci_low", "ci_high")]
    return z[0] & z[1] & z[2] & pd.to_numeric(df["value"], errors="coerce").notna()


def drop_all_zero(df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """``df`` without all-zero rows, and a note saying how many were left out."""
    z = all_zero(df) if not df.empty else pd.Series(dtype=bool)
    if not z.any():
        return df, ""
    return df[~z], note(f"{int(z.sum())} all-zero rows (estimate and interval exactly 0) "
                        "are left out here; they are in metrics.csv.")


def plain_title(metric: str, scale: str | None = None) -> str:
    """``Difference in positive-decision rate (percentage points)`` for a metric id;
    ``scale``: the rows' (``1-7``: points on the 1-7 scale; ``0-1``: percentage points).

    >>> plain_title("quality_diff", "1-7")
    'Difference in judged quality (points on the 1-7 scale)'
    >>> plain_title("quality_diff", "0-1")
    'Difference in judged quality (percentage points)'
    """
    title = TITLES.get(metric, metric.replace("_", " ").capitalize())
    points = f"points on the {scale} scale" if scale else "points on the rubric's scale"
    unit = {"pp": "percentage points", "pct": "% of pairs",
            "points": points, "ratio": "ratio"}.get(units_of(metric, scale))
    return f"{title} ({unit})" if unit else title


def by_metric(df: pd.DataFrame) -> list[tuple[str, str | None, pd.DataFrame]]:
    """``(metric, scale, rows)`` per metric and scale, in order: one plot per unit."""
    scale = df["scale"].fillna("") if "scale" in df else pd.Series("", index=df.index)
    return [(str(m), s or None, g) for (m, s), g in
            df.groupby([df["metric"], scale.rename("_scale")], sort=False)]


def in_title_units(df: pd.DataFrame, metric: str, scale: str | None, null: float
                   ) -> tuple[pd.DataFrame, float]:
    """Rows and null line in the units :func:`plain_title` names: proportions x 100 for
    percentage points and percent, anything else unchanged.

    >>> d, null = in_title_units(pd.DataFrame({"value": [-0.125]}), "selection_rate_diff",
    ...                          None, 0.0)
    >>> float(d["value"].iloc[0]), null
    (-12.5, 0.0)
    """
    f = display_factor(units_of(metric, scale))
    if f == 1:
        return df, null
    cols = [c for c in ("value", "ci_low", "ci_high", "planted") if c in df]
    return df.assign(**{c: pd.to_numeric(df[c], errors="coerce") * f for c in cols}), null * f


def headline(df: pd.DataFrame, min_cell: int) -> str:
    """Forest plots of level-vs-reference disparities, one per metric, titled in plain
    language with units; all-zero rows and empty plots left out."""
    if df.empty:
        return note("No level-vs-reference disparity rows in metrics.json.")
    is_flag = df["metric"].str.endswith("_flag")
    out = [flags(df[is_flag])]
    df, dropped = drop_all_zero(df[~is_flag])
    df = df[pd.to_numeric(df["value"], errors="coerce").notna()]
    groups = by_metric(df)
    for k, (metric, scale, g) in enumerate(groups):
        if k >= MAX_FORESTS:
            out.append(note(f"{len(groups) - MAX_FORESTS} more metrics are in the "
                            "group metrics table."))
            break
        null = null_value(metric)
        title = plain_title(metric, scale)
        g, null = in_title_units(g, metric, scale, null)
        for start in range(0, len(g), plots.MAX_ROWS):
            chunk = g.iloc[start:start + plots.MAX_ROWS]
            out.append(figure_html(plots.forest_plot(chunk, title, null=null,
                                                     min_cell=min_cell),
                                   f"{title} [{metric}]: level vs reference, 95% CI; dashed "
                                   f"line = no disparity ({null:g}); hollow grey † = warning "
                                   "or small cell; × = planted value (simulation)."))
    out.append(dropped)
    return "".join(out)


def flag_state(value: object) -> str:
    """A rule flag's state: raised (1), not raised (0), or undetermined (no value: its
    interval straddles the rule's threshold).

    >>> flag_state(1.0), flag_state(0.0), flag_state(float("nan"))
    ('⚑ raised', 'not raised', 'undetermined')
    """
    if value is None or (isinstance(value, float) and value != value):
        return "undetermined"
    return "⚑ raised" if value == 1 else "not raised"


def flags(df: pd.DataFrame) -> str:
    """Rule flags (metric ``*_flag``, value 1 = raised), as a list above the plots."""
    if df.empty:
        return ""
    items = []
    for r in df.to_dict("records"):
        state = flag_state(r.get("value"))
        what = f"{r['metric']} on {r.get('attribute')}"
        rule = f" ({r['reference']})" if r.get("reference") else ""
        keys = ", ".join(str(r[k]) for k in KEYS if k in r and isinstance(r.get(k), str))
        items.append(f"<li>{state}: {esc(what)}{esc(rule)}"
                     f"{' [' + esc(keys) + ']' if keys else ''}</li>")
    return "<p>Rule flags:</p><ul>" + "".join(items) + "</ul>"


def counterfactual(df: pd.DataFrame, min_cell: int) -> str:
    if df.empty:
        return note("No counterfactual metrics in this run (needs a counterfactual design).")
    flips = df[df["metric"].str.contains("flip")]
    diffs = df[~df["metric"].str.contains("flip") & df["reference"].notna()]
    out = []
    if not flips.empty:
        out.append(figure_html(plots.flip_chart(flips, min_cell=min_cell),
                               "Share of counterfactual pairs (same query, one attribute "
                               "changed) whose decision flips; hatched = small cell."))
    diffs = diffs[pd.to_numeric(diffs["value"], errors="coerce").notna()]
    diffs = diffs[~all_zero(diffs)] if not diffs.empty else diffs
    for metric, scale, g in by_metric(diffs):
        title = plain_title(metric, scale)
        out.append(figure_html(plots.forest_plot(g, title, null=null_value(metric),
                                                 min_cell=min_cell),
                               f"{title} [{metric}]: paired within counterfactual groups, "
                               "95% CI."))
    out.append(table_html(df, metric_columns(df), min_cell,
                          caption="Counterfactual metrics (paired tests in the p column)."))
    return "".join(out)


def group_table(df: pd.DataFrame, min_cell: int) -> str:
    if df.empty:
        return note("No group metrics in metrics.json.")
    df, dropped = drop_all_zero(df)
    return table_html(df, metric_columns(df), min_cell, collapse_over=120) + dropped


def intersection(df: pd.DataFrame, min_cell: int) -> str:
    if df.empty:
        return note("No intersectional cells in metrics.json (no attribute like "
                    "'race×gender').")
    d = df[df["level"].map(lambda lv: len(parts(lv)) >= 2)]
    d = d[~d["metric"].str.endswith(("_n", "_count", "_mde")) & (d["method"].fillna("") != "count")]
    out, k = [], 0
    for key, g in _facets(d, ["metric", "attribute", *KEYS]):
        if k >= MAX_HEATMAPS:
            out.append(note("More intersection heatmaps omitted; all cells are in the table."))
            break
        title = " · ".join(str(x) for x in key if x)
        fig = plots.heatmap(g, title, min_cell)
        if fig is not None:
            out.append(figure_html(fig, f"{title}: value and n per cell; hatched cells have "
                                        f"n < {min_cell} or a warning and should not be read."))
            k += 1
    out.append(table_html(df, metric_columns(df), min_cell,
                          caption="Intersectional cells (multiple-testing adjusted p in "
                                  "'p adj.' when present)."))
    return "".join(out)


def exposure(df: pd.DataFrame, min_cell: int) -> str:
    if df.empty:
        return note("No producer-exposure metrics in this run (needs a producer scenario "
                    "and a producer catalogue).")
    summ = df[df["level"].map(is_all_level)]
    lines = [f"<li>{esc(r['metric'])}: {esc(_ci_short(r))}</li>" for r in summ.to_dict("records")]
    return (("<ul>" + "".join(lines) + "</ul>" if lines else "") +
            figure_html(plots.exposure_plot(df), "Position-weighted exposure (1/log2(1+rank)) "
                                                 "per producer or producer group, 95% CI.") +
            table_html(df, metric_columns(df), min_cell))


def failures(df: pd.DataFrame, min_cell: int) -> str:
    if df.empty:
        return note("No parse-failure or refusal metrics in metrics.json.")
    all_rows = df
    df, dropped = drop_all_zero(df)
    if df.empty:
        names = ", ".join(sorted(set(all_rows["metric"].astype(str))))
        return note(f"No parse failures or refusals in any group: every rate ({names}) is "
                    "exactly 0; the rows are in metrics.csv.")
    return table_html(df, metric_columns(df), min_cell) + dropped


def _ci_short(r: Mapping[str, Any]) -> str:
    lo, hi = r.get("ci_low"), r.get("ci_high")
    s = fmt(r.get("value"))
    return s + ("" if missing(lo) or missing(hi) else f" [{fmt(lo)}, {fmt(hi)}]")
