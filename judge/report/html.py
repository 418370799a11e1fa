"""report.html: one self-contained file (inline SVG figures, inline CSS, no network).

The page opens with a one-paragraph summary and the findings (:mod:`judge.report.findings`),
then what the run cannot say, the counterfactual pairs behind each finding
(:mod:`judge.report.drilldown`, the page's one script, allowed by its hash), the details by
family, the caveats, and provenance last.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from judge.frames import load
from judge.report import drilldown as D
from judge.report import findings as F
from judge.report import sections as S
from judge.report import sections_cal as C
from judge.report.elements import esc, note, page
from judge.report.rows import (
    DEFAULT_MIN_CELL,
    is_all_level,
    is_intersection,
    kind_of,
    metric_frame,
    split_sections,
)
from judge.store import write_text_atomic

COMMON_ATTRIBUTES = ("race", "gender", "age", "religion", "disability", "sexual_orientation",
                     "nationality", "dialect", "socioeconomic_status")

CAVEATS = """
<p><strong>This is a context-specific evaluation, not a fairness certificate.</strong>
Anthis et al. (“The Impossibility of Fair LLMs”) argue that no general-purpose LLM can be
certified fair: fairness criteria conflict, depend on the use, and do not transfer across
contexts. The numbers above hold only for these scenarios, these expressions of identity
(names, pronouns, dialect, stated identities), these rubrics, these judges and these
sampling settings.</p>
<ul>
<li><strong>The judge is one more model.</strong> Fairness does not compose: a judge with its
own group-dependent bias shifts every judge-based gap. Read the calibration section before
trusting a judge-based disparity; prefer the corrected estimates where they exist.</li>
<li><strong>Group metrics can disagree.</strong> Demographic parity, equalized odds and
calibration cannot all hold at once when base rates differ; a small gap on one is not
evidence of fairness on another.</li>
<li><strong>Counterfactual fairness is only as good as the swap.</strong> Changing a name or a
dialect changes more than the attribute (class, region, familiarity); a flip measures the
model's response to that cue, not to the person.</li>
<li><strong>Small cells are noise.</strong> Cells flagged as small, or with wide intervals,
should not be read; across many cells some intervals miss zero by chance (see adjusted
p-values).</li>
<li><strong>Producer-side fairness</strong> (who gets named and recommended) is measured only
where scenarios elicit producers; an answer that names no producer bypasses them entirely.</li>
</ul>
"""


def min_cell_of(manifest: Mapping[str, Any]) -> int:
    """The run's ``report.min_cell`` from its config snapshot (default 30)."""
    rep = ((manifest.get("config") or {}).get("report") or {})
    try:
        return int(rep.get("min_cell", DEFAULT_MIN_CELL))
    except (TypeError, ValueError):
        return DEFAULT_MIN_CELL


def coverage(metrics: pd.DataFrame, calibration: Mapping[str, Any] | None,
             manifest: Mapping[str, Any]) -> str:
    """What this run covers, and what it does not (attributes, levels, rubrics, models)."""
    attrs: dict[str, set[str]] = {}
    for r in metrics.to_dict("records"):
        a, metric = r.get("attribute"), r.get("metric") or ""
        if a and not is_intersection(a) and kind_of(metric) != "exposure":
            # a rule flag's reference is the rule ("dp_ratio < 0.8"), not a level
            shown = (r.get("level"),) if metric.endswith("_flag") else (r.get("level"),
                                                                         r.get("reference"))
            attrs.setdefault(a, set()).update(
                x for x in shown if isinstance(x, str) and not is_all_level(x) and x != "rest")
    cal = calibration or {}
    for r in cal.get("bias") or cal.get("judge_bias") or []:  # v2 rows say group, v1 level
        a, level = r.get("attribute"), r.get("group", r.get("level"))
        if a and not is_all_level(a) and not is_all_level(level):
            attrs.setdefault(a, set()).add(str(level))
    lines = [f"<li><code>{esc(a)}</code>: {esc(', '.join(sorted(v)) or '(levels not listed)')}"
             "</li>" for a, v in sorted(attrs.items())]
    missing_attrs = [a for a in COMMON_ATTRIBUTES if a not in attrs]
    inter = sorted({str(a) for a in metrics["attribute"].dropna() if is_intersection(a)})
    gens = manifest.get("generators") or []
    sim = any(str(g).startswith("sim/") for g in gens + list(manifest.get("judges") or []))
    out = ["<h3>What this run covers, and what it does not</h3>",
           "<p>Attributes and levels measured (every other group is unmeasured, not fair):</p>",
           "<ul>" + ("".join(lines) or "<li>none found in the metric table</li>") + "</ul>"]
    if missing_attrs:
        out.append(f"<p>Not covered at all: {esc(', '.join(missing_attrs))}.</p>")
    out.append("<p>Intersections: " + (esc(", ".join(inter)) if inter else
                                       "none measured; single-attribute results can hide "
                                       "intersectional gaps.") + "</p>")
    rubrics = ", ".join(manifest.get("rubrics") or {}) or "none recorded"
    out.append(f"<p>Rubrics: {esc(rubrics)}. A rubric measures only its criteria; harms it "
               "does not name (tone, stereotyping in passing, omissions) are not scored.</p>")
    if not calibration:
        out.append("<p>No human labels: the judge's own bias is unmeasured.</p>")
    if sim:
        out.append("<p>Simulated models (<code>sim/</code>): these numbers check the pipeline "
                   "against planted effects; they say nothing about any real model.</p>")
    return "".join(out)


