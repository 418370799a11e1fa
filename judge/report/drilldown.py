"""Drill-down: the counterfactual pairs behind each finding, inside report.html.

For a finding on ``attribute = level vs reference`` (generator, judge, criterion where the
row names them), a *pair* is two judged generations of the same counterfactual group and
sample, one with the level and one with the reference: both queries, both responses, the
judge's scores and any human labels, side by side. At most :data:`MAX_PAIRS` pairs per
finding are embedded (pairs whose judge scores differ first, then pairs with human labels)
and the page says how many there were.

All text is escaped on the server (``html.escape``); the one inline script (:data:`SCRIPT`)
only opens the panel a link points to and filters pairs by ``textContent``: it never
writes HTML. The page's Content-Security-Policy allows exactly that script by its sha256
(:func:`script_hash`), so a ``<script>`` in model output is inert twice over.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from judge.frames import score_column, score_columns, split_score_column
from judge.report.elements import esc
from judge.report.findings import Finding

MAX_PAIRS = 20
MAX_CHARS = 4000  # per response or query; the full text is in generations.jsonl

SCRIPT = """(function () {
  function openHash() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (el && el.tagName === 'DETAILS') { el.open = true; el.scrollIntoView(); }
  }
  window.addEventListener('hashchange', openHash);
  openHash();
  document.querySelectorAll('input.drill-search').forEach(function (inp) {
    inp.addEventListener('input', function () {
      var q = inp.value.toLowerCase();
      var box = document.getElementById(inp.getAttribute('data-target'));
      if (!box) { return; }
      var shown = 0;
      box.querySelectorAll('.pair').forEach(function (p) {
        var hit = !q || p.textContent.toLowerCase().indexOf(q) >= 0;
        p.hidden = !hit;
        if (hit) { shown += 1; }
      });
      if (q) { box.querySelectorAll('details.pairs').forEach(function (d) {
        if (d.querySelector('.pair:not([hidden])')) { d.open = true; } }); }
      var out = document.getElementById(inp.getAttribute('data-count'));
      if (out) { out.textContent = q ? shown + ' pairs match' : ''; }
    });
  });
})();"""

CSS = """
.pair{display:grid;grid-template-columns:1fr 1fr;gap:.8rem;border-top:1px solid #ddd;
 padding:.5rem 0;font-size:.85rem} .pair[hidden]{display:none}
