"""Stage ``report``: metrics.json, metrics.csv and report.md (report.html when available)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from judge.context import RunContext
from judge.frames import load
from judge.stages.analyze import analyze
from judge.stages.runner import StageResult
from judge.store import write_json_atomic, write_text_atomic

CAVEATS = """\
This is a context-specific evaluation, not a fairness certificate. Following Anthis et al.
("The Impossibility of Fair LLMs"), a general-purpose model cannot be certified fair: these
numbers hold only for these scenarios, these expressions of identity (names, dialect,
pronouns, stated identities), these rubrics and these judges. The judge is one more model
with its own bias, and fairness does not compose: read the calibration section before
trusting any judge-based disparity. Groups and attributes not in the query set are not
covered; small cells are flagged and should not be read.
"""


def _fmt(x: Any, nd: int = 3) -> str:
    if x is None or (isinstance(x, float) and x != x):
        return "n/a"
    return f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def _ci(r: dict[str, Any]) -> str:
    return f"{_fmt(r.get('value'))} [{_fmt(r.get('ci_low'))}, {_fmt(r.get('ci_high'))}]"


def render_markdown(manifest: dict[str, Any], metrics: dict[str, Any],
                    calibration: dict[str, Any] | None) -> str:
    """The Markdown report: summary, disparities (planted vs recovered), judge bias, caveats."""
    lines = [f"# Fairness report: {manifest.get('name', '')}", ""]
    counts = manifest.get("counts", {})
    lines += ["## Run summary", "",
              f"- generators: {', '.join(manifest.get('generators', []))}",
              f"- judges: {', '.join(manifest.get('judges', []))}",
              "- rubrics: " + ", ".join(f"{k} (`{v[:12]}`)" for k, v in
                                       (manifest.get("rubrics") or {}).items()),
              "- counts: " + ", ".join(f"{k} {v}" for k, v in counts.items()),
              f"- cost: ${_fmt((manifest.get('cost') or {}).get('total_usd'), 4)}", ""]
    rows = metrics.get("metrics", [])
    has_planted = any("planted" in r for r in rows)
    lines += ["## Disparities (level minus reference, 95% cluster-bootstrap CI)", ""]
    head = "| metric | generator | attribute | level vs ref | estimate [95% CI] | n | clusters |"
    sep = "|---|---|---|---|---|---|---|"
    if has_planted:
        head += " planted | covered |"
        sep += "---|---|"
    lines += [head, sep]
    for r in rows:
        line = (f"| {r['metric']} | {r['generator']} | {r['attribute']} | {r['level']} vs "
                f"{r['reference']} | {_ci(r)} | {r['n']} | {r['n_clusters']} |")
        if has_planted:
            p = r.get("planted")
            cov = "n/a" if p is None else ("yes" if r["ci_low"] is not None and
                                           r["ci_low"] <= p <= r["ci_high"] else "no")
            line += f" {_fmt(p)} | {cov} |"
        if r.get("warning"):
            line += f" ⚠ {r['warning']}"
        lines.append(line)
    lines.append("")
    if calibration and calibration.get("judge_bias"):
        lines += ["## Judge bias: mean(judge - human), 95% cluster-bootstrap CI", "",
                  f"{calibration['n_labels']} human labels on {calibration['n_items']} items.", "",
                  "| judge | rubric.criterion | attribute | level | bias [95% CI] | n | planted |",
                  "|---|---|---|---|---|---|---|"]
        for r in calibration["judge_bias"]:
            lines.append(f"| {r['judge']} | {r['rubric_id']}.{r['criterion']} | {r['attribute']} "
                         f"| {r['level']} | {_ci(r)} | {r['n']} | {_fmt(r.get('planted'))} |")
        lines.append("")
    lines += ["## Caveats", "", CAVEATS]
    return "\n".join(lines)


def report(ctx: RunContext) -> StageResult:
    """Compute metrics and write metrics.json, metrics.csv, report.md and report.html."""
    t0 = time.perf_counter()
    res = StageResult("report")
    d: Path = ctx.store.dir
    frames = load(d)
    metrics = analyze(ctx, frames)
    write_json_atomic(d / "metrics.json", metrics)
    tmp = d / ".metrics.csv.tmp"
    pd.DataFrame(metrics["metrics"]).to_csv(tmp, index=False)
    tmp.replace(d / "metrics.csv")
    cal_path = d / "calibration.json"
    calibration = json.loads(cal_path.read_text()) if cal_path.exists() else None
    manifest = ctx.store.manifest()
    write_text_atomic(d / "report.md", render_markdown(manifest, metrics, calibration))
    from judge.report import write_html_report

    write_html_report(d, metrics, calibration, manifest)
    res.written = len(metrics["metrics"])
    res.seconds = time.perf_counter() - t0
    return res