def failure_banner_html(manifest: Mapping[str, Any]) -> str:
    """A red banner at the top of a failed run's report (manifest ``status``)."""
    status = manifest.get("status")
    if status not in ("failed", "error"):
        return ""
    failed = manifest.get("failed_stages") or {}
    what = "; ".join(f"{k}: {v.get('errors')} of {v.get('calls')} calls failed"
                     for k, v in failed.items()) or str(manifest.get("last_error") or "")
    errs = "".join(f"<li>{esc(e.get('kind'))}: {esc((e.get('message') or '')[:300])}</li>"
                   for e in manifest.get("last_call_errors") or [])
    return ('<div class="banner" role="alert" style="background:#b00020;color:#fff;'
            'padding:.6rem 1rem;margin:.8rem 0;border-radius:4px">'
            f"<strong>Run {esc(str(status))}</strong>: {esc(what)}. Numbers below are missing "
            f"or incomplete; do not read them as results.{f'<ul>{errs}</ul>' if errs else ''}"
            "</div>")


def build_html(manifest: Mapping[str, Any], metrics: Mapping[str, Any],
               calibration: Mapping[str, Any] | None, frames: Any = None,
               labelling: str | None = None) -> str:
    """The report as an HTML string (see :func:`write_html_report`).

    ``frames`` (:func:`judge.load` of the run) supplies the counterfactual pairs behind
    each finding; without it the drill-down says the pairs are not available.
    ``labelling``: for a run without human labels, what calibration needs (the sheets).
    """
    mc = min_cell_of(manifest)
    raw_rows = list(metrics.get("metrics") or [])
    df = metric_frame(raw_rows)
    sec = split_sections(df)
    found = F.select_findings(raw_rows, calibration)
    imprecise = F.cannot_say(raw_rows, found, limit=None)
    limits = imprecise[:F.MAX_LIMITS]
    pairs = _pairs(frames, found)
    intro = (f"<p><strong>{esc(F.summary(found, imprecise, len(df), metrics.get('multiplicity'), len(limits)))}"
             "</strong></p>"
             f'<p class="muted">metrics schema v{esc(metrics.get("schema_version", "?"))}; '
             f"{len(df)} metric rows; 95% intervals are cluster bootstraps over counterfactual "
             f"groups unless the method column says otherwise; cells with n &lt; {mc} are "
             "flagged.</p>")
    intro = failure_banner_html(manifest) + intro
    parts = [
        ("findings", "Findings", lambda: findings_html(found, pairs)),
        ("cannot-say", "What this run cannot say", lambda: limits_html(limits)),
        ("drilldown", "The pairs behind each finding",
         lambda: D.drill_html(found, pairs) if pairs is not None else note(
             "The run's generations and judgments were not available to this report, so "
             "the pairs behind the findings are not embedded.")),
        ("headline", "Disparities by group (level vs reference)",
         lambda: S.headline(sec["headline"], mc)),
        ("counterfactual", "Counterfactual changes: same query, only the attribute changed",
         lambda: S.counterfactual(sec["counterfactual"], mc)),
        ("groups", "All group metrics", lambda: S.group_table(sec["group"], mc)),
        ("intersections", "Intersections of attributes",
         lambda: S.intersection(sec["intersection"], mc)),
        ("calibration", "Can the judge be trusted? Calibration against human labels",
         lambda: C.calibration(calibration, df, mc, labelling)),
        ("probes", "Judge invariance probes", lambda: C.probes(calibration, mc)),
        ("exposure", "Producer exposure", lambda: S.exposure(sec["exposure"], mc)),
        ("failures", "Failures: parse failures and refusals",
         lambda: S.failures(sec["failures"], mc)),
        ("caveats", "Caveats", lambda: CAVEATS + coverage(df, calibration, manifest)),
        ("summary", "Provenance: models, rubrics, versions, counts and cost",
         lambda: S.run_summary(manifest)),
    ]
    return page(f"Fairness report: {manifest.get('name', '')}",
                [(a, h, _section(h, fn)) for a, h, fn in parts], intro,
                script=D.SCRIPT, css=D.CSS)


