"""Each figure: what it draws for known rows, and None when there is nothing to draw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from judge.report import plots
from judge.report.rows import (
    bland_altman_frame,
    corrected_frame,
    metric_frame,
    section_frame,
    split_sections,
)


@pytest.fixture
def sections(metrics):
    return split_sections(metric_frame(metrics["metrics"]))


def _render(fig: Figure) -> None:
    fig.canvas.draw()  # raises on any layout/glyph problem (warnings are errors)


def _ticklabels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


def test_forest_plot_rows_null_line_planted_and_flags(sections):
    dp = sections["headline"][sections["headline"]["metric"] == "demographic_parity_difference"]
    fig = plots.forest_plot(dp, "dp")
    _render(fig)
    ax = fig.axes[0]
    labels = _ticklabels(ax)
    assert labels == ["race: Black vs White", "race: Asian vs White †",
                      "gender: female vs male"]  # top to bottom, in table order
    null = [ln for ln in ax.get_lines() if list(ln.get_xdata()) == [0.0, 0.0]]
    assert null, "dashed null line at 0"
    planted = [c for c in ax.collections if c.get_label().startswith("planted")]
    assert planted and np.isfinite(planted[0].get_offsets()).sum() == 4  # two planted rows
    hollow = [ln for ln in ax.get_lines() if ln.get_markerfacecolor() == "white"]
    assert len(hollow) == 1 and list(hollow[0].get_xdata()) == [0.04]


def test_forest_plot_ratio_null_is_one_and_missing_ci_still_plots():
    df = metric_frame([{"metric": "dp_ratio", "attribute": "race", "level": "B",
                        "reference": "W", "value": 0.8, "ci_low": None, "ci_high": None,
                        "n": 100}])
    fig = plots.forest_plot(df, "r", null=1.0)
    _render(fig)
    assert any(list(ln.get_xdata()) == [1.0, 1.0] for ln in fig.axes[0].get_lines())


def test_forest_plot_caps_rows_and_returns_none_when_empty():
    rows = [{"metric": "m", "attribute": "a", "level": str(i), "reference": "r",
             "value": i / 100, "ci_low": 0, "ci_high": 1, "n": 50} for i in range(55)]
    fig = plots.forest_plot(metric_frame(rows), "many")
    assert len(fig.axes[0].get_yticks()) == plots.MAX_ROWS
    assert plots.forest_plot(metric_frame(rows)[:0], "none") is None
    nan_only = metric_frame([{**rows[0], "value": None}])
    assert plots.forest_plot(nan_only, "nan") is None


def test_flip_chart_bars_and_hatching(sections):
    cf = sections["counterfactual"]
    flips = pd.concat([cf[cf["metric"] == "cf_flip_rate"],
                       sections["intersection"][sections["intersection"]["metric"] ==
                                                "cf_flip_rate"]])
    fig = plots.flip_chart(flips, min_cell=30)
    _render(fig)
    bars = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert len(bars) == 3
    assert sorted(round(b.get_width(), 2) for b in bars) == [0.12, 0.21, 0.30]
    assert sum(bool(b.get_hatch()) for b in bars) == 1  # the n=14 intersection cell
    assert plots.flip_chart(flips[:0]) is None


def test_heatmap_cells_text_and_small_cell_hatching(sections):
    inter = sections["intersection"]
    dp = inter[inter["metric"] == "demographic_parity_difference"]
    fig = plots.heatmap(dp, "dp race×gender", min_cell=30)
    _render(fig)
    ax = fig.axes[0]
    img = ax.get_images()[0].get_array()
    assert img.shape == (3, 2)  # rows Asian/Black/White × cols female/male
    assert img[1, 0] == pytest.approx(-0.2)  # Black×female
    assert np.ma.is_masked(img[2, 1]) or np.isnan(img[2, 1])  # White×male is the reference
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == 2  # Asian×female n=12, Asian×male n=14
    texts = [t.get_text() for t in ax.texts]
    assert "-0.20\nn=50" in texts and "reference" in texts
    assert img.min() < 0 and ax.get_images()[0].get_cmap().name == "RdBu_r"


def test_heatmap_pipe_separator_and_no_cells():
    rows = [{"metric": "cell_mean", "attribute": "race|gender", "level": lv, "value": v,
             "ci_low": v - 1, "ci_high": v + 1, "n": n}
            for lv, v, n in (("A|f", 3.0, 40), ("B|m", 3.5, 9))]
    fig = plots.heatmap(metric_frame(rows), "cells", min_cell=30)
    _render(fig)
    assert fig.axes[0].get_images()[0].get_cmap().name == "viridis"
    assert len([p for p in fig.axes[0].patches if p.get_hatch()]) == 1
    single = metric_frame([{**rows[0], "attribute": "race", "level": "A"}])
    assert plots.heatmap(single, "x") is None


def test_calibration_curves_one_line_per_group_plus_identity(calibration):
    df = section_frame(calibration["calibration_curve"], need=("x", "y"))
    fig = plots.calibration_curves(df, "cal")
    _render(fig)
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == ["perfect calibration", "Black", "White"]
    white = lines[2]
    np.testing.assert_allclose(white.get_ydata(), [1.2, 2.1, 3.0, 3.9, 4.8])
    assert plots.calibration_curves(pd.DataFrame(), "x") is None
    more = calibration["calibration_curve"] + [
        {"attribute": "all", "group": "all", "score": s, "calibrated": s} for s in (1, 3, 5)]
    fig = plots.calibration_curves(section_frame(more, need=("x", "y")), "two panels")
    _render(fig)
    assert [ax.get_title() for ax in fig.axes] == ["race", "all"]
    assert [ln.get_label() for ln in fig.axes[1].get_lines()] == ["perfect calibration", "all"]


def test_bland_altman_summary_and_points(calibration):
    fig = plots.bland_altman_plot(bland_altman_frame(calibration), pd.DataFrame(), "ba")
    _render(fig)
    loa = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)
           and c.get_label() == "95% limits of agreement"]
    segs = loa[0].get_segments()
    assert len(segs) == 2 and sorted(s[0][0] for s in segs) == [-1.5, -1.5]
    rng = np.random.default_rng(0)
    pts = pd.DataFrame({"level": ["A"] * 20 + ["B"] * 20, "mean": rng.uniform(1, 5, 40),
                        "diff": rng.normal(0, 1, 40)})
    fig = plots.bland_altman_plot(pd.DataFrame(), pts, "points")
    _render(fig)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 2
    a = pts[pts["level"] == "A"]["diff"]
    hlines = sorted(ln.get_ydata()[0] for ln in visible[0].get_lines())
    expected = sorted([a.mean(), a.mean() - 1.96 * a.std(ddof=1), a.mean() + 1.96 * a.std()])
    np.testing.assert_allclose(hlines, expected)
    assert plots.bland_altman_plot(pd.DataFrame(), pd.DataFrame(), "none") is None


def test_corrected_plot_dodges_estimators(metrics, calibration):
    df = corrected_frame(metric_frame(metrics["metrics"]), calibration)
    means = df[df["quantity"] == "mean"]
    fig = plots.corrected_plot(means, "means")
    _render(fig)
    ax = fig.axes[0]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["judge_only", "ppi"]
    assert _ticklabels(ax) == ["race: Black", "race: White"]
    gaps = df[df["quantity"] == "gap"]
    fig = plots.corrected_plot(gaps, "gaps", null=0.0)
    assert _ticklabels(fig.axes[0]) == ["race: Black vs White"]


def test_exposure_plot_panels_per_metric(sections):
    fig = plots.exposure_plot(sections["exposure"])
    _render(fig)
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["exposure_share",
                                                             "exposure_share_vs_uniform"]
    assert len(fig.axes[0].patches) == 2
    only_summary = sections["exposure"][sections["exposure"]["level"] == "*"]
    assert plots.exposure_plot(only_summary) is None
