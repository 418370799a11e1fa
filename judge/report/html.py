"""report.html: one self-contained file (inline SVG figures, inline CSS, no script, no network)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

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
        a = r.get("attribute")
        if a and not is_intersection(a) and kind_of(r.get("metric") or "") != "exposure":
            attrs.setdefault(a, set()).update(
                x for x in (r.get("level"), r.get("reference"))
                if isinstance(x, str) and not is_all_level(x) and x != "rest")
    for r in (calibration or {}).get("judge_bias") or []:
        a = r.get("attribute")
        if a and a != "(all)":
            attrs.setdefault(a, set()).add(str(r.get("level")))
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
               calibration: Mapping[str, Any] | None) -> str:
    """The report as an HTML string (see :func:`write_html_report`)."""
    mc = min_cell_of(manifest)
    df = metric_frame(metrics.get("metrics") or [])
    sec = split_sections(df)
    intro = (f'<p class="muted">metrics schema v{esc(metrics.get("schema_version", "?"))}; '
             f"{len(df)} metric rows; 95% intervals are cluster bootstraps over counterfactual "
             f"groups unless the method column says otherwise; cells with n &lt; {mc} are "
             "flagged.</p>")
    intro = failure_banner_html(manifest) + intro
    parts = [
        ("summary", "Run summary", lambda: S.run_summary(manifest)),
        ("headline", "Headline disparities", lambda: S.headline(sec["headline"], mc)),
        ("counterfactual", "Counterfactual flips",
         lambda: S.counterfactual(sec["counterfactual"], mc)),
        ("groups", "Group metrics", lambda: S.group_table(sec["group"], mc)),
        ("intersections", "Intersectional cells",
         lambda: S.intersection(sec["intersection"], mc)),
        ("calibration", "Judge calibration", lambda: C.calibration(calibration, df, mc)),
        ("probes", "Judge probes", lambda: C.probes(calibration, mc)),
        ("exposure", "Producer exposure", lambda: S.exposure(sec["exposure"], mc)),
        ("failures", "Failures: parse failures and refusals",
         lambda: S.failures(sec["failures"], mc)),
        ("caveats", "Caveats", lambda: CAVEATS + coverage(df, calibration, manifest)),
    ]
    return page(f"Fairness report: {manifest.get('name', '')}",
                [(a, h, _section(h, fn)) for a, h, fn in parts], intro)


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
                      manifest: dict) -> Path:
    """Write ``run_dir/report.html`` (atomically) and return its path."""
    from judge.store import write_text_atomic

    path = Path(run_dir) / "report.html"
    write_text_atomic(path, build_html(manifest, metrics, calibration))
    return path