def _pairs(frames: Any, found: list[F.Finding]) -> dict | None:
    if frames is None:
        return None
    try:
        return D.collect(frames, found)
    except Exception as err:  # noqa: BLE001 - the drill-down is an aid, never fatal
        warnings.warn(f"report.html drill-down failed: {err!r}", RuntimeWarning, stacklevel=2)
        return None


def findings_html(found: list[F.Finding], pairs: Mapping[str, Any] | None) -> str:
    """The findings as a numbered list of quotable sentences, each linking to its pairs."""
    if not found:
        return note("No finding: no disparity survives the report-wide multiplicity "
                    "correction, the noise floor and the small-cell rule. This is not "
                    "evidence of fairness: see what this run cannot say.")
    items = []
    for f in found:
        n = len((pairs or {}).get(f.key, ([], 0))[0])
        link = (f' <a class="drill-link" href="#pairs-{esc(f.key)}">See the {n} pair'
                f'{"s" if n != 1 else ""} behind it</a>' if pairs is not None else "")
        items.append(f'<li id="{esc(f.key)}">{esc(f.sentence)}{link}</li>')
    return ('<ol class="findings">' + "".join(items) + "</ol>"
            '<p class="muted">Significant after the report-wide adjustment of p-values, '
            "beyond the same-query noise floor where one is measured, no small-cell warning; "
            "ranked by effect size. Judge trust: Cohen's kappa with human labels in each "
            "group, differential judge bias (group minus reference, judge − human), and the "
            "judge-only → human-corrected (PPI) gap.</p>")


def limits_html(limits: list[F.Limit]) -> str:
    if not limits:
        return note("Every tested comparison was precise enough to detect a modest gap "
                    "(5 percentage points, or a sixteenth of a score scale's span: 0.25 "
                    "points on a 1-5 scale).")
    return ("<p>These comparisons show no finding, but the run could only have detected a "
            "gap at least this large (minimum detectable effect at 80% power, from the "
            "interval's width):</p><ul>" +
            "".join(f"<li>{esc(x.sentence)}</li>" for x in limits) + "</ul>")


def _section(heading: str, build: Callable[[], str]) -> str:
    """A section's HTML; if building it fails, a visible error note and a RuntimeWarning
    (an error under pytest), so one bad table never costs the whole report."""
    try:
        return build()
    except Exception as err:  # noqa: BLE001 - reported in the page and as a warning
        warnings.warn(f"report.html section {heading!r} failed: {err!r}", RuntimeWarning,
                      stacklevel=2)
        return note(f"This section could not be rendered: {type(err).__name__}: {err}")


def write_html_report(run_dir: Path, metrics: dict, calibration: dict | None,
                      manifest: dict, frames: Any = None, labelling: str | None = None) -> Path:
    """Write ``run_dir/report.html`` (atomically) and return its path.

    The drill-down reads the run's JSONL (``judge.load(run_dir)``) unless ``frames`` is given.
    """

    path = Path(run_dir) / "report.html"
    if frames is None and (Path(run_dir) / "judgments.jsonl").exists():
        frames = load(run_dir)
    write_text_atomic(path, build_html(manifest, metrics, calibration, frames, labelling))
    return path