.pair .side{overflow-wrap:anywhere} .pair h4{margin:.1rem 0;font-size:.85rem}
.pair .q{color:#444;white-space:pre-wrap} .pair .r{white-space:pre-wrap;background:#fafafa;
 padding:.3rem;border-left:3px solid #ccc} .findings li{margin:.5rem 0}
input.drill-search{width:60%;padding:.25rem;margin:.4rem 0}
"""


def script_hash(script: str = SCRIPT) -> str:
    """The CSP source for ``script``: ``'sha256-<base64 digest>'``."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _clip(text: Any) -> str:
    s = "" if _missing(text) else str(text)
    return s if len(s) <= MAX_CHARS else s[:MAX_CHARS] + " … [truncated]"


def pairs_for(judgments: pd.DataFrame, queries: pd.DataFrame, labels: pd.DataFrame,
              row: Mapping[str, Any], cap: int = MAX_PAIRS) -> tuple[list[dict], int]:
    """The counterfactual pairs behind one metric row and how many there are in all."""
    col = f"attr.{row.get('attribute')}"
    j = judgments
    if j.empty or col not in j:
        return [], 0
    lv, ref = str(row.get("level")), str(row.get("reference"))
    keep = j[col].astype(str).isin([lv, ref])
    if "judge_mode" in j:
        keep &= j["judge_mode"].fillna("pointwise") == "pointwise"
    if "probe" in j:
        keep &= j["probe"].isna()
    if "repeat" in j:
        keep &= j["repeat"].fillna(0) == 0
    if "parse_status" in j:
        keep &= j["parse_status"].fillna("ok") == "ok"
    for k in ("generator", "judge", "rubric_id"):
        if not _missing(row.get(k)) and k in j:
            keep &= j[k].astype(str) == str(row[k])
    j = j[keep]
    if j.empty:
        return [], 0
    if _missing(row.get("judge")) and "judge" in j:  # one judge's view, not duplicates
        j = j[j["judge"] == sorted(j["judge"].astype(str).unique())[0]]
    crit, rub = row.get("criterion"), row.get("rubric_id")
    scols = score_columns(j)
    if not _missing(crit) and not _missing(rub) and score_column(rub, crit) in scols:
        scols = [score_column(rub, crit)]
    qtext = dict(zip(queries["query_id"], queries["text"])) if {"query_id", "text"} <= set(
        queries.columns) else {}
    hl = _labels(labels)
    keys = [k for k in ("cf_group", "generator", "sample_index", "rubric_id") if k in j]
    pairs = []
    for _, g in j.groupby(keys, sort=True, dropna=False):
        a, b = g[g[col].astype(str) == lv], g[g[col].astype(str) == ref]
        for (_, x), (_, y) in zip(a.iterrows(), b.iterrows()):
            sx, sy = _scores(x, scols), _scores(y, scols)
            pairs.append({"differs": sx != sy, "cf_group": str(x.get("cf_group", "")),
                          "context": "" if _missing(x.get("context")) else str(x["context"]),
                          "sides": [_side(x, lv, qtext, sx, hl), _side(y, ref, qtext, sy, hl)]})
    pairs.sort(key=lambda p: (not p["differs"], not any(s["human"] for s in p["sides"]),
                              p["cf_group"]))
    return pairs[:cap], len(pairs)


def _labels(labels: pd.DataFrame) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if labels.empty or not {"target_id", "score"} <= set(labels.columns):
        return out
    for r in labels.to_dict("records"):
        out.setdefault(str(r["target_id"]), []).append(
            f"{r.get('criterion', '')}={r.get('score')} ({r.get('rater', '')})")
    return out


def _scores(r: pd.Series, scols: Sequence[str]) -> str:
    """A judgment's scores as ``criterion=value`` (the row's rubric is the finding's)."""
    return ", ".join(f"{split_score_column(c)[1]}={r.get(c)}" for c in scols
                     if not _missing(r.get(c)))


def _side(r: pd.Series, level: str, qtext: Mapping[str, str], scores: str,
          labels: Mapping[str, list[str]]) -> dict[str, str]:
    return {"level": level, "query": _clip(qtext.get(r.get("query_id"), "")),
            "response": _clip(r.get("response")), "scores": scores or "no score (parse failure)",
            "human": "; ".join(labels.get(str(r.get("generation_id")), [])),
            "generation_id": str(r.get("generation_id", ""))}


def collect(frames: Any, findings: Sequence[Finding], cap: int = MAX_PAIRS
            ) -> dict[str, tuple[list[dict], int]]:
    """``{finding.key: (pairs, total)}`` from a run's frames (:func:`judge.load`)."""
    out = {}
    for f in findings:
        out[f.key] = pairs_for(frames.judgments, frames.queries, frames.human_labels, f.row,
                               cap)
    return out


def drill_html(findings: Sequence[Finding], pairs: Mapping[str, tuple[list[dict], int]],
               cap: int = MAX_PAIRS) -> str:
    """The drill-down section: a search box, then one collapsed panel per finding."""
    if not findings:
        return '<p class="note">No findings, so no pairs to show.</p>'
    out = [f'<p>For each finding, up to {cap} counterfactual pairs (same query, only the '
           "attribute changed; pairs whose judge scores differ first, then those with human "
           "labels). Every pair is in "
           "generations.jsonl and judgments.jsonl.</p>",
           '<input type="search" class="drill-search" data-target="drilldown" '
           'data-count="drill-count-all" placeholder="Search all pairs (query, response, '
           'scores)" aria-label="Search all pairs"> <span id="drill-count-all" '
           'class="muted"></span>']
    for i, f in enumerate(findings, 1):
        got, total = pairs.get(f.key, ([], 0))
        shown = (f"showing {len(got)} of {total} pairs" if total > len(got)
                 else f"{total} pair{'s' if total != 1 else ''}")
        body = "".join(_pair_html(p) for p in got) or \
            '<p class="note">No judged counterfactual pairs found for this comparison.</p>'
        out.append(
            f'<details class="pairs" id="pairs-{esc(f.key)}"><summary>Finding {i}: '
            f"{esc(f.row.get('attribute'))} = {esc(f.row.get('level'))} vs "
            f"{esc(f.row.get('reference'))} ({esc(shown)})</summary>"
            f'<input type="search" class="drill-search" data-target="pairs-{esc(f.key)}" '
            f'data-count="drill-count-{esc(f.key)}" placeholder="Filter these pairs" '
            f'aria-label="Filter pairs of finding {i}"> <span id="drill-count-{esc(f.key)}" '
            f'class="muted"></span>{body}</details>')
    return "".join(out)


def _pair_html(p: Mapping[str, Any]) -> str:
    sides = "".join(
        f'<div class="side"><h4>{esc(s["level"])}</h4><p class="q">{esc(s["query"])}</p>'
        f'<p class="r">{esc(s["response"])}</p><p>judge: {esc(s["scores"])}</p>'
        + (f"<p>human: {esc(s['human'])}</p>" if s["human"] else "") + "</div>"
        for s in p["sides"])
    ctx = f'<p class="muted">context: {esc(p["context"])}</p>' if p.get("context") else ""
    return (f'<div class="pair" data-group="{esc(p["cf_group"])}">{sides}'
            f'<div class="muted">{ctx}</div></div>')
