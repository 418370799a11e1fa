"""Stage ``report``: metrics.json, metrics.csv and report.md (report.html when available)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from judge.context import RunContext
from judge.escape import csv_frame, md
from judge.frame_schema import METRICS_COLUMNS, ordered_columns
from judge.frames import keep_rubric_hashes, load
from judge.labelling import labelling_hint
from judge.rubrics import load_rubrics
from judge.stages.analyze import analyze
from judge.store import write_json_atomic, write_text_atomic
from judge.tasks import StageResult

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


def failure_banner(manifest: dict[str, Any]) -> list[str]:
    """The red banner of a failed run (manifest ``status: failed`` or ``error``)."""
    status = manifest.get("status")
    if status not in ("failed", "error"):
        return []
    failed = manifest.get("failed_stages") or {}
    what = "; ".join(f"{md(k)}: {v.get('errors')} of {v.get('calls')} calls failed"
                     for k, v in failed.items()) or md(manifest.get("last_error") or "")
    out = [f'> <span style="color:#b00020">**RUN {md(str(status).upper())}**</span>: {what}. '
           "Numbers below are missing or incomplete; do not read them as results.", ">"]
    for e in manifest.get("last_call_errors") or []:
        out.append(f"> - {md(e.get('kind'))}: {md((e.get('message') or '')[:300])}")
    return [*out, ""]


def _ci(r: dict[str, Any]) -> str:
    return f"{_fmt(r.get('value'))} [{_fmt(r.get('ci_low'))}, {_fmt(r.get('ci_high'))}]"


def _in_units(r: dict[str, Any], x: Any) -> str:
    """``x`` (a value of row ``r``) in the units its title names (``-12.5`` percentage
    points for a stored -0.125; scores and ratios as they are, 3 decimals)."""
    from judge.report.findings import bare, units_of

    scale = r.get("scale") if isinstance(r.get("scale"), str) and r.get("scale") else None
    return bare(x, units_of(str(r["metric"]), scale), digits=3)


def _ci_in_units(r: dict[str, Any]) -> str:
    return (f"{_in_units(r, r.get('value'))} [{_in_units(r, r.get('ci_low'))}, "
            f"{_in_units(r, r.get('ci_high'))}]")


def _criterion(r: dict[str, Any]) -> str:
    rubric, crit = r.get("rubric_id"), r.get("criterion")
    return ".".join(str(x) for x in (rubric, crit) if isinstance(x, str) and x)


def render_markdown(manifest: dict[str, Any], metrics: dict[str, Any],
                    calibration: dict[str, Any] | None, labelling: str | None = None) -> str:
    """The Markdown report: summary paragraph, findings, what the run cannot say, details
    by family (headline disparities, judge calibration), caveats, provenance last.

    ``labelling``: for a run without human labels, what calibration needs (the sheets)."""
    from judge.report.elements import cost_text
    from judge.report.findings import MAX_LIMITS, cannot_say, select_findings, summary

    all_rows = metrics.get("metrics", [])
    found = select_findings(all_rows, calibration)
    imprecise = cannot_say(all_rows, found, limit=None)
    limits = imprecise[:MAX_LIMITS]
    lines = [f"# Fairness report: {md(manifest.get('name', ''))}", "",
             *failure_banner(manifest),
             md(summary(found, imprecise, len(all_rows), metrics.get("multiplicity"),
                        shown=len(limits))), "",
             "## Findings", ""]
    if found:
        lines += [f"{i}. {md(f.sentence)}" for i, f in enumerate(found, 1)]
        lines += ["", "The counterfactual pairs behind each finding (queries, responses, judge "
                  "scores, human labels) are in report.html under *The pairs behind each "
                  "finding*.", ""]
    else:
        lines += ["No finding: no disparity survives the report-wide multiplicity correction, "
                  "the noise floor and the small-cell rule. This is not evidence of fairness.",
                  ""]
    lines += ["## What this run cannot say", ""]
    lines += ([f"- {md(x.sentence)}" for x in limits] or
              ["Every tested comparison could detect a modest gap (5 percentage points, or "
               "a sixteenth of a score scale's span: 0.25 points on a 1-5 scale)."]) + [""]
    rows = [r for r in headline_rows(all_rows) if not _all_zero(r)]
    n_zero = len(headline_rows(all_rows)) - len(rows)
    has_planted = any(r.get("planted") is not None for r in rows)
    lines += ["## Details: disparities by group (level vs reference, 95% CI)", "",
              "Single attributes only. Each estimate is in the units its *what* names: "
              "rate differences in percentage points (metrics.csv keeps proportions: 0.05 = "
              "5 percentage points), scores in points on the criterion's scale. Every "
              "metric, intersection and cell is in metrics.csv. Scores here are raw judge "
              "scores: see the calibration section for judge-corrected gaps."
              + (f" {n_zero} all-zero rows are left out (they are in metrics.csv)."
                 if n_zero else ""), ""]
    judges = len({r.get("judge") for r in rows if r.get("judge")}) > 1
    head = ("| what | generator |" + (" judge |" if judges else "")
            + " criterion | attribute | level vs ref | estimate [95% CI] | n | p (adj) |")
    sep = "|---|---|---|" + ("---|" if judges else "") + "---|---|---|---|---|"
    if has_planted:
        head += " planted | covered |"
        sep += "---|---|"
    lines += [head + " note |", sep + "---|"]
    for r in rows:
        ref = f" vs {md(r['reference'])}" if r.get("reference") else ""
        line = (f"| {md(_title(r['metric'], r.get('scale')))} | {md(r.get('generator') or '')} |"
                + (f" {md(r.get('judge') or '')} |" if judges else "")
                + f" {md(_criterion(r))} | {md(r['attribute'])} | {md(r['level'])}{ref} | "
                f"{_ci_in_units(r)} | {r['n']} | {_fmt(r.get('p_adj'))} |")
        if has_planted:
            p = r.get("planted")
            cov = "" if p is None or r.get("ci_low") is None else (
                "yes" if r["ci_low"] <= p <= r["ci_high"] else "no")
            line += f" {_in_units(r, p)} | {cov} |"
        lines.append(line + f" {md(r.get('warning') or '')} |")
    lines.append("")
    if calibration:
        lines += calibration_markdown(calibration, labelling)
    elif labelling:
        lines += ["## Calibration: can the judge be trusted?", "", md(labelling), ""]
    lines += ["## Caveats", "", CAVEATS]
    counts = manifest.get("counts", {})
    lines += ["## Provenance", "",
              f"- generators: {md(', '.join(manifest.get('generators', [])))}",
              f"- judges: {md(', '.join(manifest.get('judges', [])))}",
              "- rubrics: " + ", ".join(f"{md(k)} (`{md(str(v)[:12])}`)" for k, v in
                                       (manifest.get("rubrics") or {}).items()),
              "- counts: " + ", ".join(f"{md(k)} {md(v)}" for k, v in counts.items()),
              f"- cost: {md(cost_text(manifest))}", ""]
    return "\n".join(lines)


def _title(metric: str, scale: Any = None) -> str:
    from judge.report.sections import plain_title

    return plain_title(str(metric), scale if isinstance(scale, str) and scale else None)


def _all_zero(r: dict[str, Any]) -> bool:
    return all(r.get(k) == 0 for k in ("value", "ci_low", "ci_high"))




def headline_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows a reader needs first: headline metrics on single attributes."""
    from judge.report.rows import HEADLINE

    keep = [r for r in rows if r.get("metric") in HEADLINE and "|" not in str(r.get("attribute"))
            and (r.get("n") or 0) > 0]
    return sorted(keep, key=lambda r: (HEADLINE.index(r["metric"]), str(r.get("generator")),
                                       str(r["attribute"]), str(r["level"])))


