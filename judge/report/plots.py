"""Report figures as matplotlib ``Figure`` objects (no pyplot state, Agg-safe, no display).

Every function takes a frame in the metric-table shape (or a normalised calibration
section, see :mod:`judge.report.rows`) and returns a ``Figure``, or ``None`` when there is
nothing to draw. Rows with a warning are drawn hollow and grey; small cells are hatched.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from judge.report.rows import (
    DEFAULT_MIN_CELL,
    is_all_level,
    parts,
    row_label,
    small_cell,
    varying,
)


def _plain_text(fn: Callable[..., Figure | None]) -> Callable[..., Figure | None]:
    """Draw with mathtext off: labels are data (levels, model names) and a ``$`` in them is
    text, never parsed (``$x^$`` would make the figure fail)."""

    @functools.wraps(fn)
    def plain(*args: Any, **kwargs: Any) -> Figure | None:
        with matplotlib.rc_context({"text.parse_math": False}):
            return fn(*args, **kwargs)

    return plain


WIDTH = 7.5
ROW_H = 0.28
MAX_ROWS = 40
COLORS = ["#1f5f8b", "#c45a00", "#2a7f3f", "#8e3b8e", "#6b6b6b", "#b8860b", "#17807e"]
WARN_COLOR = "#9a9a9a"
HATCH = "///"


def _height(n: int, base: float = 1.1) -> float:
    return base + ROW_H * max(n, 1)


def _finite(x: object) -> bool:
    return x is not None and isinstance(x, (int, float, np.floating)) and math.isfinite(x)


def _finite_or_str(x: object) -> bool:
    return isinstance(x, str) or _finite(x)


def _xerr(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Error-bar half widths; missing CI -> 0 (the point is still drawn)."""
    lo_e = np.where(np.isfinite(lo), v - lo, 0.0)
    hi_e = np.where(np.isfinite(hi), hi - v, 0.0)
    return np.vstack([np.clip(lo_e, 0, None), np.clip(hi_e, 0, None)])


@_plain_text
def forest_plot(df: pd.DataFrame, title: str, null: float = 0.0,
                label_keys: Sequence[str] = ("generator", "judge", "criterion",
                                             "estimate_kind"),
                min_cell: int = DEFAULT_MIN_CELL, xlabel: str = "estimate (95% CI)"
                ) -> Figure | None:
    """Point estimates with CIs, one row each; planted values as crosses; a null line.

    Rows with a warning or a small cell are hollow grey. At most :data:`MAX_ROWS` rows
    (the caller splits longer tables).
    """
    d = df[pd.to_numeric(df["value"], errors="coerce").notna()].head(MAX_ROWS)
    if d.empty:
        return None
    show = varying(d, label_keys)
    rows = d.to_dict("records")
    y = np.arange(len(rows))[::-1]
    v = d["value"].to_numpy(float)
    lo = pd.to_numeric(d["ci_low"], errors="coerce").to_numpy(float)
    hi = pd.to_numeric(d["ci_high"], errors="coerce").to_numpy(float)
    flagged = np.array([bool(r.get("warning")) or small_cell(r, min_cell) for r in rows])
    planted = pd.to_numeric(d.get("planted", pd.Series(np.nan, index=d.index)), errors="coerce")
    fig = Figure(figsize=(WIDTH, _height(len(rows)) + (0.35 if planted.notna().any() else 0)))
    ax = fig.add_subplot()
    ax.axvline(null, color="#444", lw=0.8, ls="--", zorder=1)
    err = _xerr(v, lo, hi)
    for mask, face, col in ((~flagged, COLORS[0], COLORS[0]), (flagged, "white", WARN_COLOR)):
        if mask.any():
            ax.errorbar(v[mask], y[mask], xerr=err[:, mask], fmt="o", color=col, mfc=face,
                        ecolor=col, capsize=3, ms=5, zorder=3)
    if planted.notna().any():
        ax.scatter(planted.to_numpy(float), y, marker="x", color=COLORS[1], zorder=4,
                   label="planted (simulation truth)")
    labels = [row_label(r, show) + (" †" if f else "") for r, f in zip(rows, flagged)]
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_title(title, fontsize=10, loc="left")
    ax.grid(axis="x", color="#e5e5e5", lw=0.6)
    ax.set_axisbelow(True)
    _finish(fig, ax)
    return fig


