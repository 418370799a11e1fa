"""Write a run comparison: compare.json, compare.csv, compare.md and compare.html."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from judge.errors import StoreError
from judge.escape import csv_frame, md
from judge.report import plots
from judge.report.compare import compare_runs, read_run
from judge.report.elements import esc, figure_html, fmt, note, page, table_html
from judge.report.rows import HEADLINE, metric_frame, null_value
from judge.store import write_json_atomic, write_text_atomic

COMPARE_SCHEMA_VERSION = 1


def _side(m: Mapping[str, Any]) -> dict[str, str]:
    return {"run": str(m.get("name", "")),
            "generators": ", ".join(m.get("generators") or []),
            "judges": ", ".join(m.get("judges") or []),
            "rubrics": ", ".join(f"{k} ({str(v)[:12]})" for k, v in
                                 (m.get("rubrics") or {}).items()),
            "queries": str((m.get("counts") or {}).get("queries", "")),
            "judgments": str((m.get("counts") or {}).get("judgments", ""))}


#: config keys that name or place a run rather than change what it measures
NOT_A_DIFFERENCE = ("name", "output_dir")


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}


def config_differences(manifest_a: Mapping[str, Any], manifest_b: Mapping[str, Any]
                       ) -> list[str]:
    """Every setting in which two runs' configs differ, as ``key: A -> B`` (rubric content
    hashes included), so a comparison never says "nothing" for configs that differ.

    >>> config_differences({"config": {"seed": 1, "report": {"alpha": 0.05}}},
    ...                    {"config": {"seed": 2, "report": {"alpha": 0.05}}})
    ['seed: 1 -> 2']
    """
    fa, fb = _flat(manifest_a.get("config") or {}), _flat(manifest_b.get("config") or {})
    for key in ("generators", "judges"):  # the model labels, also without a config
        if manifest_a.get(key) is not None or manifest_b.get(key) is not None:
            fa.setdefault(key, manifest_a.get(key))
            fb.setdefault(key, manifest_b.get(key))
    fa.update({f"rubric {k}": v for k, v in (manifest_a.get("rubrics") or {}).items()})
    fb.update({f"rubric {k}": v for k, v in (manifest_b.get("rubrics") or {}).items()})
    out = []
    for k in sorted(set(fa) | set(fb)):
        if k.split(".", 1)[0] in NOT_A_DIFFERENCE or fa.get(k, "—") == fb.get(k, "—"):
            continue
        out.append(f"{k}: {fa.get(k, '(not set)')} -> {fb.get(k, '(not set)')}")
    return out


def build_compare_html(diffs: pd.DataFrame, manifest_a: Mapping[str, Any],
                       manifest_b: Mapping[str, Any]) -> str:
    """The comparison page: both runs side by side, forest plots of B − A (every outcome of
    the judgments comparison; the headline metrics of the metric-table comparison), and the
    full table of every row."""
    a, b = _side(manifest_a), _side(manifest_b)
    runs = table_html([{"": k, "A": a[k], "B": b[k]} for k in a],
                      [("", ""), ("A", "A"), ("B", "B")])
    differ = config_differences(manifest_a, manifest_b)
    intro = (f"<p>B − A: <strong>{esc(b['run'])}</strong> minus <strong>{esc(a['run'])}"
             "</strong>. The runs' configs differ in: "
             + ("<ul>" + "".join(f"<li>{esc(x)}</li>" for x in differ) + "</ul>" if differ
                else "nothing (same config and rubric hashes)")
             + "</p>")
    d = metric_frame(diffs.to_dict("records")) if not diffs.empty else diffs
    if not diffs.empty:
        for c in ("value_a", "value_b", "source"):
            d[c] = diffs[c].to_numpy()
    figs = []
    for source, caption in (("judgments", "cluster bootstrap over both runs' judgments"),
                            ("metrics", "from each run's metric table, independent-runs "
                                        "normal approximation")):
        sub = d[d["source"] == source] if not d.empty else d
        if source == "metrics" and not sub.empty:  # the headline metrics; all are in the table
            sub = sub[sub["metric"].isin(HEADLINE)]
        for metric, g in (sub.groupby("metric", sort=False) if not sub.empty else []):
            fig = plots.forest_plot(g, f"{metric}: B − A", null=0.0,
                                    label_keys=("generator", "judge", "criterion"),
                                    xlabel="difference B − A (95% CI)")
            figs.append(figure_html(fig, f"{metric}: difference between runs, {caption}; "
                                         f"0 = no change ({null_value(metric):g} is the "
                                         "no-disparity value of the metric itself)."))
    cols = [("source", "source"), ("metric", "metric"), ("generator", "generator"),
            ("attribute", "attribute"), ("level", "level"), ("reference", "reference"),
            ("A", "value_a"), ("B", "value_b"), ("B − A [95% CI]", "ci"), ("n", "n"),
            ("clusters", "n_clusters"), ("p", "p_value")]
    methods = "; ".join(f"{s}: {m}" for s, m in
                        d[["source", "method"]].drop_duplicates().itertuples(index=False)) \
        if not d.empty else ""
    table = table_html(d, cols, min_cell=0, caption=f"Methods: {methods}.") \
        if not d.empty else ""
    sections = [("runs", "Runs compared", intro + runs),
                ("differences", "Differences B − A",
                 "".join(figs) or note("No comparable outcomes or metric rows in both runs.")),
                ("table", "All differences", table or note("Nothing to compare."))]
    return page(f"Comparison: {b['run']} − {a['run']}", sections)


def render_compare_markdown(diffs: pd.DataFrame, a: str, b: str) -> str:
    lines = [f"# Comparison: {md(b)} − {md(a)}", "",
             "| source | metric | attribute | level vs ref | A | B | B − A [95% CI] | n |",
             "|---|---|---|---|---|---|---|---|"]
    for r in diffs.to_dict("records"):
        ref = r.get("reference")
        lv = f"{md(r['level'])} vs {md(ref)}" if isinstance(ref, str) else md(r["level"])
        ci = (f"{fmt(r['value'])} [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]"
              if not (math.isnan(r["ci_low"]) or math.isnan(r["ci_high"]))
              else f"{fmt(r['value'])} [no CI]")
        lines.append(f"| {md(r['source'])} | {md(r['metric'])} | {md(r['attribute'])} | {lv} | "
                     f"{fmt(r['value_a'])} | {fmt(r['value_b'])} | {ci} | {r['n']} |")
    return "\n".join(lines) + "\n"


def default_out_dir(run_a: Path, run_b: Path) -> Path:
    """``<parent of B>/compare-<A>-vs-<B>``."""
    return Path(run_b).parent / f"compare-{Path(run_a).name}-vs-{Path(run_b).name}"


def write_comparison(run_a: str | Path, run_b: str | Path, out_dir: str | Path | None = None,
                     *, B: int = 1000, seed: int = 0, alpha: float = 0.05) -> dict[str, Path]:
    """Compare two runs and write compare.{json,csv,md,html} into ``out_dir``."""

    ra, rb = read_run(run_a), read_run(run_b)
    diffs = compare_runs(run_a, run_b, B=B, seed=seed, alpha=alpha)
    out = Path(out_dir) if out_dir is not None else default_out_dir(Path(run_a), Path(run_b))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot create the output folder: {err.strerror}", path=out,
                         field="--out", hint="choose a writable folder") from err
    clean = diffs.astype(object).where(diffs.notna(), None)
    doc = {"schema_version": COMPARE_SCHEMA_VERSION, "run_a": str(run_a), "run_b": str(run_b),
           "bootstrap": B, "seed": seed, "alpha": alpha,
           "config_differences": config_differences(ra["manifest"], rb["manifest"]),
           "differences": clean.to_dict("records")}
    paths = {k: out / f"compare.{k}" for k in ("json", "csv", "md", "html")}
    write_json_atomic(paths["json"], doc)
    write_text_atomic(paths["csv"], csv_frame(diffs).to_csv(index=False))
    write_text_atomic(paths["md"], render_compare_markdown(
        diffs, ra["manifest"].get("name", "A"), rb["manifest"].get("name", "B")))
    write_text_atomic(paths["html"], build_compare_html(diffs, ra["manifest"], rb["manifest"]))
    return paths