def _table(title: str, note: str, head: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return []
    return [f"### {title}", "", note, "", "| " + " | ".join(head) + " |",
            "|" + "---|" * len(head), *("| " + " | ".join(map(_cell, r)) + " |" for r in rows),
            ""]


def _cell(x: Any) -> str:
    return md(x) if isinstance(x, str) else str(x)


def calibration_markdown(cal: dict[str, Any], labelling: str | None = None) -> list[str]:
    """Judge bias per group, differential bias, raw vs corrected gaps, probes; with no
    human labels, ``labelling`` says what calibration needs."""
    out = ["## Calibration: can the judge be trusted?", ""]
    if cal.get("note"):
        out += [md(cal["note"]), ""]
    if labelling:
        out += [md(labelling), ""]
    out += [f"{cal.get('n_labels', 0)} human labels on {cal.get('n_items_labelled', 0)} items.",
            ""]
    bias = [r for r in cal.get("bias", []) if r.get("metric") == "mean_bias"]
    out += _table("Judge bias: mean(judge - human)", "95% cluster-bootstrap CI.",
                  ["judge", "criterion", "attribute", "group", "bias [95% CI]", "n", "planted"],
                  [[r["judge"], r["criterion"], r["attribute"], r["group"], _ci(r), r["n"],
                    _fmt(r.get("planted"))] for r in bias])
    out += _table("Differential judge bias (group minus reference)",
                  "OLS of judge - human on group, cluster-robust SEs; Holm-adjusted p.",
                  ["judge", "criterion", "attribute", "group vs ref", "estimate [95% CI]",
                   "p (Holm)", "planted"],
                  [[r["judge"], r["criterion"], r["attribute"], f"{r['group']} vs {r['reference']}",
                    f"{_fmt(r.get('estimate'))} [{_fmt(r.get('ci_low'))}, {_fmt(r.get('ci_high'))}]",
                    _fmt(r.get("p_holm")), _fmt(r.get("planted"))]
                   for r in cal.get("differential_bias", [])])
    gaps = [r for r in cal.get("corrected", []) if r.get("quantity") == "gap"
            and r.get("estimator") in ("judge_only", "ppi") and r.get("group") != "(missing)"]
    out += _table("Group gaps: raw judge-only vs PPI++-corrected",
                  "The corrected estimate uses the human labels to remove the judge's error.",
                  ["judge", "criterion", "attribute", "group vs ref", "estimator",
                   "gap [95% CI]", "n labelled / unlabelled", "planted"],
                  [[r["judge"], r["criterion"], r["attribute"], f"{r['group']} vs {r['reference']}",
                    r["estimator"], _ci(r), f"{r.get('n_labelled')} / {r.get('n_unlabelled')}",
                    _fmt(r.get("planted"))] for r in gaps])
    out += _table("Judge invariance probes (no humans needed)",
                  "Score change (numeric criteria) or share of verdicts that change "
                  "(verdict_change_rate) when only the probed factor changes; position swap: "
                  "share of verdicts that survive; test-retest: agreement of repeats.",
                  ["probe", "judge", "rubric.criterion", "attribute", "shown vs original",
                   "metric", "value [95% CI]", "n"],
                  [[r["probe"], r["judge"], f"{r['rubric_id']}.{r['criterion']}", r["attribute"],
                    f"{r['level']} vs {r['reference']}" if r.get("reference") else "(all)",
                    r["metric"], _ci(r), r["n"]]
                   for r in cal.get("probes", [])])
    for f in cal.get("self_preference", []):
        out.append(f"- self-preference risk: judge {md(f['judge'])} and generator "
                   f"{md(f['generator'])} are both {md(f['family'])} models")
    return out


def run_metrics(ctx: RunContext) -> tuple[Any, dict[str, Any]]:
    """The run's frames (judgments of the resolved rubric hashes only) and its metrics, as
    the report states them (``metrics.json``)."""

    frames = keep_rubric_hashes(load(ctx.store.dir), load_rubrics(ctx.cfg.rubrics))
    return frames, analyze(ctx, frames)


def report(ctx: RunContext) -> StageResult:
    """Compute metrics and write metrics.json, metrics.csv, report.md and report.html."""
    t0 = time.perf_counter()
    res = StageResult("report")
    d: Path = ctx.store.dir
    frames, metrics = run_metrics(ctx)
    write_json_atomic(d / "metrics.json", metrics)
    # Columns in the documented order (judge.frame_schema; `judge schema metrics`);
    # formula-like text cells neutralised (judge.escape.csv_cell): opened in a spreadsheet.
    table = pd.DataFrame(metrics["metrics"])
    table = table[ordered_columns(list(table.columns), METRICS_COLUMNS)]
    write_text_atomic(d / "metrics.csv", csv_frame(table).to_csv(index=False))
    cal_path = d / "calibration.json"
    calibration = json.loads(cal_path.read_text()) if cal_path.exists() else None
    manifest = ctx.store.manifest()
    hint = None if (calibration or {}).get("n_labels") else labelling_hint(d)
    write_text_atomic(d / "report.md", render_markdown(manifest, metrics, calibration, hint))
    from judge.report import write_html_report

    write_html_report(d, metrics, calibration, manifest, frames=frames, labelling=hint)
    res.written = len(metrics["metrics"])
    res.seconds = time.perf_counter() - t0
    return res