def _finish(fig: Figure, ax, ncol: int = 4) -> None:
    """Tight layout, with the axes' legend (if any) in a row below the plot."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        fig.tight_layout()
        return
    fig.legend(handles, labels, loc="lower center", ncol=min(ncol, len(handles)), fontsize=7,
               frameon=False)
    fig.tight_layout(rect=(0, 0.3 / fig.get_figheight(), 1, 1))


@_plain_text
def flip_chart(df: pd.DataFrame, title: str = "Counterfactual flip rate",
               min_cell: int = DEFAULT_MIN_CELL) -> Figure | None:
    """Horizontal bars of flip rates (share of counterfactual pairs whose decision changes)."""
    d = df[pd.to_numeric(df["value"], errors="coerce").notna()].head(MAX_ROWS)
    if d.empty:
        return None
    show = varying(d, ("generator", "judge", "criterion"))
    rows = d.to_dict("records")
    y = np.arange(len(rows))[::-1]
    v = d["value"].to_numpy(float)
    err = _xerr(v, pd.to_numeric(d["ci_low"], errors="coerce").to_numpy(float),
                pd.to_numeric(d["ci_high"], errors="coerce").to_numpy(float))
    attrs = list(dict.fromkeys(d["attribute"].astype(str)))
    fig = Figure(figsize=(WIDTH, _height(len(rows))))
    ax = fig.add_subplot()
    for i, r in enumerate(rows):
        small = small_cell(r, min_cell)
        ax.barh(y[i], v[i], color=COLORS[attrs.index(str(r["attribute"])) % len(COLORS)],
                alpha=0.45 if small else 0.85, hatch=HATCH if small else None,
                edgecolor="#333" if small else "none")
    ax.errorbar(v, y, xerr=err, fmt="none", ecolor="#222", capsize=3)
    ax.set_yticks(y, [row_label(r, show) for r in rows], fontsize=8)
    ax.set_xlim(0, max(1e-9, float(np.nanmax(np.append(v + err[1], 0.05)))) * 1.1)
    ax.set_xlabel("share of counterfactual pairs with a different decision (95% CI)",
                  fontsize=9)
    ax.set_title(title, fontsize=10, loc="left")
    fig.tight_layout()
    return fig


def _grid(df: pd.DataFrame) -> tuple[list[str], list[str], dict[tuple[str, str], dict]]:
    """Rows/cols of a heatmap: all but the last part of the level vs the last part."""
    cells: dict[tuple[str, str], dict] = {}
    for r in df.to_dict("records"):
        p = parts(r["level"])
        if len(p) < 2:
            continue
        cells[("×".join(p[:-1]), p[-1])] = r
    rlab = sorted({k[0] for k in cells})
    clab = sorted({k[1] for k in cells})
    return rlab, clab, cells


@_plain_text
def heatmap(df: pd.DataFrame, title: str, min_cell: int = DEFAULT_MIN_CELL) -> Figure | None:
    """Intersectional cells of one metric: colour = value, text = value and n; small cells
    (n < ``min_cell`` or flagged) hatched; empty cells blank."""
    d = df[~df["level"].map(is_all_level)]
    rlab, clab, cells = _grid(d)
    if not cells:
        return None
    M = np.full((len(rlab), len(clab)), np.nan)
    for (a, b), r in cells.items():
        if _finite(r.get("value")):
            M[rlab.index(a), clab.index(b)] = float(r["value"])
    finite = np.isfinite(M).any()
    signed = d["reference"].notna().any() and "rate" not in str(d["metric"].iloc[0])
    diverging = finite and (bool(np.nanmin(M) < 0) or signed)
    fig = Figure(figsize=(min(WIDTH, max(5.0, 2.4 + 1.2 * len(clab))), 1.6 + 0.55 * len(rlab)))
    ax = fig.add_subplot()
    if diverging:
        lim = float(np.nanmax(np.abs(M))) or 1.0
        im = ax.imshow(M, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    else:
        im = ax.imshow(M, cmap="viridis", aspect="auto")
    fig.colorbar(im, ax=ax, fraction=0.05, pad=0.03)
    for (a, b), r in cells.items():
        i, j = rlab.index(a), clab.index(b)
        small = small_cell(r, min_cell)
        if small:
            ax.add_patch(_hatch_patch(j, i))
        val = f"{r['value']:.2f}" if _finite(r.get("value")) else "n/a"
        n = f"n={int(r['n'])}" if _finite(r.get("n")) else ""
        ax.text(j, i, f"{val}\n{n}", ha="center", va="center", fontsize=7,
                color="black", bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                                     "alpha": 0.7})
    ref = parts(d["reference"].dropna().iloc[0]) if d["reference"].notna().any() else []
    if len(ref) >= 2 and ("×".join(ref[:-1]), ref[-1]) not in cells \
            and "×".join(ref[:-1]) in rlab and ref[-1] in clab:
        ax.text(clab.index(ref[-1]), rlab.index("×".join(ref[:-1])), "reference",
                ha="center", va="center", fontsize=7, color="#555")
    attrs = parts(d["attribute"].iloc[0])
    ax.set_xticks(range(len(clab)), clab, fontsize=8, rotation=30, ha="right")
    ax.set_yticks(range(len(rlab)), rlab, fontsize=8)
    ax.set_xlabel(f"{attrs[-1]}    (hatched: small cell, n < {min_cell} or flagged)",
                  fontsize=8)
    ax.set_ylabel("×".join(attrs[:-1]), fontsize=9)
    ax.set_title(title, fontsize=9, loc="left")
    fig.tight_layout()
    return fig


def _hatch_patch(x: float, y: float) -> Rectangle:
    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, hatch=HATCH, edgecolor="#333",
                     lw=0.0)


@_plain_text
def calibration_curves(df: pd.DataFrame, title: str) -> Figure | None:
    """Mean human score against judge score, one line per group, with the identity line;
    one panel per attribute (at most four) when the rows carry several attributes."""
    d = df.dropna(subset=["x", "y"]) if {"x", "y"} <= set(df.columns) else df[:0]
    if d.empty:
        return None
    attr = d["attribute"].fillna("(all)").astype(str) if "attribute" in d \
        else pd.Series("", index=d.index)
    panels = list(dict.fromkeys(attr))[:4]
    fig = Figure(figsize=(min(WIDTH, 0.6 + 2.6 * len(panels)), 3.2))
    axes = fig.subplots(1, len(panels), squeeze=False, sharex=True, sharey=True)[0]
    lo = float(np.nanmin([d["x"].min(), d["y"].min()]))
    hi = float(np.nanmax([d["x"].max(), d["y"].max()]))
    for ax, panel in zip(axes, panels):
        _curve_panel(ax, d[attr == panel], lo, hi)
        ax.set_title(panel, fontsize=8)
        ax.set_xlabel("judge score", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("mean human score", fontsize=8)
    fig.suptitle(title, fontsize=9, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def _curve_panel(ax, d: pd.DataFrame, lo: float, hi: float) -> None:
    ax.plot([lo, hi], [lo, hi], ls="--", color="#555", lw=0.8, label="perfect calibration")
    lev = d["level"].fillna("(all)").astype(str) if "level" in d else \
        pd.Series("(all)", index=d.index)
    for k, g in enumerate(dict.fromkeys(lev)):
        s = d[lev == g].sort_values("x")
        col = COLORS[k % len(COLORS)]
        ax.plot(s["x"], s["y"], marker="o", ms=3, color=col, label=g)
        if {"ci_low", "ci_high"} <= set(s.columns) and s["ci_low"].notna().any():
            ax.fill_between(s["x"].to_numpy(float), pd.to_numeric(s["ci_low"]).to_numpy(float),
                            pd.to_numeric(s["ci_high"]).to_numpy(float), color=col, alpha=0.12)
    ax.legend(fontsize=6, frameon=False, loc="upper left")


@_plain_text
def bland_altman_plot(summary: pd.DataFrame, points: pd.DataFrame, title: str
                      ) -> Figure | None:
    """Bland–Altman per group: mean difference (judge − human) with its CI and the 95%
    limits of agreement; with per-item points, one scatter panel per group."""
    if not points.empty:
        return _ba_points(points, title)
    if summary.empty:
        return None
    s = summary.reset_index(drop=True)
    labels = [_ba_label(r, s) for r in s.to_dict("records")]
    y = np.arange(len(s))[::-1]
    fig = Figure(figsize=(WIDTH, _height(len(s)) + 0.35))
    ax = fig.add_subplot()
    ax.axvline(0, color="#444", lw=0.8, ls="--")
    ax.hlines(y, s["loa_low"].astype(float), s["loa_high"].astype(float), color=COLORS[1],
              lw=5, alpha=0.3, label="95% limits of agreement")
    b = s["bias"].to_numpy(float)
    lo = pd.to_numeric(s.get("ci_low"), errors="coerce").to_numpy(float) \
        if "ci_low" in s else np.full(len(s), np.nan)
    hi = pd.to_numeric(s.get("ci_high"), errors="coerce").to_numpy(float) \
        if "ci_high" in s else np.full(len(s), np.nan)
    ax.errorbar(b, y, xerr=_xerr(b, lo, hi), fmt="o", color=COLORS[0], capsize=3,
                label="mean difference (95% CI)")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("judge − human", fontsize=9)
    ax.set_title(title, fontsize=10, loc="left")
    _finish(fig, ax)
    return fig


def _ba_label(r: dict, s: pd.DataFrame) -> str:
    keys = varying(s, ("judge", "criterion"))
    core = f"{r.get('attribute', '')}: {r.get('level', '')}"
    extra = [str(r[k]) for k in keys]
    return core + (f" [{', '.join(extra)}]" if extra else "")


def _ba_points(p: pd.DataFrame, title: str) -> Figure:
    groups = list(dict.fromkeys(p["level"].astype(str)))[:8]
    ncol = min(4, len(groups))
    nrow = math.ceil(len(groups) / ncol)
    fig = Figure(figsize=(WIDTH, 2.3 * nrow + 0.5))
    axes = fig.subplots(nrow, ncol, squeeze=False, sharex=True, sharey=True)
    for k, g in enumerate(groups):
        ax = axes[k // ncol][k % ncol]
        s = p[p["level"].astype(str) == g].dropna(subset=["mean", "diff"])
        ax.scatter(s["mean"], s["diff"], s=8, alpha=0.5, color=COLORS[k % len(COLORS)])
        if len(s) >= 2:
            m, sd = float(s["diff"].mean()), float(s["diff"].std(ddof=1))
            ax.axhline(m, color="#222", lw=1)
            for q in (m - 1.96 * sd, m + 1.96 * sd):
                ax.axhline(q, color="#222", lw=0.8, ls="--")
        ax.set_title(f"{g} (n={len(s)})", fontsize=8)
        ax.tick_params(labelsize=7)
    for k in range(len(groups), nrow * ncol):
        axes[k // ncol][k % ncol].set_visible(False)
    fig.supxlabel("mean of judge and human", fontsize=9)
    fig.supylabel("judge − human", fontsize=9)
    fig.suptitle(title, fontsize=10, x=0.02, ha="left")
    fig.tight_layout()
    return fig


@_plain_text
def corrected_plot(df: pd.DataFrame, title: str, null: float | None = None) -> Figure | None:
    """Raw (judge-only) vs corrected estimates per group, dodged, with CIs."""
    d = df[pd.to_numeric(df["value"], errors="coerce").notna()]
    if d.empty:
        return None
    kinds = list(dict.fromkeys(d["kind"].astype(str)))
    ref = d["reference"] if "reference" in d else pd.Series(None, index=d.index, dtype=object)
    key = d["level"].astype(str) + ref.map(lambda r: f" vs {r}" if _finite_or_str(r) else "")
    if "attribute" in d:
        key = d["attribute"].map(lambda a: "" if is_all_level(a) else f"{a}: ") + \
            key.where(~d["level"].map(is_all_level), "all groups")
    groups = list(dict.fromkeys(key))[:MAX_ROWS]
    fig = Figure(figsize=(WIDTH, _height(len(groups) * max(1, len(kinds)) * 0.45 + 1, 1.4)))
    ax = fig.add_subplot()
    step = 0.7 / max(1, len(kinds))
    base = np.arange(len(groups))[::-1].astype(float)
    for k, kind in enumerate(kinds):
        s = d[d["kind"].astype(str) == kind].assign(_key=key)
        s = s[s["_key"].isin(groups)]
        yy = np.array([base[groups.index(g)] for g in s["_key"]]) + 0.35 - step * (k + 0.5)
        v = s["value"].to_numpy(float)
        ax.errorbar(v, yy, xerr=_xerr(v, pd.to_numeric(s["ci_low"]).to_numpy(float),
                                      pd.to_numeric(s["ci_high"]).to_numpy(float)),
                    fmt="os^Dv"[k % 5], color=COLORS[k % len(COLORS)], capsize=2, ms=4,
                    label=kind)
    if null is not None:
        ax.axvline(null, color="#444", lw=0.8, ls="--")
    ax.set_yticks(base, groups, fontsize=8)
    ax.set_xlabel("estimate (95% CI)", fontsize=9)
    ax.set_title(title, fontsize=10, loc="left")
    _finish(fig, ax, ncol=len(kinds))
    return fig


@_plain_text
def exposure_plot(df: pd.DataFrame, title: str = "Producer exposure") -> Figure | None:
    """Per-producer (or producer-group) exposure metrics as bars with CIs, one panel per
    metric (at most four); summary rows (level ``*``) are left to the table."""
    d = df[~df["level"].map(is_all_level) & pd.to_numeric(df["value"], errors="coerce").notna()]
    if d.empty:
        return None
    metrics = list(dict.fromkeys(d["metric"]))[:4]
    nl = max(len(d[d["metric"] == m].head(MAX_ROWS)) for m in metrics)
    fig = Figure(figsize=(WIDTH, _height(nl) * len(metrics) * 0.9 + 0.4))
    axes = fig.subplots(len(metrics), 1, squeeze=False)[:, 0]
    for k, (ax, m) in enumerate(zip(axes, metrics)):
        s = d[d["metric"] == m].head(MAX_ROWS)
        y = np.arange(len(s))[::-1]
        v = s["value"].to_numpy(float)
        ax.barh(y, v, color=COLORS[k % len(COLORS)], alpha=0.85)
        ax.errorbar(v, y, xerr=_xerr(v, pd.to_numeric(s["ci_low"]).to_numpy(float),
                                     pd.to_numeric(s["ci_high"]).to_numpy(float)),
                    fmt="none", ecolor="#222", capsize=3)
        ax.axvline(0, color="#444", lw=0.6)
        ax.set_yticks(y, [row_label(r) for r in s.to_dict("records")], fontsize=8)
        ax.set_title(m, fontsize=9, loc="left")
    fig.suptitle(title, fontsize=10, x=0.02, ha="left")
    fig.tight_layout()
    return fig
